"""/metrics: the Prometheus text format, from the database at scrape time.

Open by default, like the status page whose figures it mostly repeats; with ``[metrics]
token_env`` set it answers only a request bearing that variable's value
(``Authorization: Bearer <token>``), and 503 while the variable is unset, so a missing secret
never opens it. docs/service.md lists the families and says when to protect it.
"""

from __future__ import annotations

import hmac
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.web.metrics_collector import MonitorCollector

bp = Blueprint("metrics", __name__)
_REGISTRY = "metrics_registry"


def _registry() -> CollectorRegistry:
    """One registry per app, holding only the database collector (no process metrics: in a
    farm of `monitor serve` processes they would describe whichever one was scraped)."""
    ext = current_app.extensions
    if _REGISTRY not in ext:
        made = CollectorRegistry(auto_describe=False)
        made.register(MonitorCollector(ext["monitor"].ctx))
        ext[_REGISTRY] = made
    registry: CollectorRegistry = ext[_REGISTRY]
    return registry


def _refused() -> Response | None:
    settings = current_app.extensions["monitor"].ctx.settings
    name = settings.metrics.token_env
    if not name:
        return None
    token = settings.env(name)
    if not token:
        return Response(
            f"/metrics needs a token: [metrics] token_env names {name}, which is not set\n",
            status=503,
            mimetype="text/plain",
        )
    given = request.headers.get("Authorization", "")
    if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return None
    return Response(
        "a bearer token is needed\n",
        status=401,
        mimetype="text/plain",
        headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
    )


@bp.get("/metrics")
def metrics() -> Any:
    refused = _refused()
    if refused is not None:
        return refused
    # The format the scraper asks for (Accept): the classic text format, or OpenMetrics.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(
        encode(_registry()),
        content_type=content_type,
        headers={"Cache-Control": "no-store"},
    )
