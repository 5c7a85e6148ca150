"""Replaying history as it was known, and evaluating only what a new publication affects."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from rulekit import ORGS, rule, series

from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext
from monitor.rules.load import load_rules

A4, ALL = "ae_4hr_type1_pct", "ae_4hr_pct"
RULES = Path(__file__).resolve().parent.parent.parent / "rules"


def test_as_of_replays_what_was_known_on_that_date() -> None:
    r = rule(metric=A4, kind="threshold", when="below", value=60)
    first = series("RCX", A4, "2025-06", [59], publication_id=1, published_at=date(2025, 7, 10))
    revised = series("RCX", A4, "2025-06", [61], publication_id=2, published_at=date(2025, 8, 14))
    july = series("RCX", A4, "2025-07", [58], publication_id=2, published_at=date(2025, 8, 14))
    points = first + revised + july

    def known(on: date) -> list[tuple[str, str, float | None]]:
        ev = evaluate([r], History.from_points(points, as_of=on), ORGS, as_of=on)
        f = ev.get("r", "RCX")
        assert f is not None
        rows = zip(f.periods, f.state_names(), f.values, strict=True)
        return [(p.isoformat()[:7], s, v) for p, s, v in rows]

    assert known(date(2025, 7, 31)) == [("2025-06", "firing", 59)]
    assert known(date(2025, 8, 31)) == [("2025-06", "ok", 61), ("2025-07", "firing", 58)]
    old = History.from_points(points, as_of=date(2025, 8, 31)).series(A4, "RCX")
    assert old is not None and old.revised == frozenset({0})  # June was revised


def test_history_known_later_than_as_of_is_refused() -> None:
    history = History.from_points([], as_of=date(2025, 9, 1))
    with pytest.raises(ValueError, match="later than as_of"):
        evaluate([], history, {}, as_of=date(2025, 8, 1))


def _trusts(n: int) -> dict[str, OrgContext]:
    return {
        f"T{i:03d}": OrgContext(code=f"T{i:03d}", trust_type="acute", region="Y61")
        for i in range(n)
    }


def test_a_new_publication_touches_only_the_pairs_it_affects() -> None:
    pack = load_rules(RULES).rules.values()
    orgs = _trusts(50)
    points = []
    for org in orgs:
        for metric, base in ((A4, 62.0), (ALL, 70.0), ("cancer_62d_pct", 70.0)):
            points += series(org, metric, "2023-09", [base + (i % 5) for i in range(24)])
    history = History.from_points(points)
    full = evaluate(pack, history, orgs, as_of=date(2025, 12, 31))
    assert len(full.touched) == 150

    # A revised figure for one trust and one metric: only that pair is read again.
    revision = series("T007", A4, "2025-08", [55.0], publication_id=2)
    history2, changed = history.updated(revision)
    assert changed == {(A4, "T007")}
    part = evaluate(pack, history2, orgs, as_of=date(2025, 12, 31), changed=changed)
    # The metric's peer rule reads every trust again: one trust's figure moves the others' ranks.
    assert part.touched == {(A4, org) for org in orgs}
    assert sorted((f.rule.id, f.org) for f in part if f.rule.kind != "peer") == [
        ("ae_type1_below_60", "T007"),
        ("ae_type1_below_78", "T007"),
        ("ae_type1_spc_concern", "T007"),
        ("ae_type1_spc_concern_below_60", "T007"),
    ]
    assert {f.org for f in part if f.rule.id == "ae_type1_worst_10pct"} == set(orgs)
    again = evaluate(pack, history2, orgs, as_of=date(2025, 12, 31))
    for f in part:
        g = again.get(f.rule.id, f.org)
        assert g is not None and (f.periods, f.states) == (g.periods, g.states)

    # A new month for every trust but one: the stale check also reads the trust left behind.
    new_month = [p for org in orgs if org != "T003" for p in series(org, ALL, "2025-09", [71.0])]
    history3, changed = history2.updated(new_month)
    part = evaluate(pack, history3, orgs, as_of=date(2025, 12, 31), changed=changed)
    assert part.touched == {(ALL, org) for org in orgs}
    late = part.get("stale_ae_missing", "T003")
    assert late is not None and late.state == "pending"
    assert {f.rule.id for f in part} == {"ae_all_below_78", "ae_all_below_60", "stale_ae_missing"}
