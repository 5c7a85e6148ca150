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


def test_the_evaluated_mark_starts_where_the_latest_evaluation_began(tmp_path: Path) -> None:
    """Migration 0010 marks as evaluated what the time-based rule held evaluated (fetched
    before the latest successful evaluation began) and leaves the rest for the catch-up."""
    from alembic import command
    from sqlalchemy import text

    engine = db.make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009_current_figures")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO jobrun (job, started_at, outcome) VALUES "
                "('evaluate', '2026-01-02 00:00:00.000000', 'ok'), "
                "('evaluate', '2026-01-05 00:00:00.000000', 'failed')"
            )
        )
        for n, fetched in enumerate(["2026-01-01 12:00:00.000000", "2026-01-03 12:00:00.000000"]):
            conn.execute(
                text(
                    "INSERT INTO publication (source, url, filename, sha256, size, published_at,"
                    ' fetched_at, status, "trigger", quiet, rows_read, observations_written,'
                    " orgs) VALUES ('ae', 'u', 'f', :sha, 1, :at, :at, 'ingested', 'poll',"
                    " false, 0, 0, 0)"
                ),
                {"sha": f"{n:064d}", "at": fetched},
            )
    assert db.upgrade(engine)[1] == db.head_revision()
    with engine.connect() as conn:
        marks = conn.execute(text("SELECT evaluated_at FROM publication ORDER BY id")).all()
    engine.dispose()
    assert marks[0][0] is not None and marks[0][0].startswith("2026-01-01 12:00")
    assert marks[1][0] is None
