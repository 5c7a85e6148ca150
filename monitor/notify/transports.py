"""Where messages go: an SMTP server (one connection per batch) or a maildir of .eml files.

A transport raises :class:`SendFailure` saying whether the failure is permanent (a 5xx answer,
a refused address: record it and move on) or temporary (a 4xx answer, a refused or dropped
connection: try again later with backoff).

``send`` takes two pieces of the sender's own work to do while the server is busy rather than
after it has answered: ``settle`` (recording the previous message as sent) runs while the
server answers MAIL FROM, always before this message can be accepted; ``meanwhile``
(rendering the next message) runs while the server takes in this one. Over one connection the
sender then waits on the server about as often as a bare ``smtplib`` loop does.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from monitor.config import Mail, Settings


class SendFailure(Exception):
    """A message that was not delivered, and whether trying again could help."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool,
        connection_lost: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection_lost = connection_lost
        self.retry_after = retry_after  # seconds the server asked us to wait, if it did


class Transport(Protocol):
    def open(self) -> None:
        """Connect (once per batch). Raises SendFailure."""

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        settle: Callable[[], None] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """Hand over one message. Raises SendFailure. ``settle`` runs (once, if the
        exchange gets that far) before the message can be accepted, ``meanwhile`` after it
        has been handed over and before the answer is read."""

    def close(self) -> None:
        """Disconnect; never raises."""


def _by_code(code: int, text: str, *, what: str) -> SendFailure:
    reason = f"{what}: {code} {text}".strip()
    return SendFailure(reason, permanent=500 <= code < 600)


def _decode(msg: bytes | str) -> str:
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


class SmtpTransport:
    """SMTP with STARTTLS or implicit TLS; credentials from the variables config names."""

    def __init__(
        self, mail: Mail, *, username: str | None, password: str | None, timeout: float = 30
    ) -> None:
        self.mail = mail
        self.username = username
        self.password = password
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpTransport:
        m = settings.mail
        username, password = settings.env(m.username_env), settings.env(m.password_env)
        return cls(m, username=username, password=password)

    def open(self) -> None:
        m = self.mail
        missing = [
            name
            for name, value in ((m.username_env, self.username), (m.password_env, self.password))
            if name and not value
        ]
        if missing:
            # Without them the server would refuse every message alike: keep them queued.
            raise SendFailure(
                f"[mail] names {' and '.join(missing)} for the SMTP credentials, "
                "but the environment does not set it",
                permanent=False,
                connection_lost=True,
            )
        try:
            if m.ssl:
                self.smtp = smtplib.SMTP_SSL(
                    m.smtp_host,
                    m.smtp_port,
                    timeout=self.timeout,
                    context=ssl.create_default_context(),
                )
            else:
                self.smtp = smtplib.SMTP(m.smtp_host, m.smtp_port, timeout=self.timeout)
                if m.starttls:
                    self.smtp.starttls(context=ssl.create_default_context())
            if self.username:
                self.smtp.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as e:
            self.close()
            # Wrong credentials fail every message alike: keep them queued, not failed.
            raise SendFailure(
                f"SMTP login refused: {e.smtp_code} {_decode(e.smtp_error)}",
                permanent=False,
                connection_lost=True,
            ) from None
        except (smtplib.SMTPException, OSError) as e:
            self.close()
            raise SendFailure(
                f"cannot connect to {m.smtp_host}:{m.smtp_port}: {e}",
                permanent=False,
                connection_lost=True,
            ) from None

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        settle: Callable[[], None] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        if self.smtp is None:
            raise SendFailure("not connected", permanent=False, connection_lost=True)
        try:
            self._transaction(self.smtp, sender, recipient, data, settle, meanwhile)
        except _OwnWorkFailed as e:
            raise e.error from None  # the sender's own, not the server's: as it was raised
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients.get(recipient, (550, b"recipient refused"))
            raise _by_code(code, _decode(text), what=f"recipient {recipient} refused") from None
        except smtplib.SMTPSenderRefused as e:
            raise _by_code(e.smtp_code, _decode(e.smtp_error), what="sender refused") from None
        except smtplib.SMTPDataError as e:
            raise _by_code(e.smtp_code, _decode(e.smtp_error), what="message refused") from None
        except smtplib.SMTPNotSupportedError as e:
            raise SendFailure(f"not supported by the server: {e}", permanent=True) from None
        except smtplib.SMTPServerDisconnected as e:
            self.smtp = None
            raise SendFailure(
                f"connection lost: {e}", permanent=False, connection_lost=True
            ) from None
        except smtplib.SMTPResponseException as e:
            raise _by_code(e.smtp_code, _decode(e.smtp_error), what="refused") from None
        except (OSError, smtplib.SMTPException) as e:
            self.close()
            raise SendFailure(
                f"connection lost: {e}", permanent=False, connection_lost=True
            ) from None

    def _transaction(
        self,
        smtp: smtplib.SMTP,
        sender: str,
        recipient: str,
        data: bytes,
        settle: Callable[[], None] | None,
        meanwhile: Callable[[], None] | None,
    ) -> None:
        """``smtplib.SMTP.sendmail`` for one recipient, its replies and errors alike, with
        ``settle`` done while the server answers MAIL FROM and ``meanwhile`` while it takes
        in the message."""
        smtp.ehlo_or_helo_if_needed()
        size = f" SIZE={len(data)}" if smtp.does_esmtp and smtp.has_extn("size") else ""
        smtp.putcmd("mail", f"FROM:{_quoted(sender)}{size}")
        self._meanwhile(smtp, settle)
        code, reply = smtp.getreply()
        if code != 250:
            self._abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        smtp.putcmd("rcpt", f"TO:{_quoted(recipient)}")
        code, reply = smtp.getreply()
        if code not in (250, 251):
            self._abandon(smtp, code)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # Searching for a line that starts with a dot costs a fraction of substituting.
        body = _LEADING_DOT.sub(b"..", data) if data[:1] == b"." or b"\n." in data else data
        if body[-2:] != b"\r\n":
            body += b"\r\n"
        smtp.send(body + b".\r\n")
        self._meanwhile(smtp, meanwhile)
        code, reply = smtp.getreply()
        if code != 250:
            self._abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)

    def _meanwhile(self, smtp: smtplib.SMTP, work: Callable[[], None] | None) -> None:
        """Run the sender's ``work`` while a reply is on its way. Should it fail, the
        connection is dropped (a reply is still due on it) and the error goes up."""
        if work is None:
            return
        try:
            work()
        except BaseException as e:
            smtp.close()
            self.smtp = None
            raise _OwnWorkFailed(e) from e

    @staticmethod
    def _abandon(smtp: smtplib.SMTP, code: int) -> None:
        """After a refusal, as sendmail does: a 421 closes the connection, anything else
        resets the transaction."""
        if code == 421:
            smtp.close()
            return
        with contextlib.suppress(smtplib.SMTPServerDisconnected):
            smtp.rset()

    def close(self) -> None:
        if self.smtp is None:
            return
        try:
            self.smtp.quit()
        except (smtplib.SMTPException, OSError):
            self.smtp.close()
        self.smtp = None


