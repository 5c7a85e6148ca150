"""Each publisher's health in plain words: last publication, last and next poll, failing, late.

``assess`` is pure (settings, stored state and a clock in; a status out) so that the rules for
"late" can be tested from a table; ``statuses`` reads the state and calls it for every source.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor.config import Settings, Source
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.periods import day, metric_period
from monitor.sources import registry
from monitor.sources.timetable import expectation
from monitor.vocab import LONDON, PublicationStatus
from monitor.web.present import when
from monitor.web.schedule_words import describe_schedule


@dataclass(frozen=True, kw_only=True)
class PublicationInfo:
    id: int
    title: str | None
    url: str
    published_at: datetime
    fetched_at: datetime
    trigger: str = ""  # poll | backfill | ingest | seed
    filename: str = ""

    @property
    def from_snapshot(self) -> bool:
        """Seeded from the real publications shipped with the project (data/real)."""
        return self.trigger == "seed"


@dataclass(frozen=True, kw_only=True)
class Newest:
    """The newest period a source's publications hold figures for, and how old it is."""

    start: date
    end: date
    label: str  # "August 2025", "Q4 2025/26"
    age: str  # "15 months old"
    months: int  # whole months from the period's end to now


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
    newest: Newest | None = None
    publisher_url: str | None = None  # the publisher's landing page (or the download)

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


def age(end: date, today: date) -> tuple[int, str]:
    """How old a figure for a period ending ``end`` is on ``today``: (whole months, words)."""
    # Counted from the day after the period, so the last day of a month is a month after the
    # last day of the month before.
    since, until = end + timedelta(days=1), today + timedelta(days=1)
    months = (until.year - since.year) * 12 + until.month - since.month - (until.day < since.day)
    if months >= 1:
        return months, f"{months} month{'s' if months != 1 else ''} old"
    days = (today - end).days
    if days <= 0:
        return 0, "current"
    return 0, f"{days} day{'s' if days != 1 else ''} old"


def newest(name: str, period: tuple[date, date] | None, now: datetime) -> Newest | None:
    """The newest period of a source's figures, labelled by its metrics' own granularity."""
    if period is None:
        return None
    metric_ids = registry.get(name).metrics
    label = metric_period(period[0], metric_ids[0] if metric_ids else None)
    months, words = age(period[1], now.astimezone(LONDON).date())
    return Newest(start=period[0], end=period[1], label=label, age=words, months=months)


def _lag(fresh: Newest | None) -> str:
    return f" The newest figures are for {fresh.label}, {fresh.age}." if fresh else ""


def assess(
    name: str,
    cfg: Source,
    state: SourceState | None,
    pub: PublicationInfo | None,
    now: datetime,
    *,
    newest_period: tuple[date, date] | None = None,
) -> SourceStatus:
    """The status of one source at ``now`` (pure). ``newest_period`` is the newest period its
    publications hold figures for: how old the figures are is said beside late or failing."""
    last_success = _aware(state.last_success_at) if state else None
    failing_since = _aware(state.failing_since) if state else None
    failures = state.consecutive_failures if state else 0
    error = (state.last_error or "").strip()[:500] if state else ""
    watched = last_success is not None or pub is not None
    fresh = newest(name, newest_period, now)
    # Lateness is the publisher's: its own publication date against its calendar (when a file
    # was fetched does not matter), as the runner and the late-publisher rules see it.
    exp = expectation(
        name, cfg, now, pub.published_at if pub else None, last_success_at=last_success
    )
    expected, new, late = exp.expected_at, exp.answered, exp.late
    awaited = day(exp.awaited_at)
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
        if late:
            message += f" A publication expected on {awaited} has not arrived: late."
            message += _lag(fresh)
    elif late and cfg.every_minutes:
        level = "late"
        message = f"{short}: no successful check since {when(last_success)}."
    elif late:
        level = "late"
        message = f"{short}: late. A publication expected on {awaited} has not arrived."
        message += _lag(fresh)
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
        newest=fresh,
        publisher_url=cfg.index_url or cfg.base_url or None,
    )


def _newest_periods(session: Any) -> dict[str, tuple[date, date]]:
    """source -> the newest period its ingested publications cover (from their ``periods``)."""
    q = select(col(Publication.source), col(Publication.periods)).where(
        col(Publication.status) == PublicationStatus.INGESTED,
        col(Publication.source).in_(
            [p.name for p in registry.PUBLISHERS if isinstance(p, registry.Statistics)]
        ),
    )
    out: dict[str, tuple[date, date]] = {}
    for source, covered in session.execute(q):
        for text in covered or []:
            start, _, end = str(text).partition("/")
            try:
                period = (date.fromisoformat(start), date.fromisoformat(end or start))
            except ValueError:
                continue  # a period this page cannot read says nothing about freshness
            if source not in out or period[1] > out[source][1]:
                out[source] = period
    return out


def statuses(engine: Engine, settings: Settings, now: datetime | None = None) -> list[SourceStatus]:
    """Every source's status, in the registry's order. A source's last publication is its
    newest by the publisher's date (as the publication calendar reads it), not the newest
    fetched."""
    now = now or datetime.now(UTC)
    ranked = (
        select(
            col(Publication.id),
            func.row_number()
            .over(
                partition_by=col(Publication.source),
                order_by=(col(Publication.published_at).desc(), col(Publication.id).desc()),
            )
            .label("n"),
        )
        .where(col(Publication.status) == PublicationStatus.INGESTED)
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
                trigger=p.trigger,
                filename=p.filename,
            )
            for p in s.execute(
                select(Publication)
                .join(ranked, col(Publication.id) == ranked.c.id)
                .where(ranked.c.n == 1)
            ).scalars()
        }
        periods = _newest_periods(s)
    return [
        assess(
            name,
            settings.source(name),
            states.get(name),
            pubs.get(name),
            now,
            newest_period=periods.get(name),
        )
        for name in registry.NAMES
    ]


def problems(all_statuses: list[SourceStatus]) -> list[SourceStatus]:
    """The sources the notice names: failing, late, or not configured to be polled."""
    return [st for st in all_statuses if st.level in ("failing", "late", "unconfigured")]


@dataclass(frozen=True)
class Notice:
    """The one line at the top of every page when some figures may be out of date."""

    text: str
    levels: tuple[str, ...]


def notice(all_statuses: list[SourceStatus]) -> Notice | None:
    """One sentence: how many sources are late, failing or not polled, and how old their
    newest figures are; None when every source is well."""
    found = problems(all_statuses)
    if not found:
        return None
    if len(found) == 1:
        st = found[0]
        what = {"failing": "failing", "late": "late", "unconfigured": "not polled"}
        text = f"{registry.get(st.name).short}: {what[st.level]}."
        if st.newest:
            text += f" The newest figures are for {st.newest.label}, {st.newest.age}."
        return Notice(text, (st.level,))
    stale = [st for st in found if st.level != "unconfigured"]
    parts = []
    if stale:
        n = len(stale)
        parts.append(f"{n} source{'s are' if n != 1 else ' is'} late or failing")
    unpolled = len(found) - len(stale)
    if unpolled:
        parts.append(f"{unpolled} {'is' if unpolled == 1 else 'are'} not polled")
    text = " and ".join(parts) + "."
    ages = sorted(st.newest.months for st in stale if st.newest)
    if ages:
        span = f"{ages[0]} to {ages[-1]}" if ages[0] != ages[-1] else f"{ages[0]}"
        text += f" Their newest figures are {span} month{'s' if ages[-1] != 1 else ''} old."
    return Notice(text[0].upper() + text[1:], tuple(st.level for st in found))
