"""Delivery through a real SMTP server on 127.0.0.1: MIME, failures, retries, crashes."""

from __future__ import annotations

import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from monitor import db, orgs
from monitor.cli import app
from monitor.db import session_scope
from monitor.models import Outbox, utcnow
from monitor.notify import outbox, tokens, transports
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af
from tests.private_postgres import PrivatePostgres
from tests.smtp_sink import Sink, SmtpServer, free_port

EAST = "east.oversight@example.nhs.uk"
OPS = "ops@example.nhs.uk"
GONE = "gone@qehkl.nhs.uk"


@pytest.fixture
def server() -> Iterator[SmtpServer]:
    srv = SmtpServer(Sink(refuse={GONE: "550 5.1.1 <gone@qehkl.nhs.uk>: User unknown"}))
    yield srv
    srv.stop()


def smtp_settings(tmp_path: Path, engine: Engine, port: int, **mail: Any) -> Any:
    return af.settings(
        tmp_path,
        engine,
        mail={
            "transport": "smtp",
            "smtp_port": port,
            "from": "monitor@alerts.example.nhs.uk",
            "operators": [OPS],
            **mail,
        },
    )


def subscribe(
    engine: Engine, settings: Any, *addresses: str, scope: str = "org", code: str = "RCX"
) -> None:
    with session_scope(engine, write=True) as s:
        for a in addresses:
            subs.add(s, settings, subs.Request(a, scope, code))


def queue_for(
    engine: Engine,
    settings: Any,
    orgs: tuple[str, ...] = ("RCX",),
    url: str = af.JULY_URL,
    rule: str = af.RULE,
) -> list[str]:
    pub = af.publication(engine, url=url)
    return af.route(engine, settings, [af.alert(engine, o, pub, rule=rule)[1] for o in orgs])


def rows(engine: Engine) -> list[Outbox]:
    with session_scope(engine) as s:
        return list(s.exec(select(Outbox).order_by(col(Outbox.id))))


def test_it_delivers_multipart_alternative_with_the_list_headers(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port)
    subscribe(engine, settings, EAST, scope="region", code="Y61")
    queue_for(engine, settings, ("RCX", "RDE", "RWH"))

    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed) == (1, 0)
    (got,) = server.sink.received
    (row,) = rows(engine)
    msg = got.message
    assert got.rcpt_tos == [EAST] and msg["To"] == EAST
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Subject"] == "A&E statistics for July 2025: 3 new alerts in East of England"
    assert msg["Message-ID"] == row.message_id and row.message_id.endswith(
        "@alerts.example.nhs.uk>"
    )
    assert msg["Date"].datetime == row.created_at.replace(microsecond=0)
    assert msg["List-Id"] == "NHS trust alerts <alerts.nhs-trust-monitor.local>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "52.1%" in text and "52.1%" in html and "62.7%" in text and "62.7%" in html
    assert (row.status, row.subject, row.attempts) == ("sent", msg["Subject"], 1)
    # The header's link is the one-click unsubscribe the web app answers.
    url = msg["List-Unsubscribe"].strip().strip("<>")  # long headers are folded
    assert url.startswith("http://127.0.0.1:8000/unsubscribe/") and url in text
    result = tokens.unsubscribe(engine, url.rsplit("/", 1)[1], settings=settings)
    assert (result.ok, result.status) == (True, "unsubscribed")


def test_one_connection_serves_a_whole_batch(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port, batch_size=10)
    subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(25)))
    queue_for(engine, settings)
    assert outbox.deliver(engine, settings).sent == 25
    assert len({r.peer for r in server.sink.received}) == 3  # 10 + 10 + 5


def test_a_permanent_failure_is_recorded_and_the_rest_delivered(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port)
    subscribe(engine, settings, "board@qehkl.nhs.uk", GONE, "chair@qehkl.nhs.uk")
    queue_for(engine, settings)
    # Another rule on a revised file: GONE fails twice today.
    queue_for(engine, settings, url=af.JULY_URL + "?revised", rule="ae_type1_below_55")

    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed) == (4 + 1, 2)  # 4 alert emails + 1 to operators
    failed = [r for r in rows(engine) if r.status == "failed"]
    assert {r.recipient for r in failed} == {GONE}
    assert all("550 5.1.1" in (r.error or "") and "User unknown" in (r.error or "") for r in failed)
    to_ops = [r for r in server.sink.received if r.rcpt_tos == [OPS]]
    assert len(to_ops) == 1  # one incident: this address, today
    body = to_ops[0].message.get_body(("plain",)).get_content()
    assert GONE in to_ops[0].message["Subject"] and "550 5.1.1" in body
    assert outbox.deliver(engine, settings).sent == 0  # failures are not retried


