"""Operators' sign-in and actions (CSRF, who did what) and the subscriptions page, through the
real subscription functions on the `engine` fixture's database."""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from web_fixtures import DOUBLE_OPT_IN, PASSWORD, csrf, make_ctx, sign_in

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Outbox, Subscription
from monitor.notify import subscriptions as subs
from monitor.web import create_app, login_throttle, users
from monitor.web.present import LONDON


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


def subscription_rows(engine: Engine) -> list[Subscription]:
    with session_scope(engine) as s:
        return list(s.exec(select(Subscription).order_by(col(Subscription.id))))


def test_an_operator_adds_a_subscription_from_the_page(
    client: FlaskClient, engine: Engine, alice: None, caplog: pytest.LogCaptureFixture
) -> None:
    sign_in(client)
    token = csrf(client, "/admin/subscriptions")
    form = {
        "email": "Board@QEHKL.nhs.uk",
        "scope": "org",
        "code": "rcx",
        "min_severity": "high",
        "csrf_token": token,
    }
    with caplog.at_level(logging.INFO, logger="monitor.web.admin"):
        r = client.post("/admin/subscriptions", data=form)
    assert r.status_code == 302 and r.headers["Location"] == "/admin/subscriptions"
    (sub,) = subscription_rows(engine)
    assert (sub.email, sub.scope, sub.code, sub.min_severity, sub.origin) == (
        "Board@qehkl.nhs.uk",
        "org",
        "RCX",
        "high",
        "web",
    )
    assert sub.confirmed_at is not None and sub.unsubscribed_at is None  # no double opt-in here
    assert f"operator alice added subscription #{sub.id}" in caplog.text
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert f"Subscription #{sub.id} added: Board@qehkl.nhs.uk, org RCX, high and above." in page
    assert f'data-subscription="{sub.id}"' in page and "active" in page
    # The same subscription again changes nothing.
    r = client.post("/admin/subscriptions", data=form)
    assert r.status_code == 302
    assert [x.id for x in subscription_rows(engine)] == [sub.id]
    assert "already has this subscription" in client.get("/admin/subscriptions").get_data(True)


def test_with_double_opt_in_an_added_subscription_waits_for_its_confirmation(
    tmp_path: Path, engine: Engine, ids: dict, alice: None
) -> None:
    app = create_app(make_ctx(tmp_path, engine, DOUBLE_OPT_IN))
    client = app.test_client()
    sign_in(client)
    token = csrf(client, "/admin/subscriptions")
    form = {"email": "east@example.nhs.uk", "scope": "region", "code": "Y61", "csrf_token": token}
    assert client.post("/admin/subscriptions", data=form).status_code == 302
    (sub,) = subscription_rows(engine)
    assert sub.confirmed_at is None
    with session_scope(engine) as s:
        (row,) = s.exec(select(Outbox)).all()
        assert (row.kind, row.recipient) == ("confirm", "east@example.nhs.uk")
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert "awaiting confirmation" in page and "It starts once east@example.nhs.uk confirms" in page


A = "a@example.nhs.uk"


