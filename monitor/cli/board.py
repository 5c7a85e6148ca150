"""`monitor board-pack ORG [--month YYYY-MM] --out FILE`: a trust's monthly board pack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli.common import Commands, context_of, fail

command = Commands()


@command("board-pack")
def board_pack_cmd(
    tc: typer.Context,
    org: Annotated[str, typer.Argument(help="The trust's ODS code, e.g. RCX.")],
    out: Annotated[Path, typer.Option("--out", help="File to write: .html or .pdf.")],
    month: Annotated[
        str | None,
        typer.Option("--month", help="YYYY-MM (default: the latest month whose pack is due)."),
    ] = None,
) -> None:
    """Write a trust's monthly board pack (docs/status-page.md): league position, the
    variation and assurance matrix, an SPC chart per measure, CQC ratings, DSPT status, open
    alerts and what changed since the previous month. HTML or PDF by FILE's suffix; a PDF
    needs WeasyPrint's system libraries (README). Unknown trust or bad month: exit 2."""
    from monitor.board import month as months
    from monitor.board import render
    from monitor.models import utcnow

    suffix = out.suffix.lower()
    if suffix not in (".html", ".htm", ".pdf"):
        fail(f"--out {out}: the file must end in .html or .pdf", 2)
    try:
        m = months.Month.parse(month) if month else months.due(utcnow())
    except months.BadMonth as e:
        fail(f"--{e}", 2)
    if suffix == ".pdf" and (why := render.pdf_unavailable()) is not None:
        fail(f"cannot write a PDF: {why}", 1)
    ctx = context_of(tc)
    found = render.assemble(ctx.engine, ctx.settings, org, m)
    if found is None:
        fail(f"no organisation {org.strip().upper()!r}; see `monitor orgs` for the list", 2)
    document = render.html(ctx.settings, found)
    if suffix == ".pdf":
        out.write_bytes(render.pdf(document, ctx.settings.web.base_url))
    else:
        out.write_text(document, encoding="utf-8")
    print(
        f"{out}: board pack of {found.org['name']} ({found.org['code']}) for {m.label}:"
        f" {len(found.measures)} measures charted, {len(found.alerts)} open alerts"
    )
