"""Previews: write what would be sent as .eml and .html files (a chat message: the .json
body it would post) to look at, changing nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Outbox, utcnow
from monitor.notify import channels, compose, digest
from monitor.vocab import WAITING

_UNSAFE = re.compile(r"[^A-Za-z0-9.@_-]+")


def _write(
    directory: Path, rows: Sequence[Outbox], composer: compose.Composer, batch: compose.Batch
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for n, row in enumerate(rows, start=1):
        # Names end in the address's domain, so suffixes are appended, never substituted.
        stem = f"{n:04d}-{_UNSAFE.sub('_', row.key)[:120]}"
        try:
            if channels.channel_of(row.recipient) != channels.EMAIL:
                # A chat message: the JSON body that would be posted (never the URL).
                _, body, _ = composer.chat_message(row, batch)
                path = directory / f"{stem}.json"
                path.write_bytes(
                    json.dumps(json.loads(body), indent=2, ensure_ascii=False).encode()
                )
                written.append(path)
                continue
            data, rendered = composer.message(row, batch)
        except compose.Cancelled as e:
            (directory / f"{stem}.cancelled.txt").write_text(f"{row.key}: not sent: {e}\n")
            continue
        eml, html = directory / f"{stem}.eml", directory / f"{stem}.html"
        eml.write_bytes(data)
        html.write_text(rendered.html, encoding="utf-8")
        written += [eml, html]
    return written


def outbox(engine: Engine, settings: Settings, directory: Path) -> list[Path]:
    """Every message waiting in the outbox, as it would be sent now; statuses unchanged."""
    with session_scope(engine) as s:
        rows = list(
            s.exec(select(Outbox).where(col(Outbox.status).in_(WAITING)).order_by(col(Outbox.id)))
        )
        batch = compose.load(s, rows)
    return _write(directory, rows, compose.Composer.for_settings(settings), batch)


def digests(
    engine: Engine,
    settings: Settings,
    directory: Path,
    *,
    week: str | None = None,
    now: datetime | None = None,
) -> list[Path]:
    """The digests of ``week`` (default: the latest due), without queueing them."""
    now = now or utcnow()
    week = week or digest.due_week(settings, now)
    with session_scope(engine) as s:
        rows = digest.rows(s, settings, week, now=now)
        batch = compose.load(s, rows)
    return _write(directory, rows, compose.Composer.for_settings(settings), batch)
