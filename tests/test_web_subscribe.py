"""Self-service sign-up on the status page (/subscribe): the links to it, the form, double opt-in
whatever the operator's setting, the allowed domains and the limits, through the real app, the
real subscription code and the real sender (to a maildir), on the `engine` fixture's database."""

from __future__ import annotations

import html
import re
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text as text_sql
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from web_fixtures import confirm_link, csrf, mailbox, make_ctx, path_of

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Outbox, SignupAttempt, Subscription, utcnow
from monitor.notify import digest, signups
from monitor.notify import subscriptions as subs
from monitor.web import create_app
from tests import alert_fixtures as af
from tests.test_leader import wait_until

BOARD = "board@qehkl.nhs.uk"
OFFICE = "192.0.2.10"  # one client's address (TEST-NET-1)


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine, request: pytest.FixtureRequest) -> Context:
    """Double opt-in OFF for operators: self-service sign-ups must confirm all the same."""
    extra = getattr(request, "param", "")
    return make_ctx(tmp_path, engine, "\n[subscriptions]\ndouble_opt_in = false\n" + extra)


def text(r: Any) -> str:
    """A page's HTML, entities decoded and runs of white space made one space."""
    return " ".join(html.unescape(r.get_data(as_text=True)).split())


def form(**fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {"email": BOARD, "scope": "org:RCX"}
    data["min_severity"] = "medium"
    return data | fields


def sign_up(client: FlaskClient, ip: str = OFFICE, headers: Any = None, **fields: Any) -> Any:
    """Fill in and submit the form, as a browser at ``ip`` does."""
    token = csrf(client, "/subscribe")
    data = form(**fields) | {"csrf_token": token}
    return client.post(
        "/subscribe", data=data, environ_base={"REMOTE_ADDR": ip}, headers=headers or {}
    )


def rows(engine: Engine) -> list[tuple[str, str, str, str, bool, str]]:
    """(email, scope, code, min_severity, confirmed, origin) of every subscription."""
    with session_scope(engine) as s:
        found = s.exec(select(Subscription).order_by(col(Subscription.id)))
        return [
            (x.email, x.scope, x.code, x.min_severity, x.confirmed_at is not None, x.origin)
            for x in found
        ]


def queued(engine: Engine, recipient: str) -> list[str]:
    with session_scope(engine) as s:
        found = s.exec(select(Outbox).where(Outbox.recipient == recipient).order_by(col(Outbox.id)))
        return [r.kind for r in found]


def test_a_trust_page_and_the_home_page_link_to_the_form(client: FlaskClient) -> None:
    page = text(client.get("/orgs/RCX"))
    assert re.search(r'href="/subscribe\?org=RCX"[^>]*> Get alerts for this trust </a>', page)
    home = text(client.get("/"))
    forms = re.findall(r'<form method="get" action="/subscribe">(.*?)</form>', home, re.S)
    assert len(forms) == 2
    for found, param, button in zip(forms, ("region", "icb"), ("region", "ICB"), strict=True):
        assert f'name="{param}"' in found and f"Get alerts for this {button}" in found
    assert '<option value="Y61" >East of England (Y61)</option>' in home
    assert "NHS Norfolk and Waveney Integrated Care Board (QMM)" in home


@pytest.mark.parametrize(
    ("query", "scope", "code"),
    [
        ("org=RCX", "org", "RCX"),
        ("region=Y61", "region", "Y61"),
        ("region=East+of+England", "region", "Y61"),
        ("icb=qmm", "icb", "QMM"),
    ],
)
def test_a_link_fills_in_the_scope_and_medium_is_the_default(
    client: FlaskClient, query: str, scope: str, code: str
) -> None:
    r = client.get(f"/subscribe?{query}")
    page = text(r)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    chosen = re.findall(r'<option value="([\w:]+)" selected>([^<]+)</option>', page)
    assert [(v, n[-len(code) - 2 :]) for v, n in chosen] == [(f"{scope}:{code}", f"({code})")]
    assert len(re.findall(r'name="min_severity" type="radio" value="\w+" checked', page)) == 1
    assert 'name="min_severity" type="radio" value="medium" checked' in page
    assert 'name="csrf_token"' in page
    # Rules are offered by title, their ids only as the values sent.
    assert re.search(r'value="ae_type1_below_60" > <label[^>]*> A&E \(type 1\): under 60%', page)


def test_a_link_to_a_closed_trust_offers_its_successor(client: FlaskClient) -> None:
    page = text(client.get("/subscribe?org=RA4"))
    assert "Yeovil District Hospital NHS Foundation Trust (RA4) has closed" in page
    assert '<option value="org:RH5" selected>' in page
    assert 'value="org:RA4"' not in page
    page = text(client.get("/subscribe?org=ZZZ9"))
    assert "There is no trust with the code ZZZ9" in page and " selected>" not in page


def test_a_sign_up_always_waits_for_confirmation_and_the_page_never_tells(
    client: FlaskClient, ctx: Context
) -> None:
    assert ctx.settings.subscriptions.double_opt_in is False
    r = sign_up(client)
    assert r.status_code == 200 and "Check your email" in text(r)
    first_page = text(r)
    assert rows(ctx.engine) == [(BOARD, "org", "RCX", "medium", False, signups.ORIGIN)]
    (msg,) = mailbox(ctx)
    assert msg["To"] == BOARD and "/confirm/" in confirm_link(msg)

    # Asking again: the same page, nothing new queued or sent.
    r = sign_up(client)
    assert r.status_code == 200 and text(r) == first_page
    assert len(rows(ctx.engine)) == 1 and queued(ctx.engine, BOARD) == ["confirm"]
    assert len(mailbox(ctx)) == 1

    # An address an operator subscribed (no double opt-in for them): the same page again.
    with session_scope(ctx.engine, write=True) as s:
        chair = subs.Request("chair@qehkl.nhs.uk", "org", "RCX", min_severity="medium")
        subs.add(s, ctx.settings, chair)
    r = sign_up(client, email="chair@qehkl.nhs.uk")
    assert text(r) == first_page.replace(BOARD, "chair@qehkl.nhs.uk")
    assert queued(ctx.engine, "chair@qehkl.nhs.uk") == []


def test_a_form_without_its_csrf_token_is_refused(client: FlaskClient, ctx: Context) -> None:
    client.get("/subscribe")
    r = client.post("/subscribe", data=form())
    assert r.status_code == 400 and "did not come from this site" in text(r)
    r = client.post("/subscribe", data=form(csrf_token="forged"))
    assert r.status_code == 400
    assert rows(ctx.engine) == []


@pytest.mark.parametrize(
    ("fields", "href", "message"),
    [
        ({"email": ""}, "#email", "Enter your email address"),
        ({"email": "board at qehkl"}, "#email", "Enter an email address in the correct format"),
        ({"scope": ""}, "#scope", "Choose a trust, region or integrated care board"),
        ({"scope": "org:"}, "#scope", "Choose a trust, region or integrated care board"),
        ({"scope": "RCX"}, "#scope", "Choose a trust, region or integrated care board"),
        ({"scope": "ward:RCX"}, "#scope", "Choose a trust, region or integrated care board"),
        ({"scope": "org:ZZZ9"}, "#scope", "unknown organisation 'ZZZ9'"),
        ({"scope": "icb:RCX"}, "#scope", "unknown ICB 'RCX'"),
        ({"scope": "region:Y99"}, "#scope", "unknown region 'Y99'"),
        (
            {"scope": "org:RA4"},
            "#scope",
            "RA4 (Yeovil District Hospital NHS Foundation Trust) closed",
        ),
        ({"min_severity": "urgent"}, "#min_severity", "unknown severity 'urgent'"),
        ({"rules": ["no_such_rule"]}, "#rules", "no rule file for no_such_rule"),
        ({"rules": ["Bad Rule!"]}, "#rules", "not a rule id: Bad Rule!"),
    ],
)
def test_each_problem_is_named_in_the_error_summary_and_nothing_is_added(
    client: FlaskClient, ctx: Context, fields: dict[str, Any], href: str, message: str
) -> None:
    r = sign_up(client, **fields)
    page = text(r)
    assert r.status_code == 400
    assert "There is a problem" in page and page.startswith("<!DOCTYPE html>")
    summary = re.search(
        r'<a href="(#[\w-]+)" > ([^<]+) </a>', page[page.index("There is a problem") :]
    )
    assert summary and summary.group(1) == href and message in summary.group(2)
    assert re.search(r'id="[\w-]+-error"', page)  # the field's own error message
    assert "<title>Error: " in page
    typed = form(**fields)["email"]
    assert not typed or f'value="{typed}"' in page  # what was typed is kept
    assert rows(ctx.engine) == [] and queued(ctx.engine, BOARD) == []


def test_rules_chosen_by_title_are_kept(client: FlaskClient, ctx: Context) -> None:
    r = sign_up(client, rules=["ae_type1_below_60", "ae_all_below_60"], digest_only="yes")
    assert r.status_code == 200
    with session_scope(ctx.engine) as s:
        sub = s.exec(select(Subscription)).one()
        assert (sub.rules, sub.digest_only) == (["ae_all_below_60", "ae_type1_below_60"], True)


ALLOW = '\nallowed_domains = ["nhs.net", "NHS.UK"]\n'


@pytest.mark.parametrize("ctx", [ALLOW], indirect=True)
@pytest.mark.parametrize(
    ("email", "allowed"),
    [
        ("someone@nhs.net", True),
        ("board@qehkl.nhs.uk", True),  # a subdomain of nhs.uk
        ("Someone@NHS.NET", True),
        ("someone@evilnhs.net", False),  # not a subdomain: the match is on whole labels
        ("someone@nhs.net.example.com", False),
        ("someone@gmail.com", False),
    ],
)
def test_the_allowed_domains_and_their_subdomains_may_sign_up(
    client: FlaskClient, ctx: Context, email: str, allowed: bool
) -> None:
    assert ctx.settings.subscriptions.allowed_domains == ("nhs.net", "nhs.uk")
    assert "Only addresses at nhs.net or nhs.uk can sign up" in text(client.get("/subscribe"))
    r = sign_up(client, email=email)
    if allowed:
        assert r.status_code == 200 and len(rows(ctx.engine)) == 1
    else:
        assert r.status_code == 400 and rows(ctx.engine) == []
        assert "open to email addresses at nhs.net or nhs.uk (and their subdomains)" in text(r)


def test_operators_are_not_held_to_the_allowed_domains(tmp_path: Path, engine: Engine) -> None:
    ctx = make_ctx(tmp_path, engine, "\n[subscriptions]" + ALLOW)
    with session_scope(engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request("analyst@cqc.org.uk", "org", "RCX"))
    assert [r[0] for r in rows(engine)] == ["analyst@cqc.org.uk"]


@pytest.mark.parametrize(
    ("domains", "error"),
    [
        ('["@nhs.net"]', "'@nhs.net' is not an email domain"),
        ('[".nhs.net"]', "'.nhs.net' is not an email domain"),
        ('["nhs"]', "'nhs' is not an email domain"),
        ('"nhs.net"', "subscriptions.allowed_domains"),
    ],
)
def test_a_bad_allowed_domain_stops_start_up_naming_the_key(
    tmp_path: Path, domains: str, error: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f"[subscriptions]\nallowed_domains = {domains}\n")
    with pytest.raises(config.ConfigError, match=re.escape(error)) as e:
        config.load(path)
    assert "subscriptions.allowed_domains" in str(e.value)


LIMITS = (
    "\npending_per_address = 2\nsignups_per_address_per_day = 3\nsignups_per_client_per_hour = 3\n"
)


@pytest.mark.parametrize("ctx", [LIMITS], indirect=True)
def test_sign_ups_from_one_client_are_limited_per_hour(
    client: FlaskClient, ctx: Context, engine: Engine
) -> None:
    for i in range(3):
        assert sign_up(client, email=f"person{i}@qehkl.nhs.uk").status_code == 200
    r = sign_up(client, email="person3@qehkl.nhs.uk")
    assert r.status_code == 429
    assert "too many sign-ups from your network in the last hour" in text(r)
    assert len(rows(engine)) == 3 and queued(engine, "person3@qehkl.nhs.uk") == []
    # Another client is not held back...
    assert sign_up(client, ip="198.51.100.7", email="person3@qehkl.nhs.uk").status_code == 200
    # ...and once the hour has passed, this one may sign up again.
    with session_scope(engine, write=True) as s:
        s.execute(
            update(SignupAttempt)
            .where(col(SignupAttempt.client) == OFFICE)
            .values(at=utcnow() - timedelta(minutes=61))
        )
    assert sign_up(client, email="person4@qehkl.nhs.uk").status_code == 200


@pytest.mark.parametrize("ctx", [LIMITS], indirect=True)
def test_sign_ups_for_one_address_are_limited(client: FlaskClient, ctx: Context) -> None:
    engine = ctx.engine
    # Two waiting for confirmation at most...
    assert sign_up(client, ip="192.0.2.1").status_code == 200
    assert sign_up(client, ip="192.0.2.2", scope="region:Y61").status_code == 200
    r = sign_up(client, ip="192.0.2.3", scope="icb:QMM")
    assert r.status_code == 429 and "too many sign-ups for this email address" in text(r)
    assert len(rows(engine)) == 2 and queued(engine, BOARD) == ["confirm", "confirm"]
    # ...confirming one makes room, but three a day is the most.
    with session_scope(engine, write=True) as s:
        s.exec(select(Subscription)).first().confirmed_at = utcnow()  # type: ignore[union-attr]
    assert sign_up(client, ip="192.0.2.4", scope="icb:QMM").status_code == 200
    r = sign_up(client, ip="192.0.2.5", scope="icb:QJK")
    assert r.status_code == 429 and "try again tomorrow" in text(r)
    assert len(rows(engine)) == 3


@pytest.mark.parametrize("ctx", [LIMITS], indirect=True)
def test_the_limits_hold_across_processes(app: Flask, ctx: Context) -> None:
    """Two status page processes (two apps) share nothing but the database."""
    other = create_app(ctx).test_client()
    for i, client in enumerate([app.test_client(), other, app.test_client()]):
        assert sign_up(client, email=f"person{i}@qehkl.nhs.uk").status_code == 200
    assert sign_up(other, email="person9@qehkl.nhs.uk").status_code == 429
    with session_scope(ctx.engine) as s:
        assert len(s.exec(select(SignupAttempt)).all()) == 3


@pytest.mark.parametrize("ctx", [LIMITS], indirect=True)
def test_an_ipv6_client_is_counted_by_its_64(client: FlaskClient, ctx: Context) -> None:
    for i in range(3):
        ip = f"2001:db8:1:2::{i + 1}"
        assert sign_up(client, ip=ip, email=f"p{i}@qehkl.nhs.uk").status_code == 200
    assert sign_up(client, ip="2001:db8:1:2:ffff::9", email="p9@qehkl.nhs.uk").status_code == 429
    assert sign_up(client, ip="2001:db8:1:3::1", email="p9@qehkl.nhs.uk").status_code == 200


@pytest.mark.parametrize("proxies", [1, 0])
def test_behind_a_proxy_the_forwarded_address_is_counted(
    tmp_path: Path, engine: Engine, proxies: int
) -> None:
    """With ``[web] trusted_proxies = 1`` each client behind the proxy is counted apart;
    without it, X-Forwarded-For is not believed and the proxy is the one client."""
    path = make_ctx(tmp_path, engine).settings.config_path
    assert path is not None
    toml = path.read_text().replace("[web]\n", f"[web]\ntrusted_proxies = {proxies}\n")
    path.write_text(toml + "\n[subscriptions]\nsignups_per_client_per_hour = 1\n")
    ctx = Context(config.parse(path.read_text(), path), engine)
    client = create_app(ctx).test_client()
    proxy = "10.0.0.1"  # every request arrives from the proxy
    first = sign_up(client, ip=proxy, headers={"X-Forwarded-For": "203.0.113.5"})
    assert first.status_code == 200
    second = sign_up(
        client, ip=proxy, headers={"X-Forwarded-For": "203.0.113.6"}, email="chair@qehkl.nhs.uk"
    )
    assert second.status_code == (200 if proxies else 429)
    with session_scope(engine) as s:
        clients = sorted(a.client for a in s.exec(select(SignupAttempt)))
    assert clients == (["203.0.113.5", "203.0.113.6"] if proxies else [proxy])


@pytest.mark.parametrize(
    ("remote", "key"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.10", "192.0.2.10"),
        ("", "unknown"),
        (None, "unknown"),
        ("not an address", "unknown"),
    ],
)
def test_client_keys(remote: str | None, key: str) -> None:
    assert signups.client_key(remote) == key


def test_nothing_but_the_confirmation_reaches_an_unconfirmed_address(
    client: FlaskClient, ctx: Context
) -> None:
    """An alert routed and a digest queued while it waits send it nothing; once confirmed,
    the next alert arrives."""
    assert sign_up(client, min_severity="info").status_code == 200
    pub = af.publication(ctx.engine)
    _, event = af.alert(ctx.engine, "RCX", pub, severity="critical")
    assert af.route(ctx.engine, ctx.settings, [event]) == []
    now = af.PUBLISHED + timedelta(days=4)
    digests = digest.queue(ctx.engine, ctx.settings, week="2025-W33", now=now)
    assert [k for k in digests if BOARD in k] == []
    (confirmation,) = mailbox(ctx)
    assert queued(ctx.engine, BOARD) == ["confirm"]

    assert client.post(path_of(confirm_link(confirmation))).status_code == 200
    _, event = af.alert(ctx.engine, "RCX", pub, rule="ae_all_below_60", severity="high")
    assert af.route(ctx.engine, ctx.settings, [event]) == [f"event:{event}:{BOARD}"]
    assert [m["To"] for m in mailbox(ctx)] == [BOARD, BOARD]


@pytest.mark.parametrize("ctx", ["\nsignups_per_client_per_hour = 1\n"], indirect=True)
def test_two_sign_ups_at_once_cannot_both_pass_a_limit(ctx: Context, engine: Engine) -> None:
    """The first holds its transaction open; the second waits for it (PostgreSQL: on the
    advisory lock, seen in pg_locks; SQLite: on BEGIN IMMEDIATE), then counts its attempt."""
    outcome: dict[str, Any] = {}
    started = threading.Event()

    def second() -> None:
        started.set()
        try:
            with session_scope(engine, write=True) as s:
                req = subs.Request("chair@qehkl.nhs.uk", "org", "RCX")
                signups.sign_up(s, ctx.settings, req, client=OFFICE)
            outcome["second"] = "added"
        except signups.TooManySignups as e:
            outcome["second"] = str(e)

    with session_scope(engine, write=True) as s:
        signups.sign_up(s, ctx.settings, subs.Request(BOARD, "org", "RCX"), client=OFFICE)
        thread = threading.Thread(target=second)
        thread.start()
        assert started.wait(30)
        if engine.dialect.name == "postgresql":
            waiting = text_sql(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            )
            with engine.connect() as c:
                wait_until(lambda: c.execute(waiting).scalar() == 1, 30, "the second sign-up")
    thread.join(60)
    assert not thread.is_alive()
    assert "too many sign-ups from your network" in outcome["second"]
    assert [r[0] for r in rows(engine)] == [BOARD]
