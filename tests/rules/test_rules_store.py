"""Writing lifecycle plans to a real database (SQLite here; PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from rulekit import FAR, ORGS, rule, series
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Publication
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, Point
from monitor.rules.lifecycle import plan_all
from monitor.rules.store import apply, latest_alerts

A4 = "ae_4hr_type1_pct"
NOW = datetime(2025, 9, 11, 9, 30, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine) -> Engine:
    """The shared database fixture (SQLite and PostgreSQL) holding three publications."""
    with session_scope(engine, write=True) as s:
        for pub_id in (1, 2, 3):
            s.add(
                Publication(
                    id=pub_id, source="ae", url="file:///ae.csv", filename="ae.csv",
                    sha256=str(pub_id) * 64, published_at=NOW,
                )
            )  # fmt: skip
    return engine


def _evaluate_and_apply(
    engine: Engine, points: list[Point], *, then_fail: bool = False
) -> list[str]:
    rules = {
        r.id: r for r in [rule("below_60", metric=A4, kind="threshold", when="below", value=60)]
    }
    ev = evaluate(rules.values(), History.from_points(points), ORGS, as_of=FAR)
    with session_scope(engine, write=True) as s:
        alerts = latest_alerts(s)
        plans = plan_all(ev, alerts, rules, today=date(2025, 9, 11), live_publications={2, 3})
        kinds = []
        for p in plans:
            for e in apply(s, p, now=NOW):
                assert e.id is not None and s.in_transaction()
                kinds.append(f"{e.kind} notify={e.notify}")
        if then_fail:  # what the caller writes after (routing) fails
            raise RuntimeError("routing failed")
    return kinds


def test_apply_writes_alerts_and_events_and_is_idempotent(engine: Engine) -> None:
    history = series("RCX", A4, "2025-06", [61], publication_id=1)
    assert _evaluate_and_apply(engine, history) == []
    history += series("RCX", A4, "2025-07", [52.1], publication_id=2)
    assert _evaluate_and_apply(engine, history) == ["fired notify=True"]
    assert _evaluate_and_apply(engine, history) == []  # the same data again: nothing
    history += series("RCX", A4, "2025-08", [63], publication_id=3)
    assert _evaluate_and_apply(engine, history) == ["resolved notify=True"]
    with Session(engine) as s:
        (alert,) = s.exec(select(Alert)).all()
        assert (alert.state, alert.value, alert.threshold) == ("resolved", 63, 60)
        assert alert.first_period == date(2025, 7, 1) and alert.rule_version == "v-below_60"
        fired, resolved = s.exec(select(AlertEvent).order_by(AlertEvent.id)).all()  # type: ignore[arg-type]
        assert (fired.kind, fired.value, fired.period_start) == ("fired", 52.1, date(2025, 7, 1))
        assert fired.evidence["threshold"] == 60 and fired.evidence["episode"] == "first"
        assert fired.publication_id == 2 and resolved.publication_id == 3
        assert fired.evidence["publication_url"] == "file:///ae.csv"


def test_apply_writes_in_the_callers_transaction(engine: Engine) -> None:
    points = series("RCX", A4, "2025-07", [52.1], publication_id=2)
    with pytest.raises(RuntimeError, match="routing failed"):
        _evaluate_and_apply(engine, points, then_fail=True)
    with Session(engine) as s:  # the events were rolled back with the routing
        assert s.exec(select(Alert)).all() == [] and s.exec(select(AlertEvent)).all() == []
    assert _evaluate_and_apply(engine, points) == ["fired notify=True"]
