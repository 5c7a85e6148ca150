"""Every real A&E file: the type-1 "below 60%" rule fires for King's Lynn (RCX) in exactly the
months its type-1 figure was below 60%.

The files in tests/data/ae_rules/ are NHS England's monthly provider CSVs, unchanged. Until the
A&E parser (monitor/sources/ae.py) is merged, the type-1 figure is computed here the way NHS
England computes it: 1 - (over 4 hours type 1 + booked type 1) / (attendances type 1 + booked).
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

from rulekit import ORGS

from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext, Point
from monitor.rules.load import load_rules
from monitor.rules.model import ThresholdRule
from monitor.sources.base import MONTHS, month_bounds

FILES = Path(__file__).resolve().parent.parent / "data" / "ae_rules"
RULES = Path(__file__).resolve().parent.parent.parent / "rules"
T1 = "ae_4hr_type1_pct"


def type1_figures() -> list[Point]:
    """Every provider's type-1 4-hour % in every file (providers without type 1 left out)."""
    points = []
    for n, path in enumerate(sorted(FILES.glob("*.csv")), start=1):
        with path.open(newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                org = (row["Org Code"] or "").strip()
                if org.upper() == "TOTAL":
                    continue
                _, month_name, year = row["Period"].split("-")
                start, end = month_bounds(int(year), MONTHS[month_name.upper()])
                seen = float(row["A&E attendances Type 1"]) + float(
                    row["A&E attendances Booked Appointments Type 1"]
                )
                over = float(row["Attendances over 4hrs Type 1"]) + float(
                    row["Attendances over 4hrs Booked Appointments Type 1"]
                )
                if seen > 0:
                    pct = 100 * (1 - over / seen)
                    points.append(
                        Point(
                            org=org,
                            metric=T1,
                            period_start=start,
                            period_end=end,
                            value=pct,
                            numerator=seen - over,
                            denominator=seen,
                            publication_id=n,
                        )
                    )
    return points


def test_rcx_fires_in_exactly_the_months_below_60() -> None:
    points = type1_figures()
    pack_rule = load_rules(RULES).rules["ae_type1_below_60"]
    assert isinstance(pack_rule, ThresholdRule) and pack_rule.value == 60
    # The plain rule: for_periods = 1 and no hysteresis.
    plain = pack_rule.model_copy(update={"for_periods": 1, "clear": None, "supersedes": ()})
    orgs = {**ORGS, **{p.org: OrgContext(code=p.org) for p in points if p.org not in ORGS}}
    ev = evaluate([plain], History.from_points(points), orgs, as_of=date(2025, 12, 31))

    rcx = sorted((p.period_start, p.value) for p in points if p.org == "RCX")
    assert len(rcx) == 14  # September 2023 and August 2024 to August 2025
    below = {start for start, value in rcx if value < 60}
    finding = ev.get("ae_type1_below_60", "RCX")
    assert finding is not None
    firing = {
        p for p, s in zip(finding.periods, finding.state_names(), strict=True) if s == "firing"
    }
    assert firing == below
    # The months the published league tables quote, and the two months it was not below 60.
    figures = dict(rcx)
    assert round(figures[date(2025, 7, 1)], 1) == 52.1
    assert {p.isoformat()[:7] for p, _ in rcx} - {p.isoformat()[:7] for p in below} == {
        "2024-08",
        "2024-10",
    }
    # Every trust the rule evaluated: firing exactly where the figure is below 60.
    for f in ev:
        values = dict(zip(f.periods, f.values, strict=True))
        for p, s in zip(f.periods, f.state_names(), strict=True):
            value = values[p]
            assert value is not None and (s == "firing") == (value < 60), (f.org, p, value)


def test_rcx_all_types_figure_is_higher_than_type_1() -> None:
    """The all-types figure (58.6% in July 2025) includes the minor injury unit's patients."""
    path = next(FILES.glob("July-2025-*.csv"))
    with path.open(newline="", encoding="utf-8-sig") as f:
        row = next(r for r in csv.DictReader(f) if r["Org Code"] == "RCX")
    seen = sum(float(v) for k, v in row.items() if k.startswith("A&E attendances"))
    over = sum(float(v) for k, v in row.items() if k.startswith("Attendances over 4hrs"))
    assert round(100 * (1 - over / seen), 1) == 58.6
