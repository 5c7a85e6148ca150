"""One runner per database: the SQLite lock file, and leader and standby on PostgreSQL."""

from __future__ import annotations

import logging
import os
import shutil
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
from monitor.models import JobRun, JobSlot, Meta
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
    lock = tmp_path / "monitor.db-run.lock"
    first = leader.FileLease.acquire(lock)
    try:
        with pytest.raises(leader.AlreadyRunning) as e:
            leader.FileLease.acquire(lock)
        assert f"another `monitor run` ({leader.me()}) already runs on this database" in str(
            e.value
        )
        assert str(lock) in str(e.value)
    finally:
        first.release()
    leader.FileLease.acquire(lock).release()


def test_the_sqlite_lock_belongs_to_the_database_file_not_the_var_folder(
    tmp_path: Path, sqlite_template: Path
) -> None:
    # Two runners with their own var folders on one database: the second is refused.
    database = tmp_path / "shared" / "monitor.db"
    database.parent.mkdir()
    shutil.copyfile(sqlite_template, database)
    configs = []
    for name in ("a", "b"):
        p = tmp_path / name / "config.toml"
        p.parent.mkdir()
        p.write_text(f'[database]\nurl = "sqlite:///{database}"\n[paths]\nvar = "var-{name}"\n')
        configs.append(p)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_TICK_SECONDS": "1"}
    engine = db.make_engine(f"sqlite:///{database}")
    a = Runner(configs[0], env)
    try:
        a.wait_for("Ctrl-C to stop", 60)
        b = Runner(configs[1], env)
        assert b.proc.wait(60) == 3, b.log
        assert f"another `monitor run` (pid {a.proc.pid} on " in b.log
        assert f"lock file {database}-run.lock" in b.log
        wait_until(lambda: len(tick_runs(engine)) >= 2, 30, "two ticks by the leader")
        assert {r.pid for r in tick_runs(engine)} == {a.proc.pid}
    finally:
        a.stop()
        engine.dispose()


def test_a_slot_runs_once_per_database_whoever_leads(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "config.toml"
    url = engine.url.render_as_string(hide_password=False)
    p.write_text(f'[database]\nurl = "{url}"\n[paths]\nvar = "var"\n')
    ctx = Context(config.load(p), engine)
    first = leader.try_acquire(ctx)
    assert first is not None
    try:
        assert first.claim("tick", "2026-12-07T10:00:01.000000Z") is leader.Claim.OK
        assert first.claim("tick", "2026-12-07T10:00:01.000000Z") is leader.Claim.TAKEN
        assert first.claim("send", "2026-12-07T10:00:01.000000Z") is leader.Claim.OK
        assert first.claim("daily", None) is leader.Claim.OK  # a run at start has no slot
    finally:
        first.release()
    assert first.claim("tick", "2026-12-07T10:00:02.000000Z") is leader.Claim.LOST
    # The next leader (a restart, or the standby) cannot run the slot again.
    second = leader.try_acquire(ctx)
    assert second is not None
    try:
        assert second.claim("tick", "2026-12-07T10:00:01.000000Z") is leader.Claim.TAKEN
        assert second.claim("tick", "2026-12-07T10:00:02.000000Z") is leader.Claim.OK
    finally:
        second.release()
    with db.session_scope(engine) as s:
        slots = s.exec(select(JobSlot).order_by(col(JobSlot.slot), col(JobSlot.job))).all()
        assert [(r.job, r.slot[:19], r.pid) for r in slots] == [
            ("send", "2026-12-07T10:00:01", os.getpid()),
            ("tick", "2026-12-07T10:00:01", os.getpid()),
            ("tick", "2026-12-07T10:00:02", os.getpid()),
        ]


def test_every_scheduled_run_has_one_slot_name_in_every_process() -> None:
    from datetime import UTC, datetime

    from monitor.service import schedule
    from monitor.sources import timetable

    tick = schedule._every(seconds=5)
    at = datetime(2026, 12, 7, 10, 0, 7, 500000, tzinfo=UTC)
    assert schedule.slot_of(tick, at) == "2026-12-07T10:00:05.000000Z"
    daily = timetable.cron_trigger(schedule.DAILY)  # 06:00 Europe/London
    assert schedule.slot_of(daily, at) == "2026-12-07T06:00:00.000000Z"
    assert schedule.slot_of(daily, at.replace(hour=5)) == "2026-12-06T06:00:00.000000Z"
    # British Summer Time: 06:00 in London is 05:00 UTC.
    assert schedule.slot_of(daily, at.replace(month=7)) == "2026-07-07T05:00:00.000000Z"


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


def leader_lock_backends(engine: Engine) -> list[int]:
    """The server pids of the sessions holding the runners' advisory lock."""
    with engine.connect() as c:
        return list(
            c.execute(
                text(
                    "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
                    "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
                ),
                {"hi": leader.ADVISORY_KEY >> 32, "lo": leader.ADVISORY_KEY & 0xFFFFFFFF},
            ).scalars()
        )


def backend_alive(engine: Engine, pid: int) -> bool:
    with engine.connect() as c:
        return bool(
            c.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}
            ).scalar()
        )


