"""The status page in a thread of `monitor run`, on the waitress server of monitor.web.server."""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from waitress import wasyncore
from waitress.server import MultiSocketServer

from monitor.context import Context
from monitor.web.server import make_server

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
        server = self.server
        if isinstance(server, MultiSocketServer):  # a host name with several addresses
            server.close()
            self.thread.join(timeout)
            return
        # The sockets are closed by the server's own loop thread (a trigger thunk): closed from
        # here, a descriptor could vanish under that thread's select() ("Bad file descriptor").
        # The loop ends once nothing is left open.
        # An OSError: the loop has already ended and closed its trigger with everything else.
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(lambda: [ch.close() for ch in list(server._map.values())])
        self.thread.join(timeout)
        server.task_dispatcher.shutdown()
        if self.thread.is_alive():  # pragma: no cover - a loop that did not end in time
            wasyncore.close_all(server._map)


def start_status_page(ctx: Context) -> StatusPageThread | None:
    """Serve the status page on ``[web] host``/``port``; None (logged) when it cannot start."""
    web = ctx.settings.web
    try:
        server = make_server(ctx)
    except Exception as e:
        # The jobs matter more than the page: carry on without it, loudly.
        log.error("the status page could not start on %s:%s: %s", web.host, web.port, e)
        return None
    # A host name with several addresses listens on each, on the same port.
    multi = isinstance(server, MultiSocketServer)
    port = server.effective_listen[0][1] if multi else server.effective_port
    page = StatusPageThread(server, f"http://{web.host}:{port}/")
    page.thread.start()
    log.info("status page on %s", page.url)
    return page