def test_an_smtp_server_that_is_down_then_returns(tmp_path: Path, engine: Engine) -> None:
    port = free_port()
    settings = smtp_settings(tmp_path, engine, port)
    subscribe(engine, settings, "board@qehkl.nhs.uk", "chair@qehkl.nhs.uk")
    queue_for(engine, settings)
    t0 = utcnow()

    down = outbox.deliver(engine, settings, clock=lambda: t0)
    assert (down.sent, down.retrying, down.failed) == (0, 2, 0)
    waiting = rows(engine)
    assert {(r.status, r.attempts) for r in waiting} == {("pending", 1)}
    assert all("cannot connect to 127.0.0.1" in (r.error or "") for r in waiting)
    assert all(r.next_attempt_at == t0 + timedelta(minutes=1) for r in waiting)

    srv = SmtpServer(port=port)
    try:
        assert outbox.deliver(engine, settings, clock=lambda: t0 + timedelta(seconds=30)).sent == 0
        up = outbox.deliver(engine, settings, clock=lambda: t0 + timedelta(seconds=61))
        assert up.sent == 2 and len(srv.sink.received) == 2
        assert {(r.status, r.attempts, r.error) for r in rows(engine)} == {("sent", 2, None)}
    finally:
        srv.stop()


def test_backoff_grows_and_gives_up(tmp_path: Path, engine: Engine) -> None:
    assert [outbox.backoff(n).total_seconds() / 60 for n in (1, 2, 3, 7, 8, 12)] == [
        1,
        2,
        4,
        60,
        60,
        60,
    ]
    settings = smtp_settings(tmp_path, engine, free_port())
    subscribe(engine, settings, "board@qehkl.nhs.uk")
    queue_for(engine, settings)
    start = utcnow()
    for n in range(outbox.MAX_ATTEMPTS):
        at = start + timedelta(hours=2 * n)
        outbox.deliver(engine, settings, clock=lambda at=at: at)
    (row,) = [r for r in rows(engine) if r.kind != "operator"]
    assert row.status == "failed" and (row.error or "").startswith("gave up after 12 attempts")


SENDER = """
import sys
from monitor import config, db
from monitor.notify.outbox import deliver
settings = config.load(sys.argv[1])
deliver(db.make_engine(settings.database_url), settings)
"""


def test_a_sender_killed_mid_batch_and_restarted_delivers_everything_once(
    tmp_path: Path, engine: Engine
) -> None:
    # The server holds its reply to the 15th message: the sender is killed with that one
    # handed over but not yet recorded as sent.
    srv = SmtpServer(Sink(hold_at=15))
    try:
        settings = smtp_settings(tmp_path, engine, srv.port, batch_size=10)
        subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(30)))
        queue_for(engine, settings)
        proc = subprocess.Popen([sys.executable, "-c", SENDER, str(settings.config_path)])
        try:
            srv.sink.wait_for(lambda got: len(got) >= 15)
        finally:
            proc.kill()
            proc.wait()
        srv.sink.release.set()
        in_flight = srv.sink.received[14].message_id

        # Restarted at once: the killed sender's claimed rows are handed back (its process is
        # gone), not left for the lease; everything goes out, with the same Message-IDs.
        assert Counter(r.status for r in rows(engine)) == {"sent": 14, "sending": 6, "pending": 10}
        assert outbox.deliver(engine, settings).sent == 16

        _all_sent_and_only_the_one_in_flight_twice(engine, srv, in_flight)
    finally:
        srv.stop()


@pytest.mark.postgres
def test_a_postgresql_restart_mid_batch_leaves_nothing_waiting_for_the_lease(
    tmp_path: Path,
) -> None:
    # A long-running process sends; its own PostgreSQL server restarts while the 7th message's
    # reply is held, so that message is handed over but cannot be recorded as sent. The run
    # fails; the next run in the same (still living) process hands back what the cut-short run
    # held rather than leave it for the ten-minute lease.
    why = PrivatePostgres.available()
    if why:
        pytest.skip(f"NOT RUN: a private PostgreSQL server cannot start here: {why}")
    pg = PrivatePostgres()
    srv = SmtpServer(Sink(hold_at=7))
    engine: Engine | None = None
    try:
        admin = db.make_engine(pg.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql("CREATE DATABASE monitor")
        admin.dispose()
        engine = db.make_engine(pg.url.rsplit("/", 1)[0] + "/monitor")
        db.upgrade(engine)
        with session_scope(engine, write=True) as s:
            orgs.load_reference(s)
        settings = smtp_settings(tmp_path, engine, srv.port, batch_size=10, operators=[])
        subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(20)))
        queue_for(engine, settings)
        failed: list[BaseException] = []

        def first_run() -> None:
            assert engine is not None
            try:
                outbox.deliver(engine, settings)
            except Exception as e:
                failed.append(e)

        sender = threading.Thread(target=first_run)
        sender.start()
        srv.sink.wait_for(lambda got: len(got) >= 7)
        pg.restart("fast")
        srv.sink.release.set()
        sender.join(60)
        assert not sender.is_alive()
        assert failed, "the run whose database restarted under it should have failed"
        in_flight = srv.sink.received[6].message_id
        assert Counter(r.status for r in rows(engine)) == {"sent": 6, "sending": 4, "pending": 10}

        report = outbox.deliver(engine, settings)  # at once, not after the lease
        assert report.sent == 14
        _all_sent_and_only_the_one_in_flight_twice(engine, srv, in_flight)
    finally:
        srv.stop()
        if engine is not None:
            engine.dispose()
        pg.stop()


