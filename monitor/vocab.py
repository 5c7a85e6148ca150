"""The monitor's words, declared once: alert states, severities, event kinds, statuses, outcomes.

Every enum is a ``StrEnum``, so a member is the very string stored in the database and printed
in JSON (``AlertState.FIRING == "firing"``); code compares and stores members, never literals.
Source names are not here: the publisher registry is their one list.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from zoneinfo import ZoneInfo

# Publication dates, schedules, digests and silences are all London time.
LONDON = ZoneInfo("Europe/London")


class AlertState(StrEnum):
    """Where an alert (one episode of one rule for one organisation) stands."""

    PENDING = "pending"  # breaching, but not yet for the rule's ``for_periods``
    FIRING = "firing"
    RESOLVED = "resolved"  # data cleared it
    WITHDRAWN = "withdrawn"  # a revision or a changed rule removed the breach


# Open alerts (acknowledged and silenced ones included) and ended ones, in display order.
OPEN: tuple[AlertState, ...] = (AlertState.PENDING, AlertState.FIRING)
ENDED: tuple[AlertState, ...] = (AlertState.RESOLVED, AlertState.WITHDRAWN)
# What `--state` and the ``state`` filter accept, and the alert states each one means.
STATE_FILTERS: dict[str, tuple[AlertState, ...]] = {
    "open": OPEN,
    "resolved": ENDED,
    "all": OPEN + ENDED,
}


class FindingState(StrEnum):
    """A rule's state for one organisation at one period, as the evaluator finds it."""

    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


class Severity(StrEnum):
    """How serious a rule's breach is, ordered: info < low < medium < high < critical."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info up to 4 for critical."""
        return SEVERITIES.index(self)

    @classmethod
    def parse(cls, text: str) -> Severity:
        """The severity named ``text`` (any case); ValueError naming the known ones."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(cls)
            raise ValueError(f"unknown severity {text!r}; use {known}") from None

    @classmethod
    def rank_of(cls, text: str | None) -> int:
        """The rank of a stored severity; -1 (below info) for anything unknown."""
        try:
            return cls(text or "").rank
        except ValueError:
            return -1

    def _compare(self, other: object) -> int | None:
        return self.rank - other.rank if isinstance(other, Severity) else None

    def __lt__(self, other: object) -> bool:
        d = self._compare(other)
        return NotImplemented if d is None else d < 0

    def __le__(self, other: object) -> bool:
        d = self._compare(other)
        return NotImplemented if d is None else d <= 0

    def __gt__(self, other: object) -> bool:
        d = self._compare(other)
        return NotImplemented if d is None else d > 0

    def __ge__(self, other: object) -> bool:
        d = self._compare(other)
        return NotImplemented if d is None else d >= 0


# Least severe first, as declared; most severe first, for lists and filter choices.
SEVERITIES: tuple[Severity, ...] = tuple(Severity)
SEVERITIES_WORST_FIRST: tuple[Severity, ...] = tuple(reversed(SEVERITIES))


@dataclass(frozen=True, slots=True)
class TagColour:
    """One NHS.UK tag colour (nhsuk-frontend's ``.nhsuk-tag--<name>``, as compiled in 10.6.1):
    the class name the status page uses, and the same colours for the emails' inline CSS."""

    name: str
    text: str
    background: str
    border: str


# Each severity's colour, the same on the status page and in every email: the NHS.UK tag
# colours from grey (info) to red (critical).
SEVERITY_COLOURS: dict[Severity, TagColour] = {
    Severity.CRITICAL: TagColour("red", "#6b140e", "#f7d4d1", "#6b140e"),
    Severity.HIGH: TagColour("orange", "#4d3708", "#ffdc8e", "#4d3708"),
    Severity.MEDIUM: TagColour("yellow", "#4d4712", "#fff59d", "#4d4712"),
    Severity.LOW: TagColour("blue", "#004281", "#ccdff1", "#004281"),
    Severity.INFO: TagColour("grey", "#354550", "#dbe0e3", "#354550"),
}


class EventKind(StrEnum):
    """What happened to an alert (``AlertEvent.kind``)."""

    PENDING = "pending"
    FIRED = "fired"
    UPDATED = "updated"
    RESOLVED = "resolved"
    WITHDRAWN = "withdrawn"
    ACKNOWLEDGED = "acknowledged"
    SILENCED = "silenced"


# Events written by evaluation (they carry fresh evidence); operators' actions copy it.
EVALUATION_KINDS: tuple[EventKind, ...] = (
    EventKind.PENDING,
    EventKind.FIRED,
    EventKind.UPDATED,
    EventKind.RESOLVED,
    EventKind.WITHDRAWN,
)
# Events worth an email of their own; the rest are told in the weekly digest only.
EMAILED_KINDS: frozenset[EventKind] = frozenset(
    {EventKind.FIRED, EventKind.RESOLVED, EventKind.WITHDRAWN}
)


class Episode(StrEnum):
    """Which episode of a rule's breaches for an organisation an event belongs to."""

    FIRST = "first"
    PERSISTENT = "persistent"  # the same episode carries on
    REBREACH = "re-breach"  # a breach after an earlier episode ended


class PublicationStatus(StrEnum):
    """What became of a file: stored as ``Publication.status`` (ingested, rejected) or
    reported by an ingest (unchanged: the same bytes were ingested before)."""

    INGESTED = "ingested"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


class OutboxStatus(StrEnum):
    """Where one outbox row stands (docs/notifications.md, Delivery)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Rows still to be sent (a preview shows them).
WAITING: tuple[OutboxStatus, ...] = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class OutboxKind(StrEnum):
    """What one outbox row is (the first part of its key, monitor/notify/keys.py)."""

    GROUP = "group"
    EVENT = "event"
    DIGEST = "digest"
    OPERATOR = "operator"
    CONFIRM = "confirm"
    MERGER = "merger"  # a subscription moved from a closed trust to its successor
    BOARD_PACK = "board-pack"  # a trust's monthly board pack


# AlertEvent.actor of an alert ended because its trust merged into another (monitor/mergers.py).
MERGER_ACTOR = "merger"


class JobOutcome(StrEnum):
    """How one recorded job run ended (``JobRun.outcome``)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
