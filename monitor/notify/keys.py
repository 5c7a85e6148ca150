"""Outbox idempotency keys: one unique key per message, so queueing it again adds nothing.

DESIGN.md fixes the subscriber keys (``group:``, ``event:``, ``digest:``); the rest follow the
same pattern, ``<kind>:<what it is about>:<recipient>``. docs/notifications.md lists them all.
"""

from __future__ import annotations

from datetime import date, datetime

from monitor.vocab import OutboxKind


def _key(kind: OutboxKind, *parts: object) -> str:
    return ":".join([kind, *(str(p) for p in parts)])


def group(publication_id: int, recipient: str) -> str:
    """The events of one publication for one recipient, in one email."""
    return _key(OutboxKind.GROUP, publication_id, recipient)


def event(event_id: int, recipient: str) -> str:
    """One alert event for one recipient."""
    return _key(OutboxKind.EVENT, event_id, recipient)


def digest(week: str, recipient: str) -> str:
    """One recipient's weekly digest of ISO week ``week`` ("2025-W33")."""
    return _key(OutboxKind.DIGEST, week, recipient)


def confirm(subscription_id: int | None, recipient: str) -> str:
    """The double opt-in email of one new subscription."""
    return _key(OutboxKind.CONFIRM, subscription_id, recipient)


def merger(subscription_id: int, closed: str, recipient: str) -> str:
    """The notice that a subscription moved from trust ``closed`` to its successor."""
    return _key(OutboxKind.MERGER, subscription_id, closed, recipient)


def board_pack(month: str, code: str, recipient: str) -> str:
    """One trust's board pack of ``month`` ("2025-08") for one recipient."""
    return _key(OutboxKind.BOARD_PACK, month, code, recipient)


def operator(incident: str, address: str) -> str:
    """One operator's email about one incident (see the incident functions below)."""
    return _key(OutboxKind.OPERATOR, incident, address)


def source_failing(source: str, since: datetime) -> str:
    """The incident of a source failing since ``since``."""
    return f"source:{source}:{since.isoformat()}"


def source_late(source: str, expected: date) -> str:
    """The incident of a source's publication expected on ``expected`` not arriving."""
    return f"late:{source}:{expected.isoformat()}"


def publication_rejected(publication_id: int | None) -> str:
    """The incident of a polled or back-filled publication being rejected."""
    return f"rejected:{publication_id}"


def send_failed(recipient: str, day: date) -> str:
    """The incident of sends to ``recipient`` failing permanently on ``day``."""
    return f"send:{recipient}:{day.isoformat()}"
