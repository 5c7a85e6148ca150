"""Publication calendars: when each source is expected to publish, and whether it is late.

A source's ``schedule`` (APScheduler cron fields, Europe/London) says when a publication is
expected; the runner polls at those times. A source is late when its last expected publication
plus ``grace_days`` has passed without a new publication. The status page, the runner and the
rules engine all ask this module, so they agree.

Calendar times between 01:00 and 02:59 are refused: on the clock-change Sundays they either
happen twice (October) or not at all (March).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlmodel import Session, col, select

from monitor.config import ConfigError, Digest, Settings, Source
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.vocab import LONDON

log = logging.getLogger(__name__)

# Local hours a calendar job may not use: clock changes make them fire twice or not at all.
UNSAFE_HOURS = frozenset({1, 2})
# How far back to look for a schedule's previous fire time, widening until one is found.
_LOOKBACK_DAYS = (2, 9, 33, 100, 370, 800)


def cron_trigger(schedule: Mapping[str, int | str], timezone: ZoneInfo = LONDON) -> CronTrigger:
    """A CronTrigger from config cron fields, in ``timezone`` (Europe/London by default)."""
    return CronTrigger(**dict(schedule), timezone=timezone)


def unsafe_hours(trigger: CronTrigger) -> set[int]:
    """The local hours in 01:00-02:59 at which ``trigger`` can fire."""
    hour_field = next(f for f in trigger.fields if f.name == "hour")
    # The hour field does not depend on the date, so one day in UTC lists every hour it allows.
    probe = CronTrigger(hour=str(hour_field), timezone=UTC)
    t = probe.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))
    hours: set[int] = set()
    while t is not None and t.day == 1:
        hours.add(t.hour)
        t = probe.get_next_fire_time(None, t.replace(minute=0) + timedelta(hours=1))
    return hours & UNSAFE_HOURS


def check_safe(trigger: CronTrigger, where: str) -> None:
    """Refuse a calendar job that can fire between 01:00 and 02:59 local time."""
    bad = unsafe_hours(trigger)
    if bad:
        raise ConfigError(
            f"{where}: can fire at {', '.join(f'{h:02d}:xx' for h in sorted(bad))} local time; "
            "calendar jobs must avoid 01:00-02:59, when clock changes make them fire twice "
            "or not at all"
        )


def source_trigger(name: str, source: Source) -> CronTrigger | None:
    """The calendar trigger of a source (None for interval or unscheduled sources)."""
    if source.schedule is None:
        return None
    trigger = cron_trigger(source.schedule)
    check_safe(trigger, f"[sources.{name}] schedule")
    return trigger


def digest_trigger(digest: Digest) -> CronTrigger:
    """The weekly digest's trigger: ``[digest] day`` at ``time`` in ``timezone``."""
    t = digest.time
    trigger = CronTrigger(
        day_of_week=digest.day,
        hour=t.hour,
        minute=t.minute,
        second=t.second,
        timezone=ZoneInfo(digest.timezone),
    )
    check_safe(trigger, "[digest] time")
    return trigger


def next_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The first fire time at or after ``now``."""
    return trigger.get_next_fire_time(None, now)


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The last fire time at or before ``now`` (None if there was none in about two years)."""
    for days in _LOOKBACK_DAYS:
        t = trigger.get_next_fire_time(None, now - timedelta(days=days))
        if t is None or t > now:
            continue
        while True:
            nxt = trigger.get_next_fire_time(t, t)
            if nxt is None or nxt > now:
                return t
            t = nxt
    return None


@dataclass(frozen=True)
class Expectation:
    """Where a source stands against its calendar at one moment (``as_of``)."""

    source: str
    as_of: datetime
    expected_at: datetime | None  # the last scheduled publication at or before as_of
    next_expected_at: datetime | None
    due_by: datetime | None  # expected_at + grace_days: late after this
    last_published_at: datetime | None
    late: bool
    answered: bool = False  # a publication counting for ``expected_at`` has arrived

    @property
    def days_late(self) -> int:
        """Whole days since the grace period ended (0 when not late)."""
        if not self.late or self.due_by is None:
            return 0
        return max(0, (self.as_of - self.due_by).days)


