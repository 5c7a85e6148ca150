"""The one-click unsubscribe endpoint that alert emails link to (RFC 8058).

GET shows a confirmation page with a button; POST unsubscribes, whether it comes from that
button or straight from a mail client (``List-Unsubscribe=One-Click``). The token is the
capability, so the POST carries no CSRF token. The work is done by the notifications part's
``monitor.notify.tokens.unsubscribe(engine, token)``; without that part this answers 501.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, render_template, request

bp = Blueprint("unsubscribe", __name__)
MAX_TOKEN = 512

Unsubscribe = Callable[[Any, str], Any]


def unsubscribe_function() -> Unsubscribe | None:
    """The configured function (tests inject one), else the notifications part's, else None."""
    injected = current_app.config.get("UNSUBSCRIBE")
    if injected is not None:
        return injected
    try:
        module = importlib.import_module("monitor.notify.tokens")
    except ImportError:
        return None
    return getattr(module, "unsubscribe", None)


def _page(outcome: str, status: int = 200, **context: Any) -> Any:
    """The unsubscribe page, never cached: the URL holds the token."""
    resp = current_app.make_response(
        (render_template("unsubscribe.jinja", outcome=outcome, **context), status)
    )
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Referrer-Policy"] = "no-referrer"  # keep the token out of other sites' logs
    return resp


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    fn = unsubscribe_function()
    if fn is None:
        return _page("unavailable", 501)
    if len(token) > MAX_TOKEN:
        return _page("unknown", 404)
    if request.method == "GET":
        return _page("confirm", token=token)
    try:
        result = fn(current_app.extensions["monitor"].ctx.engine, token)
    except (ValueError, LookupError):
        result = None
    if not result:
        return _page("unknown", 404)
    current_app.extensions["monitor"].data_version.invalidate()
    return _page("done")
