"""Delivering the outbox: claim rows atomically, render, send, record each outcome.

A row goes ``pending -> sending -> sent``, or back to ``pending`` with a later
``next_attempt_at`` after a temporary failure, or to ``failed`` with its reason, or to
``cancelled`` when everyone it was for has unsubscribed.

Exactly once, give or take one: a row is marked sent in its own transaction straight after the
server accepts it. A sender killed between the two leaves that row (and the rest of its batch)
in ``sending``. Each claim names its holder (host, pid and a random suffix): the next sender
to start on the same host hands back at once the rows of a holder whose process is gone
(``reclaim_orphans``), and so does a sender in a long-running process whose earlier run ended
with rows still claimed (the database went away mid-batch, e.g. a PostgreSQL restart); rows held
on another host wait for the lease to run out. Either way they are sent again with the same
Message-ID, so at most the one message in flight arrives twice.

Claiming is one short transaction: on PostgreSQL the rows are picked with ``FOR UPDATE SKIP
LOCKED``, so senders on several machines never take the same row; SQLite runs it under ``BEGIN
IMMEDIATE``, which serialises writers. A batch that runs for half the lease hands its unsent
rows back rather than risk another sender reclaiming rows it is still working through.

Rows are rendered here, at send time, not when routing writes them: routing runs inside the
alert lifecycle's transaction and stays cheap, a template fixed meanwhile applies to mail still
waiting, and a body rendered once serves every recipient of the same alerts (compose.py).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jinja2
from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import col, select

from monitor.config import Settings
from monitor.db import is_sqlite, session_scope
from monitor.models import Outbox, utcnow
from monitor.notify import channels, compose, mime, operators, render
from monitor.notify.enqueue import enqueue
from monitor.notify.senders import ChatSender
from monitor.notify.transports import SendFailure, Transport, for_settings
from monitor.vocab import OutboxKind, OutboxStatus

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # longer than any batch takes; a crashed sender's rows wait this
MAX_ATTEMPTS = 12  # with the backoff below: about seven hours of trying
Clock = Callable[[], datetime]


def backoff(attempts: int) -> timedelta:
    """Wait before the next attempt: 1, 2, 4 ... minutes, at most an hour."""
    return timedelta(minutes=min(60, 2 ** max(0, attempts - 1)))


def worker_id() -> str:
    """This sender's name in ``claimed_by``: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


# Senders of this process whose run of ``deliver`` has ended (returned or raised). Rows one of
# them still holds in ``sending`` were left by a run cut short (the database connection lost
# between sending a message and recording it): no one is working through them.
_ended: set[str] = set()
_ended_lock = threading.Lock()


def _holder_gone(worker: str) -> bool:
    """True when ``worker`` (a ``worker_id``) ran on this host and its process has ended, or
    is a sender of this process whose run has ended."""
    with _ended_lock:
        if worker in _ended:
            return True
    parts = worker.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != socket.gethostname() or not parts[1].isdigit():
        return False
    return not _process_alive(int(parts[1]))


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed process not yet reaped by its parent is gone all the same
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def reclaim_orphans(engine: Engine) -> int:
    """Hand back (to pending) the rows in ``sending`` whose holder's process is gone on this
    host, or whose run in this process has ended, so that they need not wait for the lease.
    Returns how many."""
    with _ended_lock:
        ended_before = set(_ended)
    with session_scope(engine) as s:
        holders = s.exec(
            select(Outbox.claimed_by).where(col(Outbox.status) == OutboxStatus.SENDING).distinct()
        ).all()
    with _ended_lock:  # ended runs that hold nothing need not be remembered
        _ended.difference_update(ended_before - set(holders))
    gone = [h for h in holders if h and _holder_gone(h)]
    if not gone:
        return 0
    with session_scope(engine, write=True) as s:
        result = s.execute(
            update(Outbox)
            .where(col(Outbox.status) == OutboxStatus.SENDING, col(Outbox.claimed_by).in_(gone))
            .values(status=OutboxStatus.PENDING, claimed_at=None, claimed_by=None)
        )
        n = getattr(result, "rowcount", 0) or 0
    if n:
        log.info("outbox: %d messages claimed by a sender that has ended handed back", n)
    return n


