"""Wrong passwords slow the next try down: a wait that grows, never a lock.

Failures are counted in the database (the LoginFailure table), so every process serving the
status page shares them, under three kinds of key:

- ``client:<address>``: every wrong password from one client, whatever the name (one password
  tried across many names);
- ``name:<name>@<address>``: one name from one client;
- ``name:<name>@device:<id>``: one name from a browser that has signed in as that name before
  (a signed "known device" cookie). Such a browser is judged by this key alone, so nobody else's
  wrong guesses, from any address, can keep the real operator out.

After ``FREE`` failures under a key, the next try under it must wait ``2 ** (n - FREE)`` seconds
after the last failure, at most ``MAX_WAIT``. Quiet keys are forgotten after ``FORGET``; the table
holds at most ``MAX_ROWS`` keys, and when full it drops the keys with the fewest failures first,
so a flood of new names or addresses cannot wipe the counts that matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.db import is_sqlite, session_scope
from monitor.models import LoginFailure, utcnow

FREE = 5
MAX_WAIT = timedelta(minutes=5)
FORGET = timedelta(hours=24)
MAX_ROWS = 10_000


def wait_for(failures: int) -> timedelta:
    """How long after the last failure the next try may come, after ``failures`` failures."""
    if failures < FREE:
        return timedelta(0)
    return min(MAX_WAIT, timedelta(seconds=2 ** (failures - FREE)))


def keys(name: str, client: str, device: str | None) -> list[str]:
    """The keys a sign-in as ``name`` from ``client`` is judged by (see the module's words)."""
    name = name.strip().lower()[:64]
    if device is not None:
        return [f"name:{name}@device:{device}"[:200]]
    return [f"client:{client}"[:200], f"name:{name}@{client}"[:200]]


def retry_after(engine: Engine, which: Iterable[str], now: datetime | None = None) -> int:
    """Seconds until a try under ``which`` is allowed (0: now)."""
    now = now or utcnow()
    which = list(which)
    with session_scope(engine) as s:
        rows = s.exec(select(LoginFailure).where(col(LoginFailure.key).in_(which))).all()
    longest = timedelta(0)
    for row in rows:
        if now - row.last_at > FORGET:
            continue
        longest = max(longest, row.last_at + wait_for(row.failures) - now)
    return int(-(-longest.total_seconds() // 1))  # whole seconds, rounded up


def failed(engine: Engine, which: Iterable[str], now: datetime | None = None) -> None:
    """Count one wrong password under each key; forget quiet keys; keep the table bounded."""
    now = now or utcnow()
    with session_scope(engine, write=True) as s:
        dialect_insert = sqlite_insert if is_sqlite(engine) else pg_insert
        for key in which:
            stmt = dialect_insert(LoginFailure).values(key=key, failures=1, last_at=now)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={
                    # A key quiet for FORGET starts again from one.
                    "failures": case(
                        (col(LoginFailure.last_at) < now - FORGET, 1),
                        else_=col(LoginFailure.failures) + 1,
                    ),
                    "last_at": now,
                },
            )
            s.execute(stmt)
        s.execute(delete(LoginFailure).where(col(LoginFailure.last_at) < now - FORGET))
        count = s.exec(select(func.count()).select_from(LoginFailure)).one()
        if count > MAX_ROWS:
            # Drop the least-counted keys (oldest first among equals) down to 90% of the cap.
            doomed = (
                select(LoginFailure.key)
                .order_by(col(LoginFailure.failures), col(LoginFailure.last_at))
                .limit(count - MAX_ROWS * 9 // 10)
            )
            s.execute(
                delete(LoginFailure).where(col(LoginFailure.key).in_(doomed.scalar_subquery()))
            )


def succeeded(engine: Engine, which: Iterable[str]) -> None:
    """Forget the failures under ``which`` (a right password from that client or device)."""
    with session_scope(engine, write=True) as s:
        s.execute(delete(LoginFailure).where(col(LoginFailure.key).in_(list(which))))
