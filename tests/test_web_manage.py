"""A subscriber's own page (/subscriptions/<token>) from the link in every email: links taken
from real emails (queued by the real sign-up, routing and digest code, delivered by the real
sender to a maildir), actions through the real app, on the `engine` fixture's database."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from web_fixtures import confirm_link, mailbox, make_ctx, path_of, sign_in, unsubscribe_link

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Outbox, Subscription
from monitor.notify import digest, signups, tokens
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af

BOARD = "board@qehkl.nhs.uk"
EAST = "east.oversight@example.nhs.uk"
MANAGE = re.compile(r"Manage your subscriptions \([a-z, ]+\): (\S+)")


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    return make_ctx(tmp_path, engine)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A client that keeps no cookies: the link alone must be enough."""
    return app.test_client(use_cookies=False)


def text(r: Any) -> str:
    """A page's visible words: tags dropped, entities decoded, white space made one space."""
    no_tags = re.sub(r"<[^>]+>", " ", r.get_data(as_text=True))
    return " ".join(html.unescape(no_tags).split())


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def manage_link(msg: EmailMessage) -> str:
    """The manage link of an email: in the text, and the same in the HTML."""
    found = MANAGE.search(body(msg))
    assert found, "no manage link in the email's text"
    html_part = msg.get_body(("html",))
    assert html_part is not None and f'href="{found.group(1)}"' in html_part.get_content()
    return path_of(found.group(1))


def sign_up(ctx: Context, email: str, scope: str = "org", code: str = "RCX") -> int:
    """A self-service sign-up, as /subscribe makes it."""
    with session_scope(ctx.engine, write=True) as s:
        done = signups.sign_up(
            s, ctx.settings, subs.Request(email, scope, code, min_severity="medium"), client="x"
        )
        assert done.subscription.id is not None
        return done.subscription.id


def snapshot(engine: Engine) -> list[tuple[Any, ...]]:
    """Every column of every subscription."""
    with session_scope(engine) as s:
        found = s.exec(select(Subscription).order_by(col(Subscription.id)))
        return [tuple(x.model_dump().values()) for x in found]


def one(engine: Engine, sub_id: int) -> Subscription:
    with session_scope(engine) as s:
        return s.get_one(Subscription, sub_id)


@dataclass(frozen=True)
class Board:
    """BOARD subscribed to RCX (confirmed) and Y61 (waiting), and the links it was sent."""

    rcx: int
    east: int
    confirm: str  # the path of the confirmation email's manage link
    alert: str  # the path of an alert email's manage link
    unsubscribe: str  # the alert email's one-click unsubscribe path
    secret: bytes


def alert_email(ctx: Context, to: str, **kw: Any) -> EmailMessage:
    """Fire an alert for RCX and deliver; the email ``to`` got."""
    pub = af.publication(ctx.engine, url=f"{af.JULY_URL}?for={to}")
    _, event = af.alert(ctx.engine, "RCX", pub, **kw)
    assert af.route(ctx.engine, ctx.settings, [event])
    return [m for m in mailbox(ctx) if m["To"] == to and m["List-Unsubscribe"]][-1]


@pytest.fixture
def board(ctx: Context, client: FlaskClient) -> Board:
    rcx = sign_up(ctx, BOARD)
    (confirmation,) = mailbox(ctx)
    assert client.post(path_of(confirm_link(confirmation))).status_code == 200
    east = sign_up(ctx, BOARD, "region", "Y61")
    msg = alert_email(ctx, BOARD)
    secret = tokens.load_secret(ctx.settings)
    return Board(
        rcx,
        east,
        manage_link(confirmation),
        manage_link(msg),
        path_of(unsubscribe_link(msg)),
        secret,
    )


def post(client: FlaskClient, path: str, action: str, sub: int | None, **fields: Any) -> Any:
    data = {"action": action, **({"subscription": str(sub)} if sub is not None else {}), **fields}
    return client.post(path, data=data)


def test_every_email_to_a_subscriber_links_to_its_page(ctx: Context, client: FlaskClient) -> None:
    sign_up(ctx, EAST, "region", "Y61")
    (confirmation,) = mailbox(ctx)
    links = {"confirmation": manage_link(confirmation)}
    client.post(path_of(confirm_link(confirmation)))
    _, single = af.alert(ctx.engine, "RCX", af.publication(ctx.engine))
    af.route(ctx.engine, ctx.settings, [single])
    pub = af.publication(ctx.engine, url=af.JULY_URL + "?revised")
    events = [af.alert(ctx.engine, o, pub, rule="ae_all_below_60")[1] for o in ("RDE", "RC9")]
    af.route(ctx.engine, ctx.settings, events)
    monday = af.PUBLISHED + timedelta(days=4)
    assert digest.queue(ctx.engine, ctx.settings, week="2025-W33", now=monday)
    by_kind = {}
    with session_scope(ctx.engine) as s:
        kinds = {r.message_id: r.kind for r in s.exec(select(Outbox))}
    for msg in mailbox(ctx)[1:]:
        by_kind[kinds[msg["Message-ID"]]] = manage_link(msg)
    links |= by_kind
    assert set(links) == {"confirmation", "event", "group", "digest"}
    for kind, path in links.items():
        r = client.get(path)
        assert r.status_code == 200, kind
        assert f"{EAST} Your alert emails" in text(r) and "East of England (Y61)" in text(r)


