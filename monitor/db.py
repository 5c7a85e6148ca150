"""Engine and sessions for SQLite (WAL, busy timeout) and PostgreSQL, and schema upgrades."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 30_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        f"busy_timeout={BUSY_TIMEOUT_MS}",
    ):
        cur.execute(f"PRAGMA {pragma}")
    cur.close()


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only (0700); a folder that
    already exists is left as it is."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        try:
            p.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by another process
            continue
        os.chmod(p, 0o700)  # whatever the umask
    return path


def private_file(path: Path) -> None:
    """Create ``path`` empty, readable and writable by the owner only (0600), unless it exists;
    an existing one readable by others is made owner-only (it holds password hashes)."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    mode = path.stat().st_mode
    if mode & 0o077 and path.stat().st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(mode) & 0o700)


def make_engine(url: str, **kw: Any) -> Engine:
    """An engine for ``url``. SQLite gets WAL and a busy timeout; its folder (0700) and file
    (0600; SQLite gives its -wal and -shm files the same mode) are created owner-only."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            private_dir(Path(u.database).parent)
            private_file(Path(u.database))
        kw.setdefault(
            "connect_args", {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        )
        engine = create_engine(url, **kw)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy, not pysqlite, decide when transactions begin, so that
        # BEGIN IMMEDIATE can be used for writers (see write_session).
        event.listen(engine, "connect", _disable_pysqlite_begin)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def _disable_pysqlite_begin(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None


def _sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A session committed on success and rolled back on error.

    ``write=True`` takes SQLite's write lock at BEGIN (BEGIN IMMEDIATE), so that two writers
    queue on the busy timeout instead of failing half-way with "database is locked".
    """
    with Session(engine, expire_on_commit=False) as session:
        if write and is_sqlite(engine):
            session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


# Placeholders of the drivers whose executemany insert_rows calls directly.
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_rows(
    connection: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    **constants: Any,
) -> None:
    """INSERT ``rows`` (tuples in ``columns`` order, each row then ``constants``) into
    ``table``: one executemany through the driver.

    Each value goes through its column type's bind processing, as SQLAlchemy's own insert
    does, but a column at a time (a constant once), not through the dictionary of parameters
    SQLAlchemy builds and processes per row: that cost about 2 s of storing the 320k ratings of
    CQC's bulk file, as long as SQLite's own work (bench_cqc_ods). Columns not named get the
    database's default, not a default the model sets in Python.
    """
    if not rows:
        return
    dialect = connection.dialect
    mark = _MARKS.get(dialect.paramstyle)
    if mark is None:  # the monitor runs on pysqlite and psycopg only
        raise ValueError(f"insert_rows: no placeholder for paramstyle {dialect.paramstyle!r}")
    names = [*columns, *constants]
    cols = [table.c[name] for name in names]
    procs = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in cols]
    by_column: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for i, proc in enumerate(procs[: len(columns)]):
        if proc is not None:
            by_column[i] = list(map(proc, by_column[i]))
    tail = tuple(
        value if proc is None else proc(value)
        for value, proc in zip(constants.values(), procs[len(columns) :], strict=True)
    )
    rows_again = zip(*by_column, strict=True)
    params = [(*row, *tail) for row in rows_again] if tail else list(rows_again)
    q = dialect.identifier_preparer
    sql = (
        f"INSERT INTO {q.format_table(table)} ({', '.join(q.format_column(c) for c in cols)})"
        f" VALUES ({', '.join([mark] * len(cols))})"
    )
    connection.exec_driver_sql(sql, params)


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest migration. Returns (revision before, revision after)."""
    before = current_revision(engine)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, current_revision(engine)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
