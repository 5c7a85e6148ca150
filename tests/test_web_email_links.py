"""The pages links in subscribers' emails lead to (/confirm/<token>, /unsubscribe/<token>), with
links taken from real emails: queued by the real subscription and routing code, delivered by
the real sender to a maildir, on the `engine` fixture's database."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from web_fixtures import (
    DOUBLE_OPT_IN,
    confirm_link,
    mailbox,
    make_ctx,
    path_of,
    unsubscribe_link,
)

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Subscription, utcnow
from monitor.notify import subscriptions as subs
from monitor.notify import tokens
from monitor.web import create_app
from tests import alert_fixtures as af

BOARD = "board@qehkl.nhs.uk"
EAST = "east.oversight@example.nhs.uk"
ONE_CLICK = "List-Unsubscribe=One-Click"  # the body RFC 8058 has mail clients POST
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    return make_ctx(tmp_path, engine, DOUBLE_OPT_IN)


@pytest.fixture
def client(ctx: Context) -> FlaskClient:
    app = create_app(ctx)
    app.config["TESTING"] = True
    return app.test_client()


def add(ctx: Context, email: str, scope: str = "org", code: str = "RCX") -> int:
    with session_scope(ctx.engine, write=True) as s:
        sub, created = subs.add(s, ctx.settings, subs.Request(email, scope, code))
        assert created and sub.id is not None
        return sub.id


def states(engine: Engine) -> list[tuple[int | None, bool, bool]]:
    """(id, confirmed, ended) of every subscription."""
    with session_scope(engine) as s:
        rows = s.exec(select(Subscription).order_by(col(Subscription.id)))
        return [(x.id, x.confirmed_at is not None, x.unsubscribed_at is not None) for x in rows]


def text(r: object) -> str:
    return html.unescape(r.get_data(as_text=True))  # type: ignore[attr-defined]


def alert_email_to(ctx: Context, address: str) -> str:
    """Fire an alert for RCX, deliver it, and return the List-Unsubscribe URL of its email."""
    _, event = af.alert(ctx.engine, "RCX", af.publication(ctx.engine))
    af.route(ctx.engine, ctx.settings, [event])
    (msg,) = [m for m in mailbox(ctx) if m["To"] == address and m["List-Unsubscribe"]]
    assert msg["List-Unsubscribe-Post"] == ONE_CLICK
    return unsubscribe_link(msg)


def test_the_confirmation_link_shows_a_page_and_its_button_confirms(
    client: FlaskClient, ctx: Context
) -> None:
    sub_id = add(ctx, EAST, "region", "Y61")
    (msg,) = mailbox(ctx)
    link = confirm_link(msg)
    assert link.startswith("https://alerts.example.nhs.uk/confirm/")
    path = path_of(link)

    r = client.get(path)  # what a mail scanner's prefetch does: nothing changes
    page = text(r)
    assert r.status_code == 200 and "Confirm your subscription" in page
    assert EAST in page and "region Y61" in page and f'action="{path}"' in page
    assert (
        r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    )
    assert states(ctx.engine) == [(sub_id, False, False)]

    r = client.post(path)  # the button: no session, no CSRF token; the link is the capability
    assert r.status_code == 200 and "Your subscription is confirmed" in text(r)
    assert states(ctx.engine) == [(sub_id, True, False)]
    r = client.post(path)
    assert r.status_code == 200 and "already confirmed" in text(r)
    assert states(ctx.engine) == [(sub_id, True, False)]


def test_one_click_unsubscribe_from_the_list_unsubscribe_header(
    client: FlaskClient, ctx: Context
) -> None:
    sub_id = add(ctx, BOARD)
    assert client.post(path_of(confirm_link(mailbox(ctx)[0]))).status_code == 200
    path = path_of(alert_email_to(ctx, BOARD))
    assert path.startswith("/unsubscribe/")

    r = client.get(path)
    page = text(r)
    assert r.status_code == 200 and "Unsubscribe from alert emails" in page
    assert BOARD in page and "org RCX" in page and f'action="{path}"' in page
    assert states(ctx.engine) == [(sub_id, True, False)]

    # RFC 8058: the mail client POSTs this body, with no cookie and no CSRF token.
    r = client.post(path, data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 200 and "You have been unsubscribed" in text(r)
    assert states(ctx.engine) == [(sub_id, True, True)]
    r = client.post(path, data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 200 and "You were already unsubscribed" in text(r)
    assert states(ctx.engine) == [(sub_id, True, True)]


@dataclass(frozen=True)
class Links:
    confirm: str  # the path of a confirmation link not yet used
    unsubscribe: str  # the path of a one-click unsubscribe link not yet used
    secret: bytes


@pytest.fixture
def links(client: FlaskClient, ctx: Context) -> Links:
    """One subscription awaiting confirmation, one confirmed that has had an alert email."""
    add(ctx, EAST, "region", "Y61")
    add(ctx, BOARD)
    confirms = {m["To"]: path_of(confirm_link(m)) for m in mailbox(ctx)}
    assert client.post(confirms[BOARD]).status_code == 200
    unsubscribe = path_of(alert_email_to(ctx, BOARD))
    return Links(confirms[EAST], unsubscribe, tokens.load_secret(ctx.settings))


def _token(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _flip_last(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


# (name, which route, how the token is made from the good links)
BAD = [
    ("forged", "confirm", lambda k: tokens.sign(b"not the secret", tokens.CONFIRM, ["x"])),
    ("signature altered", "confirm", lambda k: _flip_last(_token(k.confirm))),
    ("signature altered", "unsubscribe", lambda k: _flip_last(_token(k.unsubscribe))),
    ("payload altered", "unsubscribe", lambda k: "x" + _token(k.unsubscribe)),
    ("cut short", "unsubscribe", lambda k: _token(k.unsubscribe)[:-5]),
    ("no signature", "confirm", lambda k: _token(k.confirm).split(".")[0]),
    ("wrong purpose", "confirm", lambda k: _token(k.unsubscribe)),
    ("wrong purpose", "unsubscribe", lambda k: _token(k.confirm)),
    ("not ascii", "unsubscribe", lambda k: _token(k.unsubscribe)[:-1] + "é"),
    ("far too long", "unsubscribe", lambda k: "a" * 5000 + "." + "b" * 22),
    ("no such subscription", "unsubscribe", lambda k: tokens.sign(k.secret, "unsubscribe", ["x"])),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("name", "route", "make"), BAD, ids=[f"{b[0]}-{b[1]}" for b in BAD])
def test_a_bad_link_gets_a_400_page_and_changes_nothing(
    client: FlaskClient,
    ctx: Context,
    links: Links,
    method: str,
    name: str,
    route: str,
    make: object,
) -> None:
    before = states(ctx.engine)
    path = f"/{route}/{make(links)}"  # type: ignore[operator]
    r = client.open(path, method=method, data=ONE_CLICK, content_type=FORM)
    assert r.status_code == 400, name
    assert "This link cannot be used" in text(r) and "Nothing was changed" in text(r)
    assert states(ctx.engine) == before
    # The good links still work afterwards.
    assert client.get(links.confirm).status_code == 200
    assert client.get(links.unsubscribe).status_code == 200


def test_an_expired_confirmation_link_gets_a_400_and_adding_again_sends_a_new_one(
    client: FlaskClient, ctx: Context
) -> None:
    sub_id = add(ctx, EAST, "region", "Y61")
    path = path_of(confirm_link(mailbox(ctx)[0]))
    with session_scope(ctx.engine, write=True) as s:  # added longer ago than links work
        sub = s.get_one(Subscription, sub_id)
        sub.created_at = utcnow() - subs.CONFIRM_WITHIN - timedelta(minutes=1)
        s.add(sub)
    for method in ("GET", "POST"):
        r = client.open(path, method=method)
        assert r.status_code == 400 and "This confirmation link has expired" in text(r)
    assert states(ctx.engine) == [(sub_id, False, False)]

    with session_scope(ctx.engine, write=True) as s:
        new, created = subs.add(s, ctx.settings, subs.Request(EAST, "region", "Y61"))
        new_id = new.id
    assert created and states(ctx.engine) == [(sub_id, False, True), (new_id, False, False)]
    fresh = path_of(confirm_link(mailbox(ctx)[-1]))
    assert fresh != path and client.post(fresh).status_code == 200
    assert states(ctx.engine) == [(sub_id, False, True), (new_id, True, False)]
    r = client.post(path)  # the old link now names an ended subscription
    assert r.status_code == 400 and "has been ended" in text(r)


def test_confirming_a_subscription_an_operator_has_removed_changes_nothing(
    client: FlaskClient, ctx: Context
) -> None:
    sub_id = add(ctx, EAST, "region", "Y61")
    path = path_of(confirm_link(mailbox(ctx)[0]))
    with session_scope(ctx.engine, write=True) as s:
        subs.remove_one(s, sub_id)
    r = client.post(path)
    assert r.status_code == 400 and "has been ended, so it cannot be confirmed" in text(r)
    assert states(ctx.engine) == [(sub_id, False, True)]
