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
    """Ingest each file in turn; one file's rejection does not stop the others.

    A statistics publisher's files are parsed into figures; the CQC's (saved API bodies or the
    bulk ratings file) become ratings. Raises ValueError for an unknown source name.
    """
    publisher = registry.get(source)
    if isinstance(publisher, registry.RatingsFeed):
        return list(cqc.ingest_paths(ctx, paths, published_at=published_at, trigger=trigger))
    out = []
    for path in paths:
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
