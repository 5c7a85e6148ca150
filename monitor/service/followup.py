"""Follow-up polls: after a scheduled poll finds nothing new, poll again until something lands.

NHS England publishes at 09:30 on the day, but files sometimes appear late in the morning. A
scheduled poll that finds nothing new opens a window of ``retry_for_hours`` from the scheduled
time, and the source is polled again every ``retry_every_minutes`` inside it until a new
publication arrives. A poll that cannot reach the publisher is retried with backoff (doubling up
to four times the interval) until it succeeds, inside a window or not.

The decisions are pure functions of the source's settings, its stored state and the time, so
they are tested with an injected clock. Follow-ups are absolute instants (UTC), not wall-clock
times, so a window that spans a clock change neither repeats nor skips a poll. The window and
the next follow-up are stored in SourceState, so a restart inside the window resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from monitor.config import Source
from monitor.db import session_scope
from monitor.models import SourceState
from monitor.sources.timetable import LONDON

# A failing source's retry interval doubles per failure up to this multiple.
MAX_BACKOFF_FACTOR = 4


@dataclass(frozen=True)
class Plan:
    """What to do after a poll: when to poll again and until when follow-ups last."""

    next_poll_at: datetime | None
    until: datetime | None  # the end of the follow-up window, None when no window is open
    note: str  # one line for the log: why


def _backoff(source: Source, failures: int) -> timedelta:
    factor = 2 ** max(failures - 1, 0)
    return timedelta(minutes=source.retry_every_minutes * min(factor, MAX_BACKOFF_FACTOR))


def after_poll(
    source: Source,
    *,
    now: datetime,
    expected_at: datetime | None,
    until: datetime | None,
    found_new: bool,
    failed: bool,
    failures: int = 0,
) -> Plan:
    """Decide the next follow-up after a poll of a calendar source.

    1. The window is the one stored (``until``), or a new one from the last scheduled time
       (``expected_at``) plus ``retry_for_hours``, whichever ends later; it is open while its
       end is in the future.
    2. The poll failed (``failures`` in a row: the publisher unreachable, or a file rejected):
       retry after ``retry_every_minutes`` doubled per failure, up to four times it; outside a
       window too, until a poll succeeds.
    3. Something new arrived: the window closes; the next poll is the calendar's.
    4. Nothing new yet inside an open window: poll again after ``retry_every_minutes``, unless
       that falls after the window's end, when the follow-ups give up.
    """
    # In UTC: adding to a London time would add wall-clock time across a clock change.
    now = now.astimezone(UTC)
    until = until.astimezone(UTC) if until is not None else None
    expected_at = expected_at.astimezone(UTC) if expected_at is not None else None
    window_end = until if until is not None and until > now else None
    if expected_at is not None and source.retry_for_hours > 0:
        fresh = expected_at + timedelta(hours=source.retry_for_hours)
        if fresh > now and (window_end is None or fresh > window_end):
            window_end = fresh
    if failed:
        nxt = now + _backoff(source, failures)
        return Plan(nxt, window_end, f"the poll failed; trying again at {_hm(nxt)}")
    if found_new:
        return Plan(None, None, "a new publication arrived")
    if window_end is None:
        return Plan(None, None, "")
    nxt = now + timedelta(minutes=source.retry_every_minutes)
    if nxt > window_end:
        return Plan(
            None,
            None,
            f"nothing new within {source.retry_for_hours:g} h of the scheduled time; "
            "waiting for the next scheduled poll",
        )
    return Plan(nxt, window_end, f"nothing new yet; polling again at {_hm(nxt)}")


def on_start(
    *,
    now: datetime,
    expected_at: datetime | None,
    follow_up_at: datetime | None,
    last_poll_at: datetime | None,
) -> tuple[datetime | None, str]:
    """When to poll a calendar source at start-up, and why (None: wait for the calendar).

    A stored follow-up resumes (at once if its time has passed); a scheduled poll missed
    while the service was down (the last expected time is after the last poll) is made now.
    """
    if follow_up_at is not None:
        return max(now, follow_up_at), "resuming follow-up polls"
    if expected_at is not None and (last_poll_at is None or last_poll_at < expected_at):
        return now, "catching up on a scheduled poll missed while the service was down"
    return None, ""


def stored(engine: Engine, name: str) -> SourceState | None:
    """The source's state row (a detached copy), or None before its first poll."""
    with session_scope(engine) as s:
        return s.get(SourceState, name)


def save(engine: Engine, name: str, plan: Plan) -> None:
    """Store the follow-up plan on the source's state, so that a restart resumes it."""
    with session_scope(engine, write=True) as s:
        state = s.get(SourceState, name) or SourceState(source=name)
        state.follow_up_at = plan.next_poll_at
        state.follow_up_until = plan.until
        s.add(state)


def _hm(t: datetime) -> str:
    return t.astimezone(LONDON).strftime("%a %d %b %H:%M")
