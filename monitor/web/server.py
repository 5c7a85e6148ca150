"""Serve the status page with waitress: `monitor serve`, or beside the scheduler (`monitor run`)."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from flask import Flask
from waitress.server import create_server

from monitor.context import Context
from monitor.web import create_app

log = logging.getLogger(__name__)


def make_server(
    ctx: Context, host: str | None = None, port: int | None = None, app: Flask | None = None
) -> Any:
    """A waitress server for ``app`` (default: ``create_app(ctx)``), bound but not yet running:
    call ``.run()``, and ``.close()`` to stop. Port 0 picks a free port (``.effective_port``).
    """
    web = ctx.settings.web
    return create_server(
        app or create_app(ctx),
        host=host or web.host,
        port=web.port if port is None else port,
        threads=web.threads,
        ident="nhs-trust-monitor",
        # Behind a load balancer several processes serve; keep slow clients from holding threads.
        channel_timeout=60,
        connection_limit=1000,
        clear_untrusted_proxy_headers=True,
    )


def serve(ctx: Context, host: str | None = None, port: int | None = None) -> int:
    """Run the status page and JSON API until SIGTERM or Ctrl-C; returns the exit code."""
    server = make_server(ctx, host, port)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: stopping the status page", signum)
        raise SystemExit(0)  # waitress's loop catches it and shuts its workers down

    signal.signal(signal.SIGTERM, stop)
    log.info(
        "status page on http://%s:%s/ (database %s); Ctrl-C to stop",
        server.effective_host,
        server.effective_port,
        ctx.engine.url.render_as_string(hide_password=True),
    )
    try:
        server.run()
    finally:
        server.close()
    log.info("status page stopped")
    return 0
