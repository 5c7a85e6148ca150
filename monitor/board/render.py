"""A board pack as a document: HTML from templates/status/board_pack.jinja (self-contained,
with print styles for A4), and the same HTML as PDF through WeasyPrint.

WeasyPrint needs the Pango system libraries (Debian: libpango-1.0-0 libpangoft2-1.0-0). Where
they (or WeasyPrint) are missing, :func:`pdf_unavailable` says what to install and the HTML
pack still works.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import jinja2

from monitor.board import changes, pack
from monitor.board.month import Month
from monitor.config import Settings
from monitor.urls import Urls
from monitor.web import present
from monitor.web.league_model import TABLES

TEMPLATE = "board_pack.jinja"
SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0"
INSTALL_HINT = (
    f"install the Pango libraries WeasyPrint needs (Debian or Ubuntu: apt-get install -y "
    f"{SYSTEM_PACKAGES}; other systems: see WeasyPrint's installation guide), then restart"
)


# WeasyPrint logs each step of every document at INFO; the command's own line says it was written.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)


@functools.cache
def _environment(templates: Path, override: Path | None) -> jinja2.Environment:
    folders = [p / "status" for p in (override, templates) if p is not None]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(f) for f in folders]),
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(present.FILTERS)
    return env


def assemble(engine: Any, settings: Settings, code: str, month: Month) -> pack.BoardPack | None:
    """The pack of ``code`` for ``month`` with what changed since the previous month's."""
    found = pack.build(engine, settings, code, month)
    if found is None:
        return None
    before = pack.build(engine, settings, code, month.previous)
    assert before is not None
    found.changes = changes.changes(found, before)
    return found


def html(settings: Settings, bp: pack.BoardPack) -> str:
    """The pack as one self-contained HTML document (inline CSS and SVG charts)."""
    env = _environment(settings.paths.templates, settings.paths.templates_override)
    urls = Urls(settings.web.base_url)
    return env.get_template(TEMPLATE).render(
        pack=bp,
        org=bp.org,
        urls=urls,
        pack_url=board_pack_url(urls, bp.org["code"], bp.month),
        rows=pack.ASSURANCE_ROWS,
        columns=bp.columns,
        leagues=TABLES,
    )


def board_pack_url(urls: Urls, code: str, month: Month, *, pdf: bool = False) -> str:
    """The status page's link to a trust's pack of a month (HTML, or ``pdf``)."""
    suffix = ".pdf" if pdf else ""
    return f"{urls.org(code)}/board-pack{suffix}?month={month.key}"


def pdf_unavailable() -> str | None:
    """Why a PDF cannot be made here (WeasyPrint or its system libraries missing), or None."""
    try:
        import weasyprint  # noqa: F401
    except ImportError as e:
        return f"WeasyPrint could not be loaded ({' '.join(str(e).split())[:300]}); {INSTALL_HINT}"
    except OSError as e:  # cffi raises OSError when a system library cannot be opened
        return (
            f"WeasyPrint's system libraries could not be loaded "
            f"({' '.join(str(e).split())[:300]}); {INSTALL_HINT}"
        )
    return None


class PdfUnavailable(RuntimeError):
    """A PDF was asked for where WeasyPrint cannot run; the message says what to install."""


def pdf(document: str, base_url: str | None = None) -> bytes:
    """The HTML ``document`` as PDF. Raises PdfUnavailable when WeasyPrint cannot run."""
    why = pdf_unavailable()
    if why is not None:
        raise PdfUnavailable(why)
    import weasyprint

    # Nothing is fetched: the document carries its styles and charts inline.
    def no_fetch(url: str, *args: Any, **kwargs: Any) -> Any:
        raise ValueError(f"the board pack fetches nothing ({url[:80]})")

    out = weasyprint.HTML(string=document, base_url=base_url, url_fetcher=no_fetch).write_pdf()
    assert isinstance(out, bytes)
    return out