def test_the_page_shows_the_subscriptions_and_a_get_changes_nothing(
    ctx: Context, client: FlaskClient, board: Board
) -> None:
    before = snapshot(ctx.engine)
    for path in (board.confirm, board.alert):
        r = client.get(path)
        page = text(r)
        assert r.status_code == 200 and "Set-Cookie" not in r.headers
        assert r.headers["Cache-Control"] == "no-store"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        # Both of the address's subscriptions, whichever email the link came in.
        rcx = page.index("The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust (RCX)")
        east = page.index("East of England (Y61)")
        assert page[rcx:east].count("Active") == 1
        assert "Waiting for confirmation" in page[east:]
        assert f'action="{path}"' in r.get_data(as_text=True)
    assert snapshot(ctx.engine) == before


def test_changing_the_choices(ctx: Context, client: FlaskClient, board: Board) -> None:
    rules = ["ae_type1_below_60", "ae_all_below_60"]
    r = post(client, board.alert, "save", board.rcx, min_severity="high", digest_only="yes")
    assert r.status_code == 200
    assert "Saved: org RCX, high and above, weekly digest only." in text(r)
    r = client.post(
        board.alert,
        data={"action": "save", "subscription": board.rcx, "min_severity": "high", "rules": rules},
    )
    assert "Saved: org RCX, high and above, rules ae_all_below_60, ae_type1_below_60." in text(r)
    sub = one(ctx.engine, board.rcx)
    assert (sub.min_severity, sub.digest_only, sub.rules) == ("high", False, sorted(rules))
    assert sub.confirmed_at is not None and sub.paused_at is None
    # Saving the same again changes nothing more.
    before = snapshot(ctx.engine)
    client.post(
        board.alert,
        data={"action": "save", "subscription": board.rcx, "min_severity": "high", "rules": rules},
    )
    assert snapshot(ctx.engine) == before


def test_a_medium_subscription_no_longer_hears_of_high_alerts_once_critical_only(
    ctx: Context, client: FlaskClient, board: Board
) -> None:
    assert post(client, board.alert, "save", board.rcx, min_severity="critical").status_code == 200
    _, event = af.alert(ctx.engine, "RCX", af.publication(ctx.engine), rule="ae_all_below_60")
    assert af.route(ctx.engine, ctx.settings, [event]) == []


def test_operators_see_a_subscription_the_subscriber_paused(
    app: Flask, client: FlaskClient, board: Board, alice: None
) -> None:
    post(client, board.alert, "pause", board.rcx)
    operator = app.test_client()
    sign_in(operator)
    page = text(operator.get("/admin/subscriptions"))
    # Each cell carries its column's heading for the phone layout's cards.
    row = rf"{BOARD} (Covers )?org RCX, medium and above (Status )?paused (Added from )?"
    assert re.search(row + signups.ORIGIN, page)
    row = rf"{BOARD} (Covers )?region Y61, medium and above (Status )?awaiting confirmation"
    assert re.search(row, page)


def test_pause_and_resume(ctx: Context, client: FlaskClient, board: Board) -> None:
    pub = af.publication(ctx.engine)
    _, waiting = af.alert(ctx.engine, "RCX", pub, rule="ae_all_below_60")
    assert af.route(ctx.engine, ctx.settings, [waiting])  # queued before the pause

    r = post(client, board.alert, "pause", board.rcx)
    assert r.status_code == 200 and "Paused: org RCX, medium and above." in text(r)
    paused_at = one(ctx.engine, board.rcx).paused_at
    assert paused_at is not None
    post(client, board.alert, "pause", board.rcx)  # twice: nothing more changes
    assert one(ctx.engine, board.rcx).paused_at == paused_at
    assert "Paused" in text(client.get(board.alert)) and "Resume" in text(client.get(board.alert))

    # Paused: nothing is routed, no digest, and what was waiting is not sent.
    _, event = af.alert(ctx.engine, "RCX", pub, rule="ae_12hr_dta_waits")
    assert af.route(ctx.engine, ctx.settings, [event]) == []
    monday = af.PUBLISHED + timedelta(days=4)
    assert digest.queue(ctx.engine, ctx.settings, week="2025-W33", now=monday) == []
    sent_before = len(mailbox(ctx))
    with session_scope(ctx.engine) as s:
        statuses = [r.status for r in s.exec(select(Outbox).where(Outbox.recipient == BOARD))]
    assert statuses[-1] == "cancelled" and len(mailbox(ctx)) == sent_before

    r = post(client, board.alert, "resume", board.rcx)
    assert r.status_code == 200 and "Resumed: org RCX, medium and above." in text(r)
    assert one(ctx.engine, board.rcx).paused_at is None
    _, event = af.alert(ctx.engine, "RCX", pub, rule="ae_type1_below_78")
    assert af.route(ctx.engine, ctx.settings, [event]) == [f"event:{event}:{BOARD}"]