class _OwnWorkFailed(Exception):
    """The sender's ``settle`` or ``meanwhile`` work failed: not an SMTP failure."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


_LEADING_DOT = re.compile(rb"(?m)^\.")  # doubled in the DATA stream (RFC 5321 4.5.2)


# An address of these characters only, with one "@", is quoted by enclosing it in <>, as
# smtplib.quoteaddr would, without parsing it as an RFC 5322 address list first.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")


@functools.lru_cache(maxsize=16)
def _quoted_other(address: str) -> str:
    return smtplib.quoteaddr(address)


def _quoted(address: str) -> str:
    """``<address>`` for MAIL FROM and RCPT TO, as ``smtplib.quoteaddr`` gives it."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return _quoted_other(address)


class MaildirTransport:
    """Each message an .eml file in ``<maildir>/new/``, written to tmp/ first and renamed,
    so a reader never sees half a message. File names are unique (time, pid, counter)."""

    _counter = itertools.count()

    def __init__(self, root: Path) -> None:
        self.root = root
        self.host = socket.gethostname().replace("/", "_").replace(":", "_")

    def open(self) -> None:
        try:
            for sub in ("tmp", "new", "cur"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SendFailure(
                f"cannot use maildir {self.root}: {e}", permanent=False, connection_lost=True
            ) from None

    def send(
        self,
        sender: str,
        recipient: str,
        data: bytes,
        *,
        settle: Callable[[], None] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        if settle is not None:
            settle()
        name = f"{time.time_ns()}.P{os.getpid()}Q{next(self._counter)}.{self.host}.eml"
        tmp, new = self.root / "tmp" / name, self.root / "new" / name
        try:
            with open(tmp, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, new)
        except OSError as e:
            raise SendFailure(
                f"cannot write {new}: {e}", permanent=False, connection_lost=True
            ) from None
        if meanwhile is not None:
            meanwhile()

    def close(self) -> None:
        return None


def for_settings(settings: Settings) -> Transport:
    """The transport ``[mail] transport`` names."""
    if settings.mail.transport == "smtp":
        return SmtpTransport.from_settings(settings)
    return MaildirTransport(settings.mail.maildir)
