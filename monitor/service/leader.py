"""One runner per database: the lock that makes a `monitor run` the one that runs the jobs.

SQLite: an exclusive ``fcntl.flock`` on a lock file beside the database file (``<db>-run.lock``),
so two runners on one database collide whatever their ``var`` folders; a second runner is
refused with a message naming the holder. PostgreSQL: a session advisory lock held on a dedicated
connection. A second runner waits as a standby, trying every ``STANDBY_EVERY`` seconds; when the
leader dies its session ends, the lock is released and the standby takes over. TCP keepalives
on both ends make a leader that vanished from the network lose its session within about 25 s,
and the leader itself declares the lease lost sooner (after ``tcp_user_timeout``), so it stops
running jobs before a standby can take over.

Before every job the leader claims the job's slot through its lease (``Lease.claim``): on
PostgreSQL the claim is written on the lock's own session, so a leader whose session was dropped
cannot start another job, and the JobSlot table's primary key (job, slot) refuses a slot that
already ran.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
from enum import StrEnum
from pathlib import Path
from typing import IO, Protocol

from sqlalchemy import insert, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import NullPool

from monitor.context import Context
from monitor.db import is_sqlite, make_engine, session_scope
from monitor.models import JobSlot, utcnow

log = logging.getLogger(__name__)

# The advisory lock's key: "monitor" as a 64-bit integer. Advisory locks are per database.
ADVISORY_KEY = int.from_bytes(b"monitor", "big")
STANDBY_EVERY = 10.0
LOCK_FILE = "monitor-run.lock"

# libpq settings for the lock connection: notice a dead network path within ~10-15 s.
_CLIENT_KEEPALIVES = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}
# Server side (per session): drop a vanished leader's session, releasing the lock, in ~25 s.
_SERVER_KEEPALIVES = (
    "SET tcp_keepalives_idle = 10",
    "SET tcp_keepalives_interval = 5",
    "SET tcp_keepalives_count = 3",
)


class AlreadyRunning(RuntimeError):
    """Another runner holds the SQLite database's lock file."""


class Claim(StrEnum):
    """What claiming a job's slot found."""

    OK = "ok"  # this process leads and the slot is its own: run the job
    TAKEN = "taken"  # the slot already ran (or runs) elsewhere: do not start it
    LOST = "lost"  # this process no longer leads: start nothing more


class Lease(Protocol):
    """Leadership held by this process until released (or, on PostgreSQL, lost)."""

    description: str

    def alive(self) -> bool:
        """True while this process still holds the lock."""
        ...

    def claim(self, job: str, slot: str | None) -> Claim:
        """Check the lease is still held and, given a slot, take it (once per database)."""
        ...

    def release(self) -> None:
        """Give the lock up (idempotent)."""
        ...


def me() -> str:
    """This process, as the logs and the lock's holder name it."""
    return f"pid {os.getpid()} on {socket.gethostname()}"


