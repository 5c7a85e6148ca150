"""What /metrics reports, read from the database at scrape time (a custom collector).

Nothing is counted in the process: every figure comes from the tables all processes share
(``jobrun``, ``publication``, ``outbox``, ``sourcestate``, ``alert``), so every ``monitor
serve`` behind a load balancer answers the same, and a restart resets nothing. Job-run counts
survive the pruning of old runs (monitor/web/metrics_tally.py). docs/service.md lists the
families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, JobRun, Outbox, Publication, SourceState, utcnow
from monitor.notify import channels
from monitor.sources import registry
from monitor.sources.timetable import expectation
from monitor.vocab import OPEN, SEVERITIES, JobOutcome, OutboxStatus, PublicationStatus
from monitor.web.metrics_tally import Tally, tally

POLL = "poll:"  # a poll's job name is poll:<source>
UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)
SENT_OUTCOMES = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.CANCELLED)
RUN_OUTCOMES = (JobOutcome.OK, JobOutcome.FAILED, JobOutcome.SKIPPED)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _ts(dt: datetime | None) -> float:
    return _aware(dt).timestamp() if dt is not None else 0.0


class MonitorCollector(Collector):
    """Collects every family from the database, once per scrape."""

    def __init__(self, ctx: Context, clock: Callable[[], datetime] = utcnow) -> None:
        self.ctx = ctx
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock()
        runs = tally(self.ctx.engine, now)
        yield from self._jobs(runs)
        with session_scope(self.ctx.engine) as s:
            yield from self._publications(s)
            yield from self._outbox(s, now)
            yield from self._sources(s, self.ctx.settings, now)
            yield from self._last_success(s)
            yield from self._alerts(s)

    # --- job runs: polls, evaluations, send runs -------------------------------------------

    def _jobs(self, t: Tally) -> Iterator[Metric]:
        polls = CounterMetricFamily(
            "monitor_polls", "Polls of a publisher, by outcome", labels=["source", "outcome"]
        )
        poll_time = SummaryMetricFamily(
            "monitor_poll_duration_seconds",
            "Time polls took (discover, fetch, ingest)",
            labels=["source"],
        )
        for source in registry.NAMES:
            job = POLL + source
            for outcome in RUN_OUTCOMES:
                polls.add_metric([source, outcome], t.runs.get((job, outcome), 0))
            poll_time.add_metric([source], *_count_sum(t, job))
        yield polls
        yield poll_time
        for name, job, runs_help, time_help in (
            ("evaluation", "evaluate", "Rule evaluations", "Time rule evaluations took"),
            ("send_run", "send", "Runs of the sender", "Time runs of the sender took"),
        ):
            runs = CounterMetricFamily(
                f"monitor_{name}s", f"{runs_help}, by outcome", labels=["outcome"]
            )
            for outcome in RUN_OUTCOMES:
                runs.add_metric([outcome], t.runs.get((job, outcome), 0))
            yield runs
            took = SummaryMetricFamily(f"monitor_{name}_duration_seconds", time_help)
            count, total = _count_sum(t, job)
            took.add_metric([], count, total)
            yield took

    # --- publications: ingests and rejects -------------------------------------------------

    def _publications(self, s: Session) -> Iterator[Metric]:
        q = select(Publication.source, Publication.status, func.count()).group_by(
            Publication.source, Publication.status
        )
        found = {(src, st): int(n) for src, st, n in s.exec(q)}
        ingests = CounterMetricFamily(
            "monitor_ingests",
            "Publications ingested or rejected (each version of a file once)",
            labels=["source", "outcome"],
        )
        rejects = CounterMetricFamily(
            "monitor_rejects", "Publications rejected (bad or changed layout)", labels=["source"]
        )
        for source in registry.NAMES:
            for status in (PublicationStatus.INGESTED, PublicationStatus.REJECTED):
                ingests.add_metric([source, status], found.get((source, status), 0))
            rejects.add_metric([source], found.get((source, PublicationStatus.REJECTED), 0))
        yield ingests
        yield rejects

    # --- the outbox: messages by outcome, depth, age ---------------------------------------

    def _outbox(self, s: Session, now: datetime) -> Iterator[Metric]:
        # The channel is the recipient's prefix (monitor/notify/channels.py), worked out in SQL
        # so that a scrape reads one row per channel and status, however many recipients.
        by_channel = case(
            *((col(Outbox.recipient).startswith(f"{c}:"), c) for c in channels.CHAT),
            else_=channels.EMAIL,
        )
        q = select(by_channel, Outbox.status, func.count(), func.min(Outbox.created_at))
        by: dict[tuple[str, str], int] = {}
        oldest: datetime | None = None
        for name, status, n, first in s.exec(q.group_by(by_channel, Outbox.status)):
            by[(name, status)] = int(n)
            if status in UNSENT and first is not None:
                oldest = min(oldest, _aware(first)) if oldest else _aware(first)
        sends = CounterMetricFamily(
            "monitor_sends",
            "Messages the outbox finished with, by channel and outcome",
            labels=["channel", "outcome"],
        )
        depth = GaugeMetricFamily(
            "monitor_outbox_depth",
            "Messages waiting to be sent (pending or sending)",
            labels=["channel"],
        )
        for channel in channels.CHANNELS:
            for status in SENT_OUTCOMES:
                sends.add_metric([channel, status], by.get((channel, status), 0))
            depth.add_metric([channel], sum(by.get((channel, st), 0) for st in UNSENT))
        yield sends
        yield depth
        yield GaugeMetricFamily(
            "monitor_outbox_oldest_unsent_age_seconds",
            "Age of the oldest message not yet sent (0 when none waits)",
            value=max((now - oldest).total_seconds(), 0.0) if oldest else 0.0,
        )

    # --- sources: lateness, as the sources page says it ------------------------------------

    def _sources(self, s: Session, settings: Settings, now: datetime) -> Iterator[Metric]:
        states = {st.source: st for st in s.exec(select(SourceState))}
        q = (
            select(Publication.source, func.max(Publication.published_at))
            .where(Publication.status == PublicationStatus.INGESTED)
            .group_by(Publication.source)
        )
        latest = {src: _aware(at) for src, at in s.exec(q) if at is not None}
        late = GaugeMetricFamily(
            "monitor_source_late",
            "1 when the source is late by its publication calendar (monitor/sources/timetable.py)",
            labels=["source"],
        )
        late_for = GaugeMetricFamily(
            "monitor_source_late_seconds",
            "How long the source has been late (0 when it is not)",
            labels=["source"],
        )
        published = GaugeMetricFamily(
            "monitor_source_last_published_timestamp_seconds",
            "The publisher's date of the latest publication ingested (0: none)",
            labels=["source"],
        )
        for name in registry.NAMES:
            st = states.get(name)
            exp = expectation(
                name,
                settings.source(name),
                now,
                latest.get(name),
                last_success_at=_aware(st.last_success_at) if st and st.last_success_at else None,
            )
            since = exp.late_since
            late.add_metric([name], 1.0 if exp.late else 0.0)
            late_for.add_metric([name], max((now - since).total_seconds(), 0.0) if since else 0.0)
            published.add_metric([name], _ts(latest.get(name)))
        yield late
        yield late_for
        yield published

    # --- jobs' last success, open alerts ----------------------------------------------------

    def _last_success(self, s: Session) -> Iterator[Metric]:
        q = (
            select(JobRun.job, func.max(JobRun.finished_at))
            .where(JobRun.outcome == JobOutcome.OK)
            .group_by(JobRun.job)
        )
        family = GaugeMetricFamily(
            "monitor_job_last_success_timestamp_seconds",
            "When each job last finished successfully (Unix time)",
            labels=["job"],
        )
        for job, at in sorted(s.exec(q)):
            if at is not None:
                family.add_metric([job], _ts(at))
        yield family

    def _alerts(self, s: Session) -> Iterator[Metric]:
        q = (
            select(Alert.severity, func.count())
            .where(col(Alert.state).in_(OPEN))
            .group_by(Alert.severity)
        )
        found = {sev: int(n) for sev, n in s.exec(q)}
        family = GaugeMetricFamily(
            "monitor_open_alerts",
            "Open alerts (pending or firing), by severity",
            labels=["severity"],
        )
        for severity in SEVERITIES:
            family.add_metric([severity], found.get(severity, 0))
        yield family


def _count_sum(t: Tally, job: str) -> tuple[int, float]:
    keys = [(job, o) for o in RUN_OUTCOMES]
    return sum(t.runs.get(k, 0) for k in keys), sum(t.seconds.get(k, 0.0) for k in keys)