def test_a_slow_batch_hands_back_what_it_has_not_sent(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    # With no lease at all, every batch is "slow" after its first message.
    settings = smtp_settings(tmp_path, engine, server.port, batch_size=10)
    subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(5)))
    queue_for(engine, settings)
    assert outbox.deliver(engine, settings, lease=timedelta(0)).sent == 5
    assert len({r.peer for r in server.sink.received}) == 5  # one message per batch
    assert Counter(r.message_id for r in server.sink.received).most_common(1)[0][1] == 1


def test_rows_held_by_a_live_sender_or_another_host_wait_for_the_lease(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port, batch_size=2)
    subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(4)))
    queue_for(engine, settings)
    now = utcnow()
    here = f"{socket.gethostname()}:{os.getpid()}:live01"  # this process: alive
    elsewhere = "another-host.example:1:gone01"  # pid 1 there says nothing about here
    assert len(outbox.claim(engine, worker=here, now=now, batch=2)) == 2
    assert len(outbox.claim(engine, worker=elsewhere, now=now, batch=2)) == 2
    assert outbox.reclaim_orphans(engine) == 0
    report = outbox.deliver(engine, settings)
    assert report.sent == len(rows(engine)) - 4  # the rest (operator emails) only
    held = Counter(r.claimed_by for r in rows(engine) if r.status == "sending")
    assert held == {here: 2, elsewhere: 2}
    # After the lease, anyone's rows are sent.
    later = now + outbox.LEASE + timedelta(minutes=1)
    assert outbox.deliver(engine, settings, clock=lambda: later).sent == 4
    assert {r.status for r in rows(engine)} == {"sent"}