@dataclass(kw_only=True)
class DeliveryReport:
    """What one run of :func:`deliver` did."""

    sent: int = 0
    failed: int = 0
    retrying: int = 0
    cancelled: int = 0
    errors: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "retrying": self.retrying,
            "cancelled": self.cancelled,
            "errors": self.errors,
        }


def claim(
    engine: Engine, *, worker: str, now: datetime, batch: int, lease: timedelta = LEASE
) -> list[Outbox]:
    """Take up to ``batch`` due rows for ``worker``: first a crashed sender's rows whose lease
    has run out, then pending rows that are due, oldest first."""
    # One query per status, so each walks the status index in id order without sorting, and
    # skips the sent rows, which are most of the table in time.
    stale = select(Outbox.id).where(
        col(Outbox.status) == OutboxStatus.SENDING, col(Outbox.claimed_at) < now - lease
    )
    due = select(Outbox.id).where(
        col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.next_attempt_at) <= now
    )
    with session_scope(engine, write=True) as s:
        # The SELECTs lock the rows they pick (on PostgreSQL) until the UPDATE commits. One
        # UPDATE ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED) could claim more
        # than n rows, because PostgreSQL may run the subquery again for each row it updates.
        ids: list[int] = []
        for pick in (stale, due):
            if len(ids) < batch:
                q = pick.order_by(col(Outbox.id)).limit(batch - len(ids))
                if not is_sqlite(engine):
                    q = q.with_for_update(skip_locked=True)
                ids += [i for i in s.exec(q) if i is not None]
        if not ids:
            return []
        claimed = s.scalars(
            update(Outbox)
            .where(col(Outbox.id).in_(ids))
            .values(status=OutboxStatus.SENDING, claimed_at=now, claimed_by=worker)
            .returning(Outbox),
            execution_options={"synchronize_session": False},
        )
        return sorted(claimed, key=lambda r: r.id or 0)


# Built once: recording a message as sent is the sender's hottest statement, and constructing
# and compiling an UPDATE per message costs several times what executing it does.
_MARK_SENT = (
    update(Outbox)
    .where(
        col(Outbox.id) == bindparam("row_id"),
        # Only the sender holding the claim: a message sent twice is recorded once.
        col(Outbox.status) == OutboxStatus.SENDING,
        col(Outbox.claimed_by) == bindparam("worker"),
    )
    .values(
        status=OutboxStatus.SENT,
        sent_at=bindparam("sent_at"),
        subject=bindparam("subject"),
        error=None,
        attempts=bindparam("attempts"),
    )
)


class _DriverMark:
    """The sent mark as one statement on SQLite's own connection, which commits it by itself
    (the engine leaves pysqlite in autocommit, see monitor.db): still one transaction per
    message, without the BEGIN IMMEDIATE, COMMIT and statement set-up around it, which cost
    more than the UPDATE."""

    def __init__(self, conn: Connection) -> None:
        compiled = _MARK_SENT.compile(dialect=conn.dialect)
        self.sql = str(compiled)
        self.names = list(compiled.positiontup or [])
        self.compiled = compiled
        self.process = {n: f for n, f in compiled._bind_processors.items() if callable(f)}
        driver = conn.connection.driver_connection
        assert driver is not None
        self.driver = driver

    @classmethod
    def for_connection(cls, conn: Connection) -> _DriverMark | None:
        driver = conn.connection.driver_connection
        if conn.dialect.name != "sqlite" or getattr(driver, "isolation_level", "") is not None:
            return None
        return cls(conn)

    def __call__(self, values: dict[str, Any]) -> None:
        params = self.compiled.construct_params(values)
        args = [self.process[n](params[n]) if n in self.process else params[n] for n in self.names]
        self.driver.execute(self.sql, args)


