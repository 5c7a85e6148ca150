"""Writing lifecycle plans to the database: Alert and AlertEvent rows, then the routing hook.

The planner (lifecycle.py) decides what happens; this module only writes it down. ``apply``
runs inside the caller's transaction, and calls the routing hook for each event it writes, so
that the events and whatever routing writes (outbox rows) commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.models import Alert, AlertEvent, Publication, utcnow
from monitor.rules.lifecycle import AlertChange, AlertView, Plan, PlannedEvent

RoutingHook = Callable[[Session, Alert, AlertEvent], None]


def no_routing(session: Session, alert: Alert, event: AlertEvent) -> None:
    """The routing hook until notifications exist: nothing is routed."""


def latest_alerts(
    session: Session, pairs: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], AlertView]:
    """The latest alert (open or closed) of each (rule, organisation), as the planner needs it.

    ``pairs`` limits the lookup; None reads every pair.
    """
    newest = select(func.max(Alert.id)).group_by(col(Alert.rule), col(Alert.org))
    query = select(Alert).where(col(Alert.id).in_(newest))
    wanted = set(pairs) if pairs is not None else None
    out = {}
    for a in session.exec(query).all():
        if a.id is None or (wanted is not None and (a.rule, a.org) not in wanted):
            continue
        out[(a.rule, a.org)] = AlertView(
            id=a.id,
            rule=a.rule,
            org=a.org,
            state=a.state,
            period_start=a.period_start,
            first_period=a.first_period,
            consecutive_periods=a.consecutive_periods,
            value=a.value,
            threshold=a.threshold,
            acknowledged=a.acknowledged_at is not None,
            silenced_until=a.silenced_until.date() if a.silenced_until else None,
            rule_version=a.rule_version,
            previous_alert_id=a.previous_alert_id,
        )
    return out


def _evidence(session: Session, e: PlannedEvent) -> dict[str, Any]:
    publication = session.get(Publication, e.publication_id) if e.publication_id else None
    return {
        **e.evidence,
        "publication_url": publication.url if publication else None,
        "episode": e.episode,
        "revised": e.revised,
        "consecutive_periods": e.consecutive_periods,
        "first_period": e.first_period.isoformat() if e.first_period else None,
        "superseded_by": e.superseded_by,
    }


def _write_alert(session: Session, c: AlertChange, now: datetime) -> Alert:
    alert = session.get(Alert, c.alert_id) if c.alert_id is not None else None
    if alert is None:
        alert = Alert(
            rule=c.rule,
            org=c.org,
            state=c.state,
            severity=c.severity,
            opened_at=now,
            previous_alert_id=c.previous_alert_id,
        )
    alert.metric = c.metric
    alert.state = c.state
    alert.severity = c.severity
    alert.value = c.value
    alert.period_start = c.period_start
    alert.first_period = c.first_period
    alert.consecutive_periods = c.consecutive_periods
    alert.threshold = c.threshold
    alert.rule_version = c.rule_version
    alert.updated_at = now
    if c.state == "firing" and alert.fired_at is None:
        alert.fired_at = now
    if c.state in ("resolved", "withdrawn"):
        alert.ended_at = now
    session.add(alert)
    session.flush()  # the id, for the events and the hook
    return alert


def apply(
    session: Session, plan: Plan, hook: RoutingHook = no_routing, *, now: datetime | None = None
) -> list[AlertEvent]:
    """Write ``plan`` in ``session``'s transaction and route each event; return the events."""
    now = now or utcnow()
    written = []
    for change in plan.changes:
        alert = _write_alert(session, change, now)
        for e in change.events:
            event = AlertEvent(
                alert_id=alert.id,  # type: ignore[arg-type]
                kind=e.kind,
                at=now,
                period_start=e.period_start,
                value=e.value,
                threshold=e.threshold,
                rule_version=e.rule_version,
                publication_id=e.publication_id,
                evidence=_evidence(session, e),
                notify=e.notify,
                note=e.note,
            )
            session.add(event)
            session.flush()
            hook(session, alert, event)
            written.append(event)
    return written
