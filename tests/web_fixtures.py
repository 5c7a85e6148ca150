"""Fixtures for the status page tests: an app over the `engine` fixture's database, seeded, and
the helpers its tests share (signing in, CSRF tokens, the links in delivered emails)."""

from __future__ import annotations

import contextlib
import email
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from web_seed import seed

from monitor import config
from monitor.context import Context
from monitor.notify import outbox
from monitor.web import create_app, users
from monitor.web.server import make_server

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"
ADMIN_ENV = "MONITOR_TEST_ADMIN_USERS"

CONFIG = """
[paths]
var = "var"
templates = "{templates}"

[web]
base_url = "{base_url}"
admin_users_env = "MONITOR_TEST_ADMIN_USERS"

[security]
secret_env = "MONITOR_TEST_SECRET"

[sources.ae]
schedule = { day = "2nd thu", hour = 9, minute = 30 }

[sources.cqc]
every_minutes = 30
"""
DOUBLE_OPT_IN = "\n[subscriptions]\ndouble_opt_in = true\n"


def make_ctx(
    tmp_path: Path,
    engine: Engine,
    extra: str = "",
    *,
    base_url: str = "https://alerts.example.nhs.uk",
) -> Context:
    path = tmp_path / "config.toml"
    text = CONFIG.replace("{templates}", str(ROOT / "templates"))
    path.write_text(text.replace("{base_url}", base_url) + extra)
    return Context(config.parse(path.read_text(), path), engine)


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    return make_ctx(tmp_path, engine)


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return seed(engine)


@pytest.fixture
def app(ctx: Context, ids: dict[str, int]) -> Iterator[Flask]:
    app = create_app(ctx)
    app.config["TESTING"] = True
    # Re-read the data version on every request, so a test sees its own writes at once.
    app.extensions["monitor"].data_version.ttl = 0
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def alice(monkeypatch: pytest.MonkeyPatch) -> None:
    """alice signs in through the environment variable [web] admin_users_env names."""
    monkeypatch.setenv(ADMIN_ENV, f"alice:{users.hash_password(PASSWORD)}")


def csrf_in(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def csrf(client: FlaskClient, path: str) -> str:
    return csrf_in(client.get(path).get_data(as_text=True))


def sign_in(client: FlaskClient, name: str = "alice", password: str = PASSWORD) -> Any:
    token = csrf(client, "/login")
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/league"},
    )


def mailbox(ctx: Context) -> list[EmailMessage]:
    """Deliver what waits in the outbox (the maildir transport) and return every message the
    maildir holds, oldest first."""
    outbox.deliver(ctx.engine, ctx.settings)
    folder = ctx.settings.mail.maildir / "new"
    files = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns) if folder.is_dir() else []
    out = []
    for f in files:
        msg = email.message_from_bytes(f.read_bytes(), policy=default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def confirm_link(msg: EmailMessage) -> str:
    """The confirmation link in a confirmation email's text."""
    text = msg.get_body(("plain",))
    assert text is not None
    found = re.search(r"https?://\S+/confirm/\S+", text.get_content())
    assert found, "no confirmation link in the email"
    return found.group(0)


def unsubscribe_link(msg: EmailMessage) -> str:
    """The URL in the List-Unsubscribe header (RFC 8058), unfolded."""
    return re.sub(r"\s+", "", str(msg["List-Unsubscribe"])).strip("<>")


def path_of(url: str) -> str:
    """A link's path, to follow it on a test server whatever [web] base_url says."""
    return "/" + url.split("://", 1)[1].split("/", 1)[1]


@contextmanager
def serving(ctx: Context, port: int = 0, app: Flask | None = None) -> Iterator[str]:
    """The status page on the app's own waitress server (monitor.web.server) on 127.0.0.1,
    run in a thread; yields its URL and stops it afterwards."""
    server = make_server(ctx, "127.0.0.1", port, app=app)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Everything is closed by the server's own loop thread (a trigger thunk): closed from
        # here, a descriptor could vanish under that thread's select(). The loop ends once
        # nothing is left open. OSError: the loop is ending, or has ended, having closed its
        # trigger with everything else a moment before its thread returns (the join below
        # waits for that, and checks it).
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(lambda: [ch.close() for ch in list(server._map.values())])
        thread.join(timeout=30)
        server.task_dispatcher.shutdown()
        assert not thread.is_alive(), "the status page's server did not stop"
