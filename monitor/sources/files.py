"""`monitor ingest SOURCE FILE...`: the polling code path, fed from files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor.context import Context
from monitor.sources import cqc, registry
from monitor.sources.ingest import FileInput, IngestReport, file_published_at, ingest_file


def ingest_paths(
    ctx: Context,
    source: str,
    paths: Sequence[Path],
    *,
    published_at: datetime | None = None,
    trigger: str = "ingest",
) -> list[IngestReport]:
    """Ingest each file in turn; one file's rejection does not stop the others. A file larger
    than ``[http] max_mb`` is rejected unread.

    A statistics publisher's files are parsed into figures; the CQC's (saved API bodies or the
    bulk ratings file) become ratings. Raises ValueError for an unknown source name.
    """
    publisher = registry.get(source)
    limit = int(ctx.settings.http.max_mb * 1024 * 1024)
    out: list[IngestReport] = []
    for path in paths:
        size = path.stat().st_size
        if size > limit:
            # Refused before a byte is read: the limit downloads have ([http] max_mb).
            out.append(
                IngestReport(
                    file=path.name,
                    source=source,
                    status="rejected",
                    error=f"{path.name}: {size:,} bytes is more than the {limit:,}-byte "
                    f"limit ([http] max_mb = {ctx.settings.http.max_mb:g})",
                )
            )
            continue
        if isinstance(publisher, registry.RatingsFeed):
            out += cqc.ingest_paths(ctx, [path], published_at=published_at, trigger=trigger)
            continue
        item = FileInput(
            source=source,
            # A streaming parser (the RTT zip) reads the file from disk, never all of it at once.
            data=path.resolve() if publisher.streams else path.read_bytes(),
            filename=path.name,
            url=path.resolve().as_uri(),
            published_at=published_at or file_published_at(path),
            trigger=trigger,
        )
        out.append(
            ingest_file(ctx.engine, item, publisher.parse, archive_dir=ctx.var / "publications")
        )
    return out
