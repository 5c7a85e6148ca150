"""The jobs: the same functions the CLI and the scheduler call, each run recorded as a JobRun.

A job function takes the context and returns a dict of counts. ``record`` runs one and writes
its JobRun (running, then ok, failed or skipped, with counts and the error); it never raises,
so a failing job cannot take the scheduler down. Parts of the monitor built elsewhere (the CQC
feed, the rules engine, notifications) are imported when a job runs; while one is not part of
the build, its job is recorded as skipped with the reason.

``poll_and_notify`` is the chain that makes alerts go out the day the data lands:
poll -> evaluate -> send.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete
from sqlmodel import col

from monitor import calendar, sources
from monitor.config import Settings
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, utcnow
from monitor.poll import PollReport, poll

log = logging.getLogger(__name__)

# Where the jobs built on other parts of the monitor find them: "module:function", each called
# as function(ctx). Its return value (a mapping, or an object with as_json() or dataclass
# fields) becomes the JobRun's counts.
ENTRY_POINTS: dict[str, str] = {
    "cqc": "monitor.sources.cqc:poll",
    "evaluate": "monitor.rules.lifecycle:evaluate",
    "send": "monitor.notify.outbox:send",
    "digest": "monitor.notify.digest:digest",
    "operators": "monitor.notify.operators:notify",
}
# Successful and skipped runs are kept this long; failed ones are kept.
KEEP_RUNS = timedelta(days=90)

Job = Callable[[Context], Mapping[str, Any] | None]

# The rules engine opens and resolves alerts: two evaluations at once would race.
_evaluating = threading.Lock()
# A skip reason is logged once per job and process, not every minute.
_skips_logged: set[tuple[str, str]] = set()


class JobSkipped(Exception):
    """The job cannot run in this build (a part it needs is absent); says why."""


class JobFailed(Exception):
    """The job ran and failed; carries the counts so far and whether it was already logged."""

    def __init__(
        self, message: str, counts: Mapping[str, Any] | None = None, *, logged: bool = False
    ) -> None:
        super().__init__(message)
        self.counts = dict(counts or {})
        self.logged = logged


@dataclass
class JobResult:
    """The outcome of one recorded run."""

    job: str
    outcome: str  # ok | failed | skipped
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    run_id: int | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "outcome": self.outcome,
            "counts": self.counts,
            "error": self.error,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
        }


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


def record(
    ctx: Context,
    job: str,
    fn: Job,
    *,
    extra: Mapping[str, Any] | None = None,
    quiet: bool = False,
) -> JobResult:
    """Run ``fn(ctx)`` and record it as a JobRun; never raises.

    1. Write the JobRun with outcome "running", this host and pid (and ``extra`` counts).
    2. Run the job. JobSkipped records "skipped" with the reason; JobFailed or any other
       exception records "failed" with the error text, logged in one line.
    3. Write the outcome, counts, error and finish time.
    ``quiet`` logs a successful run at debug level (for the every-minute jobs).
    """
    started = utcnow()
    clock = time.monotonic()
    run_id = _start(ctx, job, started, dict(extra or {}))
    result = JobResult(job, "ok")
    try:
        result.counts = _counts(fn(ctx))
    except JobSkipped as e:
        result.outcome, result.error = "skipped", str(e)
    except JobFailed as e:
        result.outcome, result.error, result.counts = "failed", str(e), _counts(e.counts)
        if not e.logged:
            log.warning("%s failed: %s", job, _one_line(result.error))
    except Exception as e:
        result.outcome, result.error = "failed", f"{type(e).__name__}: {e}"
        log.error("%s failed: %s", job, _one_line(result.error))
        log.debug("%s traceback", job, exc_info=True)
    result.counts = {**dict(extra or {}), **result.counts}
    result.seconds = time.monotonic() - clock
    result.run_id = _finish(ctx, run_id, job, started, result)
    _log(result, quiet)
    return result


def _start(ctx: Context, job: str, started: datetime, counts: dict[str, Any]) -> int | None:
    try:
        with session_scope(ctx.engine, write=True) as s:
            row = JobRun(
                job=job,
                started_at=started,
                counts=counts,
                host=socket.gethostname(),
                pid=os.getpid(),
            )
            s.add(row)
            s.flush()
            return row.id
    except Exception as e:
        log.error("%s: could not record the start of the run: %s", job, _one_line(str(e)))
        return None


def _finish(
    ctx: Context, run_id: int | None, job: str, started: datetime, result: JobResult
) -> int | None:
    try:
        with session_scope(ctx.engine, write=True) as s:
            row = s.get(JobRun, run_id) if run_id is not None else None
            if row is None:
                row = JobRun(
                    job=job, started_at=started, host=socket.gethostname(), pid=os.getpid()
                )
            row.finished_at = utcnow()
            row.outcome = result.outcome
            row.counts = result.counts
            row.error = result.error
            s.add(row)
            s.flush()
            return row.id
    except Exception as e:
        log.error(
            "%s: could not record the outcome (%s): %s", job, result.outcome, _one_line(str(e))
        )
        return run_id


def _log(result: JobResult, quiet: bool) -> None:
    if result.outcome == "skipped":
        key = (result.job.split(":")[0], result.error or "")
        if key not in _skips_logged:
            _skips_logged.add(key)
            log.info("%s skipped: %s", result.job, result.error)
    elif result.outcome == "ok":
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items() if k != "trigger")
        log.log(
            logging.DEBUG if quiet else logging.INFO,
            "%s ok in %.1f s%s",
            result.job,
            result.seconds,
            f": {counts}" if counts else "",
        )


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= 500 else line[:497] + "..."


def _counts(result: object) -> dict[str, Any]:
    """A JSON-ready dict of counts from whatever a job function returned."""
    if result is None:
        return {}
    if isinstance(result, Mapping):
        raw: Mapping[str, Any] = result
    elif callable(getattr(result, "as_json", None)):
        raw = result.as_json()  # type: ignore[attr-defined]
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        raw = dataclasses.asdict(result)
    else:
        return {"result": str(result)}
    return {str(k): _plain(v) for k, v in raw.items()}


def _plain(v: Any) -> Any:
    # Counts are counts: lists become their length, nested mappings stay, the rest is text.
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set | frozenset):
        return len(v)
    return str(v)


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
    """Poll one source once: NHS England sources via monitor.poll, CQC via its changes feed.

    Counts carry ``ingested``: how many new publications (or CQC changes) were stored.
    """
    if source == "cqc":
        result = entry_point("cqc")(ctx)
        counts = _counts(result)
        error = counts.get("error") or (
            "the CQC poll reported a failure" if getattr(result, "ok", True) is False else None
        )
        if error:
            raise JobFailed(str(error), counts)
        return counts
    try:
        sources.module(source)
    except sources.SourceNotAvailable as e:
        raise JobSkipped(str(e)) from None
    report = poll(ctx, source)
    counts = poll_counts(report)
    if not report.ok:
        rejected = next((r.error for r in report.ingested if r.status == "rejected"), None)
        # monitor.poll has already logged the failure in one line.
        raise JobFailed(report.error or rejected or "poll failed", counts, logged=True)
    return counts


def evaluate(ctx: Context) -> dict[str, Any]:
    """Evaluate the rules against the stored figures; open, update and resolve alerts."""
    fn = entry_point("evaluate")
    with _evaluating:
        return _counts(fn(ctx))


def send(ctx: Context) -> dict[str, Any]:
    """Deliver what waits in the outbox."""
    return _counts(entry_point("send")(ctx))


def digest(ctx: Context) -> dict[str, Any]:
    """Queue the weekly digest for each subscriber."""
    return _counts(entry_point("digest")(ctx))


def operators(ctx: Context) -> dict[str, Any]:
    """Tell the operators of failing or late sources, rejected publications, failed sends."""
    return _counts(entry_point("operators")(ctx))


def late_check(ctx: Context, now: datetime | None = None) -> dict[str, Any]:
    """Record which calendar sources are late (see monitor.calendar)."""
    return calendar.refresh_lateness(ctx, now or utcnow())


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
    2. If any poll stored a new publication, evaluate the rules (JobRun ``evaluate``); the
       lifecycle routes the alert events to the outbox in the same transaction.
    3. If evaluation succeeded, send what waits in the outbox (JobRun ``send``).
    ``keep_going`` is asked between steps: a stopping service finishes the current step only
    (the next start's evaluation catches up).
    """
    report = ChainReport()
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
    report.evaluate = record(ctx, "evaluate", evaluate)
    if report.evaluate.outcome != "ok" or not keep_going():
        return report
    report.send = record(ctx, "send", send)
    return report


def default_sources(settings: Settings) -> list[str]:
    """The sources a poll covers when none are named: every enabled configured one."""
    return [name for name, source in settings.sources.items() if source.enabled]
