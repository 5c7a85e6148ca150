"""What the runner records about itself: who leads, its heartbeat, and rows jobs rely on."""

from __future__ import annotations

import os
import socket

from sqlmodel import select

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, Meta, SourceState, utcnow
from monitor.vocab import JobOutcome

# /readyz on the status page reads the heartbeat: "<ISO time> pid <pid>", every 30 s.
HEARTBEAT_KEY = "scheduler_heartbeat"
LEADER_KEY = "scheduler_leader"


def put_meta(ctx: Context, key: str, value: str) -> None:
    """Set one Meta fact."""
    with session_scope(ctx.engine, write=True) as s:
        row = s.get(Meta, key) or Meta(key=key, value="")
        row.value = value
        row.updated_at = utcnow()
        s.add(row)


def heartbeat(ctx: Context) -> None:
    """Record that the scheduler is alive."""
    put_meta(ctx, HEARTBEAT_KEY, f"{utcnow().isoformat()} pid {os.getpid()}")


def announce_leader(ctx: Context, who: str) -> int:
    """Record who leads, and close the runs this host's dead processes left "running".

    Returns how many runs were closed. Runs of other hosts are left alone: whether their
    process lives cannot be told from here.
    """
    put_meta(ctx, LEADER_KEY, f"{who} since {utcnow().isoformat()}")
    closed = 0
    with session_scope(ctx.engine, write=True) as s:
        rows = s.exec(
            select(JobRun).where(
                JobRun.outcome == JobOutcome.RUNNING, JobRun.host == socket.gethostname()
            )
        )
        for row in rows:
            if row.pid is not None and row.pid != os.getpid() and not _alive(row.pid):
                row.outcome = JobOutcome.FAILED
                row.error = "interrupted: the process ended before the run finished"
                row.finished_at = utcnow()
                s.add(row)
                closed += 1
    return closed


def ensure_source_rows(ctx: Context) -> None:
    """Create each configured source's SourceState row before any job runs.

    Jobs running side by side (a poll, the late check) each get-or-create their source's row;
    on PostgreSQL two such inserts can collide. With the rows made first there is nothing left
    to insert.
    """
    with session_scope(ctx.engine, write=True) as s:
        for name in ctx.settings.sources:
            if s.get(SourceState, name) is None:
                s.add(SourceState(source=name))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True
