"""Chat channels end to end: a live A&E publication reaches Teams, Slack and a signed webhook
once each, and a sender started again sends nothing more.

A stand-in publisher (tests/test_poll.py's, on 127.0.0.1) serves NHS England's real A&E pages
and files; the real `monitor` command polls it (discover, fetch, ingest, evaluate, send); a
real HTTP server on 127.0.0.1 stands in for each chat service (tests/chat_sinks.py); the
database is the `engine` fixture's (SQLite and PostgreSQL).
"""

from __future__ import annotations

import email
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email.policy import default
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner

from monitor.cli import app as cli
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Outbox
from tests.chat_sinks import Answer, ChatServer
from tests.conftest import ROOT
from tests.test_poll import INDEX, PAGES, REAL_HOST, YEAR, Publisher

SECRET_ENV = "MONITOR_TEST_WEBHOOK_SECRET"
SECRET = "shared with the receiver, never in a file"
BOARD = "board@qehkl.nhs.uk"
TEAMS, SLACK, HOOK = "/teams/workflows/abc", "/slack/services/T0/B0/xyz", "/receiver"
YEAR_PAGE = "ae-attendances-and-emergency-admissions-2025-26.html"
LATER = ("July-2025-CSV-9jfy4.csv", "August-2025-CSV-g5tyh.csv", "August-2025-CSV-g5tyh-v2.0.csv")


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    server.answer(TEAMS, default=Answer(202, b""))  # Teams Workflows answers 202 Accepted
    yield server
    server.stop()


def year_page(pub: Publisher, *, hide: tuple[str, ...]) -> None:
    """The yearly page, with the links to the files in ``hide`` not yet there."""
    html = (PAGES / YEAR_PAGE).read_text().replace(REAL_HOST, pub.base)
    for name in hide:
        html = re.sub(rf'<a href="[^"]*/{re.escape(name)}">[^<]*</a>', "", html)
    pub.pages[YEAR] = html.encode()


def monitor(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), *args])
    assert result.exit_code == 0, result.output
    return result.output


def send_in_a_new_process(config: Path) -> str:
    """`monitor send` as a freshly started process would run it."""
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "--config", str(config), "send", "--json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=os.environ.copy(),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def posted(chat: ChatServer, path: str) -> list[dict]:
    return [json.loads(p.body) for p in chat.to(path)]


def test_a_live_publication_reaches_each_channel_once(
    tmp_path: Path,
    engine: Engine,
    httpserver: HTTPServer,
    chat: ChatServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    pub = Publisher(httpserver)
    pub.page(INDEX, "ae-waiting-times-and-activity.html")
    for f in (ROOT / "data" / "real" / "ae").glob("*.csv"):
        pub.files[f.name] = f.read_bytes()
    config = tmp_path / "config.toml"
    config.write_text(
        f"""
[database]
url = "{engine.url.render_as_string(hide_password=False)}"
[paths]
var = "var"
rules = "{ROOT / "rules"}"
templates = "{ROOT / "templates"}"
[sources.ae]
index_url = "{pub.base}{INDEX}"
[http]
retries = 1
[chat]
webhook_secret_env = "{SECRET_ENV}"
[security]
secret_env = "MONITOR_TEST_SECRET"
"""
    )
    # An operator subscribes a Teams channel, a Slack channel, a webhook and an email to RCX.
    for channel, path in (("teams", TEAMS), ("slack", SLACK), ("webhook", HOOK)):
        out = monitor(
            config, "subscribers", "add", chat.url(path), "--org", "RCX", "--channel", channel
        )
        assert out.startswith("added #") and chat.url(path) not in out  # the URL is a secret
    monitor(config, "subscribers", "add", BOARD, "--org", "RCX")

    # 1. The first poll finds April to June: history, recorded quietly, sent nowhere.
    year_page(pub, hide=LATER)
    monitor(config, "poll", "ae")
    assert chat.posts == []

    # 2. July's file is published: the poll ingests it live, evaluates, and sends.
    year_page(pub, hide=LATER[1:])
    monitor(config, "poll", "ae")
    with session_scope(engine) as s:
        fired = s.exec(
            select(Alert.rule)
            .join(AlertEvent, col(AlertEvent.alert_id) == col(Alert.id))
            .where(Alert.org == "RCX", AlertEvent.kind == "fired", col(AlertEvent.notify))
        ).all()
        rows = s.exec(select(Outbox).order_by(col(Outbox.id))).all()
    assert fired == ["ae_all_below_60"]
    assert len(chat.to(TEAMS)) == len(chat.to(SLACK)) == len(chat.to(HOOK)) == 1
    assert [r.status for r in rows] == ["sent"] * 4
    assert {r.recipient.split(":")[0] for r in rows} == {"teams", "slack", "webhook", BOARD}

    # The email's words, for comparing: the figure against its threshold.
    (eml,) = (tmp_path / "var" / "outbox" / "new").iterdir()
    msg = email.message_from_bytes(eml.read_bytes(), policy=default)
    text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    status = re.search(r"^.*percentage points below the 60% threshold.*$", text, re.M)
    assert status, text
    sentence = status.group(0).strip().rstrip(".")  # the email ends the sentence

    # Teams: a message whose attachment is an Adaptive Card, with the email's words.
    (card,) = posted(chat, TEAMS)
    assert card["type"] == "message"
    (attachment,) = card["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    content = attachment["content"]
    assert content["type"] == "AdaptiveCard" and content["version"] == "1.4"
    words = json.dumps(content, ensure_ascii=False)
    assert msg["Subject"] in words and sentence in words
    assert "The Queen Elizabeth Hospital, King's Lynn" in words or "RCX" in words

    # Slack: Block Kit, the subject as the notification text (mrkdwn: & escaped).
    (slack,) = posted(chat, SLACK)
    assert slack["text"] == msg["Subject"].replace("&", "&amp;")
    assert slack["blocks"][0]["type"] == "header"
    assert any(sentence in (b.get("text") or {}).get("text", "") for b in slack["blocks"])

    # The webhook: signed with HMAC-SHA256 over "<timestamp>.<body>", checked here as a
    # receiver would check it, with its own copy of the secret.
    (hook,) = chat.to(HOOK)
    stamp = hook.headers["X-Monitor-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + hook.body, hashlib.sha256)
    assert hook.headers["X-Monitor-Signature"] == "sha256=" + expected.hexdigest()
    data = json.loads(hook.body)
    (alert,) = data["fired"]
    assert (alert["org_code"], alert["rule"]) == ("RCX", "ae_all_below_60")
    assert alert["status_text"] == sentence and data["title"] == msg["Subject"]
    assert hook.headers["X-Monitor-Key"] == data["key"]
    assert data["key"] in {r.key for r in rows}

    # 3. The sender started again, and the poll run again: nothing is sent twice.
    report = json.loads(send_in_a_new_process(config))
    assert (report["sent"], report["failed"], report["retrying"]) == (0, 0, 0)
    monitor(config, "poll", "ae")
    assert len(chat.to(TEAMS)) == len(chat.to(SLACK)) == len(chat.to(HOOK)) == 1
    assert len(list((tmp_path / "var" / "outbox" / "new").iterdir())) == 1
