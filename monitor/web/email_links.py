"""The pages that links in subscribers' emails lead to: confirm and unsubscribe.

Each is a GET that shows what the link would do, with a button, and a POST that does it. A GET
never changes anything: mail scanners and link previews follow links. The POST needs no CSRF
token and no session: the signed token in the URL is the capability, and a mail client's
RFC 8058 one-click POST (``List-Unsubscribe=One-Click``) carries no cookie. The work is done by
``monitor.notify.tokens``; a link it does not accept gets a 400 page and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for

from monitor.notify import tokens

bp = Blueprint("email_links", __name__)
# Real tokens are well under this; a longer one is refused before any work is done.
MAX_TOKEN = 2048

Action = Callable[..., tokens.TokenResult]
# purpose -> (what a GET shows, what a POST does)
ACTIONS: dict[str, tuple[Action, Action]] = {
    tokens.UNSUBSCRIBE: (tokens.describe_unsubscribe, tokens.unsubscribe),
    tokens.CONFIRM: (tokens.describe_confirm, tokens.confirm),
}


def _result(purpose: str, token: str) -> tokens.TokenResult:
    if len(token) > MAX_TOKEN:
        return tokens.INVALID
    show, act = ACTIONS[purpose]
    ctx = current_app.extensions["monitor"].ctx
    fn = show if request.method == "GET" else act
    return fn(ctx.engine, token, settings=ctx.settings)


def _page(purpose: str, token: str) -> Any:
    """The page for this link and method: 200 when the link is good, 400 (nothing changed)
    when it is forged, altered, for the other purpose, expired or for ended subscriptions."""
    result = _result(purpose, token)
    html = render_template(
        "email_link.jinja",
        purpose=purpose,
        result=result,
        action=url_for(request.endpoint or "", token=token),
    )
    resp = current_app.make_response((html, 200 if result.ok else 400))
    resp.headers["Cache-Control"] = "no-store"
    # The URL holds the token: keep it out of other sites' logs.
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """GET: what the link would end, with a button; POST: end it (RFC 8058 one-click)."""
    return _page(tokens.UNSUBSCRIBE, token)


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    """GET: what the link would confirm, with a button; POST: confirm it."""
    return _page(tokens.CONFIRM, token)
