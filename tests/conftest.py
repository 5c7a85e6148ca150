"""Shared fixtures: one `engine` fixture runs every database test on SQLite and PostgreSQL.

PostgreSQL runs when MONITOR_TEST_POSTGRES_URL names a server (CI sets it, which makes that
half mandatory: an unreachable server fails the run). Without it the PostgreSQL half is
skipped and the run ends with a loud NOT RUN line saying how to enable it.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import SQLModel

from monitor import db, orgs

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "real"
PG_ENV = "MONITOR_TEST_POSTGRES_URL"
BROWSER_ENV = "MONITOR_TEST_BROWSER"

# The status page's fixtures (app, client, ctx, ids) for its tests.
pytest_plugins = ["web_fixtures"]

NOT_RUN: dict[str, set[str]] = {}
HOW_TO_ENABLE = {
    "PostgreSQL": f"set {PG_ENV}=postgresql+psycopg://postgres@127.0.0.1:5432/postgres "
    "(a server you may create databases on); .ci/run does",
    "browser": f"apt-get install -y chromium and set {BROWSER_ENV}=1; .ci/run does",
}


def not_run(kind: str, request: pytest.FixtureRequest, why: str) -> None:
    NOT_RUN.setdefault(kind, set()).add(request.node.nodeid)
    pytest.skip(f"NOT RUN ({kind}): {why}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for kind, ids in sorted(NOT_RUN.items()):
        terminalreporter.write_sep(
            "!",
            f"NOT RUN: {len(ids)} {kind} test(s). To run them: {HOW_TO_ENABLE[kind]}",
            red=True,
            bold=True,
        )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite database migrated to head with the reference organisations, copied per test."""
    path = tmp_path_factory.mktemp("template") / "monitor.db"
    eng = db.make_engine(f"sqlite:///{path}")
    db.upgrade(eng)
    with db.session_scope(eng, write=True) as s:
        orgs.load_reference(s)
    with eng.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    eng.dispose()
    return path


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str | None]:
    """A fresh PostgreSQL database for this test run, migrated to head; dropped afterwards."""
    admin = os.environ.get(PG_ENV)
    if not admin:
        yield None
        return
    name = f"monitor_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin_engine.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except OperationalError as e:
        pytest.fail(f"{PG_ENV} is set but PostgreSQL cannot be used: {e}", pytrace=False)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    eng = db.make_engine(url, poolclass=NullPool)
    db.upgrade(eng)
    eng.dispose()
    try:
        yield url
    finally:
        with admin_engine.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_engine.dispose()


def _reset_postgres(engine: Engine) -> None:
    tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
    with engine.begin() as c:
        c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    with db.session_scope(engine, write=True) as s:
        orgs.load_reference(s)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a database at the newest schema, holding the reference organisations."""
    if request.param == "sqlite":
        path = tmp_path / "monitor.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        eng = db.make_engine(f"sqlite:///{path}")
    else:
        url = request.getfixturevalue("pg_database_url")
        if url is None:
            not_run("PostgreSQL", request, f"{PG_ENV} is not set")
        eng = db.make_engine(url)
        _reset_postgres(eng)
    try:
        yield eng
    finally:
        eng.dispose()
