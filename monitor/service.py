"""The long-running process: one runner per database, a scheduler, and a heartbeat."""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import IO
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Meta, utcnow

log = logging.getLogger(__name__)
LONDON = ZoneInfo("Europe/London")


class AlreadyRunning(RuntimeError):
    pass


@contextmanager
def runner_lock(var: Path) -> Iterator[None]:
    """Refuse a second runner on the same SQLite database (an exclusive lock file)."""
    var.mkdir(parents=True, exist_ok=True)
    path = var / "monitor-run.lock"
    f: IO[str] = path.open("a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise AlreadyRunning(
            f"another `monitor run` ({holder}) already runs on this database; lock file {path}"
        ) from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()}")
    f.flush()
    try:
        yield
    finally:
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def heartbeat(ctx: Context) -> None:
    with session_scope(ctx.engine, write=True) as s:
        row = s.get(Meta, "scheduler_heartbeat") or Meta(key="scheduler_heartbeat", value="")
        row.value = f"{utcnow().isoformat()} pid {os.getpid()}"
        row.updated_at = utcnow()
        s.add(row)


def build_scheduler(ctx: Context) -> BlockingScheduler:
    sched = BlockingScheduler(
        timezone=LONDON,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
    )
    sched.add_job(
        heartbeat,
        "interval",
        args=[ctx],
        seconds=30,
        id="heartbeat",
        next_run_time=utcnow(),
        replace_existing=True,
    )
    return sched


def run(ctx: Context, *, web: bool = True) -> int:
    """Run until SIGTERM or Ctrl-C; returns the exit code."""
    try:
        with runner_lock(ctx.var):
            sched = build_scheduler(ctx)

            def stop(signum: int, _frame: FrameType | None) -> None:
                log.info("signal %s: finishing the current step, then stopping", signum)
                sched.shutdown(wait=True)

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            if web:
                log.info("the status page is not part of this version; running the scheduler only")
            log.info(
                "monitor running on %s (publisher polling jobs are not part of this version); "
                "Ctrl-C to stop",
                ctx.engine.url.render_as_string(hide_password=True),
            )
            sched.start()
    except AlreadyRunning as e:
        log.error("%s", e)
        return 3
    log.info("monitor stopped")
    return 0
