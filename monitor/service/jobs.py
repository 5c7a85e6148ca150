"""The jobs: the same functions the CLI and the scheduler call, each run recorded as a JobRun.

A job function takes the context and returns a dict of counts; ``record``
(monitor/service/jobrun.py) runs it and writes its JobRun, and never raises, so a failing job
cannot take the scheduler down. Parts of the monitor built separately (the CQC feed, the rules
engine, notifications) are imported when a job runs; while one is not part of the build, its
job is recorded as skipped with the reason.

``poll_and_notify`` is the chain that makes alerts go out the day the data lands:
poll -> evaluate -> send.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from monitor import sources
from monitor.config import Settings
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, Publication, utcnow
from monitor.service.jobrun import JobFailed, JobResult, JobSkipped, counts_of, record
from monitor.sources import timetable
from monitor.sources.poll import PollReport, poll

__all__ = ["JobFailed", "JobResult", "JobSkipped", "record"]

# Where the jobs find the parts built separately ("module:function") and how they call them:
#   cqc        poll(engine, settings) -> a result with status, ingested, error
#   evaluate   evaluate_db(ctx, publications=[...], live_run=True, router=...) -> a run
#              with counts()
#   route      route(session, events, settings=...): alert events -> outbox rows, called by the
#              alert lifecycle in its transaction
#   send       deliver(engine, settings) -> a report with as_json()
#   digest     queue(engine, settings) -> the keys of the digests queued
#   operators  queue_incidents(engine, settings, now=...) -> the keys of the emails queued
ENTRY_POINTS: dict[str, str] = {
    "cqc": "monitor.sources.cqc:poll",
    "evaluate": "monitor.rules.run:evaluate_db",
    "route": "monitor.notify.routing:route",
    "send": "monitor.notify.outbox:deliver",
    "digest": "monitor.notify.digest:queue",
    "operators": "monitor.notify.operators:queue_incidents",
}
# Successful and skipped runs are kept this long; failed ones are kept.
KEEP_RUNS = timedelta(days=90)
# The CQC subscription key's variable when config.toml names none (as monitor.sources.cqc).
CQC_KEY_ENV = "CQC_SUBSCRIPTION_KEY"

# The rules engine opens and resolves alerts: two evaluations at once would race.
_evaluating = threading.Lock()


def entry_point(name: str) -> Callable[..., Any]:
    """The function ENTRY_POINTS names; JobSkipped when its module or function is absent."""
    module_name, attr = ENTRY_POINTS[name].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and (module_name == e.name or module_name.startswith(e.name + ".")):
            raise JobSkipped(f"{module_name} is not part of this build") from None
        raise
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise JobSkipped(f"{module_name} has no {attr}() in this build")
    return fn


# The job functions: fn(ctx) -> counts. -------------------------------------------------------


def poll_counts(report: PollReport) -> dict[str, Any]:
    """The counts a poll of an NHS England source records."""
    by_status = [r.status for r in report.ingested]
    return {
        "pages": report.pages,
        "pages_unchanged": report.pages_unchanged,
        "files_fetched": report.files_fetched,
        "files_unchanged": report.files_unchanged,
        "ingested": by_status.count("ingested"),
        "rejected": by_status.count("rejected"),
        "observations_written": sum(r.observations_written for r in report.ingested),
    }


def poll_source(ctx: Context, source: str) -> dict[str, Any]:
    """Poll one source once: NHS England sources via monitor.sources.poll, CQC via its changes feed.

    Counts carry ``ingested``: how many new publications were stored.
    """
    if source == "cqc":
        return _poll_cqc(ctx)
    try:
        sources.module(source)
    except sources.SourceNotAvailable as e:
        raise JobSkipped(str(e)) from None
    report = poll(ctx, source)
    counts = poll_counts(report)
    if not report.ok:
        rejected = next((r.error for r in report.ingested if r.status == "rejected"), None)
        # monitor.sources.poll has already logged the failure in one line.
        raise JobFailed(report.error or rejected or "poll failed", counts, logged=True)
    return counts


def _poll_cqc(ctx: Context) -> dict[str, Any]:
    fn = entry_point("cqc")
    env = ctx.settings.source("cqc").api_key_env or CQC_KEY_ENV
    if not ctx.settings.env(env):
        # Not a failure to retry: the installation has no key (yet).
        raise JobSkipped(f"no CQC subscription key: set the environment variable {env}")
    result = fn(ctx.engine, ctx.settings)
    counts = counts_of(result)
    if counts.get("status") == "failed" or counts.get("error"):
        # The CQC poller logs its own failures as they happen.
        raise JobFailed(str(counts.get("error") or "the CQC poll failed"), counts, logged=True)
    return counts


def evaluate(
    ctx: Context, *, publications: Sequence[int] = (), live: bool = True
) -> dict[str, Any]:
    """Evaluate the rules against the stored figures; open, update and resolve alerts.

    ``publications`` are those that caused this run: their alert events are emailed unless the
    publication was quiet (a back-fill, a source's first ingest). ``live`` makes events that
    belong to no publication (late publishers, combined rules) emailable: the running service
    and `monitor poll` are live.
    """
    fn = entry_point("evaluate")
    try:
        router = partial(entry_point("route"), settings=ctx.settings)
    except JobSkipped:
        router = None  # until notifications are built, routing is a no-op
    with _evaluating:
        # After a poll only what its publications brought is evaluated again.
        run = fn(
            ctx,
            publications=list(publications),
            live_run=live,
            router=router,
            only_affected=bool(publications),
        )
    counts = getattr(run, "counts", None)
    return dict(counts()) if callable(counts) else counts_of(run)


def send(ctx: Context) -> dict[str, Any]:
    """Deliver what waits in the outbox (operator emails for new incidents are queued first)."""
    report = entry_point("send")(ctx.engine, ctx.settings)
    counts = counts_of(report)
    if counts.get("failed"):
        raise JobFailed(f"{counts['failed']} message(s) could not be delivered", counts)
    return counts


def digest(ctx: Context) -> dict[str, Any]:
    """Queue the weekly digest due (a restart catches up on a missed one) for each recipient."""
    keys = entry_point("digest")(ctx.engine, ctx.settings)
    return {"queued": len(keys)}


def operators(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Queue the operators' emails about failing or late sources and rejected publications."""
    keys = entry_point("operators")(ctx.engine, ctx.settings, now=now or utcnow())
    return {"queued": len(keys)}


def late_check(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Record which calendar sources are late (see monitor.sources.timetable)."""
    return timetable.refresh_lateness(ctx, now or utcnow())


def prune_runs(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Delete successful and skipped JobRuns older than KEEP_RUNS; failed ones are kept."""
    cutoff = (now or utcnow()) - KEEP_RUNS
    with session_scope(ctx.engine, write=True) as s:
        gone = s.execute(
            delete(JobRun).where(
                col(JobRun.outcome).in_(("ok", "skipped")), col(JobRun.started_at) < cutoff
            )
        )
    return {"deleted": getattr(gone, "rowcount", 0) or 0}


# The chain. ---------------------------------------------------------------------------------


@dataclass
class ChainReport:
    """What one poll -> evaluate -> send chain did."""

    polls: list[JobResult] = field(default_factory=list)
    evaluate: JobResult | None = None
    send: JobResult | None = None

    @property
    def found_new(self) -> bool:
        return any(int(p.counts.get("ingested") or 0) > 0 for p in self.polls)

    def as_json(self) -> dict[str, Any]:
        return {
            "polls": [p.as_json() for p in self.polls],
            "evaluate": self.evaluate.as_json() if self.evaluate else None,
            "send": self.send.as_json() if self.send else None,
        }


def poll_and_notify(
    ctx: Context,
    names: Sequence[str],
    *,
    trigger: str = "cli",
    keep_going: Callable[[], bool] = lambda: True,
) -> ChainReport:
    """Poll sources, then evaluate and send if anything new arrived; each step recorded.

    1. Poll each source (JobRun ``poll:<source>``, counts tagged with ``trigger``).
    2. If any poll stored a new publication, evaluate the rules with those publications
       (JobRun ``evaluate``); the lifecycle routes the alert events to the outbox in the same
       transaction.
    3. If evaluation succeeded, send what waits in the outbox (JobRun ``send``).
    ``keep_going`` is asked between steps: a stopping service finishes the current step only
    (the next start's evaluation catches up).
    """
    report = ChainReport()
    started = utcnow()
    for name in names:
        if not keep_going():
            return report
        report.polls.append(
            record(
                ctx, f"poll:{name}", partial(poll_source, source=name), extra={"trigger": trigger}
            )
        )
    if not report.found_new or not keep_going():
        return report
    caused_by = new_publications(ctx, names, started)
    report.evaluate = record(
        ctx, "evaluate", partial(evaluate, publications=caused_by), extra={"trigger": trigger}
    )
    if report.evaluate.outcome != "ok" or not keep_going():
        return report
    report.send = record(ctx, "send", send)
    return report


def default_sources(settings: Settings) -> list[str]:
    """The sources a poll covers when none are named: every enabled configured one."""
    return [name for name, source in settings.sources.items() if source.enabled]


def new_publications(ctx: Context, names: Sequence[str], since: datetime) -> list[int]:
    """The publications of ``names`` ingested since ``since`` (what a chain's polls stored)."""
    with session_scope(ctx.engine) as s:
        q = select(Publication.id).where(
            col(Publication.source).in_(list(names)),
            Publication.status == "ingested",
            Publication.fetched_at >= since,
        )
        return sorted(i for i in s.exec(q) if i is not None)