class _Recorder:
    """Records outcomes on one connection, each in its own short transaction."""

    def __init__(self, conn: Connection, settings: Settings, clock: Clock) -> None:
        self.conn, self.settings, self.clock = conn, settings, clock
        self._mark = _DriverMark.for_connection(conn)

    def _set(self, row: Outbox, **values: Any) -> None:
        with self.conn.begin():
            self.conn.execute(update(Outbox).where(col(Outbox.id) == row.id).values(**values))

    def sent(self, row: Outbox, subject: str) -> None:
        values = {
            "row_id": row.id,
            "worker": row.claimed_by,
            "sent_at": self.clock(),
            "subject": subject,
            "attempts": row.attempts + 1,
        }
        if self._mark is not None:
            self._mark(values)
            return
        with self.conn.begin():
            self.conn.execute(_MARK_SENT, values)

    def release(self, row: Outbox) -> None:
        """Hand an unsent row back, due at once (a slow batch stopping early)."""
        self._set(
            row,
            status=OutboxStatus.PENDING,
            next_attempt_at=self.clock(),
            claimed_at=None,
            claimed_by=None,
        )

    def cancelled(self, row: Outbox, reason: str) -> None:
        self._set(row, status=OutboxStatus.CANCELLED, error=reason)

    def failed(self, row: Outbox, reason: str, subject: str | None = None) -> None:
        now = self.clock()
        with self.conn.begin():
            self.conn.execute(
                update(Outbox)
                .where(col(Outbox.id) == row.id)
                .values(
                    status=OutboxStatus.FAILED,
                    error=reason[:2000],
                    subject=subject,
                    attempts=row.attempts + 1,
                )
            )
            if row.kind != OutboxKind.OPERATOR:
                # Operators hear once per address and day, however many messages fail.
                enqueue(self.conn, operators.send_failed(self.settings, row, reason, now))

    def retry(
        self, row: Outbox, reason: str, *, attempted: bool = True, after: float | None = None
    ) -> bool:
        """Back to pending with backoff (or after ``after`` seconds, when the server said so
        and that is longer); False when it has been tried too often."""
        attempts = row.attempts + (1 if attempted else 0)
        if attempts >= MAX_ATTEMPTS:
            self.failed(row, f"gave up after {attempts} attempts: {reason}")
            return False
        self._set(
            row,
            status=OutboxStatus.PENDING,
            attempts=attempts,
            error=reason[:2000],
            next_attempt_at=self.clock()
            + max(backoff(max(attempts, 1)), timedelta(seconds=after or 0)),
            claimed_at=None,
            claimed_by=None,
        )
        return True


def _bad_address(address: str) -> str | None:
    """A last check before an address goes into the envelope and the To header.

    Addresses are validated when subscriptions are added (email-validator) and when the
    config is loaded; this only refuses what would corrupt the message, such as a line break.
    """
    local, at, domain = address.rpartition("@")
    if not (local and at and domain) or any(c in address for c in "\r\n<>, \t"):
        return f"invalid address {address!r}"
    return None


def _send_batch(
    rows: list[Outbox],
    engine: Engine,
    composer: compose.Composer,
    transport: Transport,
    chat: ChatSender,
    rec: _Recorder,
    report: DeliveryReport,
    lease: timedelta = LEASE,
) -> bool:
    """Send one claimed batch: its chat messages, then its emails over one connection. False
    when the mail server is unreachable (the rest of the batch is put back and the run should
    stop)."""
    with session_scope(engine) as s:
        batch = compose.load(s, rows)
    started = time.monotonic()
    posts = [r for r in rows if channels.channel_of(r.recipient) != channels.EMAIL]
    for i, row in enumerate(posts):
        if i and time.monotonic() - started > lease.total_seconds() / 2:
            for rest in [r for r in rows if r not in posts[:i]]:
                rec.release(rest)
            return True
        _post_one(row, batch, composer, chat, rec, report)
    rows = [r for r in rows if channels.channel_of(r.recipient) == channels.EMAIL]
    if not rows:
        return True
    return _send_emails(rows, batch, composer, transport, rec, report, lease)


