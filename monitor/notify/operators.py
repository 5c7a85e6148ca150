"""Emails to operators (``[mail] operators``): a source failing or late, a publication
rejected, a send failing permanently. Once per incident, never once per retry.

The incident is part of the outbox key, so queueing it again is a no-op:
``operator:source:<source>:<failing since>:<operator>``, ``operator:late:<source>:<expected
at>:<operator>``, ``operator:rejected:<publication>:<operator>`` and
``operator:send:<recipient>:<day>:<operator>`` (every permanent failure for one address in a
day is one incident); monitor/notify/keys.py builds them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Outbox, Publication, SourceState
from monitor.notify import channels, keys, mime
from monitor.notify.enqueue import enqueue
from monitor.sources import registry
from monitor.sources.timetable import expectation
from monitor.vocab import LONDON, OutboxKind, PublicationStatus

# One failed poll is often a blip that the next retry clears; two in a row are worth a look.
FAILURES_BEFORE_TELLING = 2
# Rejections older than this are history, not news (e.g. when operators are first configured).
REJECTED_WITHIN = timedelta(days=7)


def _rows(
    settings: Settings, incident: str, payload: dict[str, Any], now: datetime
) -> list[Outbox]:
    return [
        Outbox(
            key=keys.operator(incident, str(op)),
            recipient=str(op),
            kind=OutboxKind.OPERATOR,
            payload=payload,
            message_id=mime.new_message_id(settings, OutboxKind.OPERATOR),
            created_at=now,
            next_attempt_at=now,
        )
        for op in settings.mail.operators
    ]


def _when(dt: datetime | None) -> str:
    if dt is None:
        return "unknown"
    aware = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    return aware.astimezone(LONDON).strftime("%d %B %Y %H:%M %Z")


def send_failed(settings: Settings, row: Outbox, reason: str, now: datetime) -> list[Outbox]:
    """Operator emails for a message that failed permanently."""
    channel = channels.channel_of(row.recipient)
    if channel != channels.EMAIL:
        return _rows(
            settings,
            keys.send_failed(row.recipient, now.date()),
            {
                "title": f"A {channels.TITLES[channel]} message to {row.recipient} "
                "could not be delivered",
                "summary": "The channel's webhook refused it permanently; it will not be tried "
                "again. Other failures for this channel today are listed on the "
                "subscriptions page, not emailed again.",
                "details": [
                    ["Channel", row.recipient],
                    ["Message", row.key],
                    ["Reason", reason],
                    ["First failure today", _when(now)],
                ],
                "action": "A deleted or moved webhook needs a new URL: remove the subscription "
                "with `monitor subscribers remove <old URL>` and add it with the new one.",
            },
            now,
        )
    return _rows(
        settings,
        keys.send_failed(row.recipient, now.date()),
        {
            "title": f"An email to {row.recipient} could not be delivered",
            "summary": "The mail server refused it permanently; it will not be tried again. "
            "Other failures for this address today are listed on the status page, "
            "not emailed again.",
            "details": [
                ["Recipient", row.recipient],
                ["Email", row.key],
                ["Reason", reason],
                ["First failure today", _when(now)],
            ],
            "action": "Check the address with the subscriber; if it is wrong, remove it with "
            "`monitor subscribers remove` and add the right one.",
        },
        now,
    )


def _source_incidents(s: Session, settings: Settings, now: datetime) -> list[Outbox]:
    rows: list[Outbox] = []
    states = {st.source: st for st in s.exec(select(SourceState))}
    for name in registry.NAMES:
        conf, st = settings.source(name), states.get(name)
        if not conf.enabled or st is None:
            continue
        if st.failing_since and st.consecutive_failures >= FAILURES_BEFORE_TELLING:
            rows += _rows(
                settings,
                keys.source_failing(name, st.failing_since),
                {
                    "title": f"The {name} source is failing",
                    "summary": f"The last {st.consecutive_failures} polls of {name} failed. "
                    "It is polled again on its schedule; you will hear of this failure once.",
                    "details": [
                        ["Source", name],
                        ["Failing since", _when(st.failing_since)],
                        ["Last error", st.last_error or "(none recorded)"],
                    ],
                    "action": "Look at the error on the sources page; a changed page or file "
                    "layout needs a code change, an outage needs nothing.",
                },
                now,
            )
        if st.first_complete_ingest_at is None:
            continue
        latest = s.exec(
            select(func.max(Publication.published_at)).where(
                Publication.source == name, Publication.status == PublicationStatus.INGESTED
            )
        ).one()
        exp = expectation(
            name, conf, now, _aware(latest) if latest else None, last_success_at=st.last_success_at
        )
        expected = exp.expected_at or exp.awaited_at
        if exp.late and expected is not None:
            rows += _rows(
                settings,
                keys.source_late(name, expected.date()),
                {
                    "title": f"The {name} source is late",
                    "summary": f"A publication was expected on {_when(expected)} and nothing "
                    f"newer than {_when(latest)} has been ingested "
                    f"{conf.grace_days} days later.",
                    "details": [
                        ["Source", name],
                        ["Expected", _when(expected)],
                        ["Latest publication", _when(latest)],
                        ["Index page", conf.index_url or conf.base_url or ""],
                    ],
                    "action": "Check the publisher's page: a delayed release needs nothing, a "
                    "moved page needs its index_url changed in config.toml.",
                },
                now,
            )
    return rows


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _rejections(s: Session, settings: Settings, now: datetime) -> list[Outbox]:
    rows: list[Outbox] = []
    q = select(Publication).where(
        Publication.status == PublicationStatus.REJECTED,
        col(Publication.trigger).in_(("poll", "backfill")),
        col(Publication.fetched_at) >= now - REJECTED_WITHIN,
    )
    for pub in s.exec(q):
        rows += _rows(
            settings,
            keys.publication_rejected(pub.id),
            {
                "title": f"A {pub.source} publication was rejected",
                "summary": f"{pub.filename} could not be ingested, so nothing from it is "
                "stored and no alert was evaluated on it.",
                "details": [
                    ["Source", pub.source],
                    ["File", pub.title or pub.filename],
                    ["URL", pub.url],
                    ["Fetched", _when(pub.fetched_at)],
                    ["Reason", pub.reason or "(none recorded)"],
                ],
                "action": "Read the reason: it names the row and column. A changed layout needs "
                "the parser changed; then `monitor poll` ingests it.",
            },
            now,
        )
    return rows


def queue_incidents(engine: Engine, settings: Settings, *, now: datetime) -> list[str]:
    """Queue operator emails for incidents not yet told; returns the keys queued."""
    if not settings.mail.operators:
        return []
    with session_scope(engine, write=True) as s:
        rows = _source_incidents(s, settings, now) + _rejections(s, settings, now)
        return enqueue(s, rows)
