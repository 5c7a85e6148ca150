"""Mergers: when the reference data says a trust closed into a successor, the closed trust's
open alerts end ("merged into ..."), and its subscriptions move to the successor with a notice
to each subscriber. The successor's page shows the predecessor's history, marked as its.

Run at `monitor init` (after the reference list is loaded) and by the service's daily check.
Idempotent: a moved subscription no longer names the closed trust and an ended alert is no
longer open, so a second run finds nothing to do; the notices' outbox keys
(``merger:<subscription>:<closed trust>:<recipient>``) are unique besides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlmodel import Session, col, select

from monitor import orgs
from monitor.config import Settings
from monitor.models import Alert, AlertEvent, Organisation, Outbox, Subscription, utcnow
from monitor.periods import day
from monitor.vocab import (
    EVALUATION_KINDS,
    MERGER_ACTOR,
    OPEN,
    AlertState,
    EventKind,
    OutboxKind,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Merger:
    """One closed trust and the open trust it is now part of."""

    code: str
    name: str
    closed: date
    successor: str
    successor_name: str

    @property
    def effective(self) -> date:
        """The first day the successor runs the closed trust's services."""
        return self.closed + timedelta(days=1)

    @property
    def words(self) -> str:
        """ "merged into Somerset NHS Foundation Trust (RH5) on 1 April 2023"."""
        return f"merged into {self.successor_name} ({self.successor}) on {day(self.effective)}"


@dataclass
class MergerReport:
    """What one run did."""

    mergers: list[str] = field(default_factory=list)  # "RA4 -> RH5"
    alerts_ended: int = 0
    subscriptions_moved: int = 0
    notices: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "mergers": self.mergers,
            "alerts_ended": self.alerts_ended,
            "subscriptions_moved": self.subscriptions_moved,
            "notices": self.notices,
        }


def pending(session: Session, today: date) -> list[Merger]:
    """Trusts closed by ``today`` with a successor in the reference list, by code."""
    q = select(Organisation).where(
        col(Organisation.closed).is_not(None),
        col(Organisation.closed) <= today,
        col(Organisation.successor).is_not(None),
    )
    out = []
    for org in session.exec(q.order_by(col(Organisation.code))):
        succ = orgs.final_successor(session, org)
        if succ is not None and org.closed is not None:
            out.append(Merger(org.code, org.name, org.closed, succ.code, succ.name))
    return out


def apply(session: Session, settings: Settings, *, today: date) -> MergerReport:
    """Carry out every merger in the reference data, in the caller's transaction.

    1. End the closed trust's open alerts: resolved, with an event saying "merged into ..."
       that is routed like any resolution (emailed where the alert's firing was).
    2. Move its organisation subscriptions to the successor, and queue a notice to each
       confirmed subscriber (a paused one's is cancelled at sending, as any email to it).
    """
    from monitor.notify.routing import route

    report = MergerReport()
    for m in pending(session, today):
        ended = _end_alerts(session, m)
        if ended:
            session.flush()
            route(session, ended, settings=settings)
        moved, notices = _move_subscriptions(session, settings, m)
        if ended or moved:
            report.mergers.append(f"{m.code} -> {m.successor}")
            log.info("%s: %d alerts ended, %d subscriptions moved", m.words, len(ended), moved)
        report.alerts_ended += len(ended)
        report.subscriptions_moved += moved
        report.notices += notices
    return report


def _end_alerts(session: Session, m: Merger) -> list[AlertEvent]:
    now = utcnow()
    alerts = list(
        session.exec(select(Alert).where(Alert.org == m.code, col(Alert.state).in_(OPEN)))
    )
    events = []
    for a in alerts:
        history = list(
            session.exec(
                select(AlertEvent)
                .where(AlertEvent.alert_id == a.id)
                .order_by(col(AlertEvent.id).desc())
            )
        )
        latest = next((e for e in history if e.kind in EVALUATION_KINDS), None)
        a.state = AlertState.RESOLVED
        a.ended_at = now
        a.updated_at = now
        session.add(a)
        assert a.id is not None
        e = AlertEvent(
            alert_id=a.id,
            kind=EventKind.RESOLVED,
            at=now,
            period_start=a.period_start,
            value=a.value,
            threshold=a.threshold,
            rule_version=a.rule_version,
            evidence=dict(latest.evidence) if latest else {},
            # Subscribers hear of the end of an alert they were told of, and of no other.
            notify=any(e.notify for e in history),
            actor=MERGER_ACTOR,
            note=m.words,
        )
        session.add(e)
        events.append(e)
    return events


def _move_subscriptions(session: Session, settings: Settings, m: Merger) -> tuple[int, int]:
    from monitor.notify import channels, keys, mime
    from monitor.notify.enqueue import enqueue

    now = utcnow()
    subs = list(
        session.exec(
            select(Subscription).where(
                Subscription.scope == "org",
                Subscription.code == m.code,
                col(Subscription.unsubscribed_at).is_(None),
            )
        )
    )
    rows = []
    for sub in subs:
        assert sub.id is not None
        sub.code = m.successor
        session.add(sub)
        if sub.confirmed_at is None:
            continue  # nothing but the confirmation email goes to an unconfirmed address
        if sub.channel != channels.EMAIL:
            continue  # a chat channel hears of the successor's alerts; the notice is an email
        rows.append(
            Outbox(
                key=keys.merger(sub.id, m.code, sub.email),
                recipient=sub.email,
                kind=OutboxKind.MERGER,
                payload={
                    "subscriptions": [sub.id],
                    "closed_code": m.code,
                    "closed_name": m.name,
                    "closed_on": m.closed.isoformat(),
                    "successor_code": m.successor,
                    "successor_name": m.successor_name,
                },
                message_id=mime.new_message_id(settings, OutboxKind.MERGER),
                created_at=now,
                next_attempt_at=now,
            )
        )
    session.flush()
    return len(subs), len(enqueue(session, rows))
