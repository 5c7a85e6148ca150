"""The status page and JSON API (Flask): ``create_app(ctx)`` builds the WSGI app.

No scheduler runs inside the web app: `monitor run` (the scheduler) and any number of
`monitor serve` processes share only the database. docs/status-page.md describes the pages,
the API, caching and how the NHS.UK frontend assets are installed.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, render_template, request
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import BaseConverter, IntegerConverter

from monitor.context import Context
from monitor.secret import secret
from monitor.web import assets, auth, present
from monitor.web.cache import CachedPages, DataVersion, PageCache
from monitor.web.filters import BadFilter


@dataclass
class WebState:
    """What the views share: the context, the data version and the page cache."""

    ctx: Context
    data_version: DataVersion
    pages: PageCache


# Strict-Transport-Security when base_url is https: a year.
HSTS_SECONDS = 365 * 24 * 3600


class RowId(IntegerConverter):
    """``<int:...>`` in routes: a row id, so at most a 64-bit integer. A larger number is no
    row's (404) rather than one the database driver refuses to bind (SQLite: OverflowError)."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


class Segment(BaseConverter):
    """A plain path segment in routes (``<code>``, ``<token>``): never a NUL character, which
    no code or token holds and PostgreSQL refuses in a text parameter (a 404, not a 500)."""

    regex = "[^/\x00]+"


def _loader(ctx: Context) -> ChoiceLoader:
    """A deployment's override templates, then templates/status/, then the NHS.UK macros."""
    paths = ctx.settings.paths
    folders = []
    if paths.templates_override is not None:
        folders.append(paths.templates_override / "status")
    folders.append(paths.templates / "status")
    return ChoiceLoader(
        [FileSystemLoader([str(f) for f in folders]), PackageLoader("nhsuk_frontend_jinja")]
    )


def _inline_script_hashes() -> list[str]:
    """CSP hashes of the inline script(s) in the NHS.UK page template (it adds js-enabled)."""
    import nhsuk_frontend_jinja

    path = nhsuk_frontend_jinja.__path__[0] + "/templates/nhsuk/template.jinja"
    with open(path, encoding="utf-8") as f:
        template = f.read()
    out = []
    for body in re.findall(r"<script[^>]*>(.*?)</script>", template, flags=re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        out.append(f"'sha256-{digest}'")
    return out


def create_app(ctx: Context) -> Flask:
    """The status page and JSON API over the database ``ctx`` names."""
    from monitor.web import admin, api, board, email_links, feeds, health, pages, subscribe
    from monitor.web.metrics_endpoint import bp as metrics_bp

    app = Flask(__name__, static_folder="static", static_url_path="/static")
    # Before any route is added, so that every route's parameters use them.
    app.url_map.converters.update(int=RowId, default=Segment, string=Segment)
    app.jinja_options = {
        # The NHS.UK macros read optional, nested parameters (params.hint.text), which
        # StrictUndefined would refuse; the email templates keep their own strict Environment.
        "undefined": ChainableUndefined,
        "loader": _loader(ctx),
        "autoescape": True,
    }
    app.jinja_env.filters.update(present.FILTERS)
    app.jinja_env.globals.update(
        severity_tag=present.severity_tag,
        state_words=present.STATE_WORDS,
        service_name="NHS trust risk alerts",
    )
    app.extensions["monitor"] = WebState(ctx, DataVersion(ctx.engine), PageCache())
    if ctx.settings.web.trusted_proxies:
        # request.remote_addr is then the client's address from X-Forwarded-For (the limits
        # on sign-ups count by it), trusting only as many entries as there are proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=ctx.settings.web.trusted_proxies)  # type: ignore[method-assign]
    auth.configure(app, secret(ctx), https=ctx.settings.web.base_url.startswith("https://"))
    frontend = assets.find(ctx.settings)
    assets.install(app, frontend)
    app.jinja_env.globals["frontend"] = frontend
    for module in (pages, api, feeds, health, admin, email_links, subscribe, board):
        app.register_blueprint(module.bp)
    app.register_blueprint(metrics_bp)  # /metrics
    app.wsgi_app = CachedPages(  # type: ignore[method-assign]
        app.wsgi_app, app.extensions["monitor"], app.config["SESSION_COOKIE_NAME"]
    )
    csp = "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(_inline_script_hashes()),
            "style-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )

    https = ctx.settings.web.base_url.startswith("https://")

    @app.after_request
    def _headers(resp: Response) -> Response:
        if https:  # browsers that have seen the site once never fall back to plain http
            resp.headers.setdefault("Strict-Transport-Security", f"max-age={HSTS_SECONDS}")
        resp.headers.setdefault("Content-Security-Policy", csp)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        return resp

    @app.errorhandler(BadFilter)
    def _bad_filter(e: BadFilter) -> Any:
        return _error(400, str(e))

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Any:
        body, code = _error(e.code or 500, e.description or e.name)
        if isinstance(e, MethodNotAllowed) and e.valid_methods:
            return body, code, {"Allow": ", ".join(sorted(e.valid_methods))}
        return body, code

    return app


def _error(code: int, message: str) -> Any:
    if request.path.startswith("/api/"):
        return {"error": message, "status": code}, code
    return render_template("error.jinja", code=code, message=message), code
