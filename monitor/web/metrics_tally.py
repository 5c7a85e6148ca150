"""Job-run tallies for /metrics that only ever grow, although old job runs are pruned.

The ``jobrun`` table is the record every process shares, so counting it gives the same
numbers whichever process is scraped. But ``prune-runs`` deletes successful and skipped runs
after 90 days, and a count that fell would read to Prometheus as a counter reset: a spike in
``rate()``. So the tally is a checkpoint plus what came after it:

    count(job, outcome) = checkpoint count + finished runs with finished_at >= checkpoint time

The checkpoint (a ``meta`` row, ``metrics_jobrun_checkpoint``) holds, per job and outcome, the
runs and their seconds that finished before its time. It moves forward once it is a week old,
adding the runs in between while they still exist (pruning reaches back 90 days); the move is
a compare-and-set on the row, so two processes scraped at once cannot both add the same runs.
Only finished runs count: a run's outcome never changes once it has finished.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal_column, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from monitor.db import session_scope
from monitor.models import JobRun, Meta
from monitor.vocab import JobOutcome

KEY = "metrics_jobrun_checkpoint"
MOVE_AFTER = timedelta(days=7)  # well inside the 90 days runs are kept


@dataclass
class Tally:
    """Finished runs and their seconds, per (job, outcome)."""

    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    seconds: dict[tuple[str, str], float] = field(default_factory=dict)

    def add(self, other: Tally) -> Tally:
        keys = set(self.runs) | set(other.runs)
        return Tally(
            {k: self.runs.get(k, 0) + other.runs.get(k, 0) for k in keys},
            {k: self.seconds.get(k, 0.0) + other.seconds.get(k, 0.0) for k in keys},
        )

    def as_json(self) -> str:
        return json.dumps(
            [[j, o, n, self.seconds.get((j, o), 0.0)] for (j, o), n in sorted(self.runs.items())]
        )

    @classmethod
    def from_json(cls, text: str) -> Tally:
        t = cls()
        for job, outcome, n, secs in json.loads(text):
            t.runs[(job, outcome)] = int(n)
            t.seconds[(job, outcome)] = float(secs)
        return t


def _seconds(engine: Engine) -> ColumnElement[Any]:
    """finished_at - started_at in seconds, in this database's SQL."""
    if engine.dialect.name == "sqlite":
        return literal_column("(julianday(finished_at) - julianday(started_at)) * 86400.0")
    return literal_column("EXTRACT(EPOCH FROM (finished_at - started_at))")


def _count(s: Session, engine: Engine, since: datetime | None, until: datetime | None) -> Tally:
    q: Any = select(
        JobRun.job, JobRun.outcome, func.count(), func.coalesce(func.sum(_seconds(engine)), 0)
    ).where(col(JobRun.outcome) != JobOutcome.RUNNING, col(JobRun.finished_at).is_not(None))
    if since is not None:
        q = q.where(col(JobRun.finished_at) >= since)
    if until is not None:
        q = q.where(col(JobRun.finished_at) < until)
    t = Tally()
    for job, outcome, n, secs in s.exec(q.group_by(JobRun.job, JobRun.outcome)):
        t.runs[(job, outcome)] = int(n)
        t.seconds[(job, outcome)] = max(float(secs or 0), 0.0)
    return t


def _encode(at: datetime, tally: Tally) -> str:
    return json.dumps({"at": at.isoformat(), "tally": tally.as_json()})


def tally(engine: Engine, now: datetime) -> Tally:
    """Every finished job run there has been (per the checkpoint), by job and outcome."""
    with session_scope(engine) as s:
        row = s.get(Meta, KEY)
        if row is not None:
            saved = json.loads(row.value)
            at = datetime.fromisoformat(saved["at"])
            if now - at < MOVE_AFTER:
                return Tally.from_json(saved["tally"]).add(_count(s, engine, at, None))
    return _move(engine, now)


def _move(engine: Engine, now: datetime) -> Tally:
    """Set the checkpoint to ``now`` (first scrape, or a week on), then tally."""
    with session_scope(engine, write=True) as s:
        row = s.get(Meta, KEY)
        if row is None:
            base = _count(s, engine, None, now)
            s.add(Meta(key=KEY, value=_encode(now, base), updated_at=now))
            try:
                s.flush()
            except IntegrityError:  # another process made the first checkpoint meanwhile
                s.rollback()
                return tally(engine, now)
        else:
            saved = json.loads(row.value)
            at = datetime.fromisoformat(saved["at"])
            base = Tally.from_json(saved["tally"]).add(_count(s, engine, at, now))
            moved = s.execute(
                update(Meta)
                .where(col(Meta.key) == KEY, col(Meta.value) == row.value)
                .values(value=_encode(now, base), updated_at=now)
            )
            if not getattr(moved, "rowcount", 0):
                s.rollback()
                return tally(engine, now)
        return base.add(_count(s, engine, now, None))