def _slot_row(job: str, slot: str) -> dict[str, object]:
    return {
        "job": job,
        "slot": slot,
        "claimed_at": utcnow(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def lock_path(ctx: Context) -> Path:
    """The SQLite runner's lock file: beside the database file (in ``var`` for :memory:)."""
    database = ctx.engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        return Path(f"{Path(database).resolve()}-run.lock")
    return ctx.var / LOCK_FILE


class FileLease:
    """An exclusive flock on the database's lock file, holding the holder's pid and host."""

    def __init__(self, path: Path, f: IO[str], engine: Engine | None) -> None:
        self.path = path
        self._file: IO[str] | None = f
        self._engine = engine
        self.description = f"lock file {path}"

    @classmethod
    def acquire(cls, path: Path, engine: Engine | None = None) -> FileLease:
        """Take the lock file, or raise AlreadyRunning naming who holds it. Slots are claimed
        in ``engine`` (without one, every claim of a slot is granted)."""
        path.parent.mkdir(parents=True, exist_ok=True)
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
        f.write(me())
        f.flush()
        return cls(path, f, engine)

    def alive(self) -> bool:
        return self._file is not None

    def claim(self, job: str, slot: str | None) -> Claim:
        if self._file is None:
            return Claim.LOST
        if slot is None or self._engine is None:
            return Claim.OK
        try:
            with session_scope(self._engine, write=True) as s:
                s.execute(insert(JobSlot).values(**_slot_row(job, slot)))
        except IntegrityError:
            return Claim.TAKEN
        return Claim.OK

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


class AdvisoryLease:
    """``pg_try_advisory_lock(ADVISORY_KEY)`` held on its own connection."""

    def __init__(self, engine: Engine, conn: Connection) -> None:
        self._engine = engine
        self._conn: Connection | None = conn
        self._mutex = threading.Lock()
        self.description = "PostgreSQL advisory lock"

    def alive(self) -> bool:
        # The session holds the lock for as long as it lives: a round trip proves both.
        with self._mutex:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as e:
                log.error("the leader's lock connection failed: %s", " ".join(str(e).split()))
                self._close()
                return False

    def claim(self, job: str, slot: str | None) -> Claim:
        # Written on the lock's own session: if that session is gone, so is the lock, and the
        # claim fails; no job can start on a lease that was lost a moment ago.
        if slot is None:
            return Claim.OK if self.alive() else Claim.LOST
        with self._mutex:
            if self._conn is None:
                return Claim.LOST
            try:
                self._conn.execute(insert(JobSlot).values(**_slot_row(job, slot)))
                return Claim.OK
            except IntegrityError:
                with contextlib.suppress(Exception):
                    self._conn.rollback()
                return Claim.TAKEN
            except Exception as e:
                log.error("the leader's lock connection failed: %s", " ".join(str(e).split()))
                self._close()
                return Claim.LOST

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                # If the session is gone, so is the lock.
                with contextlib.suppress(Exception):
                    self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        self._engine.dispose()


class _Contender:
    """A PostgreSQL connection that tries for the advisory lock; kept between tries."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine | None = None
        self.conn: Connection | None = None
        self._warned = False  # an unreachable database is logged once, not every try

    def try_once(self) -> AdvisoryLease | None:
        """One attempt; a connection problem is logged and retried on the next attempt."""
        try:
            if self.conn is None:
                self.engine = make_engine(
                    self.url,
                    poolclass=NullPool,
                    connect_args={**_CLIENT_KEEPALIVES, "application_name": f"monitor run {me()}"},
                )
                self.conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                for statement in _SERVER_KEEPALIVES:
                    self.conn.execute(text(statement))
                self._warned = False
            got = self.conn.execute(
                text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}
            ).scalar()
        except Exception as e:
            log.log(
                logging.DEBUG if self._warned else logging.WARNING,
                "cannot reach the database to contend for leadership (trying again): %s",
                _short(e),
            )
            self._warned = True
            self.close()
            return None
        if not got:
            return None
        assert self.engine is not None
        lease = AdvisoryLease(self.engine, self.conn)
        self.engine, self.conn = None, None
        return lease

    def holder(self) -> str:
        """Who holds the lock, by the application_name its connection set."""
        if self.conn is None:
            return "another `monitor run`"
        try:
            row = self.conn.execute(
                text(
                    "SELECT a.application_name, host(a.client_addr) FROM pg_locks l "
                    "JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database()) "
                    "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
                ),
                {"hi": ADVISORY_KEY >> 32, "lo": ADVISORY_KEY & 0xFFFFFFFF},
            ).first()
        except Exception:
            return "another `monitor run`"
        if row is None:
            return "another `monitor run`"
        name, addr = row
        name = (name or "").removeprefix("monitor run ") or "another `monitor run`"
        return f"{name} ({addr})" if addr else name

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None


def try_acquire(ctx: Context) -> Lease | None:
    """One attempt at leadership: a lease, or None when a PostgreSQL leader holds it.

    On SQLite a held lock raises AlreadyRunning: there is no standby on one machine.
    """
    if is_sqlite(ctx.engine):
        return FileLease.acquire(lock_path(ctx), ctx.engine)
    contender = _Contender(_url(ctx))
    try:
        return contender.try_once()
    finally:
        contender.close()


def wait_for_leadership(
    ctx: Context, stop: threading.Event, *, every: float = STANDBY_EVERY
) -> Lease | None:
    """Block until this process leads (a lease) or ``stop`` is set (None).

    On SQLite this is one attempt (AlreadyRunning when held). On PostgreSQL the standby tries
    every ``every`` seconds and logs "standby, waiting for <holder>" whenever the holder changes.
    """
    if is_sqlite(ctx.engine):
        return FileLease.acquire(lock_path(ctx), ctx.engine)
    contender = _Contender(_url(ctx))
    announced = None
    try:
        while not stop.is_set():
            lease = contender.try_once()
            if lease is not None:
                return lease
            holder = contender.holder() if contender.conn is not None else None
            if holder is not None and holder != announced:
                log.info("standby, waiting for %s", holder)
                announced = holder
            stop.wait(every)
        return None
    finally:
        contender.close()


def _url(ctx: Context) -> str:
    # The lock lives in the database the jobs use.
    return ctx.engine.url.render_as_string(hide_password=False)


def _short(e: Exception) -> str:
    line = " ".join(str(e).split())
    return line if len(line) < 200 else line[:197] + "..."
