"""Storage: migrations reach the models exactly, on SQLite (WAL) and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import insert
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from monitor import db
from monitor.models import Rating


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


def test_insert_rows_stores_what_sqlalchemys_insert_stores(engine: Engine) -> None:
    # insert_rows binds values itself (a column at a time, through each type's processing):
    # what it stores must be exactly what SQLAlchemy's own insert stores, dates, flags, None
    # and the aware timestamp included, as the driver reads them back.
    columns = (
        "subject_id", "subject_name", "org", "service", "domain", "report_date", "rating",
        "ordinal", "inherited", "score", "current",
    )  # fmt: skip
    rows = [
        ("RCX", "QEH", "RCX", "", "Overall", date(2024, 3, 5), "Inadequate", 4, False, None, True),
        ("RM317", "St Mary's", "RM3", "Maternity", "Safe", None, "Good", 2, True, 3, False),
    ]
    stamp = datetime(2026, 9, 1, 8, 30, 15, 123456, tzinfo=UTC)
    table = Rating.__table__  # type: ignore[attr-defined]
    stored = f"SELECT {', '.join(columns)}, first_seen_at FROM rating ORDER BY id"
    with engine.begin() as conn:
        db.insert_rows(conn, table, columns, rows, subject_type="provider", first_seen_at=stamp)
    with engine.connect() as conn:
        mine = conn.exec_driver_sql(stored).all()
    with Session(engine) as s:
        got = s.exec(select(Rating)).all()
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM rating")
        params = [dict(zip(columns, r, strict=True)) for r in rows]
        conn.execute(insert(table), [{**p, "subject_type": "provider", "first_seen_at": stamp}
                                     for p in params])  # fmt: skip
        theirs = conn.exec_driver_sql(stored).all()
    assert [tuple(r) for r in mine] == [tuple(r) for r in theirs]
    assert len(mine) == 2
    assert [(r.report_date, r.inherited, r.score, r.first_seen_at) for r in got] == [
        (date(2024, 3, 5), False, None, stamp), (None, True, 3, stamp),
    ]  # fmt: skip
