"""One runner per database: the SQLite lock file, and leader and standby on PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import config, db
from monitor.context import Context
from monitor.models import JobRun, Meta
from monitor.service import leader
from monitor.service.runner import Service
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
    with caplog.at_level(logging.INFO, logger="monitor.service.leader"):
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


@pytest.mark.postgres
def test_a_leader_that_loses_its_lock_stops_its_jobs_and_contends_again(
    pg_config: Path, pg_engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    ctx = Context(config.load(pg_config), pg_engine)
    service = Service(ctx, web=False, check_every=0.1, standby_every=0.1)
    codes: list[int] = []
    with caplog.at_level(logging.INFO, logger="monitor"):
        thread = threading.Thread(target=lambda: codes.append(service.run()))
        thread.start()
        try:
            wait_until(lambda: "Ctrl-C to stop" in caplog.text, 30, "the first leadership")
            assert terminate_lock_sessions(pg_engine) == 1
            wait_until(lambda: caplog.text.count("Ctrl-C to stop") == 2, 30, "leadership regained")
        finally:
            service.request_stop()
            thread.join(30)
    assert codes == [0]
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.service.runner"]
    lost = next(i for i, m in enumerate(lines) if m.startswith("no longer the leader"))
    assert [m for m in lines[:lost] if m.startswith("leader:")] == [
        f"leader: {leader.me()} runs the jobs (PostgreSQL advisory lock)"
    ]
    assert any(m.startswith("leader:") for m in lines[lost:])


class Runner:
    """A real `monitor run --no-web` process whose log is read line by line."""

    def __init__(self, config_file: Path, env: dict[str, str]) -> None:
        cmd = [sys.executable, "-m", "monitor.cli", "--config", str(config_file), "run"]
        self.proc = subprocess.Popen([*cmd, "--no-web"], stderr=subprocess.PIPE, text=True, env=env)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_for(self, needle: str, timeout: float) -> None:
        wait_until(lambda: needle in self.log or self.proc.poll() is not None, timeout, needle)
        assert needle in self.log, self.log

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def tick_runs(engine: Engine, pid: int | None = None) -> list[JobRun]:
    with db.session_scope(engine) as s:
        rows = s.exec(select(JobRun).where(JobRun.job == "tick").order_by(col(JobRun.id)))
        return [r for r in rows if pid is None or r.pid == pid]


@pytest.mark.postgres
def test_two_runners_on_postgresql_one_leads_and_the_standby_takes_over_after_kill_9(
    pg_config: Path, pg_engine: Engine
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_TICK_SECONDS": "1"}
    a = Runner(pg_config, env)
    b: Runner | None = None
    try:
        a.wait_for("Ctrl-C to stop", 60)
        b = Runner(pg_config, env)
        b.wait_for("standby, waiting for", 60)
        assert f"standby, waiting for pid {a.proc.pid} on " in b.log
        wait_until(lambda: len(tick_runs(pg_engine)) >= 3, 30, "three ticks by the leader")
        assert {r.pid for r in tick_runs(pg_engine)} == {a.proc.pid}
        os.kill(a.proc.pid, signal.SIGKILL)
        a.proc.wait(10)
        killed_at = time.monotonic()
        b.wait_for("leader: pid", 60)
        assert time.monotonic() - killed_at < 60
        new_leader = b.proc.pid
        wait_until(
            lambda: len(tick_runs(pg_engine, new_leader)) >= 3, 30, "three ticks by the new leader"
        )
        b.proc.send_signal(signal.SIGTERM)
        assert b.proc.wait(30) == 0, b.log
        assert "monitor stopped" in b.log and "Traceback" not in b.log
    finally:
        a.stop()
        if b is not None:
            b.stop()
    ticks = tick_runs(pg_engine)
    slots = [r.counts["slot"] for r in ticks]
    assert len(slots) == len(set(slots)), "a tick ran twice"
    by_a = tick_runs(pg_engine, a.proc.pid)
    by_b = tick_runs(pg_engine, b.proc.pid)
    assert len(by_a) + len(by_b) == len(ticks)
    assert by_a and by_b and max(r.started_at for r in by_a) < min(r.started_at for r in by_b)
    assert all(r.outcome == "ok" for r in by_b)  # the leader killed may have left one running
    with db.session_scope(pg_engine) as s:
        meta = s.get(Meta, "scheduler_leader")
        assert meta is not None and meta.value.startswith(f"pid {b.proc.pid} on ")


@pytest.mark.postgres
def test_a_standby_serves_the_status_page_but_runs_no_job(
    pg_config: Path, pg_engine: Engine
) -> None:
    import requests

    pg_config.write_text(pg_config.read_text() + "[web]\nport = 0\n")
    ctx = Context(config.load(pg_config), pg_engine)
    held = leader.try_acquire(ctx)  # another runner leads
    assert held is not None
    service = Service(ctx, web=True, standby_every=0.1)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    try:
        wait_until(lambda: service.page is not None, 30, "the status page")
        assert service.page is not None
        assert requests.get(service.page.url + "healthz", timeout=10).text == "ok\n"
    finally:
        service.request_stop()
        thread.join(30)
        held.release()
    assert codes == [0]
    with db.session_scope(pg_engine) as s:
        assert not s.exec(select(JobRun)).all()