@pytest.mark.postgres
def test_a_leader_whose_session_is_dropped_starts_nothing_more(
    pg_config: Path, pg_engine: Engine
) -> None:
    from monitor.models import utcnow

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_TICK_SECONDS": "1"}
    a = Runner(pg_config, env)
    b: Runner | None = None
    try:
        a.wait_for("Ctrl-C to stop", 60)
        b = Runner(pg_config, env)
        b.wait_for("standby, waiting for", 60)
        wait_until(lambda: len(tick_runs(pg_engine)) >= 3, 30, "three ticks by the leader")
        [held_by] = leader_lock_backends(pg_engine)
        with pg_engine.connect() as c:
            assert c.execute(text("SELECT pg_terminate_backend(:p)"), {"p": held_by}).scalar()
        wait_until(lambda: not backend_alive(pg_engine, held_by), 30, "the session to end")
        gone_at = utcnow()
        b.wait_for("leader: pid", 60)
        wait_until(
            lambda: len(tick_runs(pg_engine, b.proc.pid)) >= 3, 30, "three ticks by the standby"
        )
        a.wait_for("no longer the leader", 30)
        assert a.proc.poll() is None and b.proc.poll() is None
    finally:
        a.stop()
        if b is not None:
            b.stop()
    after = [r.counts["slot"] for r in tick_runs(pg_engine, a.proc.pid) if r.started_at > gone_at]
    assert after == [], "the old leader started ticks after its session was dropped"
    slots = [r.counts["slot"] for r in tick_runs(pg_engine)]
    assert len(slots) == len(set(slots)), "a tick ran twice"


def test_a_slot_another_process_claimed_is_not_run(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from datetime import timedelta

    from monitor.service import schedule

    p = tmp_path / "config.toml"
    url = engine.url.render_as_string(hide_password=False)
    p.write_text(f'[database]\nurl = "{url}"\n[paths]\nvar = "var"\n')
    ctx = Context(config.load(p), engine)
    service = Service(ctx, web=False, tick_seconds=1.0, check_every=0.1)
    thread = threading.Thread(target=service.run)
    with caplog.at_level(logging.INFO, logger="monitor"):
        thread.start()
        try:
            wait_until(lambda: tick_runs(engine), 60, "the first tick")
            first = tick_runs(engine)[0].counts["slot"]
            # Another process claims the ticks due six to eight seconds after the first.
            taken = [first + 6, first + 7, first + 8]
            with db.session_scope(engine, write=True) as s:
                for n in taken:
                    at = schedule.TICK_EPOCH + timedelta(seconds=n)
                    slot = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    s.add(JobSlot(job="tick", slot=slot, host="elsewhere", pid=1))
            wait_until(
                lambda: any(r.counts["slot"] > taken[-1] for r in tick_runs(engine)),
                60,
                "a tick after the claimed ones",
            )
        finally:
            service.request_stop()
            thread.join(30)
    ran = [r.counts["slot"] for r in tick_runs(engine)]
    assert not set(ran) & set(taken), ran
    assert len(ran) == len(set(ran))  # and nothing twice
    refused = [m for m in caplog.messages if "has already started elsewhere; not run" in m]
    assert refused and all(m.startswith("tick: the run due at ") for m in refused)
