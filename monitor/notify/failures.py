"""Messages that failed for good, as operators see them on the subscriptions page."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from monitor.models import Outbox, utcnow
from monitor.vocab import OutboxStatus

FAILURES_SHOWN = 20
FAILURES_WITHIN = timedelta(days=30)


def recent_failures(
    session: Session, *, now: datetime | None = None, limit: int = FAILURES_SHOWN
) -> list[Outbox]:
    """Messages that failed for good in the last 30 days, newest first: what operators see on
    the subscriptions page (emails and chat messages alike)."""
    since = (now or utcnow()) - FAILURES_WITHIN
    q = (
        select(Outbox)
        .where(col(Outbox.status) == OutboxStatus.FAILED, col(Outbox.created_at) >= since)
        .order_by(col(Outbox.id).desc())
        .limit(limit)
    )
    return list(session.exec(q))
