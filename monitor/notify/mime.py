"""Message-IDs and the MIME message: multipart/alternative with the list headers.

A message's bytes depend only on its outbox row and what it was rendered from: the Date is
the moment the row was queued and the Message-ID was fixed then, so a message sent again
after a crash is the same message and mail clients thread (or drop) the copy.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

from monitor.config import Settings


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
    html: str


def build(
    settings: Settings,
    *,
    recipient: str,
    rendered: Rendered,
    message_id: str,
    date: datetime,
    unsubscribe_url: str | None,
) -> EmailMessage:
    """The email, with Message-ID, Date, List-Id and, for subscribers, RFC 8058 one-click
    List-Unsubscribe (operators and confirmation emails have nothing to unsubscribe from)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = settings.mail.from_
    msg["To"] = recipient
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    msg["List-Id"] = settings.mail.list_id
    if unsubscribe_url:
        msg["List-Unsubscribe"] = f"<{unsubscribe_url}>"
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    # Out-of-office responders leave auto-generated mail alone (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg
