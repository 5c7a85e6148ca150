"""A&E provider CSV parser, on every real monthly file in data/real/ae."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from monitor.orgs import REGIONS
from monitor.sources import ae
from monitor.sources.base import Parsed

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

AE = REAL / "ae"
FILES = sorted(AE.glob("*.csv"))

# (file, first day of the month it covers, providers in it)
PERIODS = [
    ("Monthly-AE-September-2023.csv", date(2023, 9, 1), 201),
    ("Monthly-AE-August-2024.csv", date(2024, 8, 1), 198),
    ("Monthly-AE-September-2024.csv", date(2024, 9, 1), 197),
    ("Monthly-AE-October-2024-revised.csv", date(2024, 10, 1), 198),
    ("Monthly-AE-November-2024-revised.csv", date(2024, 11, 1), 198),
    ("Monthly-AE-December-2024.csv", date(2024, 12, 1), 198),
    ("Monthly-AE-January-2025.csv", date(2025, 1, 1), 198),
    ("Monthly-AE-February-2025-revised.csv", date(2025, 2, 1), 198),
    ("Monthly-AE-March-2025.csv", date(2025, 3, 1), 198),
    ("Monthly-AE-April-2025.csv", date(2025, 4, 1), 198),
    ("Monthly-AE-May-2025.csv", date(2025, 5, 1), 200),
    ("Monthly-AE-June-2025-1-1.csv", date(2025, 6, 1), 201),
    ("July-2025-CSV-9jfy4.csv", date(2025, 7, 1), 201),
    ("August-2025-CSV-g5tyh-v2.0.csv", date(2025, 8, 1), 201),
]


def parse(name: str) -> Parsed:
    return ae.parse((AE / name).read_bytes(), filename=name)


def value(parsed, org: str, metric: str) -> float | None:
    [fig] = [f for f in parsed.figures if f.org == org and f.metric == metric]
    return fig.value


def test_every_real_file_is_listed_here():
    assert sorted(p.name for p in FILES) == sorted(name for name, _, _ in PERIODS)


@pytest.mark.parametrize(("name", "month", "providers"), PERIODS)
def test_each_file_gives_its_month_every_provider_regions_and_england(name, month, providers):
    parsed = parse(name)
    assert [start for start, _ in parsed.periods] == [month]
    assert parsed.rows_read == providers + 1  # + the TOTAL row
    dta = [f for f in parsed.figures if f.metric == "ae_12hr_dta_count"]
    # Every provider keeps its 12-hour count, even those with no attendances at all.
    assert len([f for f in dta if not f.derived and f.org != "ENG"]) == providers
    assert {f.org for f in parsed.figures if f.derived} == set(REGIONS)
    eng = [f for f in parsed.figures if f.org == "ENG"]
    assert {f.metric for f in eng} == {"ae_4hr_pct", "ae_4hr_type1_pct", "ae_12hr_dta_count"}
    assert not any(f.derived for f in eng), "England is the file's own TOTAL row"


# (file, org, all types %, type 1 %, 12-hour DTA waits). RCX and England as NHS England published
# them; RAS (September 2024, the file with junk columns) worked by hand from its row:
# (12,330 - 3,821) / 12,330 and (6,077 - 3,644) / 6,077.
FIGURES = [
    ("July-2025-CSV-9jfy4.csv", "RCX", 58.6, 52.1, 125),
    ("Monthly-AE-April-2025.csv", "RCX", 61.3, 54.5, 111),
    ("August-2025-CSV-g5tyh-v2.0.csv", "RCX", 59.2, 52.3, 124),
    ("July-2025-CSV-9jfy4.csv", "ENG", 76.4, 63.1, 35467),
    ("Monthly-AE-September-2024.csv", "RAS", 69.0, 40.0, 39),
]


@pytest.mark.parametrize(("name", "org", "all_types", "type1", "dta"), FIGURES)
def test_real_figures(name, org, all_types, type1, dta):
    parsed = parse(name)
    assert round(value(parsed, org, "ae_4hr_pct"), 1) == all_types
    assert round(value(parsed, org, "ae_4hr_type1_pct"), 1) == type1
    assert value(parsed, org, "ae_12hr_dta_count") == dta


def test_numerator_is_within_4_hours_and_denominator_attendances():
    parsed = parse("July-2025-CSV-9jfy4.csv")
    [t1] = [f for f in parsed.figures if f.org == "RCX" and f.metric == "ae_4hr_type1_pct"]
    # RCX July 2025: 7,060 type 1 attendances (no booked), 3,382 over 4 hours.
    assert (t1.numerator, t1.denominator) == (7060 - 3382, 7060)
    assert t1.org_name == "THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST"


def test_provider_without_attendances_has_no_percentage_but_keeps_its_count():
    parsed = parse("July-2025-CSV-9jfy4.csv")
    ran = [f for f in parsed.figures if f.org == "RAN"]
    assert [(f.metric, f.value) for f in ran] == [("ae_12hr_dta_count", 0.0)]
    reasons = [s.reason for s in parsed.skipped if s.reason.startswith("RAN:")]
    assert reasons == [
        "RAN: no A&E attendances, so no ae_4hr_pct",
        "RAN: no type 1 attendances, so no ae_4hr_type1_pct",
    ]


def test_total_row_with_trailing_spaces_and_junk_columns_is_england():
    parsed = parse("Monthly-AE-September-2024.csv")  # "Total,Total ,..." and 6 junk columns
    assert round(value(parsed, "ENG", "ae_4hr_pct"), 2) == 74.22
    assert parsed.orgs >= {"ENG", "RAS", "C83023"}


@pytest.mark.parametrize("name", [p.name for p in FILES])
def test_regions_sum_to_england(name):
    """Derived regions are Σ numerators / Σ denominators; together they make the TOTAL row."""
    parsed = parse(name)
    for metric in ("ae_4hr_pct", "ae_4hr_type1_pct"):
        regions = [f for f in parsed.figures if f.metric == metric and f.derived]
        [eng] = [f for f in parsed.figures if f.metric == metric and f.org == "ENG"]
        assert sum(f.denominator for f in regions) == eng.denominator
        assert sum(f.numerator for f in regions) == eng.numerator
    regions = [f for f in parsed.figures if f.metric == "ae_12hr_dta_count" and f.derived]
    assert sum(f.value for f in regions) == value(parsed, "ENG", "ae_12hr_dta_count")


def test_bom_is_ignored():
    data = (AE / "July-2025-CSV-9jfy4.csv").read_bytes()
    with_bom = ae.parse(b"\xef\xbb\xbf" + data, filename="bom.csv")
    assert with_bom.figures == parse("July-2025-CSV-9jfy4.csv").figures


# ---- Agreement with NHS England's own published percentages ----------------------------------

# NHS England's provider sheet (saved as CSV by a third party) -> the CSV of the same month.
SHEETS = {
    "April-2025-AE.csv": "Monthly-AE-April-2025.csv",
    "May-2025-AE.csv": "Monthly-AE-May-2025.csv",
    "June-2025-AE.csv": "Monthly-AE-June-2025-1-1.csv",
    "July-2025-AE.csv": "July-2025-CSV-9jfy4.csv",
    "August-2025-AE.csv": "August-2025-CSV-g5tyh-v2.0.csv",
}


def published_percentages(sheet: Path) -> dict[str, tuple[float | None, float | None]]:
    """Code -> (all types %, type 1 %) as NHS England published them; None where n/a.

    The sheet's type 1 attendances (booked included) decide whether a type 1 figure exists:
    the April export writes 0 where later months write '-'.
    """
    with sheet.open(newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    col_all = header.index("Percentage in 4 hours or less (all)")
    col_t1 = header.index("Percentage in 4 hours or less (type 1)")
    col_total = header.index("Total attendances")
    out = {}
    for r in rows[1:]:

        def num(text: str) -> float:
            return float(text.replace(",", "").rstrip("%").strip())

        t1_att, total = num(r[3]), num(r[col_total])
        out[r[0].strip()] = (
            num(r[col_all]) if total else None,
            num(r[col_t1]) if t1_att else None,
        )
    return out


@pytest.mark.parametrize("sheet", sorted(SHEETS))
def test_percentages_agree_with_nhs_englands_published_figures(sheet):
    published = published_percentages(AE / "provider_sheet_exports" / sheet)
    parsed = parse(SHEETS[sheet])
    ours: dict[str, dict[str, float]] = {}
    for f in parsed.figures:
        if not f.derived and f.org != "ENG" and f.metric != "ae_12hr_dta_count":
            ours.setdefault(f.org, {})[f.metric] = f.value
    assert set(published) <= set(ours) | {org for org, (a, _) in published.items() if a is None}, (
        "every published provider is in the CSV"
    )
    differ = []
    for org, (pub_all, pub_t1) in sorted(published.items()):
        mine = ours.get(org, {})
        for label, pub, calc in (
            ("all types", pub_all, mine.get("ae_4hr_pct")),
            ("type 1", pub_t1, mine.get("ae_4hr_type1_pct")),
        ):
            if pub is None and calc is None:
                continue
            if pub is None or calc is None or abs(pub - calc) > 0.1:
                differ.append((org, label, pub, calc))
    bad_orgs = {org for org, *_ in differ}
    print(f"\n{sheet}: {len(published) - len(bad_orgs)}/{len(published)} providers agree")
    for org, label, pub, calc in differ:
        shown = "n/a" if calc is None else f"{calc:.2f}"
        print(f"  {org} {label}: NHS England {pub}, computed {shown}")
    assert len(bad_orgs) <= 0.02 * len(published), differ
