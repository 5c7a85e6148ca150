"""The monthly run: write the due month's board pack of every trust a subscriber asked for,
under ``[paths] var``/board-packs/, and queue one email per subscriber through the outbox
(a link, or the pack attached: the PDF where WeasyPrint runs, else the HTML).

Idempotent: a pack already written is not written again, and each email's key
(``board-pack:<YYYY-MM>:<trust>:<recipient>``) is unique, so a second run queues nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from monitor.board import render
from monitor.board.month import Month
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Outbox, Subscription, utcnow
from monitor.notify import keys, mime, subscriptions
from monitor.notify.enqueue import enqueue
from monitor.urls import Urls
from monitor.vocab import OutboxKind

log = logging.getLogger(__name__)
FOLDER = "board-packs"


def pack_files(ctx: Context, code: str, month: Month) -> dict[str, Path]:
    """Write the pack of ``code`` for ``month`` (HTML, and PDF where it can be made) unless
    already written; returns suffix -> path."""
    folder = ctx.var / FOLDER / code
    html_path, pdf_path = folder / f"{month.key}.html", folder / f"{month.key}.pdf"
    can_pdf = render.pdf_unavailable() is None
    if not html_path.exists() or (can_pdf and not pdf_path.exists()):
        found = render.assemble(ctx.engine, ctx.settings, code, month)
        if found is None:
            return {}
        document = render.html(ctx.settings, found)
        folder.mkdir(parents=True, exist_ok=True)
        _write(html_path, document.encode("utf-8"))
        if can_pdf:
            _write(pdf_path, render.pdf(document, ctx.settings.web.base_url))
    return {p.suffix: p for p in (html_path, pdf_path) if p.exists()}


def _write(path: Path, data: bytes) -> None:
    """Write whole or not at all: a crash leaves no half-written pack to attach."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def produce(ctx: Context, month: Month) -> dict[str, Any]:
    """Write ``month``'s packs for the trusts subscribers asked for and queue their emails."""
    with session_scope(ctx.engine) as s:
        wanted = [
            sub
            for sub in s.exec(
                select(Subscription).where(
                    col(Subscription.board_pack).is_not(None), Subscription.scope == "org"
                )
            )
            if subscriptions.receiving(sub)
        ]
    urls = Urls(ctx.settings.web.base_url)
    rows: list[Outbox] = []
    packs: dict[str, dict[str, Path]] = {}
    for sub in sorted(wanted, key=lambda x: (x.code, x.id or 0)):
        if sub.code not in packs:
            packs[sub.code] = pack_files(ctx, sub.code, month)
        files = packs[sub.code]
        if not files:
            continue
        attach = files.get(".pdf") or files.get(".html")
        now = utcnow()
        rows.append(
            Outbox(
                key=keys.board_pack(month.key, sub.code, sub.email),
                recipient=sub.email,
                kind=OutboxKind.BOARD_PACK,
                payload={
                    "subscriptions": [sub.id],
                    "org_code": sub.code,
                    "org_name": _name(ctx, sub.code),
                    "month": month.key,
                    "month_label": month.label,
                    "pack_url": render.board_pack_url(urls, sub.code, month),
                    "pdf_url": render.board_pack_url(urls, sub.code, month, pdf=True),
                    "attachment": attach.relative_to(ctx.var).as_posix()
                    if sub.board_pack == "attachment" and attach is not None
                    else None,
                },
                message_id=mime.new_message_id(ctx.settings, OutboxKind.BOARD_PACK),
                created_at=now,
                next_attempt_at=now,
            )
        )
    with session_scope(ctx.engine, write=True) as s:
        queued = enqueue(s, rows)
    if queued:
        log.info("board packs for %s: %d emails queued", month.label, len(queued))
    return {"month": month.key, "packs": len(packs), "queued": len(queued)}


def _name(ctx: Context, code: str) -> str:
    from monitor.models import Organisation

    with session_scope(ctx.engine) as s:
        org = s.get(Organisation, code)
        return org.name if org else code
