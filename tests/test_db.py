"""Storage: migrations reach the models exactly, on SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from monitor import db


def test_schema_is_at_the_newest_migration(engine: Engine) -> None:
    assert db.current_revision(engine) == db.head_revision()


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []


def test_upgrading_again_changes_nothing(engine: Engine) -> None:
    before, after = db.upgrade(engine)
    assert before == after == db.head_revision()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'sub' / 'monitor.db'}")
    with engine.connect() as c:
        assert c.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert c.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.BUSY_TIMEOUT_MS
        assert c.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
