"""Operators' sign-in, the session, and CSRF tokens on every form.

Read-only pages need no sign-in. Admin actions need a named operator (monitor/web/users.py); the
session cookie is signed with the installation's secret (monitor/secret.py). Every form
carries a per-session CSRF token that POST handlers check.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
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
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers import Response

from monitor.web import users

bp = Blueprint("auth", __name__)
SESSION_HOURS = 12
# After this many wrong passwords for one name within the window, that name must wait.
MAX_FAILURES = 10
FAILURE_WINDOW_S = 15 * 60


class Throttle:
    """Wrong passwords per name in this process, to slow down guessing."""

    def __init__(self) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, name: str, now: float) -> deque[float]:
        times = self._failures.setdefault(name, deque())
        while times and now - times[0] > FAILURE_WINDOW_S:
            times.popleft()
        return times

    def blocked(self, name: str) -> bool:
        with self._lock:
            return len(self._recent(name, time.monotonic())) >= MAX_FAILURES

    def failed(self, name: str) -> None:
        with self._lock:
            self._recent(name, time.monotonic()).append(time.monotonic())
            if len(self._failures) > 10_000:  # names are attacker-chosen: bound the memory
                self._failures.clear()

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(name, None)


throttle = Throttle()


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


def current_user() -> str | None:
    user = (
        session.get("user")
        if current_app.config["SESSION_COOKIE_NAME"] in request.cookies
        else None
    )
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


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    errors: list[dict[str, str]] = []
    username = ""
    if request.method == "POST":
        check_csrf()
        username = request.form.get("username", "")
        password = request.form.get("password", "")
        key = username.strip().lower()[:64]
        if throttle.blocked(key):
            errors = [{"text": "Too many wrong passwords: wait 15 minutes", "href": "#username"}]
            page = render_template("login.jinja", errors=errors, username=username, next="/")
            return page, 429
        state = current_app.extensions["monitor"]
        name = users.authenticate(state.ctx.engine, state.ctx.settings, username, password)
        if name:
            throttle.succeeded(key)
            session.clear()  # a new session on sign-in: no fixation
            session.permanent = True
            session["user"] = name
            csrf_token()
            return redirect(_safe_next(request.form.get("next")))
        throttle.failed(key)
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
    session.clear()
    return redirect(url_for("pages.home"))
