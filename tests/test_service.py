"""`monitor run`: the scheduler's jobs from config.toml, follow-ups, offline, signals, the page."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import config, db
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import JobRun, Meta, SourceState, utcnow
from monitor.notify.operators import queue_incidents
from monitor.service import leader
from monitor.service.runner import Service
from monitor.service.status_page import start_status_page
from tests.conftest import ROOT
from tests.smtp_sink import Sink, SmtpServer
from tests.test_leader import wait_until
from tests.test_poll import INDEX, YEAR, Publisher, publisher  # noqa: F401  (fixture)

LONDON = ZoneInfo("Europe/London")


def london(*args: int) -> datetime:
    return datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def runs(engine: Engine, job: str) -> list[JobRun]:
    with session_scope(engine) as s:
        return list(s.exec(select(JobRun).where(JobRun.job == job).order_by(col(JobRun.id))))


def heartbeat(engine: Engine) -> Meta | None:
    with session_scope(engine) as s:
        return s.get(Meta, "scheduler_heartbeat")


def state(engine: Engine, source: str) -> SourceState:
    with session_scope(engine) as s:
        row = s.get(SourceState, source)
        assert row is not None
        return row


def test_the_jobs_are_built_from_config_toml_with_their_triggers_and_misfire_times() -> None:
    ctx = Context(config.load(ROOT / "config.toml"), db.make_engine("sqlite://"))
    sched = Service(ctx, web=False).build_scheduler()
    jobs_by_id = {j.id: j for j in sched.get_jobs()}
    assert set(jobs_by_id) == {
        *(f"poll:{s}" for s in ("ae", "cancer", "rtt", "ambulance", "oversight", "cqc", "dspt")),
        "send",
        "digest",
        "daily",
        "board-pack",
        "heartbeat",
    }
    assert {(j.coalesce, j.max_instances) for j in jobs_by_id.values()} == {(True, 1)}
    # The board packs: the evening of each month's last day, after its publications.
    packs = jobs_by_id["board-pack"].trigger
    assert packs.get_next_fire_time(None, london(2026, 10, 20)) == london(2026, 10, 31, 20, 0)
    assert packs.get_next_fire_time(None, london(2027, 2, 1)) == london(2027, 2, 28, 20, 0)
    ae = jobs_by_id["poll:ae"]
    assert isinstance(ae.trigger, CronTrigger) and ae.trigger.timezone == LONDON
    assert (ae.misfire_grace_time, ae.executor) == (3600, "polls")
    assert ae.trigger.get_next_fire_time(None, london(2026, 10, 20)) == london(2026, 11, 12, 9, 30)
    oversight = jobs_by_id["poll:oversight"].trigger
    assert oversight.get_next_fire_time(None, london(2026, 3, 1)) == london(2026, 5, 14, 9, 30)
    cqc = jobs_by_id["poll:cqc"]
    assert isinstance(cqc.trigger, IntervalTrigger)
    assert cqc.trigger.interval == timedelta(minutes=30) and cqc.next_run_time is not None
    dspt = jobs_by_id["poll:dspt"]  # the DSPT download changes in place: polled daily
    assert isinstance(dspt.trigger, IntervalTrigger)
    assert dspt.trigger.interval == timedelta(days=1)
    send = jobs_by_id["send"]
    assert isinstance(send.trigger, IntervalTrigger)
    assert send.trigger.interval == timedelta(minutes=1)
    digest = jobs_by_id["digest"]
    assert digest.misfire_grace_time == 6 * 3600
    assert digest.trigger.get_next_fire_time(None, london(2026, 10, 20)) == london(2026, 10, 26, 7)


@pytest.fixture
def ae_config(tmp_path: Path, publisher: Publisher) -> Path:  # noqa: F811
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\n[http]\nretries = 0\n'
        f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n'
        "schedule = { day = '2nd thu', hour = 9, minute = 30 }\n"
        "retry_every_minutes = 15\nretry_for_hours = 6\n"
    )
    return p


def new_file(publisher: Publisher) -> None:  # noqa: F811
    """The September 2025 file appears on the A&E page."""
    from tests.conftest import REAL

    publisher.files["September-2025-CSV-abc12.csv"] = (
        (REAL / "ae" / "Monthly-AE-September-2024.csv").read_bytes().replace(b"2024", b"2025")
    )
    publisher.page(
        YEAR,
        "ae-attendances-and-emergency-admissions-2025-26.html",
        extra=(
            f'<p><a href="{publisher.base}/statistics/wp-content/uploads/sites/2/2025/10/'
            'September-2025-CSV-abc12.csv">Monthly A&amp;E September 2025 (CSV, 28KB)</a></p>'
        ),
    )


def test_a_scheduled_poll_that_finds_nothing_new_is_followed_up_until_the_file_lands(
    engine: Engine,
    ae_config: Path,
    publisher: Publisher,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    ctx = Context(config.load(ae_config), engine)
    clock = Clock(london(2026, 4, 9, 9, 30))
    service = Service(ctx, web=False, clock=clock)
    sched = service.build_scheduler()
    # As the leader would: holding the lease; the scheduler itself is not started.
    lease = leader.try_acquire(ctx)
    assert lease is not None
    request.addfinalizer(lease.release)
    service._lease = lease
    service._leading.set()

    # The first scheduled poll finds the year's files: nothing to follow up.
    service._poll("ae", "calendar")
    assert sched.get_job("follow-up:ae") is None
    assert runs(engine, "poll:ae")[-1].counts["ingested"] == 5

    # A month later the new file is not there at 09:30: poll again at 09:45.
    clock.now = london(2026, 5, 14, 9, 30)
    service._poll("ae", "calendar")
    job = sched.get_job("follow-up:ae")
    assert job is not None and isinstance(job.trigger, DateTrigger)
    assert job.trigger.run_date == london(2026, 5, 14, 9, 45)
    st = state(engine, "ae")
    assert (st.follow_up_at, st.follow_up_until) == (
        london(2026, 5, 14, 9, 45),
        london(2026, 5, 14, 15, 30),
    )

    # A restart inside the window resumes the follow-ups from the stored state.
    clock.now = london(2026, 5, 14, 9, 40)
    restarted = Service(ctx, web=False, clock=clock)
    restarted.build_scheduler()
    restarted.plan_start()
    resumed = restarted._sched.get_job("follow-up:ae") if restarted._sched else None
    assert resumed is not None and resumed.trigger.run_date == london(2026, 5, 14, 9, 45)

    # At 09:45 the file has landed: the follow-up ingests it, evaluates, and the window closes.
    clock.now = london(2026, 5, 14, 9, 45)
    new_file(publisher)
    job.func(*job.args)
    assert sched.get_job("follow-up:ae") is None
    last = runs(engine, "poll:ae")[-1]
    assert (last.outcome, last.counts["trigger"], last.counts["ingested"]) == (
        "ok",
        "follow-up",
        1,
    )
    # Each poll that stored something was followed by an evaluation of the rules.
    evaluations = runs(engine, "evaluate")
    assert [(r.outcome, r.counts["trigger"]) for r in evaluations] == [
        ("ok", "calendar"),
        ("ok", "follow-up"),
    ]
    assert evaluations[-1].counts["findings"] > 0
    st = state(engine, "ae")
    assert (st.follow_up_at, st.follow_up_until) == (None, None)


@pytest.fixture
def offline_config(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(
        '[paths]\nvar = "var"\n[http]\nretries = 0\n'
        '[sources.ae]\nindex_url = "http://127.0.0.1:9/statistics/"\n'
        "schedule = { day = '2nd thu', hour = 9, minute = 30 }\n"
    )
    return p


@pytest.fixture
def running(engine: Engine, offline_config: Path) -> Iterator[tuple[Service, list[int]]]:
    """A Service running in a thread (no signal handlers), stopped at the end."""
    ctx = Context(config.load(offline_config), engine)
    service = Service(ctx, web=False)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    try:
        yield service, codes
    finally:
        service.request_stop()
        thread.join(30)
        assert not thread.is_alive()


def test_an_unreachable_publisher_fails_the_poll_in_one_line_and_the_service_keeps_running(
    engine: Engine, running: tuple[Service, list[int]], caplog: pytest.LogCaptureFixture
) -> None:
    service, codes = running
    with caplog.at_level(logging.INFO, logger="monitor"):
        # Never polled: the runner catches up on the missed scheduled poll at once.
        wait_until(lambda: runs(engine, "poll:ae"), 30, "the poll")
        wait_until(lambda: runs(engine, "poll:ae")[0].outcome != "running", 30, "its outcome")
        wait_until(lambda: "ae: the poll failed; trying again" in caplog.text, 10, "the retry line")
        wait_until(lambda: runs(engine, "late-check"), 10, "the late check")
        wait_until(lambda: heartbeat(engine), 10, "the heartbeat")
    [run] = runs(engine, "poll:ae")
    assert run.outcome == "failed" and "cannot connect" in (run.error or "")
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [w for w in warnings if "ae" in w and "late" not in w] == [
        f"poll ae failed: {run.error} (will retry on the next poll)"
    ]
    st = state(engine, "ae")
    assert st.follow_up_at is not None and st.consecutive_failures == 1
    # Never published, so not late: its failing polls are what the page and operators see.
    assert st.late_since is None and st.failing_since is not None
    assert not codes  # still running


@pytest.fixture
def slow_smtp() -> Iterator[SmtpServer]:
    """A mail server that holds its reply to the first message until the test releases it."""
    server = SmtpServer(Sink(hold_at=1))
    try:
        yield server
    finally:
        server.stop()


def test_a_stop_request_lets_the_running_job_finish_then_exits_0(
    engine: Engine, offline_config: Path, slow_smtp: SmtpServer
) -> None:
    offline_config.write_text(
        offline_config.read_text()
        + f'[mail]\ntransport = "smtp"\nsmtp_port = {slow_smtp.port}\n'
        + 'operators = ["ops@example.nhs.uk"]\n'
    )
    ctx = Context(config.load(offline_config), engine)
    # An email waits in the outbox: the operators' one about a source failing twice.
    with session_scope(engine, write=True) as s:
        s.add(SourceState(source="ae", failing_since=utcnow(), consecutive_failures=2))
    assert queue_incidents(engine, ctx.settings, now=utcnow())
    service = Service(ctx, web=False)
    codes: list[int] = []
    thread = threading.Thread(target=lambda: codes.append(service.run()), daemon=True)
    thread.start()
    slow_smtp.sink.wait_for(lambda got: len(got) == 1, 30)  # the send job is mid-message
    service.request_stop()
    thread.join(0.5)
    assert thread.is_alive(), "stopped without waiting for the running job"
    slow_smtp.sink.release.set()
    thread.join(30)
    assert codes == [0]
    [send] = runs(engine, "send")
    assert (send.outcome, send.counts["sent"]) == ("ok", 1)


def test_sigterm_ends_a_real_monitor_run_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MONITOR_TICK_SECONDS": "0.5"}
    cmd = [sys.executable, "-m", "monitor.cli", "--config", str(cfg), "run", "--no-web"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'var' / 'monitor.db'}")
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait by reading its log
            if "Ctrl-C to stop" in line:
                break
        wait_until(lambda: len(runs(engine, "tick")) >= 2, 30, "two ticks")
        proc.send_signal(signal.SIGTERM)
        # A repeat at once (as `timeout` sends to the process and then its group) changes nothing.
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    # Both may be pending before the handler runs, and Python takes SIGINT first.
    assert err.count(": finishing the current step, then stopping") == 1
    assert "monitor stopped" in err and "Traceback" not in err
    with session_scope(engine) as s:
        assert not s.exec(select(JobRun).where(JobRun.outcome == "running")).all()
    engine.dispose()


def test_the_status_page_is_served_in_the_same_process_and_stops_with_it(
    engine: Engine, offline_config: Path
) -> None:
    offline_config.write_text(offline_config.read_text() + "[web]\nport = 0\n")
    ctx = Context(config.load(offline_config), engine)
    service = Service(ctx, web=True)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: service.page is not None, 30, "the status page")
        assert service.page is not None
        url = service.page.url
        assert requests.get(url + "healthz", timeout=10).text == "ok\n"
        ready = requests.get(url + "readyz", timeout=10).json()
        assert ready["database"] == "ok"
    finally:
        service.request_stop()
        thread.join(30)
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "healthz", timeout=5)


def test_a_status_page_that_cannot_start_is_logged_and_the_runner_carries_on(
    engine: Engine, offline_config: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        offline_config.write_text(offline_config.read_text() + f"[web]\nport = {port}\n")
        with caplog.at_level(logging.INFO, logger="monitor"):
            assert start_status_page(Context(config.load(offline_config), engine)) is None
    [line] = [r.getMessage() for r in caplog.records if r.name == "monitor.service.status_page"]
    assert line.startswith(f"the status page could not start on 127.0.0.1:{port}: ")


def test_the_tick_slots_are_numbered_alike_in_every_process() -> None:
    from monitor.service.schedule import TICK_EPOCH, tick_slot

    assert tick_slot(TICK_EPOCH + timedelta(seconds=10), 2) == 5
    assert tick_slot(TICK_EPOCH + timedelta(seconds=11.9), 2) == 5
    assert tick_slot(datetime(2026, 1, 1, 0, 0, 9, 900000, tzinfo=UTC), 2) == 4


def test_a_new_leader_closes_the_runs_a_dead_process_on_this_host_left_running(
    engine: Engine, offline_config: Path
) -> None:
    from monitor.service import runstate

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_pid = int(dead.stdout)
    ctx = Context(config.load(offline_config), engine)
    with session_scope(engine, write=True) as s:
        s.add(JobRun(job="poll:ae", host=socket.gethostname(), pid=dead_pid))
        s.add(JobRun(job="poll:ae", host="another-host", pid=dead_pid))
        s.add(JobRun(job="send", host=socket.gethostname(), pid=os.getpid()))
    assert runstate.announce_leader(ctx, "pid 1 on here") == 1
    assert [(r.host, r.outcome) for r in runs(engine, "poll:ae")] == [
        (socket.gethostname(), "failed"),
        ("another-host", "running"),
    ]
    assert runs(engine, "send")[0].outcome == "running"
    with session_scope(engine) as s:
        meta = s.get(Meta, "scheduler_leader")
        assert meta is not None and meta.value.startswith("pid 1 on here since ")


def test_the_service_compiles_email_templates_as_it_starts_and_names_a_broken_one(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The first alert after a publication does not wait for its templates to compile, and an
    operator learns of a template that cannot compile when the service starts, not when an
    alert is waiting."""
    mine = tmp_path / "mine" / "emails"
    mine.mkdir(parents=True)
    (mine / "alert_fired.txt.j2").write_text("{{ alert.org }\n")  # a brace missing
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nvar = "var"\ntemplates_override = "{tmp_path / "mine"}"\n')
    with caplog.at_level(logging.ERROR, logger="monitor.service.runner"):
        Service(Context(config.load(cfg), engine), web=False)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, errors
    assert errors[0].startswith("email template alert_fired.txt.j2, line 1: unexpected '}'")

    caplog.clear()
    cfg.write_text('[paths]\nvar = "var"\n')
    with caplog.at_level(logging.ERROR, logger="monitor.service.runner"):
        Service(Context(config.load(cfg), engine), web=False)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
