"""Operators' sign-in and actions (CSRF, who did what), and the one-click unsubscribe."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.db import session_scope
from monitor.models import Alert, AlertEvent
from monitor.web import users
from monitor.web.present import LONDON

PASSWORD = "correct horse battery staple"


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, name: str = "alice", password: str = PASSWORD) -> Any:
    token = csrf(client, "/login")
    return client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/league"},
    )


@pytest.fixture
def alice(monkeypatch: pytest.MonkeyPatch) -> None:
    """alice signs in through the environment variable [web] admin_users_env names."""
    monkeypatch.setenv("MONITOR_TEST_ADMIN_USERS", f"alice:{users.hash_password(PASSWORD)}")


def test_an_operator_from_the_environment_signs_in_and_out(
    client: FlaskClient, alice: None
) -> None:
    r = sign_in(client)
    assert r.status_code == 302 and r.headers["Location"] == "/league"
    page = client.get("/").get_data(as_text=True)
    assert "alice" in page and "Sign out" in page
    assert client.get("/").headers["Cache-Control"] == "private, no-store"
    client.post("/logout", data={"csrf_token": csrf(client, "/")})
    assert "Sign in" in client.get("/").get_data(as_text=True)


def test_an_operator_from_the_database_signs_in(client: FlaskClient, engine: Engine) -> None:
    users.add(engine, "Bob", PASSWORD)
    assert sign_in(client, "bob").status_code == 302


def test_a_wrong_password_or_unknown_name_is_refused(client: FlaskClient, alice: None) -> None:
    r = sign_in(client, "alice", "not the password")
    assert r.status_code == 401 and "The name or password is not right" in r.get_data(True)
    assert sign_in(client, "mallory").status_code == 401


def test_sign_in_without_the_csrf_token_is_refused(client: FlaskClient, alice: None) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert r.status_code == 400


def test_sign_in_never_redirects_to_another_site(client: FlaskClient, alice: None) -> None:
    token = csrf(client, "/login")
    r = client.post(
        "/login",
        data={
            "username": "alice",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "https://evil.example/",
        },
    )
    assert r.headers["Location"] == "/"


def test_anonymous_visitors_cannot_act(client: FlaskClient, ids: dict) -> None:
    r = client.post(f"/alerts/{ids['alert']}/acknowledge", data={"note": "x"})
    assert r.status_code == 403
    r = client.get("/admin/subscriptions")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_acknowledge_records_the_operator_and_the_note(
    client: FlaskClient, engine: Engine, alice: None, ids: dict
) -> None:
    sign_in(client)
    path = f"/alerts/{ids['alert']}"
    token = csrf(client, path)
    r = client.post(f"{path}/acknowledge", data={"note": "", "csrf_token": token})
    assert r.status_code == 400 and "Write a note" in r.get_data(True)
    r = client.post(f"{path}/acknowledge", data={"note": "Escalated to the ICB", "csrf_token": "x"})
    assert r.status_code == 400
    r = client.post(
        f"{path}/acknowledge", data={"note": "Escalated to the ICB", "csrf_token": token}
    )
    assert r.status_code == 302
    with session_scope(engine) as s:
        alert = s.get(Alert, ids["alert"])
        assert alert is not None
        assert (alert.acknowledged_by, alert.ack_note) == ("alice", "Escalated to the ICB")
        event = s.exec(
            select(AlertEvent)
            .where(col(AlertEvent.alert_id) == ids["alert"])
            .order_by(col(AlertEvent.id).desc())
        ).first()
        assert event is not None
        assert (event.kind, event.actor, event.note) == ("acknowledged", "alice", alert.ack_note)
        assert event.evidence["value"] == 52.1  # what was known when acknowledged
        assert event.notify is False
    page = client.get(path).get_data(as_text=True)
    assert "Acknowledged by alice." in page


def test_silence_until_a_date_records_the_operator(
    client: FlaskClient, engine: Engine, alice: None, ids: dict
) -> None:
    sign_in(client)
    path = f"/alerts/{ids['alert']}"
    token = csrf(client, path)
    until = datetime.now(LONDON).date() + timedelta(days=14)
    form = {"until-day": until.day, "until-month": until.month, "until-year": until.year}
    r = client.post(
        f"{path}/silence", data={**form, "until-day": "31", "until-month": "2", "csrf_token": token}
    )
    assert r.status_code == 400 and "Enter a real date" in r.get_data(True)
    r = client.post(f"{path}/silence", data={**form, "until-year": "2020", "csrf_token": token})
    assert r.status_code == 400 and "today or in the future" in r.get_data(True)
    assert client.post(f"{path}/silence", data={**form, "csrf_token": token}).status_code == 302
    with session_scope(engine) as s:
        alert = s.get(Alert, ids["alert"])
        assert alert is not None and alert.silenced_by == "alice"
        ends = alert.silenced_until
        assert ends is not None
        assert ends.astimezone(LONDON).date() == until + timedelta(days=1)
        kinds = [
            e.kind
            for e in s.exec(select(AlertEvent).where(col(AlertEvent.alert_id) == ids["alert"]))
        ]
        assert kinds[-1] == "silenced"
    assert "silenced by alice" in client.get(path).get_data(as_text=True)


def test_ended_alerts_cannot_be_acknowledged(client: FlaskClient, alice: None, ids: dict) -> None:
    sign_in(client)
    token = csrf(client, f"/alerts/{ids['alert']}")
    r = client.post(
        f"/alerts/{ids['resolved']}/acknowledge", data={"note": "late", "csrf_token": token}
    )
    assert r.status_code == 409


def test_subscriptions_page_says_when_notifications_are_not_installed(
    client: FlaskClient, alice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.web import admin

    monkeypatch.setattr(admin, "notify_subscriptions", lambda: None)
    sign_in(client)
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert "needs the notifications part" in page
    token = csrf(client, "/admin/subscriptions")
    r = client.post("/admin/subscriptions", data={"csrf_token": token, "email": "a@b.nhs.uk"})
    assert r.status_code == 501


class FakeTokens:
    """Stands in for monitor.notify.tokens.unsubscribe (another part of the monitor)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, engine: Engine, token: str) -> bool:
        self.calls.append(token)
        return token == "good-token"


