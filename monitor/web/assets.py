"""The NHS.UK frontend's compiled CSS, JavaScript and images, served by the app itself.

`make assets` (run by `make run` and `make test`) installs the pinned ``nhsuk-frontend`` npm
release into ``node_modules/`` beside config.toml (or at the project root). Without it the
pages still work: the same semantic HTML, with only the project's small stylesheet.

The compiled CSS names the NHS.UK web fonts on an external host; those @font-face rules are
dropped when the CSS is served, so that no page loads anything from another site (the font
stack falls back to Arial, as NHS.UK's own does when the font is unavailable).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, current_app, request, send_from_directory

from monitor.config import Settings

log = logging.getLogger(__name__)

NHSUK_FRONTEND_VERSION = "10.6.1"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
MISSING_HINT = (
    f"nhsuk-frontend {NHSUK_FRONTEND_VERSION} is not installed, so the status page is plain "
    "HTML without NHS.UK styles: run `make assets` (needs npm)"
)
_FONT_FACE = re.compile(r"@font-face\s*{[^}]*url\(\s*['\"]?https?://[^}]*}", re.IGNORECASE)
_COMPILED = {"nhsuk-frontend.min.css", "nhsuk-frontend.min.js", "nhsuk-frontend.min.js.map"}
ONE_YEAR = 365 * 24 * 3600

bp = Blueprint("assets", __name__)


@dataclass(frozen=True)
class Frontend:
    """Where the compiled NHS.UK frontend is, if anywhere."""

    dist: Path | None
    version: str | None

    @property
    def available(self) -> bool:
        return self.dist is not None


def candidates(settings: Settings) -> list[Path]:
    """node_modules folders to look in: `paths.node_modules` alone when it is set; otherwise
    beside config.toml, then the project root."""
    if settings.paths.node_modules is not None:
        return [settings.paths.node_modules]
    out = []
    if settings.config_path is not None:
        out.append(settings.config_path.parent / "node_modules")
    out.append(PROJECT_ROOT / "node_modules")
    return list(dict.fromkeys(out))


def find(settings: Settings) -> Frontend:
    for folder in candidates(settings):
        package = folder / "nhsuk-frontend"
        dist = package / "dist" / "nhsuk"
        if (dist / "nhsuk-frontend.min.css").is_file():
            try:
                version = json.loads((package / "package.json").read_text())["version"]
            except (OSError, ValueError, KeyError):
                version = None
            if version != NHSUK_FRONTEND_VERSION:
                log.warning(
                    "nhsuk-frontend %s found in %s; the templates are built for %s",
                    version,
                    folder,
                    NHSUK_FRONTEND_VERSION,
                )
            return Frontend(dist, version)
    return Frontend(None, None)


def stylesheet(dist: Path) -> bytes:
    """The compiled CSS without @font-face rules that load fonts from another host."""
    css = (dist / "nhsuk-frontend.min.css").read_text(encoding="utf-8")
    css = _FONT_FACE.sub("", css)
    css = css.replace("/*# sourceMappingURL=nhsuk-frontend.min.css.map */", "")
    return css.encode()


def install(app: Flask, frontend: Frontend) -> None:
    """Register the /assets/ routes and keep the filtered stylesheet in memory."""
    app.config["NHSUK_FRONTEND"] = frontend
    if frontend.dist is not None:
        app.config["NHSUK_CSS"] = stylesheet(frontend.dist)
    else:
        log.warning("%s", MISSING_HINT)
    app.register_blueprint(bp)


@bp.get("/assets/<path:name>")
def asset(name: str) -> Response:
    frontend: Frontend = current_app.config["NHSUK_FRONTEND"]
    if frontend.dist is None:
        abort(404)
    if name == "nhsuk-frontend.min.css":
        resp = Response(current_app.config["NHSUK_CSS"], mimetype="text/css")
        resp.set_etag(f"nhsuk-{frontend.version}")
        resp.make_conditional(request)
    elif name in _COMPILED:
        resp = send_from_directory(frontend.dist, name, max_age=ONE_YEAR)
    else:
        resp = send_from_directory(frontend.dist / "assets", name, max_age=ONE_YEAR)
    # URLs carry the release (?v=10.6.1), so a new release is a new URL.
    resp.cache_control.public = True
    resp.cache_control.max_age = ONE_YEAR if request.args.get("v") else 86400
    return resp
