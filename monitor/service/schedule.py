"""The runner's timetable, rebuilt from config.toml at every start: which job runs when.

Nothing is persisted in a job store: each start builds the same timetable from the settings,
and durable state (what was fetched, what was sent, follow-up windows) lives in the monitor's
own tables, so a restart neither loses nor repeats work.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.config import Settings
from monitor.sources import timetable

# A poll may start up to an hour late (the runner was busy or briefly down) and still run.
POLL_GRACE = 3600
# The weekly digest still goes out up to six hours late; the daily check likewise.
DIGEST_GRACE = 6 * 3600
SEND_EVERY_MINUTES = 1
HEARTBEAT_SECONDS = 30
# The daily check (late sources, evaluation for stale-data rules, the operators' emails,
# pruning): before the digest.
DAILY = {"hour": 6, "minute": 0}
# The monthly board packs: the evening of each month's last day, after its publications (NHS
# England publishes in the morning).
BOARD_PACKS: dict[str, int | str] = {"day": "last", "hour": 20, "minute": 0}
# Tick slots are counted from here, so every process numbers them alike.
TICK_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class JobSpec:
    """One scheduled job: its id (also the JobRun name for most), what it does and when."""

    id: str
    kind: str  # poll | send | digest | daily | heartbeat | tick
    trigger: BaseTrigger
    misfire_grace_time: int
    source: str | None = None
    at_start: bool = False  # also run once as soon as the runner starts
    executor: str = "default"  # "polls" runs the pollers (one at a time on SQLite)

    @property
    def calendar(self) -> bool:
        """A wall-clock (cron) job, as opposed to one on an interval."""
        return isinstance(self.trigger, CronTrigger)


def job_specs(settings: Settings, *, tick_seconds: float | None = None) -> list[JobSpec]:
    """The timetable for ``settings``. Raises ConfigError for a calendar job at 01:00-02:59.

    Each enabled source with a ``schedule`` gets a cron job in Europe/London (follow-ups are
    added while running); one with ``every_minutes`` an interval job that also runs at start.
    Then the outbox sender every minute (which also queues the operators' emails about new
    incidents), the weekly digest, the daily check, the monthly board packs and the heartbeat.
    ``tick_seconds`` adds a no-op job every so many seconds (``MONITOR_TICK_SECONDS``), for
    watching the runner from the jobrun table.
    """
    specs: list[JobSpec] = []
    for name in settings.enabled_sources():
        source = settings.source(name)
        trigger = timetable.source_trigger(name, source)
        if trigger is not None:
            specs.append(
                JobSpec(
                    id=f"poll:{name}",
                    kind="poll",
                    trigger=trigger,
                    misfire_grace_time=POLL_GRACE,
                    source=name,
                    executor="polls",
                )
            )
        elif source.every_minutes is not None:
            every = _every(minutes=source.every_minutes)
            grace = min(POLL_GRACE, source.every_minutes * 60)
            specs.append(
                JobSpec(
                    id=f"poll:{name}",
                    kind="poll",
                    trigger=every,
                    misfire_grace_time=grace,
                    source=name,
                    at_start=True,
                    executor="polls",
                )
            )
    daily = timetable.cron_trigger(DAILY)
    timetable.check_safe(daily, "the daily check")
    specs += [
        JobSpec(
            id="send",
            kind="send",
            trigger=_every(minutes=SEND_EVERY_MINUTES),
            misfire_grace_time=SEND_EVERY_MINUTES * 60,
            at_start=True,
        ),
        JobSpec(
            id="digest",
            kind="digest",
            trigger=timetable.digest_trigger(settings.digest),
            misfire_grace_time=DIGEST_GRACE,
        ),
        JobSpec(
            id="daily", kind="daily", trigger=daily, misfire_grace_time=DIGEST_GRACE, at_start=True
        ),
        JobSpec(
            id="board-pack",
            kind="board-pack",
            trigger=timetable.cron_trigger(BOARD_PACKS),
            misfire_grace_time=DIGEST_GRACE,
            at_start=True,  # a month's end missed while stopped is made up (board/month.py)
        ),
        JobSpec(
            id="heartbeat",
            kind="heartbeat",
            trigger=_every(seconds=HEARTBEAT_SECONDS),
            misfire_grace_time=HEARTBEAT_SECONDS,
            at_start=True,
        ),
    ]
    if tick_seconds:
        tick = _every(seconds=tick_seconds)
        specs.append(
            JobSpec(
                id="tick", kind="tick", trigger=tick, misfire_grace_time=max(1, int(tick_seconds))
            )
        )
    return specs


def _every(**interval: float) -> IntervalTrigger:
    # Counted from TICK_EPOCH, so every process's runs fall on the same instants (and slots).
    return IntervalTrigger(**interval, start_date=TICK_EPOCH, timezone=UTC)


def slot_of(trigger: BaseTrigger, now: datetime) -> str | None:
    """The scheduled run a run starting at ``now`` stands for, as UTC text: the trigger's latest
    fire time at or before ``now`` (a run starts at or after its time, and coalesced runs stand
    for the latest). Two processes name a run alike, so JobSlot can refuse a second one.
    None when the trigger has not fired by ``now``.
    """
    fired: datetime | None
    if isinstance(trigger, DateTrigger):
        fired = trigger.run_date
    elif isinstance(trigger, IntervalTrigger):
        start = trigger.start_date
        fired = start + ((now - start) // trigger.interval) * trigger.interval
    else:
        fired = _latest_fire(trigger, now)
    if fired is None or fired > now:
        return None
    return fired.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _latest_fire(trigger: BaseTrigger, now: datetime) -> datetime | None:
    back = timedelta(days=1)
    while back <= timedelta(days=800):
        t = trigger.get_next_fire_time(None, now - back)
        if t is not None and t <= now:
            while (nxt := trigger.get_next_fire_time(t, t + timedelta(microseconds=1))) and (
                nxt <= now
            ):
                t = nxt
            return t
        back *= 2
    return None


def unscheduled(settings: Settings) -> list[str]:
    """Enabled sources with neither ``schedule`` nor ``every_minutes``: polled only by hand."""
    return [
        name
        for name in settings.enabled_sources()
        if settings.source(name).schedule is None and settings.source(name).every_minutes is None
    ]


def tick_slot(now: datetime, tick_seconds: float) -> int:
    """The number of the latest tick due at ``now`` (ticks are aligned to TICK_EPOCH).

    A run starts at or after its scheduled time, and never while the previous one runs, so the
    latest tick due when it starts is its own (or, coalesced, the latest it stands for).
    """
    return int((now - TICK_EPOCH) // timedelta(seconds=tick_seconds))