@pytest.mark.parametrize(
    ("email", "scope", "code", "severity", "field", "message"),
    [
        ("not-an-address", "org", "RCX", "info", "email", "is not a valid email address"),
        (A, "org", "ZZ999", "info", "code", "unknown organisation 'ZZ999'"),
        # Yeovil District Hospital merged into Somerset NHS FT (RH5) on 1 April 2023.
        (
            A,
            "org",
            "RA4",
            "info",
            "code",
            "closed on 31 March 2023 and merged into Somerset NHS Foundation Trust (RH5): "
            "subscribe to RH5 instead",
        ),
        (A, "region", "Y99", "info", "code", "unknown region 'Y99'"),
        (A, "icb", "RCX", "info", "code", "unknown ICB 'RCX'"),
        (A, "org", "RCX\x00", "info", "code", "unknown organisation"),
        (A, "org", "RCX", "dire", "min_severity", "unknown severity 'dire'"),
        (A, "planet", "RCX", "info", "scope", "scope must be one of region, icb, org"),
    ],
)
def test_a_subscription_the_validator_refuses_comes_back_as_the_form_with_the_reason(
    client: FlaskClient,
    engine: Engine,
    alice: None,
    email: str,
    scope: str,
    code: str,
    severity: str,
    field: str,
    message: str,
) -> None:
    sign_in(client)
    form = {"email": email, "scope": scope, "code": code, "min_severity": severity}
    token = csrf(client, "/admin/subscriptions")
    r = client.post("/admin/subscriptions", data={**form, "csrf_token": token})
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 400 and "There is a problem" in page and message in page
    assert f'href="#{field}"' in page  # the error summary points at the field
    if field == "email":
        assert 'id="email-error"' in page and f'value="{email}"' in page  # shown again
    assert subscription_rows(engine) == []


def test_an_operator_removes_a_subscription_from_the_page(
    client: FlaskClient, ctx: Context, engine: Engine, alice: None
) -> None:
    with session_scope(engine, write=True) as s:
        keep, _ = subs.add(s, ctx.settings, subs.Request("east@example.nhs.uk", "region", "Y61"))
        gone, _ = subs.add(s, ctx.settings, subs.Request("east@example.nhs.uk", "org", "RCX"))
        keep_id, gone_id = keep.id, gone.id
    sign_in(client)
    token = csrf(client, "/admin/subscriptions")
    remove = {"action": "remove", "id": str(gone_id), "csrf_token": token}
    assert client.post("/admin/subscriptions", data=remove).status_code == 302
    ended = {x.id: x.unsubscribed_at for x in subscription_rows(engine)}
    assert ended[keep_id] is None and ended[gone_id] is not None
    page = client.get("/admin/subscriptions").get_data(as_text=True)
    assert f"Subscription #{gone_id} removed: east@example.nhs.uk, org RCX." in page
    assert f'data-subscription="{gone_id}"' not in page and f'data-subscription="{keep_id}"' in page
    # Removing it again changes nothing and says so.
    assert client.post("/admin/subscriptions", data=remove).status_code == 302
    assert {x.id: x.unsubscribed_at for x in subscription_rows(engine)} == ended
    assert "had already ended" in client.get("/admin/subscriptions").get_data(True)


@pytest.mark.parametrize("bad_id", ["99999999999999999999", "424242", "abc", "", "²"])
def test_removing_a_subscription_that_does_not_exist_is_a_400(
    client: FlaskClient, engine: Engine, alice: None, bad_id: str
) -> None:
    sign_in(client)
    token = csrf(client, "/admin/subscriptions")
    r = client.post(
        "/admin/subscriptions", data={"action": "remove", "id": bad_id, "csrf_token": token}
    )
    assert r.status_code == 400 and "there is no subscription" in r.get_data(True)


def test_the_subscriptions_page_needs_an_operator_and_a_csrf_token(
    client: FlaskClient, engine: Engine, alice: None
) -> None:
    form = {"email": "a@example.nhs.uk", "scope": "org", "code": "RCX"}
    assert client.post("/admin/subscriptions", data=form).status_code == 403
    sign_in(client)
    assert client.post("/admin/subscriptions", data=form).status_code == 400
    assert client.post("/admin/subscriptions", data={**form, "csrf_token": "x"}).status_code == 400
    assert subscription_rows(engine) == []


def test_many_wrong_passwords_make_that_name_wait(client: FlaskClient, alice: None) -> None:
    for _ in range(login_throttle.FREE):
        assert sign_in(client, "alice", "not the password").status_code == 401
    r = sign_in(client)  # even the right password, for now
    assert r.status_code == 429 and "Too many wrong passwords: try again in" in r.get_data(True)
    assert int(r.headers["Retry-After"]) >= 1
