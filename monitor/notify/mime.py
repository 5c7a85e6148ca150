"""Message-IDs and the MIME message: multipart/alternative with the list headers.

A message's bytes depend only on its outbox row and what it was rendered from: the Date is the
moment the row was queued, the Message-ID was fixed then and the MIME boundary derives from
it, so a message sent again after a crash is the same message and mail clients thread (or
drop) the copy.

The message is written directly rather than through ``email.message.EmailMessage``, whose
header registry and generator cost more than rendering and sending together (measured by
bench/bench_send.py). The layout is fixed and small: the headers below, then a text/plain and
a text/html part, both UTF-8 in quoted-printable. tests/test_notify_delivery.py parses what
arrives with the standard library's parser.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr

from monitor.config import Settings

CRLF = "\r\n"
_MAX_LINE = 78  # RFC 5322's recommended line length; header lines are folded to it


def sender_address(settings: Settings) -> str:
    """The bare address of ``[mail] from`` (for the SMTP envelope)."""
    return parseaddr(settings.mail.from_)[1] or settings.mail.from_


def new_message_id(settings: Settings, kind: str) -> str:
    """A globally unique Message-ID on the sender's domain, fixed when the row is queued."""
    domain = sender_address(settings).rpartition("@")[2] or "localhost"
    return f"<{uuid.uuid4().hex}.{kind}@{domain}>"


@dataclass(frozen=True)
class Rendered:
    """One rendered email: the three parts a template set makes."""

    subject: str
    text: str
    html: str  # CSS inlined
    # The html as (shared head, recipient's part, shared tail), each ending a line, so the
    # shared pieces are encoded once for every recipient of the same body.
    html_pieces: tuple[str, str, str] | None = None
    # The text likewise as (shared body, recipient's part).
    text_pieces: tuple[str, str] | None = None


@functools.lru_cache(maxsize=1024)  # recipients of the same alerts share a subject
def _fold(name: str, value: str) -> str:
    """``Name: value`` folded at spaces to 78 columns; non-ASCII as RFC 2047 encoded words."""
    if not value.isascii():
        encoded = Header(value, "utf-8", header_name=name, maxlinelen=_MAX_LINE)
        return f"{name}: {encoded.encode(linesep=CRLF)}"
    line, lines = f"{name}:", []
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _MAX_LINE and line.strip() != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {word}"
    lines.append(line)
    return CRLF.join(lines)


@functools.cache
def _from_header(from_: str) -> str:
    name, address = parseaddr(from_)
    # formataddr quotes the name, and encodes it when it is not ASCII.
    return _fold("From", formataddr((name, address), charset="utf-8") if address else from_)


def _qp(text: str) -> str:
    body = text.replace("\r\n", "\n").replace("\n", CRLF).encode("utf-8")
    return binascii.b2a_qp(body, quotetabs=False, istext=True, header=False).decode("ascii")


# A body's pieces are the same string objects for every recipient (Python caches a string's
# hash on the object), so looking them up costs far less than encoding them again.
_qp_shared = functools.lru_cache(maxsize=256)(_qp)


def _part(subtype: str, encoded: str) -> str:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{encoded}"
    )


def _text_qp(rendered: Rendered) -> str:
    if rendered.text_pieces is None:
        return _qp(rendered.text)
    shared, own = rendered.text_pieces
    return _qp_shared(shared) + _qp(own)


@functools.lru_cache(maxsize=256)  # a body's recipients share the moment it was queued
def _date(when: datetime) -> str:
    return format_datetime(when)


def _html_qp(rendered: Rendered) -> str:
    if rendered.html_pieces is None:
        return _qp(rendered.html)
    head, own, tail = rendered.html_pieces
    # Quoted-printable is line by line, so pieces that each end a line encode separately.
    return _qp_shared(head) + _qp(own) + _qp_shared(tail)


def build(
    settings: Settings,
    *,
    recipient: str,
    rendered: Rendered,
    message_id: str,
    date: datetime,
    unsubscribe_url: str | None,
    attachment: Attachment | None = None,
) -> bytes:
    """The email, with Message-ID, Date, List-Id and, for subscribers, RFC 8058 one-click
    List-Unsubscribe (operators and confirmation emails have nothing to unsubscribe from)."""
    boundary = "=_" + hashlib.sha256(message_id.encode()).hexdigest()[:32]  # "=_" never in QP
    headers = [
        _from_header(settings.mail.from_),
        f"To: {recipient}",
        _fold("Subject", rendered.subject),
        f"Date: {_date(date)}",
        f"Message-ID: {message_id}",
        _fold("List-Id", settings.mail.list_id),
    ]
    if unsubscribe_url:
        headers += [
            f"List-Unsubscribe: <{unsubscribe_url}>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ]
    headers += [
        # Out-of-office responders leave auto-generated mail alone (RFC 3834).
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
    ]
    if attachment is not None:  # multipart/mixed: the alternative parts, then the file
        outer = "=_m" + boundary[2:]
        headers.append(f'Content-Type: multipart/mixed;{CRLF} boundary="{outer}"')
        headers.append("")
        headers.append(f"--{outer}")
    headers += [f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"']
    text, html = _part("plain", _text_qp(rendered)), _part("html", _html_qp(rendered))
    message = (
        CRLF.join(headers)
        + f"{CRLF}{CRLF}--{boundary}{CRLF}{text}{CRLF}--{boundary}{CRLF}{html}"
        + f"{CRLF}--{boundary}--{CRLF}"
    )
    if attachment is not None:
        message += f"{CRLF}--{outer}{CRLF}{attachment.part()}{CRLF}--{outer}--{CRLF}"
    return message.encode("ascii")


@dataclass(frozen=True)
class Attachment:
    """One file attached to a message (a board pack)."""

    filename: str  # ASCII: the monitor names these files itself
    content_type: str
    data: bytes

    def part(self) -> str:
        body = base64.encodebytes(self.data).decode("ascii").replace("\n", CRLF)
        return (
            f'Content-Type: {self.content_type}; name="{self.filename}"{CRLF}'
            f'Content-Disposition: attachment; filename="{self.filename}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{body}"
        )
