"""Delivering 10,000 queued emails against a bare smtplib loop sending the same messages.

An aiosmtpd server runs on 127.0.0.1 in its own process for the whole run. Each measured step
runs in its own process (bench/harness.py), its input prepared untimed:

- sender: ``monitor.notify.outbox.deliver`` on a copy of a SQLite database holding 10,000
  pending outbox rows (an A&E alert for each of 40 acute trusts, carrying The Queen
  Elizabeth Hospital's real July 2025 evidence, and 250 trust-board subscribers per trust):
  claiming, rendering from the evidence (three templates, CSS inlined, MIME built), sending
  over one connection per batch of ``[mail] batch_size`` (200), and recording each message
  as sent in its own transaction;
- baseline: the same 10,000 messages rendered beforehand (untimed), sent by a bare smtplib loop
  over one connection.

The two alternate, three times each, and the fastest of each counts.

Target: at least 0.8x the bare loop's messages per second.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from bench.harness import ROOT, Measured, Result, in_subprocess, work_dir

T = TypeVar("T")
N_TRUSTS = 40
PER_TRUST = 250  # 40 x 250 = 10,000 messages
RUNS = 3
PRELUDE = f"""
import os, shutil, sys
sys.path.insert(0, {str(ROOT)!r})
for suffix in ("-wal", "-shm"):  # a fresh copy per run: delivering empties the outbox
    if os.path.exists(RUN_DB + suffix):
        os.unlink(RUN_DB + suffix)
"""

SERVER = """
import sys
from aiosmtpd.controller import Controller

class Count:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        return "250 OK"