def test_concurrent_senders_never_claim_the_same_row(tmp_path: Path, engine: Engine) -> None:
    settings = af.settings(tmp_path, engine)
    subscribe(engine, settings, *(f"board{i:02d}@qehkl.nhs.uk" for i in range(40)))
    queue_for(engine, settings)
    claimed: list[int] = []
    lock = threading.Lock()

    def sender(name: str) -> None:
        while got := outbox.claim(engine, worker=name, now=utcnow(), batch=3):
            with lock:
                claimed.extend(r.id or 0 for r in got)

    threads = [threading.Thread(target=sender, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(r.id for r in rows(engine))  # each exactly once


def test_a_template_that_cannot_render_fails_its_rows_and_not_the_rest(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    override = tmp_path / "mine" / "emails"
    override.mkdir(parents=True)
    (override / "alert_fired.txt.j2").write_text("{{ alert.no_such_field }}\n")
    settings = af.settings(
        tmp_path,
        engine,
        templates_override=tmp_path / "mine",
        mail={"transport": "smtp", "smtp_port": server.port},
    )
    subscribe(engine, settings, "board@qehkl.nhs.uk")
    subscribe(engine, settings, EAST, scope="region", code="Y61")
    queue_for(engine, settings, ("RCX", "RDE"))
    report = outbox.deliver(engine, settings)
    assert (report.sent, report.failed) == (1, 1)
    by_key = {r.recipient: r for r in rows(engine)}
    assert by_key[EAST].status == "sent"  # the group template is fine
    assert by_key["board@qehkl.nhs.uk"].status == "failed"
    assert "UndefinedError" in (by_key["board@qehkl.nhs.uk"].error or "")


def test_a_message_for_someone_who_unsubscribed_meanwhile_is_cancelled(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port)
    subscribe(engine, settings, "board@qehkl.nhs.uk")
    queue_for(engine, settings)
    with session_scope(engine, write=True) as s:
        subs.remove(s, "board@qehkl.nhs.uk")
    assert outbox.deliver(engine, settings).cancelled == 1
    assert server.sink.received == [] and rows(engine)[0].status == "cancelled"


def test_the_maildir_transport_writes_eml_files_a_person_can_open(
    tmp_path: Path, engine: Engine
) -> None:
    settings = af.settings(tmp_path, engine)
    assert settings.mail.transport == "maildir"
    subscribe(engine, settings, "board@qehkl.nhs.uk", "chair@qehkl.nhs.uk")
    queue_for(engine, settings)
    assert outbox.deliver(engine, settings).sent == 2
    files = sorted((settings.mail.maildir / "new").glob("*.eml"))
    assert len(files) == 2 and len({f.name for f in files}) == 2
    assert list((settings.mail.maildir / "tmp").iterdir()) == []
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in files[0].read_bytes()


def test_send_preview_writes_files_and_changes_nothing(tmp_path: Path, engine: Engine) -> None:
    settings = af.settings(tmp_path, engine)
    subscribe(engine, settings, "board@qehkl.nhs.uk")
    subscribe(engine, settings, EAST, scope="region", code="Y61")
    queue_for(engine, settings, ("RCX", "RDE"))
    out = tmp_path / "preview"
    r = CliRunner().invoke(
        app, ["--config", str(settings.config_path), "send", "--preview", str(out)]
    )
    assert r.exit_code == 0, r.stderr
    assert "2 message(s) written" in r.stdout and "nothing was sent" in r.stdout
    assert len(list(out.glob("*.eml"))) == 2 and len(list(out.glob("*.html"))) == 2
    group_html = next(out.glob("*group*.html")).read_text()
    assert "East Suffolk and North Essex NHS Foundation Trust" in group_html
    assert {r.status for r in rows(engine)} == {"pending"}
    assert not (settings.mail.maildir / "new").exists()
    sent = CliRunner().invoke(app, ["--config", str(settings.config_path), "send", "--json"])
    assert sent.exit_code == 0, sent.stderr
    assert json.loads(sent.stdout) == {
        "sent": 2,
        "failed": 0,
        "retrying": 0,
        "cancelled": 0,
        "errors": [],
    }
    assert len(list((settings.mail.maildir / "new").glob("*.eml"))) == 2


def test_the_smtp_transport_hands_over_each_message_as_written(
    tmp_path: Path, engine: Engine, server: SmtpServer
) -> None:
    settings = smtp_settings(tmp_path, engine, server.port)
    transport = transports.SmtpTransport(settings.mail, username=None, password=None)
    # Lines that start with a dot are doubled on the wire and undone by the server.
    dotted = b"Subject: dots\r\n\r\n.first\r\nmiddle\r\n..two\r\n.\r\nlast line\r\n"
    plain = b"Subject: plain\r\n\r\nno dot starts a line. Not even this one\r\n"
    order: list[str] = []
    transport.open()
    try:
        for data, to in ((dotted, "board.one@qehkl.nhs.uk"), (plain, "o'neil+x@qehkl.nhs.uk")):
            transport.send(
                "monitor@alerts.example.nhs.uk",
                to,
                data,
                # The previous message is recorded before this one can be accepted.
                settle=lambda: order.append(f"settle, {len(server.sink.received)} received"),
                meanwhile=lambda: order.append("meanwhile"),
            )
    finally:
        transport.close()
    assert [r.data for r in server.sink.received] == [dotted, plain]
    assert [r.rcpt_tos for r in server.sink.received] == [
        ["board.one@qehkl.nhs.uk"],
        ["o'neil+x@qehkl.nhs.uk"],
    ]
    assert order == ["settle, 0 received", "meanwhile", "settle, 1 received", "meanwhile"]


@pytest.mark.parametrize(
    "address",
    [
        "board01@qehkl.nhs.uk",
        "o'neil+alerts@example.nhs.uk",
        "a.b-c_d@sub.example.org",
        "Monitor <monitor@alerts.example.nhs.uk>",
        '"quoted local"@example.org',
        "déjà@example.org",
        "<>",
    ],
)
def test_addresses_are_quoted_for_the_envelope_as_smtplib_quotes_them(address: str) -> None:
    assert transports._quoted(address) == smtplib.quoteaddr(address)


def _all_sent_and_only_the_one_in_flight_twice(
    engine: Engine, srv: SmtpServer, in_flight: str
) -> None:
    """Every row sent, every message arrived, and only the one in flight when the sender
    died arrived twice (with the same Message-ID)."""
    queued = rows(engine)
    assert {r.status for r in queued} == {"sent"}
    counts = Counter(r.message_id for r in srv.sink.received)
    assert set(counts) == {r.message_id for r in queued}  # every message arrived
    assert {m: n for m, n in counts.items() if n > 1} == {in_flight: 2}  # one, twice
