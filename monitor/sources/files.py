"""`monitor ingest SOURCE FILE...`: the polling code path, fed from files on disk."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor import sources
from monitor.context import Context
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

    Raises SourceNotAvailable (a LookupError) when the source's parser is not built, and
    ValueError for an unknown source name.
    """
    mod = sources.module(source)
    custom = getattr(mod, "ingest_paths", None)
    if custom is not None:  # e.g. CQC, whose files are ratings rather than figures
        reports: list[IngestReport] = custom(ctx, paths, published_at=published_at, trigger=trigger)
        return reports
    parser = getattr(mod, "parse", None)
    if parser is None:
        raise sources.SourceNotAvailable(f"the {source} parser is not implemented yet")
    # Large files (the RTT zip) are parsed straight from disk by parsers that say they can.
    streams = getattr(mod, "PARSES_PATHS", False)
    out = []
    for path in paths:
        item = FileInput(
            source=source,
            data=path.resolve() if streams else path.read_bytes(),
            filename=path.name,
            url=path.resolve().as_uri(),
            published_at=published_at or file_published_at(path),
            trigger=trigger,
        )
        out.append(ingest_file(ctx.engine, item, parser, archive_dir=ctx.var / "publications"))
    return out