def _send_emails(
    rows: list[Outbox],
    batch: compose.Batch,
    composer: compose.Composer,
    transport: Transport,
    rec: _Recorder,
    report: DeliveryReport,
    lease: timedelta = LEASE,
) -> bool:
    """Send a batch's emails over one connection; False when the server is unreachable."""
    try:
        transport.open()
    except SendFailure as e:
        for row in rows:
            _count(report, rec.retry(row, e.reason))
        report.errors.append(e.reason)
        return False
    emails = _Emails(rows, batch, composer, transport, rec, report)
    started = time.monotonic()
    try:
        for i in range(len(rows)):
            # At least one message per batch, so a slow server still makes progress.
            if i and time.monotonic() - started > lease.total_seconds() / 2:
                emails.settle()
                for rest in rows[i:]:
                    rec.release(rest)
                break
            if not emails.send(i):
                for rest in rows[i + 1 :]:
                    _count(report, rec.retry(rest, report.errors[-1], attempted=False))
                return False
    finally:
        try:
            emails.settle()  # the last message accepted, recorded before anything else
        finally:
            transport.close()
    return True


Prepared = tuple[bytes, mime.Rendered] | Exception


class _Emails:
    """A batch's emails, each rendered and sent in turn, with the sender's own work done
    while the server is busy (see transports.py): a message accepted by the server is
    recorded as sent while the server answers the next message's MAIL FROM, and the next
    message is rendered while the server takes in this one.

    The crash contract holds: a message's sent mark is committed before the next message can
    be accepted, so a sender killed at any point leaves at most the one message in flight
    unrecorded, and it alone is sent again (with the same Message-ID)."""

    def __init__(
        self,
        rows: list[Outbox],
        batch: compose.Batch,
        composer: compose.Composer,
        transport: Transport,
        rec: _Recorder,
        report: DeliveryReport,
    ) -> None:
        self.rows, self.batch, self.composer = rows, batch, composer
        self.transport, self.rec, self.report = transport, rec, report
        self.sender = mime.sender_address(composer.settings)
        self.prepared: dict[int, Prepared] = {}
        self.accepted: tuple[Outbox, str] | None = None  # accepted, not yet recorded

    def settle(self) -> None:
        """Record the message the server last accepted, if it is not yet recorded."""
        if self.accepted is not None:
            row, subject = self.accepted
            self.accepted = None
            self.rec.sent(row, subject)
            self.report.sent += 1

    def prepare(self, i: int) -> None:
        """Render row ``i`` (the error it raises kept for its turn)."""
        if i >= len(self.rows) or i in self.prepared:
            return
        row = self.rows[i]
        try:
            bad = _bad_address(row.recipient)
            if bad:
                raise SendFailure(bad, permanent=True)
            self.prepared[i] = self.composer.message(row, self.batch)
        except Exception as e:  # raised again at its turn, as if rendered then
            self.prepared[i] = e

    def send(self, i: int) -> bool:
        """Render (unless done already), send and record row ``i``; False when the
        connection is lost."""
        row, rec, report = self.rows[i], self.rec, self.report
        self.prepare(i)
        prepared = self.prepared.pop(i)
        subject: str | None = None
        try:
            if isinstance(prepared, Exception):
                raise prepared
            data, rendered = prepared
            subject = rendered.subject
            self.transport.send(
                self.sender,
                row.recipient,
                data,
                settle=self.settle,
                meanwhile=lambda: self.prepare(i + 1),
            )
        except (compose.Cancelled, *RENDER_ERRORS) as e:
            self.settle()
            _will_not_go(row, e, rec, report)
        except SendFailure as e:
            self.settle()
            if e.permanent:
                rec.failed(row, e.reason, subject)
                report.failed += 1
                report.errors.append(f"{row.key}: {e.reason}")
                return True
            _count(report, rec.retry(row, e.reason))
            if e.connection_lost:
                report.errors.append(e.reason)
                return False
        else:
            self.accepted = (row, rendered.subject)
        return True


