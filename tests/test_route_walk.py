"""Every route of the status page's URL map, with every method it allows, on the database the
shipped configuration seeds (`monitor init` on config.toml and data/real, as `make run` does):
no answer may be a 5xx.

Route parameters take real values (organisations present and absent, alert ids present, absent
and absurd, link tokens valid and forged, assets present and absent) and some hostile ones; each
GET is also tried with absurd `page` arguments; admin routes are walked anonymous and signed
in, POSTs with and without the session's CSRF token. A rule with a parameter this file has no
values for fails the test, so a new route cannot slip past the walk.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from sqlmodel import col, select
from typer.testing import CliRunner
from web_fixtures import PASSWORD, csrf, sign_in
from werkzeug.routing import Rule

from monitor import config
from monitor.cli import app as cli
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, Subscription
from monitor.notify import subscriptions as subs
from monitor.notify import tokens
from monitor.web import create_app, users
from tests.conftest import PG_ENV, ROOT, not_run

ABSURD_ID = "99999999999999999999"  # beyond any 64-bit integer
HOSTILE = ["é", "R\x00X", "../../config.toml", "A" * 300, "<script>"]
ONE_CLICK = "List-Unsubscribe=One-Click"
# /readyz answers 503 by design while no `monitor run` beats (docs/status-page.md); nothing
# runs the scheduler here.
DESIGNED = {("health.readyz", 503)}


@dataclass
class Seeded:
    app: Flask
    ctx: Context
    values: dict[str, list[str]]  # route parameter -> values to try


def _shipped_config(folder: Path, database_url: str | None) -> Path:
    """config.toml as shipped, beside links to the shipped rules, templates and data, so its
    relative paths mean what they mean in the repository; only the database may differ."""
    for name in ("rules", "templates", "data"):
        (folder / name).symlink_to(ROOT / name)
    text = (ROOT / "config.toml").read_text()
    if database_url is not None:
        shipped = 'url = "sqlite:///var/monitor.db"'
        assert shipped in text, "config.toml's database url has changed: update this test"
        text = text.replace(shipped, f'url = "{database_url}"')
    path = folder / "config.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def postgres_database(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """An empty PostgreSQL database of its own (`monitor init` makes the schema), or None."""
    if request.param == "sqlite":
        yield None
        return
    admin = os.environ.get(PG_ENV)
    if not admin:
        not_run("PostgreSQL", request, f"{PG_ENV} is not set")
    name = f"monitor_walk_{os.getpid()}_{secrets.token_hex(4)}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(scope="module")
def seeded(
    postgres_database: str | None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Seeded]:
    """`monitor init` on the shipped configuration, once per database; the app over it."""
    folder = tmp_path_factory.mktemp("shipped")
    path = _shipped_config(folder, postgres_database)
    with pytest.MonkeyPatch.context() as mp:
        # The shipped config names these variables; the operator signs in through the first.
        mp.setenv("MONITOR_ADMIN_USERS", f"alice:{users.hash_password(PASSWORD)}")
        mp.delenv("MONITOR_SECRET", raising=False)
        result = CliRunner().invoke(cli, ["--config", str(path), "init"])
        assert result.exit_code == 0, result.output
        assert "snapshot:" in result.output and ", 0 rejected" in result.output
        ctx = Context(config.load(path))
        app = create_app(ctx)
        app.config["TESTING"] = True
        app.extensions["monitor"].data_version.ttl = 0
        try:
            yield Seeded(app, ctx, _values(ctx))
        finally:
            ctx.close()
            shutil.rmtree(folder / "var", ignore_errors=True)


def _values(ctx: Context) -> dict[str, list[str]]:
    """Real and hostile values for each route parameter, from the seeded database."""
    with session_scope(ctx.engine, write=True) as s:
        open_alert = s.exec(select(Alert.id).where(Alert.state == "firing")).first()
        ended = s.exec(select(Alert.id).where(col(Alert.ended_at).is_not(None))).first()
        newest = s.exec(select(func.max(Alert.id))).one()
        sub, _ = subs.add(s, ctx.settings, subs.Request("board@qehkl.nhs.uk", "org", "RCX"))
        sub_token = sub.token
    assert open_alert is not None and newest is not None, "the seed opened no alerts"
    secret = tokens.load_secret(ctx.settings)
    good = [tokens.sign(secret, p, [sub_token]) for p in (tokens.UNSUBSCRIBE, tokens.CONFIRM)]
    forged = [tokens.sign(b"not the secret", tokens.UNSUBSCRIBE, [sub_token]), "x.y"]
    alert_ids = [open_alert, ended, newest + 1000, ABSURD_ID, 0]
    return {
        "alert_id": [str(i) for i in alert_ids if i is not None],
        "code": ["RCX", "Y61", "QMM", "ENG", "RA4", "ZZ999", "rcx", *HOSTILE],
        "token": [*good, *forged, "a" * 5000, *HOSTILE],
        "name": ["nhsuk-frontend.min.css", "nhsuk-frontend.min.js", "missing.js", *HOSTILE],
        "filename": ["monitor.css", "missing.css", *HOSTILE],
    }


def _urls(app: Flask, rule: Rule, values: dict[str, list[str]]) -> list[str]:
    missing = [a for a in rule.arguments if a not in values]
    assert not missing, f"{rule.rule}: give the walk values for {missing}"
    names = sorted(rule.arguments)
    adapter = app.url_map.bind("localhost")
    out = []
    for combo in itertools.product(*(values[n] for n in names)):
        try:
            out.append(adapter.build(rule.endpoint, dict(zip(names, combo, strict=True))))
        except ValueError:
            continue  # a value the converter cannot put in a URL (a non-number for <int:>)
    return out


def _forms(endpoint: str, token: str, sub_id: int) -> list[dict[str, str]]:
    """What a browser would post to each endpoint (with the session's CSRF token), and the
    same without it."""
    until = date.today() + timedelta(days=7)
    forms: dict[str, list[dict[str, str]]] = {
        "admin.acknowledge": [{"note": "Escalated to the ICB"}, {"note": ""}],
        "admin.silence": [
            {"until-day": str(until.day), "until-month": str(until.month),
             "until-year": str(until.year), "note": "x"},
            {"until-day": "99", "until-month": "99", "until-year": ABSURD_ID},
        ],
        "admin.subscriptions": [
            {"email": "east@example.nhs.uk", "scope": "region", "code": "Y61"},
            {"email": "a@example.nhs.uk", "scope": "org", "code": "RA4"},
            {"email": "a\x00@example.nhs.uk", "scope": "org", "code": "R\x00X"},
            {"action": "remove", "id": str(sub_id)},
            {"action": "remove", "id": ABSURD_ID},
        ],
        "auth.login": [{"username": "mallory", "password": "not the password"}],
    }  # fmt: skip
    chosen = forms.get(endpoint, [{}])
    return [{**f, "csrf_token": token} for f in chosen] + [chosen[0]]


def _walk(client: FlaskClient, seeded: Seeded, signed_in: bool) -> list[str]:
    """Every rule, method and value; the requests answered with a 5xx."""
    token = csrf(client, "/admin/subscriptions" if signed_in else "/login")
    with session_scope(seeded.ctx.engine) as s:
        sub_id = s.exec(select(func.max(Subscription.id))).one() or 1
    failures = []
    # Signing out ends the operator's walk, so it comes last.
    rules = sorted(seeded.app.url_map.iter_rules(), key=lambda r: r.endpoint == "auth.logout")
    for rule in rules:
        for url in _urls(seeded.app, rule, seeded.values):
            for method in sorted(rule.methods or ()):
                failures += _try(client, method, url, rule.endpoint, token, sub_id)
    return failures


def _try(
    client: FlaskClient, method: str, url: str, endpoint: str, token: str, sub_id: int
) -> list[str]:
    requests: list[dict[str, Any]] = []
    if method == "POST":
        requests += [{"data": f} for f in _forms(endpoint, token, sub_id)]
        if endpoint.startswith("email_links."):
            requests.append(
                {"data": ONE_CLICK, "content_type": "application/x-www-form-urlencoded"}
            )
    elif method == "GET":
        requests += [{}, *({"query_string": {"page": p}} for p in (ABSURD_ID, "-1", "x"))]
    else:
        requests.append({})
    out = []
    for kwargs in requests:
        try:  # the test app propagates a view's exception rather than answering 500
            r = client.open(url, method=method, **kwargs)
        except Exception as e:
            out.append(f"{method} {url} {kwargs}: 500 {type(e).__name__}: {e}"[:400])
            continue
        if r.status_code >= 500 and (endpoint, r.status_code) not in DESIGNED:
            out.append(f"{method} {url} {kwargs}: {r.status_code} {r.get_data(True)[:300]!r}")
    return out


@pytest.mark.parametrize(
    "postgres_database",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "operator"])
def test_no_route_answers_a_5xx(seeded: Seeded, signed_in: bool) -> None:
    client = seeded.app.test_client()
    if signed_in:
        assert sign_in(client).status_code == 302
    failures = _walk(client, seeded, signed_in)
    if signed_in:  # the walk ended by signing out, having acted as the operator before
        assert "Sign in" in client.get("/sources").get_data(True)
        with session_scope(seeded.ctx.engine) as s:
            added = s.exec(select(Subscription).where(Subscription.origin == "web")).all()
            assert [x.email for x in added] == ["east@example.nhs.uk"]
    assert failures == [], f"{len(failures)} answer(s) 5xx:\n" + "\n".join(failures[:40])
