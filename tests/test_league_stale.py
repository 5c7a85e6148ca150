"""A trust is "missing" a period only when trusts of its own type were published for it: NHS
England's league tables come per trust type, and the monitor may hold a later quarter for one
type than for another."""

from __future__ import annotations

from datetime import date

from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext, Point
from monitor.rules.load import load_rules
from monitor.rules.model import FindingState
from tests.conftest import ROOT

Q1, Q2 = (date(2025, 4, 1), date(2025, 6, 30)), (date(2025, 7, 1), date(2025, 9, 30))
Q3, Q4 = (date(2025, 10, 1), date(2025, 12, 31)), (date(2026, 1, 1), date(2026, 3, 31))


def segments(org: str, *quarters: tuple[date, date]) -> list[Point]:
    return [
        Point(org=org, metric="nof_segment", period_start=s, period_end=e, value=3.0)
        for s, e in quarters
    ]


def test_missing_is_judged_within_the_trust_type() -> None:
    rule = load_rules(ROOT / "rules").rules["stale_oversight_missing"]
    assert rule.reported_for <= 3  # RWR has reported three quarters before the one it misses
    orgs = {
        "RCX": OrgContext(code="RCX", trust_type="acute"),  # Q3 only, as the derived file gives
        "RGT": OrgContext(code="RGT", trust_type="acute"),
        "RW1": OrgContext(code="RW1", trust_type="mental health"),  # Q1 to Q4
        # Q1 to Q3 (reporting long enough to be watched, the rule's reported_for): missing Q4
        "RWR": OrgContext(code="RWR", trust_type="mental health"),
    }
    history = History.from_points(
        segments("RCX", Q3)
        + segments("RGT", Q3)
        + segments("RW1", Q1, Q2, Q3, Q4)
        + segments("RWR", Q1, Q2, Q3)
    )
    ev = evaluate([rule], history, orgs, as_of=date(2026, 7, 1))
    state = {org: ev.get(rule.id, org) for org in orgs}
    assert {o: f.state for o, f in state.items() if f} == {
        "RCX": FindingState.OK,
        "RGT": FindingState.OK,
        "RW1": FindingState.OK,
        "RWR": FindingState.FIRING,
    }
