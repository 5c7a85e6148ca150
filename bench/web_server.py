"""`monitor serve` for the web benchmark, plus the baseline: the same server sending saved
copies of its own pages as static files.

Usage: python bench/web_server.py CONFIG STATIC_DIR. The server is monitor.web.server's
make_server (waitress with [web] threads, the real app); the only addition is the route
/bench/static/<name>, which sends a file from STATIC_DIR.
"""

from __future__ import annotations

import logging
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import send_from_directory
from flask.typing import ResponseReturnValue

from monitor.context import Context, setup_logging
from monitor.web import create_app
from monitor.web.server import make_server


def main(config: str, static_dir: str) -> int:
    setup_logging()
    ctx = Context.load(config)
    app = create_app(ctx)

    def static(name: str) -> ResponseReturnValue:
        return send_from_directory(static_dir, name)

    app.add_url_rule("/bench/static/<name>", "bench_static", static)
    server = make_server(ctx, "127.0.0.1", 0, app)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.getLogger("bench").info(
        "status page on http://127.0.0.1:%s/ (threads %s)",
        server.effective_port,
        ctx.settings.web.threads,
    )
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
