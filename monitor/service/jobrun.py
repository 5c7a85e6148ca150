"""Recording job runs: every run of a job becomes a JobRun row, and no job raises.

``record(ctx, name, fn)`` writes the JobRun (running, this host and pid) before ``fn(ctx)``
starts, then its outcome: ok with the counts it returned, failed with the error text (logged in
one line), or skipped with the reason (logged once per process).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, utcnow
from monitor.vocab import JobOutcome

log = logging.getLogger("monitor.service.jobs")

# A job returns its counts (or None when it has none to report).
Job = Callable[[Context], Mapping[str, Any] | None]

# A skip reason is logged once per job and process, not every minute.
_skips_logged: set[tuple[str, str]] = set()


class JobSkipped(Exception):
    """The job cannot run as configured (e.g. the CQC poll without a subscription key); says why."""


class JobFailed(Exception):
    """The job ran and failed; carries the counts so far and whether it was already logged."""

    def __init__(
        self, message: str, counts: Mapping[str, Any] | None = None, *, logged: bool = False
    ) -> None:
        super().__init__(message)
        self.counts = dict(counts or {})
        self.logged = logged


@dataclass(kw_only=True)
class JobResult:
    """The outcome of one recorded run."""

    job: str
    outcome: JobOutcome
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
    result = JobResult(job=job, outcome=JobOutcome.OK)
    try:
        result.counts = counts_of(fn(ctx))
    except JobSkipped as e:
        result.outcome, result.error = JobOutcome.SKIPPED, str(e)
    except JobFailed as e:
        result.outcome, result.error, result.counts = JobOutcome.FAILED, str(e), counts_of(e.counts)
        if not e.logged:
            log.warning("%s failed: %s", job, _one_line(result.error))
    except Exception as e:
        result.outcome, result.error = JobOutcome.FAILED, f"{type(e).__name__}: {e}"
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
    if result.outcome == JobOutcome.SKIPPED:
        key = (result.job.split(":")[0], result.error or "")
        if key not in _skips_logged:
            _skips_logged.add(key)
            log.info("%s skipped: %s", result.job, result.error)
    elif result.outcome == JobOutcome.OK:
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


def counts_of(counts: Mapping[str, Any] | None) -> dict[str, Any]:
    """The JSON-ready counts a JobRun stores, from what a job returned."""
    return {str(k): _plain(v) for k, v in (counts or {}).items()}


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