c = Controller(Count(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()  # until the bench closes our stdin
c.stop()
print(Count.n, flush=True)
"""

SENDER_SETUP = (
    PRELUDE
    + """
from monitor import config, db
from monitor.notify.outbox import deliver
shutil.copyfile(TEMPLATE, RUN_DB)
settings = config.load(CONFIG)
engine = db.make_engine(settings.database_url)
"""
)
SENDER = """
report = deliver(engine, settings)
OUTPUT = report.as_json()
"""

BARE_SETUP = (
    PRELUDE
    + """
import smtplib
from sqlmodel import select
from monitor import config, db
from monitor.models import Outbox
from monitor.notify import compose, mime
shutil.copyfile(TEMPLATE, RUN_DB)
settings = config.load(CONFIG)
engine = db.make_engine(settings.database_url)
composer = compose.Composer.for_settings(settings)
with db.session_scope(engine) as s:
    rows = list(s.exec(select(Outbox).order_by(Outbox.id)))
    batch = compose.load(s, rows)
messages = [(r.recipient, composer.message(r, batch)[0]) for r in rows]
sender = mime.sender_address(settings)
"""
)
BARE = """
smtp = smtplib.SMTP("127.0.0.1", PORT)
for recipient, data in messages:
    smtp.sendmail(sender, [recipient], data)
smtp.quit()
OUTPUT = {"sent": len(messages)}
"""


def _config(work: Path, port: int, db_path: Path) -> Path:
    path = work / "send.toml"
    path.write_text(
        f"[database]\nurl = 'sqlite:///{db_path}'\n"
        f"[paths]\nvar = '{work / 'send-var'}'\ntemplates = '{ROOT / 'templates'}'\n"
        f"[mail]\ntransport = 'smtp'\nsmtp_host = '127.0.0.1'\nsmtp_port = {port}\n"
        "from = 'NHS trust monitor <monitor@alerts.example.nhs.uk>'\n"
    )
    return path


def _template(work: Path) -> Path:
    """A database with 10,000 pending rows, routed as the lifecycle would (built once)."""
    path = work / f"send_{N_TRUSTS * PER_TRUST}.db"
    if path.exists():
        return path
    sys.path.insert(0, str(ROOT))
    from sqlmodel import col, select

    from monitor import config, db, orgs
    from monitor.models import AlertEvent, Organisation
    from monitor.notify import routing, subscriptions
    from tests import alert_fixtures as af

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    engine = db.make_engine(f"sqlite:///{tmp}")
    db.upgrade(engine)
    settings = config.load(_config(work, 25, tmp))
    with db.session_scope(engine, write=True) as s:
        orgs.load_reference(s)
        q = select(Organisation.code, Organisation.name).where(
            Organisation.kind == "trust",
            Organisation.trust_type == "acute",
            col(Organisation.closed).is_(None),
        )
        trusts = list(s.exec(q.order_by(col(Organisation.code))).all())[:N_TRUSTS]
        for code, _name in trusts:
            for i in range(PER_TRUST):
                req = subscriptions.Request(f"board{i:03d}@{code.lower()}.nhs.uk", "org", code)
                subscriptions.add(s, settings, req)
    pub = af.publication(engine)
    ids = []
    for code, name in trusts:
        ids.append(af.alert(engine, code, pub, figures_of="RCX", name=name)[1])
    with db.session_scope(engine, write=True) as s:
        rows = routing.route(s, [s.get_one(AlertEvent, i) for i in ids], settings=settings)
        assert len(rows) == N_TRUSTS * PER_TRUST, len(rows)
    with engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    tmp.rename(path)
    return path


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _measure(work: Path, port: int) -> dict[str, Measured]:
    template = _template(work)
    run_db = work / "send_run.db"
    config_path = _config(work, port, run_db)
    consts = f"TEMPLATE = {str(template)!r}\nRUN_DB = {str(run_db)!r}\nPORT = {port}\n"
    consts += f"CONFIG = {str(config_path)!r}\n"
    # Alternate the two, so that both meet the same moments of other load on the machine;
    # the fastest run of each counts (the least disturbed), as in harness.best_of.
    runs: dict[str, list[Measured]] = {"sender": [], "bare": []}
    for _ in range(RUNS):
        runs["sender"].append(in_subprocess(SENDER, setup=consts + SENDER_SETUP))
        runs["bare"].append(in_subprocess(BARE, setup=consts + BARE_SETUP))
    return {
        name: Measured(
            min(m.seconds for m in ms),
            max(m.peak_rss_mb for m in ms),
            min(ms, key=lambda m: m.seconds).output,
        )
        for name, ms in runs.items()
    }


def with_smtp_server(measure: Callable[[int], T]) -> tuple[T, int]:
    """``measure(port)`` while a counting SMTP server (its own process) listens on ``port``;
    its result and how many messages the server received."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"
        result = measure(port)
    finally:
        out, _ = server.communicate("")
    return result, int(out.strip().splitlines()[-1])


def run() -> list[Result]:
    """Messages per second through the sender against the bare loop, same server, same run."""
    work = work_dir()
    shutil.rmtree(work / "send-var", ignore_errors=True)
    m, received = with_smtp_server(lambda port: _measure(work, port))
    n = N_TRUSTS * PER_TRUST
    sender, bare = m["sender"], m["bare"]
    assert sender.output["sent"] == n and bare.output["sent"] == n, (sender.output, bare.output)
    assert received == RUNS * 2 * n, f"the server received {received} messages"
    rate, base = n / sender.seconds, n / bare.seconds
    print(
        f"  {n} messages: sender {sender.seconds:.2f}s ({rate:.0f}/s, {sender.peak_rss_mb:.0f} MB);"
        f" bare smtplib loop {bare.seconds:.2f}s ({base:.0f}/s, {bare.peak_rss_mb:.0f} MB)",
        flush=True,
    )
    return [
        Result(
            "send",
            "deliver 10,000 queued (msg/s)",
            rate,
            "msg/s",
            "bare smtplib loop",
            base,
            "ratio >= 0.8",
            rate / base >= 0.8,
        ),
        Result(
            "send",
            "deliver 10,000 queued (peak RSS)",
            sender.peak_rss_mb,
            "MB",
            "bare smtplib loop",
            bare.peak_rss_mb,
            "for reference (no target)",
            True,
        ),
    ]
