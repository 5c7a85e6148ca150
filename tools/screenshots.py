"""`make screenshots`: every page type of the status page at phone and desktop width, from the
embedded default's data, into var/screenshots/ (or the folder given).

1. Seed a temporary database the way `make run` does: `monitor init` on the shipped
   config.toml beside the shipped rules, templates and data/real (double opt-in on, so that
   the confirmation pages have something to confirm).
2. Add an operator (a random password, in the environment variable `[web] admin_users_env`
   names) for the admin pages.
3. Serve the status page on 127.0.0.1 and, in Debian's chromium, visit each stop of
   tools/page_tour.py at 390 and 1280 px; save ``<stop>-<width>.png`` (the full page).
4. Print one line per screenshot, with the page's overflow (0: nothing cut off).

Needs /usr/bin/chromium and playwright (the dev extra); the pages use the NHS.UK styles when
`make assets` has installed them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from typer.testing import CliRunner

from monitor.cli import app as cli
from monitor.context import Context
from monitor.web import users
from monitor.web.server import make_server
from tools.page_tour import TOUR, WIDTHS, Site, overflow, visit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")


def shipped_config(folder: Path) -> Path:
    """config.toml as shipped, beside links to the shipped rules, templates and data (its
    relative paths mean what they mean in the repository), with double opt-in on."""
    for name in ("rules", "templates", "data"):
        (folder / name).symlink_to(ROOT / name)
    if (ROOT / "node_modules").is_dir():
        (folder / "node_modules").symlink_to(ROOT / "node_modules")
    text = (ROOT / "config.toml").read_text()
    text = text.replace("double_opt_in = false", "double_opt_in = true")
    path = folder / "config.toml"
    path.write_text(text)
    return path


@contextmanager
def serving(ctx: Context) -> Iterator[str]:
    """The status page on its own waitress server on 127.0.0.1, in a thread."""
    server = make_server(ctx, "127.0.0.1", 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        # Closed by the server's own loop thread, which ends once nothing is left open.
        server.trigger.pull_trigger(lambda: [ch.close() for ch in list(server._map.values())])
        thread.join(timeout=30)
        server.task_dispatcher.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "var" / "screenshots"))
    out = Path(parser.parse_args(argv).out)
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing (apt-get install -y chromium)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="monitor-screens-") as tmp:
        path = shipped_config(Path(tmp))
        seeded = CliRunner().invoke(cli, ["--config", str(path), "init"])
        if seeded.exit_code != 0:
            print(seeded.output, file=sys.stderr)
            return 1
        ctx = Context.load(path)
        password = secrets.token_urlsafe(16)
        os.environ[ctx.settings.web.admin_users_env] = f"screens:{users.hash_password(password)}"
        with serving(ctx) as base_url, sync_playwright() as p:
            site = Site(base_url, ctx, operator=("screens", password))
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
            for width in WIDTHS:
                for stop in TOUR:
                    context = browser.new_context(viewport={"width": width, "height": 900})
                    page = context.new_page()
                    visit(page, site, stop)
                    shot = out / f"{stop.name}-{width}.png"
                    page.screenshot(path=str(shot), full_page=True)
                    print(f"{shot}  overflow {overflow(page)} px")
                    context.close()
            browser.close()
        ctx.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
