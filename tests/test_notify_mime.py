"""The MIME writer: what it writes, the standard library's parser reads back exactly."""

from __future__ import annotations

import email
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest

from monitor.notify import mime
from tests import alert_fixtures as af

SUBJECT = (
    "[HIGH] The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust: A&E type 1: "
    "under 60% seen within 4 hours (July 2025: 52.1%)"
)


def parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=default)
    assert isinstance(msg, EmailMessage)
    return msg


@pytest.mark.parametrize(
    ("subject", "sender"),
    [
        (SUBJECT, "NHS trust monitor <monitor@alerts.example.nhs.uk>"),
        ("Tendance ▆▅▃ — « région » Est de l’Angleterre", "Moniteur – Région <m@example.org>"),
    ],
)
def test_what_is_written_parses_back_exactly(tmp_path: Path, subject: str, sender: str) -> None:
    settings = af.settings(tmp_path, mail={"from": sender})
    text = (
        "Trend ▁▂▃▄▅▆▇█ and a long line " + "x" * 120 + "\n"
        ".a line starting with a dot\nTrailing space   \n= and =3D stay as written\n"
    )
    html = '<p style="color: #005eb8;">A&amp;E 52.1% ' + "y" * 200 + "</p>\n<p>=_boundary?</p>\n"
    rendered = mime.Rendered(subject, text, html)
    when = datetime(2025, 8, 14, 8, 30, tzinfo=UTC)
    data = mime.build(
        settings,
        recipient="east.oversight@example.nhs.uk",
        rendered=rendered,
        message_id="<abc.event@alerts.example.nhs.uk>",
        date=when,
        unsubscribe_url="http://127.0.0.1:8000/unsubscribe/tok.sig",
    )
    assert data.isascii() and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    # Headers folded and quoted-printable wrapped; a URL cannot be folded, and may not need to.
    long = [line for line in data.split(b"\r\n") if len(line) > 78]
    assert all(line.startswith(b"List-Unsubscribe: <") and len(line) <= 998 for line in long)
    msg = parse(data)
    assert msg["Subject"] == subject
    assert msg["From"].addresses[0].display_name == sender.split(" <")[0]
    assert msg["Date"].datetime == when
    assert msg["Message-ID"] == "<abc.event@alerts.example.nhs.uk>"
    assert msg.get_content_type() == "multipart/alternative"
    # On the wire every line ends in CRLF; the parser keeps them.
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == html
    # The same row gives the same bytes: a message sent again is the same message.
    assert data == mime.build(
        settings,
        recipient="east.oversight@example.nhs.uk",
        rendered=rendered,
        message_id="<abc.event@alerts.example.nhs.uk>",
        date=when,
        unsubscribe_url="http://127.0.0.1:8000/unsubscribe/tok.sig",
    )


def test_shared_html_and_text_pieces_encode_as_the_whole_would(tmp_path: Path) -> None:
    settings = af.settings(tmp_path)
    head = "<html><body>\n" + "<p>" + "z" * 150 + "</p>\n"
    own = '<p>Sent to board@qehkl.nhs.uk <a href="http://x/unsubscribe/t">Unsubscribe</a></p>\n'
    tail = "</body></html>\n"
    # Long lines, trailing spaces and non-ASCII in both pieces of the text.
    shared = "A&E 4-hour performance fell to 61.2% \u2014 " + "y" * 120 + " \n\n"
    own_text = "Sent to board@qehkl.nhs.uk \nUnsubscribe: http://x/unsubscribe/" + "t" * 90 + "\n"
    text = shared + own_text
    whole = mime.Rendered("s", text, head + own + tail)
    pieces = mime.Rendered(
        "s", text, head + own + tail, html_pieces=(head, own, tail), text_pieces=(shared, own_text)
    )
    kw = {
        "recipient": "a@example.org",
        "message_id": "<m@x>",
        "unsubscribe_url": None,
        "date": datetime(2025, 8, 14, tzinfo=UTC),
    }
    assert mime.build(settings, rendered=pieces, **kw) == mime.build(settings, rendered=whole, **kw)
    assert parse(mime.build(settings, rendered=pieces, **kw))["List-Unsubscribe"] is None