def test_unsubscribe_without_the_notifications_part_is_501(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a version without the notifications part: importing it fails.
    monkeypatch.setitem(sys.modules, "monitor.notify.tokens", None)
    client = app.test_client()
    r = client.get("/unsubscribe/abc")
    assert r.status_code == 501 and "not available" in r.get_data(True)
    assert client.post("/unsubscribe/abc").status_code == 501


def test_unsubscribe_shows_a_page_then_one_click_post_unsubscribes(app: Flask) -> None:
    fake = FakeTokens()
    app.config["UNSUBSCRIBE"] = fake
    client = app.test_client()
    r = client.get("/unsubscribe/good-token")
    assert r.status_code == 200 and fake.calls == []  # GET changes nothing
    assert r.headers["Cache-Control"] == "no-store"
    assert 'action="/unsubscribe/good-token"' in r.get_data(True)
    # RFC 8058: a mail client POSTs List-Unsubscribe=One-Click, with no cookie or token.
    r = client.post(
        "/unsubscribe/good-token",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert r.status_code == 200 and "You have been unsubscribed" in r.get_data(True)
    assert fake.calls == ["good-token"]
    r = client.post("/unsubscribe/forged")
    assert r.status_code == 404 and "not recognised" in r.get_data(True)


def test_many_wrong_passwords_make_that_name_wait(
    client: FlaskClient, alice: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.web import auth

    monkeypatch.setattr(auth, "throttle", auth.Throttle())
    for _ in range(auth.MAX_FAILURES):
        assert sign_in(client, "alice", "not the password").status_code == 401
    r = sign_in(client)  # even the right password, for now
    assert r.status_code == 429 and "Too many wrong passwords" in r.get_data(True)
    assert sign_in(client, "bob", "not the password").status_code == 401  # other names are not
