"""AmbSYS parser, on the real CSV excerpt and the full time-series workbook."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from monitor.orgs import REGIONS
from monitor.sources import ambulance
from monitor.sources.base import Parsed

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

AMB = REAL / "ambulance"
CSV = "ambsys.csv"
XLSX = "AmbSYS-Time-Series-until-20250831.xlsx"
TRUSTS = {"R1F", "RRU", "RX6", "RX7", "RX8", "RX9", "RYA", "RYC", "RYD", "RYE", "RYF"}


@cache
def parse(name: str) -> Parsed:
    return ambulance.parse((AMB / name).read_bytes(), filename=name)


def figures(parsed, org: str, month: date) -> dict[str, object]:
    return {f.metric: f for f in parsed.figures if f.org == org and f.period_start == month}


@pytest.mark.parametrize("name", [CSV, XLSX])
def test_england_seven_regions_and_eleven_trusts_every_month(name):
    parsed = parse(name)
    assert parsed.orgs == {"ENG"} | set(REGIONS) | TRUSTS
    latest = parsed.periods[-1][0]
    assert {f.org for f in parsed.figures if f.period_start == latest} == parsed.orgs


# (file, org, month, C1 mean, C1 90th, C2 mean, C2 90th) in seconds, as published.
FIGURES = [
    (CSV, "ENG", date(2026, 3, 1), 466, 826, 1578, 3200),
    (CSV, "RRU", date(2026, 3, 1), 414, 703, 1551, 3219),
    (CSV, "ENG", date(2026, 1, 1), 488, 867, 2104, None),
    (XLSX, "ENG", date(2025, 8, 1), 467, 836, 1623, 3285),
    (XLSX, "RX6", date(2025, 7, 1), 373, 648, 1251, 2461),
    (XLSX, "ENG", date(2017, 8, 1), 554, 912, 1435, 3189),
]


@pytest.mark.parametrize(("name", "org", "month", "c1", "c1_90", "c2", "c2_90"), FIGURES)
def test_real_response_times(name, org, month, c1, c1_90, c2, c2_90):
    got = figures(parse(name), org, month)
    assert got["amb_c1_mean_s"].value == c1
    assert got["amb_c1_p90_s"].value == c1_90
    assert got["amb_c2_mean_s"].value == c2
    if c2_90 is not None:
        assert got["amb_c2_p90_s"].value == c2_90
    assert not any(f.derived for f in got.values())


def test_mean_carries_total_seconds_over_incidents():
    got = figures(parse(CSV), "ENG", date(2026, 3, 1))
    c1 = got["amb_c1_mean_s"]
    assert round(c1.numerator / c1.denominator) == c1.value == 466
    assert got["amb_c1_p90_s"].numerator is None


def test_csv_region_rows_are_the_files_own():
    parsed = parse(CSV)
    y59 = figures(parsed, "Y59", date(2026, 1, 1))
    assert y59["amb_c1_mean_s"].value == 513 and not y59["amb_c1_mean_s"].derived


def test_workbook_single_trust_regions_take_their_trust():
    """The Raw sheet has no London row: London's figures are the London Ambulance Service's."""
    parsed = parse(XLSX)
    aug = date(2025, 8, 1)
    london, las = figures(parsed, "Y56", aug), figures(parsed, "RRU", aug)
    assert {m: f.value for m, f in london.items()} == {m: f.value for m, f in las.items()}
    assert all(f.derived for f in london.values())
    midlands = figures(parsed, "Y60", aug)  # two trusts: the sheet's own row
    assert midlands["amb_c1_mean_s"].value == 495 and not midlands["amb_c1_mean_s"].derived


def test_not_available_is_skipped_never_zero():
    parsed = parse(XLSX)
    aug17 = date(2017, 8, 1)
    assert "amb_c1_mean_s" not in figures(parsed, "Y63", aug17)
    assert "Y63 Aug 2017: A25 not available" in {s.reason for s in parsed.skipped}
    assert all(f.value != 0 for f in parsed.figures)


def test_dot_means_not_available_in_the_csv():
    data = (AMB / CSV).read_bytes().decode()
    header, first, *rest = data.splitlines()
    cols = header.split(",")
    cells = first.split(",")
    cells[cols.index("A25")] = "."
    parsed = ambulance.parse(
        ("\n".join([header, ",".join(cells), *rest]) + "\n").encode(), filename="dot.csv"
    )
    jan = figures(parsed, "ENG", date(2026, 1, 1))
    assert "amb_c1_mean_s" not in jan and "amb_c1_p90_s" in jan
    assert [s.reason for s in parsed.skipped] == ["ENG Jan 2026: A25 not available"]


def test_trust_not_yet_reporting_has_no_zero_second_response_time():
    """August 2017: most trusts had not moved to the new standards; the sheet shows 0s."""
    parsed = parse(XLSX)
    assert "RRU Aug 2017: A8 is 0, no A25" in {s.reason for s in parsed.skipped}
    assert figures(parsed, "RRU", date(2017, 8, 1)) == {}
    assert figures(parsed, "RX9", date(2017, 8, 1))["amb_c1_mean_s"].value > 0
