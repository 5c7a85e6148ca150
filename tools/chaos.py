"""The chaos suite (`make chaos`): kill -9 at random moments, servers that fail, sessions dropped.

Each step runs the real `monitor` command in a child process against a database prepared for
it, kills it with SIGKILL at a random moment, runs the same command again to completion (what an
operator or the runner would do), and compares the database and what reached the SMTP server
with a clean run of the same step:

- ``lost``: figures, alerts or emails the clean run has and the trial has not;
- ``duplicated``: emails received more than once (at most one per killed sender is expected:
  the message in flight when it died), or rows held twice;
- ``wrong``: figures or alerts whose values differ from the clean run (or that it never made);
- ``extra_emails``: emails the clean run did not send (more than a duplicate of one it did);
- ``double_run``: scheduled slots run by two processes (runners with sessions dropped).

Steps: poll (a publisher on 127.0.0.1 serving the saved A&E pages and real files), ingest,
evaluate, send and digest, on SQLite and (given ``--postgres``) PostgreSQL; then faults without
kills: an SMTP server down for a simulated 30 minutes and back; a publisher answering 5xx,
timing out, sending HTML instead of CSV, or a truncated file (the database must be left as it
was, and the next good poll must match the clean run); two runners on PostgreSQL whose leader's
session is dropped again and again; the API under a long schemathesis run.

Writes the table to bench/chaos.json and prints it; exits 1 when anything was lost, wrong or
run twice, or a killed sender's email arrived more than twice.

    python -m tools.chaos [--trials 100] [--postgres URL] [--steps poll,ingest,...]
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import random
import re
import secrets
import shutil
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from tools.forkrun import Child, Launcher

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "real"
PAGES = ROOT / "tests" / "data" / "pages"
REAL_HOST = "https://www.england.nhs.uk"
INDEX = "/statistics/statistical-work-areas/ae-waiting-times-and-activity/"
YEAR = INDEX + "ae-attendances-and-emergency-admissions-2025-26/"
OUT = ROOT / "bench" / "chaos.json"
# Where the service's log of a failed trial is kept.
LOGS = ROOT / "var" / "chaos"
# How long a service has after a PostgreSQL restart to reach the clean run's state.
SETTLE = 120.0
STEPS = ("poll", "ingest", "evaluate", "send", "digest")
FAULTS = ("smtp-down", "publisher-5xx", "publisher-timeout", "publisher-html", "publisher-cut")
# Older files for `monitor ingest` (the poll step ingests the 2025-26 year's files).
INGEST_FILES = [
    "ae/Monthly-AE-August-2024.csv",
    "ae/Monthly-AE-September-2024.csv",
    "ae/Monthly-AE-October-2024-revised.csv",
    "ae/Monthly-AE-November-2024-revised.csv",
    "ae/Monthly-AE-December-2024.csv",
    "ae/Monthly-AE-January-2025.csv",
]
# Twelve addresses for each scope, so that a send has a few dozen emails to be killed in.
SUBSCRIBERS = [
    scope
    for scope in (("org", "RCX"), ("region", "Y61"), ("region", "Y56"), ("region", "Y59"))
    for _ in range(12)
]


@dataclass
class Row:
    """One line of the table."""

    step: str
    backend: str
    trials: int = 0
    killed: int = 0
    lost: int = 0
    duplicated: int = 0
    double_run: int = 0
    wrong: int = 0
    extra_emails: int = 0
    stalled: int = 0  # a service that died or ran no job after a fault
    seconds_per_trial: float = 0.0  # the step's time (its clean run included) per trial
    notes: list[str] = field(default_factory=list)

    def bad(self) -> bool:
        # A killed sender may send the one message in flight twice: duplicates up to the kills.
        allowed = self.killed if self.step in ("send", "digest", "smtp-down", "pg-restart") else 0
        return bool(
            self.lost
            or self.wrong
            or self.double_run
            or self.extra_emails
            or self.stalled
            or self.duplicated > allowed
        )


# Servers on 127.0.0.1 ------------------------------------------------------------------------


class Publisher:
    """The A&E pages and files over HTTP; ``fault`` makes file requests fail one way."""

    def __init__(self) -> None:
        self.fault: str | None = None
        self.hidden: str | None = None  # links whose address holds this are left off the pages
        self.files = {f.name: f.read_bytes() for f in (REAL / "ae").glob("*.csv")}
        handler = self._handler()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.pages = {
            INDEX: self._page("ae-waiting-times-and-activity.html"),
            YEAR: self._page("ae-attendances-and-emergency-admissions-2025-26.html"),
        }
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _page(self, name: str) -> bytes:
        return (PAGES / name).read_text().replace(REAL_HOST, self.base).encode()

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        pub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                body = pub.pages.get(path)
                kind = "text/html"
                if body is not None and pub.hidden:
                    link = rf'<a href="[^"]*{re.escape(pub.hidden)}[^"]*">.*?</a>'
                    body = re.sub(link.encode(), b"", body)
                if body is None:
                    body = pub.files.get(Path(path).name)
                    kind = "text/csv"
                    if body is not None and pub.fault:
                        if pub.fault == "publisher-5xx":
                            self.send_error(503, "Service Unavailable")
                            return
                        if pub.fault == "publisher-timeout":
                            time.sleep(4)
                            return
                        if pub.fault == "publisher-html":
                            body, kind = b"<html><body><h1>Sign in</h1></body></html>", "text/html"
                        if pub.fault == "publisher-cut":
                            body = body[: len(body) * 3 // 5]
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Smtp:
    """A real SMTP server (tests/smtp_sink.py) that can be stopped and started on one port."""

    def __init__(self) -> None:
        from tests.smtp_sink import Sink, free_port

        self.sink = Sink()
        self.port = free_port()
        self.server: Any = None
        self.start()

    def start(self) -> None:
        from tests.smtp_sink import SmtpServer

        self.server = SmtpServer(self.sink, port=self.port)

    def down(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def message_ids(self) -> list[str]:
        return [r.message_id for r in self.sink.received]

    def mails(self) -> Counter[tuple[str, str]]:
        """What arrived, by recipients and subject (digest Message-IDs differ from run to run)."""
        return Counter(
            (",".join(sorted(r.rcpt_tos)), str(r.message["Subject"])) for r in self.sink.received
        )

    def clear(self) -> None:
        with self.sink.changed:
            self.sink.received.clear()


# Databases -------------------------------------------------------------------------------------


class Backend:
    """Fresh databases copied from named templates: files on SQLite, TEMPLATE on PostgreSQL."""

    def __init__(self, name: str, work: Path, admin_url: str | None = None) -> None:
        self.name = name
        self.work = work
        self.admin_url = admin_url
        self.prefix = f"chaos_{os.getpid()}_{secrets.token_hex(3)}"
        self._made: list[str] = []

    def _admin(self) -> Engine:
        assert self.admin_url
        return create_engine(self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def url(self, db: str) -> str:
        if self.name == "sqlite":
            return f"sqlite:///{self.work / (db + '.db')}"
        assert self.admin_url
        return make_url(self.admin_url).set(database=db).render_as_string(hide_password=False)

    def fresh(self, name: str, template: str | None = None) -> str:
        """A new database ``name`` (a copy of ``template`` when given); returns its URL."""
        if self.name == "sqlite":
            path = self.work / f"{name}.db"
            for suffix in ("", "-wal", "-shm", "-run.lock"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            if template:
                shutil.copyfile(self.work / f"{template}.db", path)
            return self.url(name)
        db = f"{self.prefix}_{name}"
        eng = self._admin()
        with eng.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            if template:
                c.exec_driver_sql(f'CREATE DATABASE "{db}" TEMPLATE "{self.prefix}_{template}"')
            else:
                c.exec_driver_sql(f'CREATE DATABASE "{db}"')
        eng.dispose()
        self._made.append(db)
        return self.url(db)

    def drop_all(self) -> None:
        if self.name == "sqlite" or not self._made:
            return
        eng = self._admin()
        with eng.connect() as c:
            for db in dict.fromkeys(self._made):
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        eng.dispose()


def engine_for(url: str) -> Engine:
    from monitor.db import make_engine

    return make_engine(url, poolclass=NullPool)


def query(url: str, sql: str, *, commit: bool = False) -> list[tuple[Any, ...]]:
    eng = engine_for(url)
    try:
        with eng.connect() as c:
            result = c.execute(text(sql))
            rows = [tuple(r) for r in result] if result.returns_rows else []
            if commit:
                c.commit()
            return rows
    finally:
        eng.dispose()


# What a step leaves behind, to compare with the clean run. -----------------------------------

FIGURES = (
    "SELECT org, metric, period_start, round(CAST(value AS NUMERIC), 6) "
    "FROM observation WHERE superseded_by IS NULL"
)
ALERTS = "SELECT rule, org, state, period_start, value FROM alert"
OUTBOX = "SELECT key, status FROM outbox"
# Outbox rows by what they are and whom they are for: a key may hold a publication's id, which
# a transaction cut short by a PostgreSQL restart consumes (sequences do not roll back).
OUTBOX_BY_RECIPIENT = "SELECT kind, recipient, subject, status FROM outbox"
PUBLICATIONS = "SELECT sha256 FROM publication WHERE status = 'ingested'"


def compare(clean: list[tuple[Any, ...]], trial: list[tuple[Any, ...]]) -> tuple[int, int, int]:
    """(lost, duplicated, wrong) between two lists of rows whose first columns are keys and
    whose last column is the value."""
    c_keys = Counter(r[:-1] for r in clean)
    t_keys = Counter(r[:-1] for r in trial)
    c_vals = {r[:-1]: r[-1] for r in clean}
    t_vals = {r[:-1]: r[-1] for r in trial}
    lost = sum((c_keys - t_keys).values())
    duplicated = sum(n - 1 for n in t_keys.values() if n > 1)
    wrong = sum(1 for k, v in t_vals.items() if k in c_vals and c_vals[k] != v)
    wrong += sum(1 for k in t_vals if k not in c_vals)  # rows the clean run never made
    return lost, duplicated, wrong


# The chaos run ---------------------------------------------------------------------------------


class Chaos:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args = args
        self.work = work
        self.rng = random.Random(args.seed)
        self.publisher = Publisher()
        self.smtp = Smtp()
        self.rows: list[Row] = []
        self.launcher = Launcher()
        self.startup = self.startup_seconds()

    def startup_seconds(self) -> float:
        """How long a `monitor` command takes to start: the fastest of three `--help`."""
        times = []
        for _ in range(3):
            start = time.monotonic()
            if self.launcher.start(["--help"], ROOT, dict(os.environ)).wait(120) != 0:
                raise RuntimeError("`monitor --help` failed")
            times.append(time.monotonic() - start)
        return min(times)

    def config(self, url: str, name: str, *, every_minutes: int | None = None) -> Path:
        folder = self.work / name
        folder.mkdir(parents=True, exist_ok=True)
        subs = "".join(
            f'[[subscribers]]\nemail = "chaos{i}@example.nhs.uk"\n{scope} = "{code}"\n'
            f'min_severity = "info"\n\n'
            for i, (scope, code) in enumerate(SUBSCRIBERS)
        )
        path = folder / "config.toml"
        path.write_text(
            f'[database]\nurl = "{url}"\n\n[paths]\nvar = "var"\n\n'
            f"[http]\nretries = 0\ntimeout_seconds = 2\n\n"
            f'[sources.ae]\nindex_url = "{self.publisher.base}{INDEX}"\n'
            + (f"every_minutes = {every_minutes}\n" if every_minutes else "")
            + "\n"
            + f'[mail]\ntransport = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {self.smtp.port}\n'
            f'from = "Chaos <chaos@example.nhs.uk>"\nbatch_size = 5\n\n'
            f'[web]\nbase_url = "http://127.0.0.1:8000"\n\n{subs}'
        )
        return path

    def monitor(self, cfg: Path, *args: str) -> Child:
        """`monitor --config cfg args...` in a child process (tools/forkrun.py)."""
        return self.launcher.start(
            ["--config", str(cfg), *args],
            cfg.parent,
            {**os.environ, "MONITOR_SECRET": "chaos-" + "x" * 40},
        )

    def run(self, cfg: Path, *args: str, ok: tuple[int, ...] = (0, 1)) -> float:
        start = time.monotonic()
        proc = self.monitor(cfg, *args)
        _, err = proc.communicate(timeout=600)
        if proc.returncode not in ok:
            raise RuntimeError(f"monitor {' '.join(args)} exited {proc.returncode}: {err[-800:]!r}")
        return time.monotonic() - start

    # Templates: each step starts from the state the previous step leaves.

    def prepare(self, be: Backend) -> dict[str, str]:
        """The databases the steps start from, each made by the real commands."""
        urls = {"base": be.fresh("base")}
        self.run(self.config(urls["base"], f"{be.name}-base"), "init", ok=(0,))
        urls["ingested"] = be.fresh("ingested", "base")
        ingest = [str(REAL / f) for f in INGEST_FILES]
        self.run(self.config(urls["ingested"], f"{be.name}-ingested"), "ingest", "ae", *ingest)
        # A poll of the year without its latest month (a quiet first poll), then with it: its
        # alerts are emailed. The SMTP server is down meanwhile, so the emails wait in the
        # outbox; they are made due now, for the send step.
        urls["queued"] = be.fresh("queued", "base")
        cfg = self.config(urls["queued"], f"{be.name}-queued")
        self.publisher.hidden = "August-2025-CSV"
        try:
            self.run(cfg, "poll", "ae")
        finally:
            self.publisher.hidden = None
        self.smtp.down()
        try:
            self.run(cfg, "poll", "ae")
        finally:
            self.smtp.start()
        query(
            urls["queued"],
            "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = "
            "CURRENT_TIMESTAMP, error = NULL WHERE status <> 'sent'",
            commit=True,
        )
        urls["sent"] = be.fresh("sent", "queued")
        self.smtp.clear()
        self.run(self.config(urls["sent"], f"{be.name}-sent"), "send")
        self.smtp.clear()
        return urls

    def step_spec(self, step: str) -> tuple[str, list[str], Callable[[str], list[tuple[Any, ...]]]]:
        """(template, command, what to compare) for a step."""
        ingest = ["ingest", "ae", *[str(REAL / f) for f in INGEST_FILES]]
        # This week's digest: the alerts the queued poll fired are in it.
        year, week, _ = datetime.now(UTC).isocalendar()
        return {
            "poll": ("base", ["poll", "ae"], lambda u: query(u, FIGURES)),
            "ingest": ("base", ingest, lambda u: query(u, FIGURES)),
            "evaluate": ("ingested", ["evaluate"], lambda u: query(u, ALERTS)),
            "send": ("queued", ["send"], lambda u: query(u, OUTBOX)),
            "digest": (
                "sent",
                ["digest", "--week", f"{year}-W{week:02d}"],
                lambda u: query(u, OUTBOX),
            ),
        }[step]

    def kill_trials(self, be: Backend, urls: dict[str, str], step: str) -> Row:
        row = Row(step, be.name)
        began = time.monotonic()
        template, cmd, state = self.step_spec(step)
        # The clean run.
        url = be.fresh("clean", template)
        cfg = self.config(url, f"{be.name}-clean")
        self.smtp.clear()
        took = self.run(cfg, *cmd)
        if step in ("send", "digest"):
            self.run(cfg, "send")
        clean_state = state(url)
        clean_mail = self.smtp.mails()
        row.notes.append(f"clean run: {len(clean_state)} rows, {sum(clean_mail.values())} emails")
        for _ in range(self.args.trials):
            url = be.fresh("trial", template)
            cfg = self.config(url, f"{be.name}-trial")
            self.smtp.clear()
            started = time.monotonic()
            proc = self.monitor(cfg, *cmd)
            # Killed once the command has started working, not while Python imports it.
            at = self.rng.uniform(min(self.startup, took / 2), took)
            try:
                proc.wait(timeout=at)
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                row.killed += 1
            else:
                proc.communicate()
                # It finished before the kill: later moments fall within a run this fast.
                took = max(min(took, time.monotonic() - started), self.startup + 0.05)
            # Recovery: the same command again, as the runner's next slot would.
            self.run(cfg, *cmd)
            if step in ("send", "digest"):
                self.run(cfg, "send")
            lost, dup, wrong = compare(clean_state, state(url))
            mail = self.smtp.mails()
            lost += sum((clean_mail - mail).values())
            dup += sum(n - 1 for n in Counter(self.smtp.message_ids()).values() if n > 1)
            extra = [k for k in mail if k not in clean_mail]
            row.extra_emails += sum(mail[k] for k in extra)
            if extra and len(row.notes) < 4:
                row.notes.append(f"killed at {at:.1f} s of {took:.1f} s; extra: {extra[0][1]!r}")
            row.trials += 1
            row.lost += lost
            row.duplicated += dup
            row.wrong += wrong
        row.seconds_per_trial = round((time.monotonic() - began) / max(1, row.trials), 1)
        return row

    def smtp_down(self, be: Backend, urls: dict[str, str]) -> Row:
        """The SMTP server is down for a send and for a simulated 30 minutes; then back."""
        from monitor import config
        from monitor.models import utcnow
        from monitor.notify.outbox import deliver

        row = Row("smtp-down", be.name)
        url = be.fresh("clean", "queued")
        cfg = self.config(url, f"{be.name}-clean")
        self.smtp.clear()
        self.run(cfg, "send")
        clean_state = query(url, OUTBOX)
        clean_mail = self.smtp.mails()
        row.notes.append(f"clean run: {sum(clean_mail.values())} emails")
        for _ in range(max(1, self.args.trials // 10)):
            url = be.fresh("trial", "queued")
            cfg = self.config(url, f"{be.name}-trial")
            self.smtp.clear()
            self.smtp.down()
            try:
                self.run(cfg, "send")  # every row waits to be retried
                settings = config.load(cfg)
                eng = engine_for(url)
                start = utcnow()
                for minutes in (5, 10, 20, 30):  # still down through a simulated 30 minutes
                    at = start + timedelta(minutes=minutes)
                    deliver(eng, settings, clock=lambda at=at: at)
            finally:
                self.smtp.start()
            later = start + timedelta(hours=2)
            for hours in (2, 4, 8):
                later = start + timedelta(hours=hours)
                deliver(eng, settings, clock=lambda t=later: t)
            eng.dispose()
            lost, dup, wrong = compare(clean_state, query(url, OUTBOX))
            mail = self.smtp.mails()
            lost += sum((clean_mail - mail).values())
            dup += sum(n - 1 for n in Counter(self.smtp.message_ids()).values() if n > 1)
            row.trials += 1
            row.lost, row.duplicated, row.wrong = row.lost + lost, row.duplicated + dup, wrong
        return row

    def publisher_fault(self, be: Backend, fault: str) -> Row:
        """A poll meets ``fault``: nothing of the bad answer is stored; the next good poll
        matches the clean run."""
        row = Row(fault, be.name)
        url = be.fresh("clean", "base")
        self.publisher.fault = None
        self.run(self.config(url, f"{be.name}-clean"), "poll", "ae")
        clean = query(url, FIGURES)
        for _ in range(max(1, self.args.trials // 10)):
            url = be.fresh("trial", "base")
            cfg = self.config(url, f"{be.name}-trial")
            self.publisher.fault = fault
            try:
                self.run(cfg, "poll", "ae")
            finally:
                self.publisher.fault = None
            during = query(url, FIGURES)
            stored = query(url, PUBLICATIONS)
            if fault == "publisher-cut" and during:
                row.notes.append("a truncated file was stored as complete")
                row.wrong += 1
            elif fault != "publisher-cut" and (during or stored):
                row.wrong += len(during)
            self.run(cfg, "poll", "ae")
            lost, dup, wrong = compare(clean, query(url, FIGURES))
            row.trials += 1
            row.lost, row.duplicated, row.wrong = (
                row.lost + lost,
                row.duplicated + dup,
                row.wrong + wrong,
            )
        return row

    def runners(self, be: Backend, urls: dict[str, str]) -> Row:
        """Two `monitor run` on PostgreSQL; the leader's session dropped again and again."""
        row = Row("runner-session-drop", be.name)
        url = be.fresh("runners", "sent")
        cfg = self.config(url, f"{be.name}-runners")
        env = {**os.environ, "MONITOR_TICK_SECONDS": "1", "MONITOR_SECRET": "chaos-" + "x" * 40}
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "monitor.cli", "--config", str(cfg), "run", "--no-web"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=cfg.parent,
                env=env,
            )
            for _ in range(2)
        ]
        lock = (
            "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        ticks = "SELECT count(*) FROM jobrun WHERE job = 'tick'"
        try:
            drops = max(2, self.args.trials // 10)
            deadline = time.monotonic() + 120 + drops * 60
            while row.trials < drops and time.monotonic() < deadline:
                held = query(url, lock)
                before = query(url, ticks)[0][0]
                if not (held and before):
                    time.sleep(0.5)
                    continue
                query(url, f"SELECT pg_terminate_backend({held[0][0]})")
                row.trials += 1
                # A leader again (the standby, or the same process) and ticking: then the next.
                while time.monotonic() < deadline and query(url, ticks)[0][0] < before + 3:
                    time.sleep(0.5)
                time.sleep(self.rng.uniform(0, 3))
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        slots = query(url, "SELECT counts FROM jobrun WHERE job = 'tick'")
        pids = query(url, "SELECT count(DISTINCT pid) FROM jobrun WHERE job = 'tick'")[0][0]
        seen = Counter((json.loads(c) if isinstance(c, str) else c).get("slot") for (c,) in slots)
        row.double_run = sum(n - 1 for n in seen.values() if n > 1)
        row.notes.append(f"{row.trials} sessions dropped; {len(slots)} ticks run by {pids} runners")
        return row

    def service(self, cfg: Path) -> subprocess.Popen[bytes]:
        """`monitor run --no-web` (the long-running service), ticking every second."""
        env = {**os.environ, "MONITOR_TICK_SECONDS": "1", "MONITOR_SECRET": "chaos-" + "x" * 40}
        log = (cfg.parent / "service.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "monitor.cli", "--config", str(cfg), "run", "--no-web"],
            stdout=log,
            stderr=log,
            cwd=cfg.parent,
            env=env,
        )

    @staticmethod
    def stop_service(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def pg_restart(self) -> Row:
        """`monitor run` on a private PostgreSQL server that is restarted (``pg_ctl restart``,
        fast and immediate in turn) at a random moment of its poll, evaluation and sending.

        The service must survive, run jobs again after the restart, and reach the clean run's
        figures, alerts, outbox and emails (within ``SETTLE`` seconds of the restart)."""
        from tests.private_postgres import PrivatePostgres

        row = Row("pg-restart", "postgres")
        began = time.monotonic()
        why = PrivatePostgres.available()
        if why:
            # NOT RUN fails the run where PostgreSQL is part of it (--postgres).
            row.notes.append(f"NOT RUN: {why}")
            row.stalled = 1 if self.args.postgres else 0
            return row
        pg = PrivatePostgres()
        be = Backend("postgres", self.work, pg.url)
        try:
            # Where the service starts: the year polled without its latest month (quiet).
            quiet = be.fresh("quiet")
            cfg = self.config(quiet, "pgr-quiet")
            self.run(cfg, "init", ok=(0,))
            self.publisher.hidden = "August-2025-CSV"
            try:
                self.run(cfg, "poll", "ae")
            finally:
                self.publisher.hidden = None

            def state(u: str) -> tuple[list[tuple[Any, ...]], ...]:
                return tuple(
                    sorted(query(u, q), key=repr) for q in (FIGURES, ALERTS, OUTBOX_BY_RECIPIENT)
                )

            # Jobs the service runs have ids above the template's.
            base = query(quiet, "SELECT coalesce(max(id), 0) FROM jobrun")[0][0]

            def settled(u: str) -> bool:
                """The service polled, then sent, and nothing waits in the outbox."""
                polled = query(
                    u,
                    f"SELECT min(id) FROM jobrun WHERE id > {base} AND job = 'poll:ae' "
                    "AND outcome = 'ok'",
                )[0][0]
                if polled is None:
                    return False
                evaluated = query(
                    u,
                    f"SELECT min(id) FROM jobrun WHERE id > {polled} AND job = 'evaluate' "
                    "AND outcome = 'ok'",
                )[0][0]
                if evaluated is None:
                    return False
                sent = f"SELECT count(*) FROM jobrun WHERE id > {evaluated} AND job = 'send' "
                waiting = "SELECT count(*) FROM outbox WHERE status <> 'sent'"
                return (
                    bool(query(u, sent + "AND outcome = 'ok'")[0][0])
                    and not query(u, waiting)[0][0]
                )

            # The clean run: the service polls the latest month, evaluates and sends.
            url = be.fresh("clean", "quiet")
            cfg = self.config(url, "pgr-clean", every_minutes=1)
            self.smtp.clear()
            start = time.monotonic()
            proc = self.service(cfg)
            try:
                working = None  # when the service's first job began (after its start-up)
                ran = f"SELECT count(*) FROM jobrun WHERE id > {base}"
                while not settled(url) and time.monotonic() - start < SETTLE:
                    if working is None and query(url, ran)[0][0]:
                        working = time.monotonic() - start
                    time.sleep(0.2)
                took = time.monotonic() - start
                working = min(working if working is not None else 0.5, took / 2)
            finally:
                self.stop_service(proc)
            clean = state(url)
            clean_mail = self.smtp.mails()
            row.notes.append(
                f"clean run: {len(clean[0])} figures, {len(clean[1])} alerts, "
                f"{sum(clean_mail.values())} emails in {took:.1f} s (working from {working:.1f} s)"
            )
            if not clean_mail:
                row.notes.append("the clean run sent no email: nothing to compare")
                row.lost += 1
            for i in range(max(2, self.args.trials // 10)):
                mode = ("fast", "immediate")[i % 2]
                url = be.fresh(f"trial{i + 1}", "quiet")
                cfg = self.config(url, f"pgr-trial{i + 1}", every_minutes=1)
                self.smtp.clear()
                proc = self.service(cfg)
                try:
                    at = self.rng.uniform(working, took)  # while it works, not imports
                    time.sleep(at)
                    pg.restart(mode)
                    restarted = time.monotonic()
                    after = query(url, "SELECT coalesce(max(id), 0) FROM jobrun")[0][0]
                    jobs_after = (
                        f"SELECT count(*) FROM jobrun WHERE id > {after} AND outcome = 'ok'"
                    )
                    # Recovered: jobs run again, and the state reaches the clean run's.
                    while time.monotonic() - restarted < SETTLE and proc.poll() is None:
                        mail = self.smtp.mails()  # the one in flight may arrive twice
                        if (
                            query(url, jobs_after)[0][0]
                            and state(url) == clean
                            and set(mail) == set(clean_mail)
                            and not clean_mail - mail
                        ):
                            break
                        time.sleep(0.5)
                    recovered = time.monotonic() - restarted
                    alive = proc.poll() is None
                    ran_after = query(url, jobs_after)[0][0]
                finally:
                    self.stop_service(proc)
                row.trials += 1
                row.killed += 1  # one restart per trial: an email in flight may arrive twice
                if not alive or not ran_after:
                    row.stalled += 1
                    row.notes.append(
                        f"trial {i + 1} ({mode} at {at:.1f} s): "
                        + ("the service died" if not alive else "no job ran after the restart")
                    )
                trial = state(url)
                lost = wrong = dup = 0
                for c_rows, t_rows in zip(clean, trial, strict=True):
                    lo, du, wr = compare(c_rows, t_rows)
                    lost, dup, wrong = lost + lo, dup + du, wrong + wr
                mail = self.smtp.mails()
                lost += sum((clean_mail - mail).values())
                dup += sum(n - 1 for n in Counter(self.smtp.message_ids()).values() if n > 1)
                extra = [k for k in mail if k not in clean_mail]
                row.extra_emails += sum(mail[k] for k in extra)
                row.lost, row.duplicated, row.wrong = (
                    row.lost + lost,
                    row.duplicated + dup,
                    row.wrong + wrong,
                )
                if (lost or wrong or extra) and len(row.notes) < 6:
                    log = (cfg.parent / "service.log").read_text(errors="replace").splitlines()
                    errors = [ln for ln in log if "ERROR" in ln or "WARNING" in ln][-4:]
                    LOGS.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(cfg.parent / "service.log", LOGS / f"pg-restart-{i + 1}.log")
                    row.notes.append(
                        f"trial {i + 1} ({mode} at {at:.1f} s): lost {lost}, wrong {wrong}, "
                        f"extra emails {len(extra)}; the service said: {' | '.join(errors)}"
                    )
                elif len(row.notes) < 6:
                    row.notes.append(f"{mode} at {at:.1f} s: recovered in {recovered:.1f} s")
        finally:
            be.drop_all()
            pg.stop()
        row.seconds_per_trial = round((time.monotonic() - began) / max(1, row.trials), 1)
        return row

    def api_long_run(self) -> Row:
        row = Row("api-schemathesis", "sqlite")
        env = {**os.environ, "MONITOR_SCHEMATHESIS_EXAMPLES": str(max(50, self.args.trials * 10))}
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_api_contract.py",
                "-k",
                "schemathesis and sqlite",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        row.trials = 1
        if r.returncode != 0:
            row.wrong = 1
            row.notes.append(r.stdout[-400:])
        return row

    def main(self) -> list[Row]:
        backends = [Backend("sqlite", self.work)]
        if self.args.postgres:
            backends.append(Backend("postgres", self.work, self.args.postgres))
        steps = self.args.steps
        try:
            for be in backends:
                urls = self.prepare(be)
                for step in steps:
                    if step in STEPS:
                        self.report(self.kill_trials(be, urls, step))
                    elif step == "smtp-down":
                        self.report(self.smtp_down(be, urls))
                    elif step.startswith("publisher-"):
                        self.report(self.publisher_fault(be, step))
                    elif step == "runners" and be.name == "postgres":
                        self.report(self.runners(be, urls))
                be.drop_all()
            if "pg-restart" in steps:
                self.report(self.pg_restart())
            if "api" in steps:
                self.report(self.api_long_run())
        finally:
            self.publisher.stop()
            self.smtp.down()
        return self.rows

    def report(self, row: Row) -> None:
        self.rows.append(row)
        print(
            f"{row.step:<20} {row.backend:<9} trials {row.trials:>4}  killed {row.killed:>4}  "
            f"lost {row.lost}  duplicated {row.duplicated}  double-run {row.double_run}  "
            f"wrong {row.wrong}  extra emails {row.extra_emails}  "
            + (f"stalled {row.stalled}  " if row.stalled else "")
            + (f"{row.seconds_per_trial} s/trial  " if row.seconds_per_trial else "")
            + f"{'FAIL' if row.bad() else 'ok'}"
            + (f"  ({'; '.join(row.notes)})" if row.notes else ""),
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--trials", type=int, default=100, help="kill -9 trials per step")
    ap.add_argument(
        "--postgres",
        default=os.environ.get("MONITOR_TEST_POSTGRES_URL"),
        help="an admin URL of a PostgreSQL server (default $MONITOR_TEST_POSTGRES_URL)",
    )
    ap.add_argument("--steps", default=",".join([*STEPS, *FAULTS, "runners", "pg-restart", "api"]))
    ap.add_argument("--seed", type=int, default=20261207)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    args.steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="monitor-chaos-") as tmp:
        rows = Chaos(args, Path(tmp)).main()
    result = {
        "trials_per_step": args.trials,
        "seconds": round(time.monotonic() - started, 1),
        "rows": [asdict(r) for r in rows],
        "ok": not any(r.bad() for r in rows),
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}: {'ok' if result['ok'] else 'FAILURES'}")
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
