"""One runner per database: the SQLite lock file, and leader and standby on PostgreSQL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from monitor import config, db, leader
from monitor.context import Context
from tests.conftest import PG_ENV, _reset_postgres, not_run


def wait_until(check: Callable[[], object], timeout: float, what: str) -> None:
    """Poll ``check`` until it is true; fail after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    pause = threading.Event()
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        pause.wait(0.1)


def test_a_second_runner_on_sqlite_is_refused_naming_the_holder(tmp_path: Path) -> None:
    first = leader.FileLease.acquire(tmp_path)
    try:
        with pytest.raises(leader.AlreadyRunning) as e:
            leader.FileLease.acquire(tmp_path)
        assert f"another `monitor run` ({leader.me()}) already runs on this database" in str(
            e.value
        )
        assert str(tmp_path / "monitor-run.lock") in str(e.value)
    finally:
        first.release()
    leader.FileLease.acquire(tmp_path).release()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> str:
    url = request.getfixturevalue("pg_database_url")
    if url is None:
        not_run("PostgreSQL", request, f"{PG_ENV} is not set")
    assert isinstance(url, str)
    return url


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    eng = db.make_engine(pg_url)
    _reset_postgres(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def pg_config(pg_url: str, pg_engine: Engine, tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f'[database]\nurl = "{pg_url}"\n[paths]\nvar = "var"\n')
    return p


def terminate_lock_sessions(engine: Engine) -> int:
    """End the database sessions of this test's runners, as a network failure would."""
    with engine.connect() as c:
        ended = c.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name LIKE 'monitor run %' AND datname = current_database()"
            )
        ).scalar()
        c.commit()
    return int(ended or 0)


@pytest.mark.postgres
def test_one_leader_on_postgresql_and_the_standby_takes_over_when_the_lock_is_released(
    pg_config: Path, pg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = Context(config.load(pg_config), pg_engine)
    first = leader.try_acquire(ctx)
    assert first is not None and first.alive()
    assert leader.try_acquire(ctx) is None
    stop = threading.Event()
    got: list[leader.Lease | None] = []
    with caplog.at_level(logging.INFO, logger="monitor.leader"):
        standby = threading.Thread(
            target=lambda: got.append(leader.wait_for_leadership(ctx, stop, every=0.1))
        )
        standby.start()
        wait_until(lambda: "standby, waiting for" in caplog.text, 10, "the standby line")
        assert f"standby, waiting for {leader.me()}" in caplog.text
        first.release()
        standby.join(10)
    assert not standby.is_alive()
    second = got[0]
    assert second is not None and second.alive()
    # The session ends (a dead leader, a dropped connection): the lease knows it is lost.
    assert terminate_lock_sessions(pg_engine) == 1
    assert not second.alive()
    third = leader.try_acquire(ctx)
    assert third is not None
    third.release()