# A template or data problem: it does not fix itself.
RENDER_ERRORS = (render.TemplateError, jinja2.TemplateError, LookupError, KeyError)


def _will_not_go(row: Outbox, e: Exception, rec: _Recorder, report: DeliveryReport) -> None:
    """Record a row that will not be sent: cancelled when everyone it was for has gone, failed
    (operators are told) when its template or data cannot render."""
    if isinstance(e, compose.Cancelled):
        rec.cancelled(row, str(e))
        report.cancelled += 1
        return
    rec.failed(row, f"cannot render: {type(e).__name__}: {e}")
    report.failed += 1
    report.errors.append(f"{row.key}: {e}")


def _post_one(
    row: Outbox,
    batch: compose.Batch,
    composer: compose.Composer,
    chat: ChatSender,
    rec: _Recorder,
    report: DeliveryReport,
) -> None:
    """Render and post one chat message and record the outcome, as :meth:`_Emails.send` does
    for an email. Each message is its own request, so one channel's failure holds up no
    other."""
    title: str | None = None
    try:
        url, body, title = composer.chat_message(row, batch)
        chat.post(channels.channel_of(row.recipient), url, body, key=row.key)
    except (compose.Cancelled, *RENDER_ERRORS) as e:
        _will_not_go(row, e, rec, report)
    except SendFailure as e:
        if e.permanent:
            rec.failed(row, e.reason, title)
            report.failed += 1
        else:
            _count(report, rec.retry(row, e.reason, after=e.retry_after))
        report.errors.append(f"{row.key}: {e.reason}")
    else:
        rec.sent(row, title)
        report.sent += 1


def _count(report: DeliveryReport, retrying: bool) -> None:
    if retrying:
        report.retrying += 1
    else:
        report.failed += 1


def deliver(
    engine: Engine,
    settings: Settings,
    *,
    transport: Transport | None = None,
    clock: Clock = utcnow,
    batch_size: int | None = None,
    lease: timedelta = LEASE,
    worker: str | None = None,
) -> DeliveryReport:
    """Send everything due, batch by batch, one connection per batch.

    1. Hand back the rows of a sender on this host that has ended (or of an earlier run in
       this process that was cut short); queue operator emails for
       incidents that started since the last run.
    2. Claim a batch; render and send each row (a chat channel's by an HTTPS POST, an email
       over the batch's one connection); record each outcome as it happens.
    3. Repeat until nothing is due, or stop early when the server cannot be reached.
    """
    report = DeliveryReport()
    reclaim_orphans(engine)
    operators.queue_incidents(engine, settings, now=clock())
    composer = compose.Composer.for_settings(settings)
    transport = transport or for_settings(settings)
    worker = worker or worker_id()
    try:
        _deliver(engine, settings, composer, transport, clock, worker, batch_size, lease, report)
    finally:
        # Whatever this run still holds (it raised mid-batch) the next run hands back.
        with _ended_lock:
            _ended.add(worker)
    if report.sent or report.failed or report.retrying:
        log.info("outbox: %s", report.as_json())
    return report


def _deliver(
    engine: Engine,
    settings: Settings,
    composer: compose.Composer,
    transport: Transport,
    clock: Clock,
    worker: str,
    batch_size: int | None,
    lease: timedelta,
    report: DeliveryReport,
) -> None:
    chat = ChatSender(settings)
    size = batch_size or settings.mail.batch_size
    with engine.connect() as conn:
        if is_sqlite(engine):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        rec = _Recorder(conn, settings, clock)
        try:
            while rows := claim(engine, worker=worker, now=clock(), batch=size, lease=lease):
                if not _send_batch(rows, engine, composer, transport, chat, rec, report, lease):
                    break
        finally:
            chat.close()
