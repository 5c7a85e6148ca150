"""Cancer Waiting Times parser, on every real provider extract and the national time series."""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path

import pytest

from monitor.orgs import REGIONS
from monitor.sources import cancer
from monitor.sources.base import Parsed

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

CANCER = REAL / "cancer"
NATIONAL = "CWT-CRS-National-Time-Series-Oct-2009-Oct-2023-with-Revisions.xlsx"

# (extract, the months it covers, cumulatively)
EXTRACTS = [
    ("CWT-CRS-Apr-2023-to-Sep-2023-Data-Extract-Provider-Provisional.xlsx", (2023, 4), 6),
    ("CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx", (2023, 10), 1),
    ("CWT-CRS-Apr-2024-to-Sep-2024-Data-Extract-Provider-Final.xlsx", (2024, 4), 6),
    ("CWT-CRS-Oct-2024-to-Mar-2025-Data-Extract-Provider.xlsx", (2024, 10), 6),
]


@cache
def parse(name: str, regions: bool = False) -> Parsed:
    region_of = {"RCX": "Y61", "RAJ": "Y61", "RKB": "Y60"} if regions else None
    return cancer.parse((CANCER / name).read_bytes(), filename=name, region_of=region_of)


def figure(parsed, org: str, metric: str, month: date):
    [f] = [
        f for f in parsed.figures if f.org == org and f.metric == metric and f.period_start == month
    ]
    return f


def test_every_real_workbook_is_tested():
    assert sorted(p.name for p in CANCER.glob("*.xlsx")) == sorted(
        [name for name, _, _ in EXTRACTS] + [NATIONAL]
    )


@pytest.mark.parametrize(("name", "first", "months"), EXTRACTS)
def test_every_month_of_a_cumulative_extract_is_its_own_period(name, first, months):
    parsed = parse(name)
    year, month = first
    expected = [date(year + (month + i > 12), (month + i - 1) % 12 + 1, 1) for i in range(months)]
    assert [start for start, _ in parsed.periods] == expected
    metrics = {f.metric for f in parsed.figures}
    assert metrics == {"cancer_28d_fds_pct", "cancer_31d_pct", "cancer_62d_pct"}
    eng = [f for f in parsed.figures if f.org == "ENG"]
    assert len(eng) == 3 * months and all(f.derived for f in eng)


@pytest.mark.parametrize(
    ("metric", "expected", "within", "treated"),
    [
        ("cancer_28d_fds_pct", 69.6, 881, 1265),
        ("cancer_31d_pct", 99.3, 149, 150),
        # Shared-care patients count a half to each trust.
        ("cancer_62d_pct", 56.8, 48, 84.5),
    ],
)
def test_rcx_october_2023(metric, expected, within, treated):
    f = figure(
        parse("CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx"), "RCX", metric, date(2023, 10, 1)
    )
    assert round(f.value, 1) == expected
    assert (f.numerator, f.denominator) == (within, treated)
    assert not f.derived


def test_per_modality_rows_are_not_summed_too():
    parsed = parse("CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx")
    [note] = [s for s in parsed.skipped if "per-modality" in s.reason]
    assert note.reason.startswith("2195 per-modality 31/62-day rows not summed")


def test_regions_are_derived_from_region_of():
    parsed = parse("CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx", regions=True)
    oct23 = date(2023, 10, 1)
    east = figure(parsed, "Y61", "cancer_62d_pct", oct23)
    rcx = figure(parsed, "RCX", "cancer_62d_pct", oct23)
    raj = figure(parsed, "RAJ", "cancer_62d_pct", oct23)
    assert east.derived
    assert east.denominator == rcx.denominator + raj.denominator
    assert east.numerator == rcx.numerator + raj.numerator
    assert {f.org for f in parsed.figures if f.derived} == {"ENG", "Y60", "Y61"}
    assert set(REGIONS) >= {"Y60", "Y61"}


def test_national_time_series_gives_englands_own_figures():
    parsed = parse(NATIONAL)
    oct23 = date(2023, 10, 1)
    fds = figure(parsed, "ENG", "cancer_28d_fds_pct", oct23)
    assert (fds.numerator, fds.denominator, fds.derived) == (192880, 271402, False)
    assert round(figure(parsed, "ENG", "cancer_31d_pct", oct23).value, 1) == 89.4
    assert round(figure(parsed, "ENG", "cancer_62d_pct", oct23).value, 1) == 63.1
    # The 31- and 62-day combined standards start in April 2022: earlier months are blank.
    assert {f.metric for f in parsed.figures if f.period_start < date(2022, 4, 1)} == {
        "cancer_28d_fds_pct"
    }
    assert any("Apr 2021: no cancer_31d_pct" in s.reason for s in parsed.skipped)


@pytest.mark.parametrize(
    "name", [n for n, _, _ in EXTRACTS if n.startswith(("CWT-CRS-Apr-2023", "CWT-CRS-Oct-2023"))]
)
def test_england_summed_from_providers_equals_the_national_series(name):
    """The extracts hold every provider: their sums are NHS England's national counts."""
    national = {(f.metric, f.period_start): f for f in parse(NATIONAL).figures}
    eng = [f for f in parse(name).figures if f.org == "ENG"]
    assert eng
    for f in eng:
        n = national[(f.metric, f.period_start)]
        assert (f.numerator, f.denominator) == (n.numerator, n.denominator), f
