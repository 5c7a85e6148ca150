"""The status page in a thread of `monitor run`, on the waitress server of monitor.web.server."""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from monitor.context import Context

log = logging.getLogger(__name__)


class StatusPageThread:
    """A waitress server running ``monitor.web.create_app(ctx)`` in a daemon thread."""

    def __init__(self, server: Any, url: str) -> None:
        self.server = server
        self.url = url
        self.thread = threading.Thread(target=self._serve, name="status-page", daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run()
        except Exception as e:
            log.error("the status page stopped: %s", e)

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listening socket and the open connections, then let the thread end."""
        from waitress import wasyncore

        server = self.server
        if hasattr(server, "map"):  # several listening sockets
            server.close()
        else:
            server.task_dispatcher.shutdown()
            wasyncore.close_all(server._map)
        self.thread.join(timeout)


def start_status_page(ctx: Context) -> StatusPageThread | None:
    """Serve the status page on ``[web] host``/``port``; None (logged) when it isn't built."""
    # monitor.web is built separately; without it the runner goes on without the page.
    try:
        make_server = importlib.import_module("monitor.web.server").make_server
    except (ImportError, AttributeError) as e:
        log.info("the status page is not available in this build (%s); running without it", e)
        return None
    web = ctx.settings.web
    try:
        server = make_server(ctx)
    except Exception as e:
        # The jobs matter more than the page: carry on without it, loudly.
        log.error("the status page could not start on %s:%s: %s", web.host, web.port, e)
        return None
    port = getattr(server, "effective_port", web.port)
    page = StatusPageThread(server, f"http://{web.host}:{port}/")
    page.thread.start()
    log.info("status page on %s", page.url)
    return page
