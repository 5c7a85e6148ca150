"""The jobs: the same functions the CLI and the scheduler call, each run recorded as a JobRun.

A job function takes the context and returns a dict of counts; ``record``
(monitor/service/jobrun.py) runs it and writes its JobRun, and never raises, so a failing job
cannot take the scheduler down. A job that cannot run as configured (the CQC poll without a
subscription key) is recorded as skipped, with the reason.

``poll_and_notify`` is the chain that makes alerts go out the day the data lands:
poll -> evaluate -> send.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete
from sqlmodel import col, select

from monitor.config import Settings
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, JobSlot, Publication, utcnow
from monitor.notify import digest as digests
from monitor.notify import operators as operator_emails
from monitor.notify.outbox import deliver
from monitor.notify.routing import route
from monitor.rules.run import evaluate_db
from monitor.service.jobrun import JobFailed, JobResult, JobSkipped, counts_of, record
from monitor.sources import cqc, registry, timetable
from monitor.sources.poll import PollReport, poll

__all__ = ["JobFailed", "JobResult", "JobSkipped", "record"]

# Successful and skipped runs are kept this long; failed ones are kept.
KEEP_RUNS = timedelta(days=90)
# Claimed job slots are kept this long: long enough to refuse any second run of a slot.
KEEP_SLOTS = timedelta(days=7)

# The rules engine opens and resolves alerts: two evaluations at once would race.
_evaluating = threading.Lock()


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
    """Poll one source once: statistics pages via monitor.sources.poll, the CQC via its changes
    feed. Counts carry ``ingested``: how many new publications were stored.
    """
    if isinstance(registry.get(source), registry.RatingsFeed):
        return _poll_cqc(ctx)
    report = poll(ctx, source)
    counts = poll_counts(report)
    if not report.ok:
        rejected = next((r.error for r in report.ingested if r.status == "rejected"), None)
        # monitor.sources.poll has already logged the failure in one line.
        raise JobFailed(report.error or rejected or "poll failed", counts, logged=True)
    return counts


def _poll_cqc(ctx: Context) -> dict[str, Any]:
    env = cqc.key_env(ctx.settings)
    if not ctx.settings.env(env):
        # Not a failure to retry: the installation has no key (yet).
        raise JobSkipped(f"no CQC subscription key: set the environment variable {env}")
    result = cqc.poll(ctx.engine, ctx.settings)
    counts = counts_of(dataclasses.asdict(result))
    if result.status == "failed" or result.error:
        # The CQC poller logs its own failures as they happen.
        raise JobFailed(result.error or "the CQC poll failed", counts, logged=True)
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
    with _evaluating:
        # After a poll only what its publications brought is evaluated again.
        run = evaluate_db(
            ctx,
            publications=list(publications),
            live_run=live,
            router=partial(route, settings=ctx.settings),
            only_affected=bool(publications),
        )
    return dict(run.counts())


def evaluate_catching_up(ctx: Context) -> dict[str, Any]:
    """Evaluate every rule (the daily and the start's evaluation), the publications a chain
    stored but never evaluated counting as its cause, so that their alerts are emailed as the
    chain would have: the process stopped, or the database went away, between a poll and its
    evaluation. Those are the ingested, not quiet, publications no evaluation has had as its
    cause."""
    with _evaluating:
        pending = unevaluated_publications(ctx)
        run = evaluate_db(
            ctx,
            publications=pending,
            live_run=True,
            router=partial(route, settings=ctx.settings),
            only_affected=False,
        )
    counts = dict(run.counts())
    if pending:
        counts["caught_up_publications"] = len(pending)
    return counts


def unevaluated_publications(ctx: Context) -> list[int]:
    """Ingested, not quiet, publications that no evaluation has had as its cause yet.

    Marked per publication, not by the time of the latest evaluation: two sources polled at
    once would otherwise let one's evaluation (of its own figures only) pass for the other's.
    """
    with session_scope(ctx.engine) as s:
        q = select(Publication.id).where(
            Publication.status == "ingested",
            col(Publication.quiet).is_(False),
            col(Publication.evaluated_at).is_(None),
        )
        return sorted(i for i in s.exec(q) if i is not None)


def send(ctx: Context) -> dict[str, Any]:
    """Deliver what waits in the outbox (operator emails for new incidents are queued first)."""
    counts = counts_of(deliver(ctx.engine, ctx.settings).as_json())
    if counts.get("failed"):
        raise JobFailed(f"{counts['failed']} message(s) could not be delivered", counts)
    return counts


def digest(ctx: Context) -> dict[str, Any]:
    """Queue the weekly digest due (a restart catches up on a missed one) for each recipient."""
    keys = digests.queue(ctx.engine, ctx.settings)
    return {"queued": len(keys)}


def operators(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Queue the operators' emails about failing or late sources and rejected publications."""
    keys = operator_emails.queue_incidents(ctx.engine, ctx.settings, now=now or utcnow())
    return {"queued": len(keys)}


def mergers(ctx: Context) -> dict[str, Any]:
    """Carry out mergers the reference data records (a closure's date may have come)."""
    from monitor import mergers as merging
    from monitor.rules.run import today_in_london

    with session_scope(ctx.engine, write=True) as s:
        return merging.apply(s, ctx.settings, today=today_in_london()).as_json()


def board_packs(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Write the due month's board packs for their subscribers and queue the emails."""
    from monitor.board import deliver
    from monitor.board.month import due

    return deliver.produce(ctx, due(now or utcnow()))


def late_check(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Record which calendar sources are late (see monitor.sources.timetable)."""
    return timetable.refresh_lateness(ctx, now or utcnow())


def prune_runs(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Delete successful and skipped JobRuns older than KEEP_RUNS (failed ones are kept), and
    job slots claimed more than KEEP_SLOTS ago."""
    now = now or utcnow()
    with session_scope(ctx.engine, write=True) as s:
        gone = s.execute(
            delete(JobRun).where(
                col(JobRun.outcome).in_(("ok", "skipped")),
                col(JobRun.started_at) < now - KEEP_RUNS,
            )
        )
        slots = s.execute(delete(JobSlot).where(col(JobSlot.claimed_at) < now - KEEP_SLOTS))
    return {
        "deleted": getattr(gone, "rowcount", 0) or 0,
        "slots_deleted": getattr(slots, "rowcount", 0) or 0,
    }


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
    return settings.enabled_sources()


def new_publications(ctx: Context, names: Sequence[str], since: datetime) -> list[int]:
    """The publications of ``names`` ingested since ``since`` (what a chain's polls stored)."""
    with session_scope(ctx.engine) as s:
        q = select(Publication.id).where(
            col(Publication.source).in_(list(names)),
            Publication.status == "ingested",
            Publication.fetched_at >= since,
        )
        return sorted(i for i in s.exec(q) if i is not None)
