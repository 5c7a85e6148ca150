"""Fixtures of the CQC tests: an ``engine`` on SQLite and, when configured, PostgreSQL.

Until the project's shared database fixture lands, the CQC tests import ``engine`` from here
(``from cqc_conftest_local import engine``); swapping in the shared one means deleting that
import. SQLite: a fresh file per test, migrated with monitor.db.upgrade. PostgreSQL (when
MONITOR_TEST_POSTGRES_URL names a server we may create databases on): one uniquely named
database per test run, migrated once, emptied before each test and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

from monitor import db

ROOT = Path(__file__).resolve().parent.parent
CQC_REAL = ROOT / "data" / "real" / "cqc"
SNAPSHOT = CQC_REAL / "oldham_api_snapshot"
PG_ENV = "MONITOR_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def _cqc_pg_url() -> Iterator[str | None]:
    admin_url = os.environ.get(PG_ENV)
    if not admin_url:
        yield None
        return
    name = f"monitor_cqc_test_{secrets.token_hex(4)}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    eng = db.make_engine(url)
    db.upgrade(eng)
    eng.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(
    request: pytest.FixtureRequest, tmp_path: Path, _cqc_pg_url: str | None
) -> Iterator[Engine]:
    """A migrated, empty database: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        eng = db.make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
        db.upgrade(eng)
    else:
        if _cqc_pg_url is None:
            pytest.skip(f"PostgreSQL not configured: set {PG_ENV}")
        eng = db.make_engine(_cqc_pg_url)
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        with eng.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield eng
    finally:
        eng.dispose()