def _counts_from(trigger: CronTrigger, expected_at: datetime) -> datetime:
    """The earliest publication date that answers the publication expected at ``expected_at``.

    Publishers sometimes release a day or two early (before a bank holiday), so a publication
    counts from halfway between the previous scheduled date and this one.
    """
    before = previous_fire_time(trigger, expected_at - timedelta(microseconds=1))
    if before is None:
        return expected_at - timedelta(days=7)
    expected_utc = expected_at.astimezone(UTC)  # in UTC, so the gap is elapsed time
    return expected_utc - (expected_utc - before.astimezone(UTC)) / 2


def expectation(
    name: str, source: Source, now: datetime, last_published_at: datetime | None
) -> Expectation:
    """Where source ``name`` stands at ``now``, given its latest publication date (pure)."""
    trigger = source_trigger(name, source)
    if trigger is None:
        return Expectation(name, now, None, None, None, last_published_at, False)
    expected = previous_fire_time(trigger, now)
    upcoming = next_fire_time(trigger, now)
    if expected is None:
        return Expectation(name, now, None, upcoming, None, last_published_at, False)
    due_by = expected + timedelta(days=source.grace_days)
    answered = last_published_at is not None and last_published_at >= _counts_from(
        trigger, expected
    )
    late = now > due_by and not answered
    return Expectation(name, now, expected, upcoming, due_by, last_published_at, late, answered)


def expected_publication(settings: Settings, source: str, now: datetime) -> datetime | None:
    """When ``source`` last expected a publication, at or before ``now`` (None: no calendar)."""
    trigger = source_trigger(source, settings.source(source))
    return previous_fire_time(trigger, now) if trigger else None


def is_late(
    settings: Settings, source: str, now: datetime, last_published_at: datetime | None
) -> bool:
    """True when ``source``'s expected publication plus its grace days passed unanswered."""
    return expectation(source, settings.source(source), now, last_published_at).late


def last_published_at(session: Session, source: str) -> datetime | None:
    """The publisher's date of the newest publication ingested from ``source``."""
    return session.exec(
        select(Publication.published_at)
        .where(Publication.source == source, Publication.status == "ingested")
        .order_by(col(Publication.published_at).desc())
        .limit(1)
    ).first()


def calendar_sources(settings: Settings) -> list[str]:
    """The enabled sources that publish on a calendar (``schedule``)."""
    return [n for n, s in settings.sources.items() if s.enabled and s.schedule is not None]


def refresh_lateness(
    ctx: Context, now: datetime, sources: Iterable[str] | None = None
) -> dict[str, int]:
    """Record each calendar source's expected publication and lateness in SourceState.

    ``late_since`` is the moment the source became late (its due time), kept while it stays
    late and cleared when a publication answers. A source turning late is logged once.
    """
    names = list(sources) if sources is not None else calendar_sources(ctx.settings)
    late = 0
    for name in names:
        source = ctx.settings.source(name)
        if source.schedule is None or not source.enabled:
            continue
        with session_scope(ctx.engine, write=True) as s:
            exp = expectation(name, source, now, last_published_at(s, name))
            state = s.get(SourceState, name) or SourceState(source=name)
            state.expected_at = exp.expected_at
            if exp.late:
                late += 1
                if state.late_since is None:
                    assert exp.expected_at is not None and exp.due_by is not None
                    log.warning(
                        "%s is late: a publication was expected %s and %d days' grace ended "
                        "%s; the newest is from %s",
                        name,
                        _local(exp.expected_at),
                        source.grace_days,
                        _local(exp.due_by),
                        _local(exp.last_published_at) if exp.last_published_at else "never",
                    )
                state.late_since = state.late_since or exp.due_by
            else:
                state.late_since = None
            s.add(state)
    return {"sources": len(names), "late": late}


def _local(t: datetime) -> str:
    return t.astimezone(LONDON).strftime("%a %d %b %Y %H:%M")
