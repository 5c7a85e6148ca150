"""Sessions that end and a sign-in throttle nobody can use to keep the real operator out, over
real HTTP to the app's own server on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine
from sqlmodel import func, select
from typer.testing import CliRunner
from web_fixtures import PASSWORD, alice, csrf_in, make_ctx, serving  # noqa: F401
from web_seed import seed

from monitor.cli import app as cli
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import AlertEvent, LoginFailure, User, WebSession, utcnow
from monitor.web import create_app, login_throttle, users


@pytest.fixture
def http_ctx(tmp_path: Path, engine: Engine) -> Context:
    # http, so that the client sends the session cookie back (it is Secure under https).
    return make_ctx(tmp_path, engine, base_url="http://127.0.0.1")


@pytest.fixture
def alert_id(engine: Engine) -> int:
    return seed(engine)["alert"]


def sign_in(base: str, name: str = "alice", password: str = PASSWORD, **kw: Any) -> Any:
    s = kw.pop("session", None) or requests.Session()
    token = csrf_in(s.get(f"{base}/login", timeout=30).text)
    r = s.post(
        f"{base}/login",
        data={"username": name, "password": password, "csrf_token": token, "next": "/"},
        allow_redirects=False,
        timeout=30,
        **kw,
    )
    return s, r


def form_token(s: requests.Session, base: str, alert_id: int) -> str:
    return csrf_in(s.get(f"{base}/alerts/{alert_id}", timeout=30).text)


def acknowledge(
    s: requests.Session, base: str, alert_id: int, note: str, token: str | None = None
) -> int:
    """Acknowledge the alert as the session's operator (with a form token taken earlier, when
    given: a signed-out page has no form to take one from)."""
    token = token or form_token(s, base, alert_id)
    r = s.post(
        f"{base}/alerts/{alert_id}/acknowledge",
        data={"note": note, "csrf_token": token},
        allow_redirects=False,
        timeout=30,
    )
    return r.status_code


def copy_of(s: requests.Session) -> requests.Session:
    other = requests.Session()
    other.cookies.update(s.cookies)
    return other


def notes(engine: Engine) -> list[str]:
    with session_scope(engine) as s:
        return [e.note or "" for e in s.exec(select(AlertEvent)) if e.note]


def test_a_cookie_copied_before_sign_out_no_longer_works(
    http_ctx: Context,
    engine: Engine,
    alert_id: int,
    alice: None,  # noqa: F811
) -> None:
    with serving(http_ctx) as base:
        s, r = sign_in(base)
        assert r.status_code == 302
        stolen = copy_of(s)
        assert acknowledge(stolen, base, alert_id, "before sign-out") == 302
        kept = form_token(stolen, base, alert_id)
        token = csrf_in(s.get(f"{base}/", timeout=30).text)
        s.post(f"{base}/logout", data={"csrf_token": token}, timeout=30)
        # The copied cookie's signature is still good; its session is gone.
        assert acknowledge(stolen, base, alert_id, "after sign-out", kept) == 403
        assert "Sign in" in stolen.get(f"{base}/", timeout=30).text
    assert notes(engine) == ["before sign-out"]
    with session_scope(engine) as db:
        assert db.exec(select(func.count()).select_from(WebSession)).one() == 0


def test_removing_an_operator_ends_their_sessions_at_once(
    http_ctx: Context, engine: Engine, alert_id: int, tmp_path: Path
) -> None:
    users.add(engine, "bob", PASSWORD)
    with serving(http_ctx) as base:
        s, r = sign_in(base, "bob")
        assert r.status_code == 302
        assert acknowledge(s, base, alert_id, "bob was here") == 302
        kept = form_token(s, base, alert_id)
        config_file = tmp_path / "config.toml"
        url = engine.url.render_as_string(hide_password=False)
        config_file.write_text(
            config_file.read_text().replace("[paths]", f'[database]\nurl = "{url}"\n\n[paths]', 1)
        )
        result = CliRunner().invoke(cli, ["--config", str(config_file), "users", "remove", "bob"])
        assert result.exit_code == 0, result.output
        assert acknowledge(s, base, alert_id, "bob after removal", kept) == 403
        # Added again with the same name: the old cookie still does not work.
        users.add(engine, "bob", PASSWORD)
        assert acknowledge(s, base, alert_id, "bob's old cookie", kept) == 403
    assert notes(engine) == ["bob was here"]


def test_a_disabled_operator_is_signed_out_on_the_next_request(
    http_ctx: Context, engine: Engine, alert_id: int
) -> None:
    users.add(engine, "carol", PASSWORD)
    with serving(http_ctx) as base:
        s, _ = sign_in(base, "carol")
        assert acknowledge(s, base, alert_id, "carol, active") == 302
        kept = form_token(s, base, alert_id)
        with session_scope(engine, write=True) as db:
            user = db.exec(select(User).where(User.username == "carol")).one()
            user.disabled = True
            db.add(user)
        assert acknowledge(s, base, alert_id, "carol, disabled", kept) == 403
    assert notes(engine) == ["carol, active"]


def test_an_attacker_cannot_keep_the_real_operator_out(
    http_ctx: Context,
    engine: Engine,
    alert_id: int,
    alice: None,  # noqa: F811
) -> None:
    # Two processes' worth of apps on one database share the counts.
    with serving(http_ctx) as base, serving(http_ctx, app=create_app(http_ctx)) as other:
        # alice signs in once from her browser, which is then a known device for her.
        mine, r = sign_in(base)
        assert r.status_code == 302
        token = csrf_in(mine.get(f"{base}/", timeout=30).text)
        mine.post(f"{base}/logout", data={"csrf_token": token}, timeout=30)
        # Someone guesses alice's password, half the tries on each server.
        attacker = requests.Session()
        codes = []
        for i in range(login_throttle.FREE + 3):
            _, r = sign_in((base, other)[i % 2], "alice", f"guess {i}", session=attacker)
            codes.append(r.status_code)
        assert codes[: login_throttle.FREE] == [401] * login_throttle.FREE
        assert set(codes[login_throttle.FREE :]) == {429}  # slowed, across both servers
        # Even the right password waits from the attacker's side...
        _, r = sign_in(other, session=attacker)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        # ...but alice, from her own browser, signs in at once and can act.
        _, r = sign_in(other, session=mine)
        assert r.status_code == 302
        assert acknowledge(mine, other, alert_id, "alice got in") == 302


def test_one_password_across_many_names_is_slowed_too(
    http_ctx: Context,
    engine: Engine,
    alert_id: int,
) -> None:
    with serving(http_ctx) as base:
        codes = [
            sign_in(base, f"name{i}", "Summer2026!")[1].status_code
            for i in range(login_throttle.FREE + 2)
        ]
    assert codes == [401] * login_throttle.FREE + [429, 429]


def test_a_flood_of_names_does_not_clear_the_counts(engine: Engine) -> None:
    now = utcnow()  # one instant throughout: the waits are measured from it
    admin = login_throttle.keys("alice", "192.0.2.1", None)
    for _ in range(login_throttle.FREE + 2):
        login_throttle.failed(engine, admin, now)
    assert login_throttle.retry_after(engine, admin, now) == 4
    flood = [f"name:user{i}@198.51.100.{i % 250}" for i in range(10_001)]
    for start in range(0, len(flood), 500):
        login_throttle.failed(engine, flood[start : start + 500], now)
    assert login_throttle.retry_after(engine, admin, now) == 4  # still counted
    with session_scope(engine) as s:
        assert s.exec(select(func.count()).select_from(LoginFailure)).one() <= (
            login_throttle.MAX_ROWS
        )
