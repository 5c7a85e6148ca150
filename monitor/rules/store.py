"""Writing lifecycle plans to the database: Alert and AlertEvent rows with their evidence.

The planner (lifecycle.py) decides what happens; this module only writes it down. ``apply``
runs inside the caller's transaction, so that the events and whatever the caller writes after
them (the outbox rows routing adds, rules/run.py) commit or roll back together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, col, select

from monitor.models import Alert, AlertEvent, Organisation, Publication, utcnow
from monitor.rules import evidence
from monitor.rules.plans import AlertChange, AlertView, Plan, PlannedEvent
from monitor.vocab import ENDED, EVALUATION_KINDS, LONDON, AlertState


def latest_alerts(
    session: Session, pairs: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], AlertView]:
    """The latest alert (open or closed) of each (rule, organisation), as the planner needs it.

    ``pairs`` limits the lookup; None reads every pair.
    """
    newest = select(func.max(Alert.id)).group_by(col(Alert.rule), col(Alert.org))
    # The publisher's date of the figure each alert last evaluated (its latest evaluation
    # event's publication), so that an older file fetched late changes nothing.
    published = (
        select(Publication.published_at)
        .join(AlertEvent, col(AlertEvent.publication_id) == col(Publication.id))
        .where(
            col(AlertEvent.alert_id) == col(Alert.id),
            col(AlertEvent.kind).in_(EVALUATION_KINDS),
        )
        .order_by(col(AlertEvent.id).desc())
        .limit(1)
        .correlate(Alert)
        .scalar_subquery()
    )
    query = select(Alert, published).where(col(Alert.id).in_(newest))
    wanted = set(pairs) if pairs is not None else None
    out = {}
    for a, published_at in session.exec(query).all():
        if a.id is None or (wanted is not None and (a.rule, a.org) not in wanted):
            continue
        out[(a.rule, a.org)] = AlertView(
            id=a.id,
            rule=a.rule,
            org=a.org,
            state=AlertState(a.state),
            period_start=a.period_start,
            first_period=a.first_period,
            consecutive_periods=a.consecutive_periods,
            value=a.value,
            threshold=a.threshold,
            acknowledged=a.acknowledged_at is not None,
            silenced_until=a.silenced_until.date() if a.silenced_until else None,
            rule_version=a.rule_version,
            previous_alert_id=a.previous_alert_id,
            published_on=published_at.astimezone(LONDON).date() if published_at else None,
        )
    return out


_CHUNK = 500  # keys per IN (...) list, well inside every database's parameter limit


@dataclass
class Directory:
    """The organisations and publications a batch of plans names, read in a few queries,
    for the names an event's evidence carries."""

    orgs: dict[str, Organisation] = field(default_factory=dict)
    publications: dict[int, Publication] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session, plans: Sequence[Plan]) -> Directory:
        codes = sorted({p.org for p in plans})
        pub_ids = sorted({i for p in plans for e in p.events for i in evidence.cited(e)})
        out = cls()
        for i in range(0, len(codes), _CHUNK):
            q = select(Organisation).where(col(Organisation.code).in_(codes[i : i + _CHUNK]))
            out.orgs.update({o.code: o for o in session.exec(q)})
        for i in range(0, len(pub_ids), _CHUNK):
            q2 = select(Publication).where(col(Publication.id).in_(pub_ids[i : i + _CHUNK]))
            out.publications.update({p.id: p for p in session.exec(q2) if p.id is not None})
        return out

    def names(self, org: str, event: PlannedEvent, now: datetime) -> evidence.Names:
        """The names ``event``'s evidence cites, and the London day it is evaluated on."""
        o = self.orgs.get(org)
        cited = {i: p for i in evidence.cited(event) if (p := self._published(i)) is not None}
        own = cited.get(event.publication_id or 0)
        return evidence.Names(
            org_name=o.name if o else None,
            org_region=o.region if o else None,
            publication_url=own.url if own else None,
            publication_title=own.title if own else None,
            published_at=own.published_at if own else None,
            publications=cited,
            evaluated_on=now.astimezone(LONDON).date(),
        )

    def _published(self, publication_id: int) -> evidence.Published | None:
        pub = self.publications.get(publication_id)
        if pub is None:
            return None
        return evidence.Published(
            url=pub.url, title=pub.title or pub.filename, published_at=pub.published_at
        )


def _write_alert(
    session: Session, c: AlertChange, now: datetime, loaded: dict[int, Alert]
) -> Alert:
    alert = None
    if c.alert_id is not None:
        alert = loaded.get(c.alert_id) or session.get(Alert, c.alert_id)
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
    if c.state == AlertState.FIRING and alert.fired_at is None:
        alert.fired_at = now
    if c.state in ENDED:
        alert.ended_at = now
    session.add(alert)
    return alert


def apply(
    session: Session,
    plan: Plan,
    *,
    now: datetime | None = None,
    directory: Directory | None = None,
) -> list[AlertEvent]:
    """Write ``plan`` in ``session``'s transaction; return the events written.

    ``directory`` holds the organisations and publications the plan names (loaded for this
    plan alone when not given: a caller writing many plans loads one for them all).
    """
    return apply_all(session, [plan], now=now, directory=directory)


def apply_all(
    session: Session,
    plans: Sequence[Plan],
    *,
    now: datetime | None = None,
    directory: Directory | None = None,
) -> list[AlertEvent]:
    """Write ``plans`` in ``session``'s transaction, in order; return the events written.

    The alerts the plans change are read in one query and written in one flush, and then
    their events in another, rather than a round trip per alert.
    """
    now = now or utcnow()
    directory = directory or Directory.load(session, plans)
    ids = sorted({c.alert_id for p in plans for c in p.changes if c.alert_id is not None})
    # Held here: the session's identity map keeps unchanged objects only weakly, so alerts
    # read and dropped would be read again one at a time.
    loaded: dict[int, Alert] = {}
    for i in range(0, len(ids), _CHUNK):
        for alert in session.exec(select(Alert).where(col(Alert.id).in_(ids[i : i + _CHUNK]))):
            loaded[alert.id] = alert  # type: ignore[index]
    changes = [c for p in plans for c in p.changes]
    alerts = [_write_alert(session, c, now, loaded) for c in changes]
    session.flush()  # the new alerts' ids, for their events
    written = []
    for change, alert in zip(changes, alerts, strict=True):
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
                evidence=evidence.build(e, directory.names(change.org, e, now)).as_json(),
                notify=e.notify,
                note=e.note,
            )
            session.add(event)
            written.append(event)
    session.flush()
    return written
