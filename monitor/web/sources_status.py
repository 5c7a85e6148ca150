"""Each publisher's health in plain words: last publication, last and next poll, failing, late.

``assess`` is pure (settings, stored state and a clock in; a status out) so that the rules for
"late" can be tested from a table; ``statuses`` reads the state and calls it for every source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor.config import Settings, Source
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.sources import registry
from monitor.sources.timetable import expectation
from monitor.vocab import LONDON, PublicationStatus
from monitor.web.present import when


@dataclass(frozen=True, kw_only=True)
class PublicationInfo:
    id: int
    title: str | None
    url: str
    published_at: datetime
    fetched_at: datetime


@dataclass(frozen=True, kw_only=True)
class SourceStatus:
    """One publisher as the sources page, the banner and /api/v1/sources show it."""

    name: str
    title: str
    enabled: bool
    schedule: str
    last_publication: PublicationInfo | None
    last_poll_at: datetime | None
    last_success_at: datetime | None
    next_poll_at: datetime | None
    expected_at: datetime | None  # the latest scheduled publication date that has passed
    failing_since: datetime | None
    consecutive_failures: int
    last_error: str | None
    late: bool
    level: str  # ok | failing | late | disabled | waiting | unconfigured
    message: str

    @property
    def failing(self) -> bool:
        return self.failing_since is not None

    def as_json(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        pub = self.last_publication
        return {
            "source": self.name,
            "title": self.title,
            "enabled": self.enabled,
            "schedule": self.schedule,
            "level": self.level,
            "message": self.message,
            "failing": self.failing,
            "late": self.late,
            "last_publication": None
            if pub is None
            else {
                "id": pub.id,
                "title": pub.title,
                "url": pub.url,
                "published_at": iso(pub.published_at),
                "fetched_at": iso(pub.fetched_at),
            },
            "last_poll_at": iso(self.last_poll_at),
            "last_success_at": iso(self.last_success_at),
            "next_poll_at": iso(self.next_poll_at),
            "expected_at": iso(self.expected_at),
            "failing_since": iso(self.failing_since),
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
        }


def _utc(v: datetime) -> datetime:
    """SQLite may hand back naive datetimes; they are UTC."""
    return v if v.tzinfo is not None else v.replace(tzinfo=UTC)


def _aware(v: datetime | None) -> datetime | None:
    return None if v is None else _utc(v)


def describe_schedule(cfg: Source) -> str:
    if cfg.every_minutes:
        return f"every {cfg.every_minutes} minutes"
    if cfg.schedule:
        s = cfg.schedule
        time = f"{int(s.get('hour', 0)):02d}:{int(s.get('minute', 0)):02d}"
        parts = [
            f"day {s['day']}" if "day" in s else "",
            f"month {s['month']}" if "month" in s else "",
        ]
        return " ".join(p for p in [*parts, f"at {time}", "(London time)"] if p)
    return "not scheduled"


def next_poll(
    cfg: Source, state: SourceState | None, now: datetime, expected: datetime | None, new: bool
) -> datetime | None:
    """When the scheduler will next poll: on its interval, inside the retry window after an
    expected date that brought nothing new, or at the next scheduled time."""
    if not cfg.enabled:
        return None
    last_poll = _aware(state.last_poll_at) if state else None
    if cfg.every_minutes:
        if last_poll is None:
            return now
        return max(now, last_poll + timedelta(minutes=cfg.every_minutes))
    if not cfg.schedule:
        return None
    scheduled = CronTrigger(**cfg.schedule, timezone=LONDON).get_next_fire_time(None, now)
    if expected is not None and not new and now < expected + timedelta(hours=cfg.retry_for_hours):
        retry = (last_poll or now) + timedelta(minutes=cfg.retry_every_minutes)
        retry = max(now, retry)
        if scheduled is None or retry < scheduled:
            return retry
    return scheduled


def assess(
    name: str,
    cfg: Source,
    state: SourceState | None,
    pub: PublicationInfo | None,
    now: datetime,
) -> SourceStatus:
    """The status of one source at ``now`` (pure)."""
    last_success = _aware(state.last_success_at) if state else None
    failing_since = _aware(state.failing_since) if state else None
    failures = state.consecutive_failures if state else 0
    error = (state.last_error or "").strip()[:500] if state else ""
    watched = last_success is not None or pub is not None
    # Lateness is the publisher's: its own publication date against its calendar (when a file
    # was fetched does not matter), as the runner and the late-publisher rules see it.
    exp = expectation(
        name, cfg, now, pub.published_at if pub else None, last_success_at=last_success
    )
    expected, new, late = exp.expected_at, exp.answered, exp.late
    short = registry.get(name).short
    if not cfg.enabled:
        level, message = "disabled", f"{short}: not polled (disabled in config.toml)."
    elif cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        level = "unconfigured"
        message = (
            f"{short}: not polled: the API needs a subscription key in the environment "
            f"variable {cfg.api_key_env}, which is not set."
        )
    elif failing_since is not None:
        level = "failing"
        message = (
            f"{short}: checks have failed since {when(failing_since)} "
            f"({failures} attempt{'s' if failures != 1 else ''} in a row)."
        )
        if error:
            message += f" The last one said: {error}"
        if late and expected is not None:
            message += f" A publication expected on {when(expected)} has not arrived: late."
    elif late and cfg.every_minutes:
        level = "late"
        message = f"{short}: no successful check since {when(last_success)}."
    elif late:
        level = "late"
        assert expected is not None
        message = (
            f"{short}: late. A new publication was expected on {when(expected)}; nothing new "
            f"has appeared {cfg.grace_days} day{'s' if cfg.grace_days != 1 else ''} later."
        )
    elif not watched:
        level, message = "waiting", f"{short}: not checked yet."
    else:
        level, message = "ok", f"{short}: up to date."
    return SourceStatus(
        name=name,
        title=registry.get(name).title,
        enabled=cfg.enabled,
        schedule=describe_schedule(cfg),
        last_publication=pub,
        last_poll_at=_aware(state.last_poll_at) if state else None,
        last_success_at=last_success,
        next_poll_at=next_poll(cfg, state, now, expected, new),
        expected_at=expected,
        failing_since=failing_since,
        consecutive_failures=failures,
        last_error=error or None,
        late=late,
        level=level,
        message=message,
    )


def statuses(engine: Engine, settings: Settings, now: datetime | None = None) -> list[SourceStatus]:
    """Every source's status, in the registry's order."""
    now = now or datetime.now(UTC)
    latest = (
        select(col(Publication.source), func.max(Publication.id).label("id"))
        .where(col(Publication.status) == PublicationStatus.INGESTED)
        .group_by(col(Publication.source))
        .subquery()
    )
    with session_scope(engine) as s:
        states = {st.source: st for st in s.execute(select(SourceState)).scalars()}
        pubs = {
            p.source: PublicationInfo(
                id=p.id or 0,
                title=p.title,
                url=p.url,
                published_at=_utc(p.published_at),
                fetched_at=_utc(p.fetched_at),
            )
            for p in s.execute(
                select(Publication).join(latest, col(Publication.id) == latest.c.id)
            ).scalars()
        }
    return [
        assess(name, settings.source(name), states.get(name), pubs.get(name), now)
        for name in registry.NAMES
    ]


def problems(all_statuses: list[SourceStatus]) -> list[SourceStatus]:
    """The sources the banner names: failing, late, or not configured to be polled."""
    return [st for st in all_statuses if st.level in ("failing", "late", "unconfigured")]