def test_leaving_one_and_then_everything(ctx: Context, client: FlaskClient, board: Board) -> None:
    r = post(client, board.alert, "leave", board.east)
    assert (
        r.status_code == 200
        and "You have left this subscription: region Y61, medium and above." in text(r)
    )
    assert one(ctx.engine, board.east).unsubscribed_at is not None
    assert one(ctx.engine, board.rcx).unsubscribed_at is None
    again = sign_up(ctx, BOARD, "icb", "QMM")
    r = post(client, board.alert, "leave-all", None)
    assert r.status_code == 200 and "You have left every subscription" in text(r)
    assert all(one(ctx.engine, i).unsubscribed_at for i in (board.rcx, again))
    r = client.get(board.alert)
    assert r.status_code == 200 and "You have no subscriptions" in text(r)
    assert post(client, board.alert, "leave-all", None).status_code == 200  # nothing left to do


def test_a_subscription_of_another_address_is_not_touched(
    ctx: Context, client: FlaskClient, board: Board
) -> None:
    other = sign_up(ctx, EAST, "region", "Y61")
    before = snapshot(ctx.engine)
    for action in ("save", "pause", "resume", "leave"):
        r = post(client, board.alert, action, other, min_severity="critical")
        assert r.status_code == 400 and "is not one of this address's" in text(r), action
    for raw in ("", "x", "99999999999999999999999", "-1"):
        r = client.post(board.alert, data={"action": "pause", "subscription": raw})
        assert r.status_code == 400
    assert snapshot(ctx.engine) == before


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "promote"}, "Use one of the page's buttons"),
        ({"action": "save", "min_severity": "urgent"}, "unknown severity 'urgent'"),
        ({"action": "save", "min_severity": "high", "rules": "no_such_rule"}, "no rule file"),
    ],
)
def test_a_request_the_page_cannot_do_changes_nothing(
    ctx: Context, client: FlaskClient, board: Board, fields: dict[str, str], message: str
) -> None:
    before = snapshot(ctx.engine)
    r = client.post(board.alert, data={"subscription": str(board.rcx), **fields})
    assert r.status_code == 400
    assert message in text(r) and "Nothing was changed" in text(r)
    assert snapshot(ctx.engine) == before


def _tok(path: str) -> str:
    return path.rsplit("/", 1)[1]


def _flip(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


BAD: list[tuple[str, Callable[[Board], str]]] = [
    ("forged", lambda b: tokens.sign(b"not the secret", tokens.MANAGE, ["x"])),
    ("signature altered", lambda b: _flip(_tok(b.alert))),
    ("payload altered", lambda b: "x" + _tok(b.alert)),
    ("cut short", lambda b: _tok(b.alert)[:-5]),
    ("no signature", lambda b: _tok(b.alert).split(".")[0]),
    ("an unsubscribe token", lambda b: _tok(b.unsubscribe)),
    ("not ascii", lambda b: _tok(b.alert)[:-1] + "é"),
    ("far too long", lambda b: "a" * 5000 + "." + "b" * 22),
    ("no such subscription", lambda b: tokens.sign(b.secret, tokens.MANAGE, ["x"])),
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("name", "make"), BAD, ids=[b[0] for b in BAD])
def test_a_forged_or_altered_link_gets_a_400_and_changes_nothing(
    ctx: Context,
    client: FlaskClient,
    board: Board,
    method: str,
    name: str,
    make: Callable[[Board], str],
) -> None:
    before = snapshot(ctx.engine)
    data = {"action": "leave-all", "subscription": str(board.rcx)}
    r = client.open(f"/subscriptions/{make(board)}", method=method, data=data)
    assert r.status_code == 400, name
    assert "This link cannot be used" in text(r) and "Nothing was changed" in text(r)
    assert BOARD not in text(r)
    assert snapshot(ctx.engine) == before
    assert client.get(board.alert).status_code == 200  # the good link still works
