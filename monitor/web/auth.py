"""Operators' sign-in, the session, and CSRF tokens on every form.

Read-only pages need no sign-in. Admin actions need a named operator (monitor/web/users.py); the
session cookie is signed with the installation's secret (monitor/secret.py) and carries a token
whose hash names a WebSession row: signing out, `monitor users remove` and the end of
``SESSION_HOURS`` delete or outlive that row, and every request checks that the row and the
operator (present, not disabled) still exist. Wrong passwords slow further tries down
(monitor/web/login_throttle.py). Every form carries a per-session CSRF token that POST handlers
check.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from werkzeug.wrappers import Response

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import User, WebSession, utcnow
from monitor.notify import signups
from monitor.web import login_throttle, users

bp = Blueprint("auth", __name__)
SESSION_HOURS = 12
KNOWN_DEVICE_COOKIE = "monitor_device"
KNOWN_DEVICE_DAYS = 365


def configure(app: Flask, secret: bytes, https: bool) -> None:
    app.secret_key = secret
    app.config.update(
        SESSION_COOKIE_NAME="monitor_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
    )
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["current_user"] = current_user
    app.register_blueprint(bp)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(engine: Engine, username: str) -> str:
    """A new server-side session for ``username``; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    with session_scope(engine, write=True) as s:
        s.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
        s.add(
            WebSession(
                id=_hash(token),
                username=username,
                created_at=now,
                expires_at=now + timedelta(hours=SESSION_HOURS),
            )
        )
    return token


def end_session(engine: Engine, token: object) -> None:
    """Delete the session ``token`` names (nothing when it names none)."""
    if isinstance(token, str):
        with session_scope(engine, write=True) as s:
            s.execute(delete(WebSession).where(col(WebSession.id) == _hash(token)))


def session_user(engine: Engine, settings: Settings, token: object) -> str | None:
    """The operator whose live session ``token`` names, if that operator may still sign in."""
    if not isinstance(token, str):
        return None
    with session_scope(engine) as s:
        row = s.get(WebSession, _hash(token))
        if row is None or row.expires_at <= utcnow():
            return None
        if row.username in users.env_users(settings):
            return row.username
        user = s.exec(select(User).where(User.username == row.username)).first()
        if user is None or user.disabled or user.created_at > row.created_at:
            return None
        return row.username


def current_user() -> str | None:
    """The signed-in operator, checked against the database once per request."""
    if "monitor_user" not in g:
        user = None
        if current_app.config["SESSION_COOKIE_NAME"] in request.cookies:
            state = current_app.extensions["monitor"]
            user = session_user(state.ctx.engine, state.ctx.settings, session.get("sid"))
        g.monitor_user = user
    user = g.monitor_user
    return user if isinstance(user, str) else None


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def check_csrf() -> None:
    """Refuse (400) a form whose CSRF token is missing or not this session's."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
        abort(
            400,
            "This form has expired or did not come from this site. Go back, reload "
            "the page and try again.",
        )


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Send anonymous visitors to the sign-in page; check CSRF on every POST."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.method == "POST":
                abort(403, "Sign in as an operator to do this.")
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if request.method == "POST":
            check_csrf()
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    """Only same-site paths: never an open redirect to another host."""
    if not target:
        return url_for("pages.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.home")
    return target


def _devices() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or b"", salt="known-device")


def _known_device(username: str) -> str | None:
    """This browser's id when it has signed in as ``username`` before (a signed cookie)."""
    raw = request.cookies.get(KNOWN_DEVICE_COOKIE)
    if not raw:
        return None
    try:
        value = _devices().loads(raw)
    except BadSignature:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str):
        return None
    names = value.get("names")
    name = username.strip().lower()
    return value["id"] if isinstance(names, list) and name in names else None


def _remember_device(resp: Response, username: str) -> None:
    value: dict[str, Any] = {"id": secrets.token_urlsafe(16), "names": []}
    raw = request.cookies.get(KNOWN_DEVICE_COOKIE)
    if raw:
        try:
            old = _devices().loads(raw)
            if isinstance(old, dict) and isinstance(old.get("id"), str):
                value = {"id": old["id"], "names": list(old.get("names") or [])}
        except BadSignature:
            pass
    if username not in value["names"]:
        value["names"] = [*value["names"], username][-20:]
    resp.set_cookie(
        KNOWN_DEVICE_COOKIE,
        _devices().dumps(value),
        max_age=KNOWN_DEVICE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    errors: list[dict[str, str]] = []
    username = ""
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        state = current_app.extensions["monitor"]
        engine = state.ctx.engine
        client = signups.client_key(request.remote_addr)  # an IPv6 address: its /64
        keys = login_throttle.keys(username, client, _known_device(username))
        wait = login_throttle.retry_after(engine, keys)
        if wait:
            text = f"Too many wrong passwords: try again in {wait} seconds"
            errors = [{"text": text, "href": "#username"}]
            page = render_template("login.jinja", errors=errors, username=username, next="/")
            return page, 429, {"Retry-After": str(wait)}
        name = users.authenticate(engine, state.ctx.settings, username, password)
        if name:
            login_throttle.succeeded(engine, keys[-1:])  # this name from here; not the client
            end_session(engine, session.get("sid"))
            session.clear()  # a new session on sign-in: no fixation
            session.permanent = True
            session["user"] = name  # for pages that only ask whether someone signed in
            session["sid"] = start_session(engine, name)
            csrf_token()
            resp = redirect(_safe_next(request.form.get("next")))
            _remember_device(resp, name)
            return resp
        login_throttle.failed(engine, keys)
        errors.append({"text": "The name or password is not right", "href": "#username"})
    return render_template(
        "login.jinja",
        errors=errors,
        username=username,
        next=_safe_next(request.values.get("next")),
    ), (401 if errors else 200)


@bp.post("/logout")
def logout() -> Response:
    check_csrf()
    end_session(current_app.extensions["monitor"].ctx.engine, session.get("sid"))
    session.clear()
    return redirect(url_for("pages.home"))
