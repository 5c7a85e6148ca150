"""Store one publication: parse it, then write it whole in one transaction, or reject it whole.

The same steps run for a polled file, a back-filled one and ``monitor ingest FILE``:

1. Hash the bytes. If this source already ingested the same bytes, report "unchanged" and write
   nothing.
2. Parse outside any transaction. Any failure (a ParseError, or any other exception a damaged
   file provokes) records the publication as rejected (with file, row, column where known, and
   reason) and nothing else; the same bytes rejected again for the same reason are the same
   rejected publication.
3. Archive the bytes under var/publications/ so evidence links survive the publisher's URL
   changing (by content: a copy left by a failed attempt is reused).
4. In one write transaction: record the Publication with its archived copy, add organisations
   the reference list lacks (kind ``other``), and write only the figures that are new or
   different. An identical figure creates nothing; a different one is a revision: a new
   Observation row, with the old row marked superseded by this publication (both stay
   queryable). Which is current follows the publisher's date, not the order of ingest: a
   figure from a publication dated before the current figure's is stored already superseded
   (an old file fetched late changes no current figure and no alert). A derived figure never
   replaces the publisher's own, and the publisher's own replaces a derived one even when the
   two agree.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from monitor import metrics, orgs
from monitor.db import private_dir, session_scope
from monitor.models import Observation, Publication, SourceState, utcnow
from monitor.sources.base import Figure, Parsed, ParseError
from monitor.sources.tabular import forget_row, row_being_read

log = logging.getLogger(__name__)

Parser = Callable[..., Parsed]

# Figures are compared with this tolerance so that re-reading "52.1" from another file format
# is not a revision.
_REL_TOL = 1e-9
# A file of a layout read before may have this many fewer rows per period than the previous
# publication of that layout (a trust merging, a provider closing); more is a truncated file.
ROWS_TOLERANCE = 0.1


@dataclass(frozen=True, kw_only=True)
class FileInput:
    """A file to ingest and what is known about where it came from."""

    source: str
    data: bytes | Path
    filename: str
    url: str
    published_at: datetime
    trigger: str = "ingest"  # poll | backfill | ingest | seed
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    # None: quiet unless this is a poll after the source's first complete ingest.
    quiet: bool | None = None


@dataclass(kw_only=True)
class IngestReport:
    """What happened to one file; the fields `monitor ingest --json` prints."""

    file: str
    source: str
    status: str  # ingested | unchanged | rejected
    periods: list[str] = field(default_factory=list)
    rows_read: int = 0
    observations_written: int = 0
    revisions: int = 0
    orgs: int = 0
    new_orgs: list[str] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    publication_id: int | None = None
    quiet: bool = True
    # (metric, org) pairs whose figures changed: the evaluator looks at these only.
    affected: set[tuple[str, str]] = field(default_factory=set)

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "source": self.source,
            "status": self.status,
            "periods": self.periods,
            "rows_read": self.rows_read,
            "observations_written": self.observations_written,
            "revisions": self.revisions,
            "orgs": self.orgs,
            "new_orgs": self.new_orgs,
            "skipped": self.skipped,
            "error": self.error,
            "publication_id": self.publication_id,
        }


def sha256_of(data: bytes | Path) -> tuple[str, int]:
    """Hex digest and size of bytes, or of a file read in chunks."""
    h = hashlib.sha256()
    if isinstance(data, Path):
        size = 0
        with data.open("rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                size += len(chunk)
        return h.hexdigest(), size
    h.update(data)
    return h.hexdigest(), len(data)


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=1e-12)


def _unchanged(old: Observation, f: Figure) -> bool:
    return (
        old.derived == f.derived
        and _same(old.value, f.value)
        and _same(old.numerator, f.numerator)
        and _same(old.denominator, f.denominator)
        # A file without labels (e.g. the Oversight data CSV, whose league table twin gives the
        # rank's likely range) does not revise a figure only by lacking the label.
        and (f.label is None or old.label == f.label)
    )


def _period_key(f: Figure) -> str:
    return f"{f.period_start.isoformat()}/{f.period_end.isoformat()}"


def ingest_file(
    engine: Engine,
    item: FileInput,
    parser: Parser,
    *,
    archive_dir: Path | None = None,
) -> IngestReport:
    """Ingest one file (see the module docstring for the steps)."""
    report = IngestReport(file=item.filename, source=item.source, status="unchanged")
    sha, size = sha256_of(item.data)
    with session_scope(engine) as s:
        report.publication_id = _ingested_as(s, item.source, sha)
        if report.publication_id is not None:
            return report
        region_of = orgs.region_map(s)
    try:
        forget_row()
        parsed = parser(item.data, filename=item.filename, region_of=region_of)
        _check_one_figure_per_key(parsed)
        check_plausible(parsed)
        with session_scope(engine) as s:
            check_whole(s, item.source, parsed, item.published_at)
    except ParseError as e:
        return _reject(engine, item, sha, size, report, e.located(item.filename))
    except SQLAlchemyError:
        raise  # the database failing is not the file's fault: it is tried again
    except Exception as e:  # any other failure of one file is that file's rejection
        log.exception("unexpected error parsing %s %s", item.source, item.filename)
        err = ParseError(f"{type(e).__name__}: {e}", file=item.filename, row=row_being_read())
        return _reject(engine, item, sha, size, report, err)
    # Before the transaction, so that the row records its copy in the same commit.
    archived = _archive(item, sha, archive_dir) if archive_dir is not None else None
    try:
        with session_scope(engine, write=True) as s:
            # Another process may have stored the same bytes while this one parsed them.
            report.publication_id = _ingested_as(s, item.source, sha)
            if report.publication_id is not None:
                return report
            pub = _publication(item, sha, size, archive_path=archived)
            _store(s, pub, parsed, report, quiet=item.quiet)
    except IntegrityError:
        # PostgreSQL: the other's row appeared between the check and this insert.
        with session_scope(engine) as s:
            held = _ingested_as(s, item.source, sha)
        if held is None:
            raise
        return IngestReport(
            file=item.filename, source=item.source, status="unchanged", publication_id=held
        )
    log.info(
        "ingested %s %s: %d rows, %d observations written (%d revisions), periods %s",
        item.source,
        item.filename,
        report.rows_read,
        report.observations_written,
        report.revisions,
        ", ".join(report.periods) or "none",
    )
    return report


def _ingested_as(s: Session, source: str, sha: str) -> int | None:
    """The publication that already holds these bytes of ``source`` (step 1)."""
    return s.exec(
        select(Publication.id).where(
            Publication.source == source,
            Publication.sha256 == sha,
            Publication.status == "ingested",
        )
    ).first()


def _store(
    s: Session, pub: Publication, parsed: Parsed, report: IngestReport, *, quiet: bool | None
) -> None:
    """Record the publication, its new organisations and its new or revised figures, and the
    source's progress, in the caller's transaction (step 4); fill in ``report``. ``quiet``
    None: quiet unless this is a poll after the source's first complete ingest."""
    state = s.get(SourceState, pub.source) or SourceState(source=pub.source)
    first_ingest = state.first_complete_ingest_at is None
    pub.status = "ingested"
    pub.quiet = quiet if quiet is not None else pub.trigger != "poll" or first_ingest
    pub.periods = sorted({_period_key(f) for f in parsed.figures})
    pub.rows_read = parsed.rows_read
    pub.layout = parsed.layout
    pub.orgs = len(parsed.orgs)
    pub.skipped = [{"row": k.row, "reason": k.reason} for k in parsed.skipped]
    s.add(pub)
    s.flush()
    assert pub.id is not None
    report.new_orgs = orgs.ensure_orgs(
        s, {f.org: f.org_name for f in parsed.figures if f.org_name or f.org}
    )
    written, revised, report.affected = _write_figures(
        s, pub.id, parsed.figures, published_at=pub.published_at
    )
    pub.observations_written = written
    state.last_success_at = utcnow()
    state.last_publication_id = pub.id
    if first_ingest and quiet is None:
        # A first poll (quiet given) marks the source complete only once it has finished
        # (poll.py), so that a poll killed part-way is quiet again when it runs again.
        state.first_complete_ingest_at = utcnow()
    s.add(state)
    report.status, report.publication_id, report.quiet = "ingested", pub.id, pub.quiet
    report.periods, report.rows_read, report.orgs = pub.periods, pub.rows_read, pub.orgs
    report.observations_written, report.revisions = written, revised
    report.skipped = pub.skipped


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _write_figures(
    s: Session, publication_id: int, figures: Iterable[Figure], *, published_at: datetime
) -> tuple[int, int, set[tuple[str, str]]]:
    """Write new and revised figures; return (written, revisions, affected pairs).

    The current figure is the one of the latest publication by the publisher's date, whatever
    the order of ingest: a figure from a publication older than the current figure's is kept
    as history (already superseded by the current one's publication), and changes nothing.
    """
    figures = list(figures)
    if not figures:
        return 0, 0, set()
    metrics = {f.metric for f in figures}
    starts = {f.period_start for f in figures}
    current: dict[tuple[str, str, Any], tuple[Observation, datetime]] = {}
    q = (
        select(Observation, Publication.published_at)
        .join(Publication, col(Publication.id) == col(Observation.publication_id))
        .where(
            col(Observation.superseded_by).is_(None),
            col(Observation.metric).in_(metrics),
            col(Observation.period_start).in_(starts),
        )
    )
    for o, when in s.exec(q):
        current[(o.org, o.metric, o.period_start)] = (o, _aware(when))
    published_at = _aware(published_at)

    new_rows: list[dict[str, Any]] = []
    superseded: list[int] = []
    affected: set[tuple[str, str]] = set()
    for f in figures:
        key = (f.org, f.metric, f.period_start)
        if f.value is None or (isinstance(f.value, float) and math.isnan(f.value)):
            continue
        held = current.get(key)
        superseded_by = None
        if held is not None:
            old, old_published = held
            # A figure read from the publisher's file replaces a derived one (summed by the
            # monitor or a third party's) even when they agree, and is never replaced by one.
            if _unchanged(old, f) or (f.derived and not old.derived):
                continue
            if published_at < old_published and not (old.derived and not f.derived):
                # Published before the figure held: history, never current again.
                superseded_by = old.publication_id
            else:
                assert old.id is not None
                superseded.append(old.id)
        new_rows.append(
            {
                "org": f.org,
                "metric": f.metric,
                "period_start": f.period_start,
                "period_end": f.period_end,
                "granularity": str(f.granularity),
                "value": f.value,
                "label": f.label,
                "numerator": f.numerator,
                "denominator": f.denominator,
                "derived": f.derived,
                "publication_id": publication_id,
                "superseded_by": superseded_by,
            }
        )
        if superseded_by is None:
            affected.add((f.metric, f.org))
    # Mark the old versions first: the partial unique index allows one current row per key.
    for i in range(0, len(superseded), 500):
        s.execute(
            update(Observation)
            .where(col(Observation.id).in_(superseded[i : i + 500]))
            .values(superseded_by=publication_id)
        )
    if new_rows:
        # Core, not the ORM's bulk path: the rows need no identity map or events.
        s.connection().execute(insert(Observation.__table__), new_rows)  # type: ignore[attr-defined]
    return len(new_rows), len(superseded), affected


def _check_one_figure_per_key(parsed: Parsed) -> None:
    seen: set[tuple[str, str, Any]] = set()
    for f in parsed.figures:
        key = (f.org, f.metric, f.period_start)
        if key in seen:
            raise ParseError(
                f"two figures for {f.org} {f.metric} {f.period_start.isoformat()} in one file"
            )
        seen.add(key)


def _rows_per_period(rows: int, periods: int) -> float:
    return rows / max(periods, 1)


def check_whole(s: Session, source: str, parsed: Parsed, published_at: datetime) -> None:
    """ParseError when the file has fewer rows per period than the previous publication of the
    same source and layout (the latest published no later than this one), by more than
    ROWS_TOLERANCE: a file cut short at a line end looks whole to its parser. (Each parser
    checks what it can within the file: totals rows, England against the sum of providers.)
    A back-filled file older than everything held has nothing before it to be compared with."""
    if parsed.layout is None or not parsed.rows_read:
        return
    prev = s.exec(
        select(Publication)
        .where(
            Publication.source == source,
            Publication.layout == parsed.layout,
            Publication.status == "ingested",
            col(Publication.published_at) <= published_at,
        )
        .order_by(col(Publication.published_at).desc(), col(Publication.id).desc())
        .limit(1)  # first() alone would load (and decode) every earlier publication
    ).first()
    if prev is None or not prev.rows_read:
        return
    was = _rows_per_period(prev.rows_read, len(prev.periods))
    now = _rows_per_period(parsed.rows_read, len(parsed.periods))
    if now < was * (1 - ROWS_TOLERANCE):
        raise ParseError(
            f"only {now:g} rows per period where the previous {parsed.layout} "
            f"({prev.filename}, publication {prev.id}) had {was:g}: the file is incomplete "
            "(truncated?)"
        )


def check_plausible(parsed: Parsed) -> None:
    """ParseError for the first figure outside its metric's valid range (metrics.Range), naming
    its row and column: the publisher's own figures first, then those summed from them."""
    for f in sorted(parsed.figures, key=lambda f: f.derived):
        if f.value is None or (isinstance(f.value, float) and math.isnan(f.value)):
            continue
        valid = metrics.get(f.metric).valid
        if f.value not in valid or not math.isfinite(f.value):
            raise ParseError(
                f"{f.org} {f.metric} {f.period_start:%b %Y} is {f.value:g}, outside its valid "
                f"range ({valid}): not a plausible figure, so nothing from the file is stored",
                row=f.row,
                column=f.column,
            )
        for what, count in (("numerator", f.numerator), ("denominator", f.denominator)):
            if count is not None and (count < 0 or not math.isfinite(count)):
                raise ParseError(
                    f"{f.org} {f.metric} {f.period_start:%b %Y}: the {what} is {count:g}, "
                    "a negative count",
                    row=f.row,
                    column=f.column,
                )


def _publication(item: FileInput, sha: str, size: int, **fields: Any) -> Publication:
    """The Publication row of ``item``; ``fields`` add the outcome (status, reason, counts)."""
    return Publication(
        source=item.source,
        url=item.url,
        title=item.title,
        filename=item.filename,
        sha256=sha,
        size=size,
        etag=item.etag,
        last_modified=item.last_modified,
        published_at=item.published_at,
        trigger=item.trigger,
        **fields,
    )


def _reject(
    engine: Engine, item: FileInput, sha: str, size: int, report: IngestReport, err: ParseError
) -> IngestReport:
    with session_scope(engine, write=True) as s:
        # The same bad bytes again (every poll until the publisher corrects them) are the same
        # rejection: one row, so operators are told once.
        pub = s.exec(
            select(Publication).where(
                Publication.source == item.source,
                Publication.sha256 == sha,
                Publication.status == "rejected",
                Publication.reason == str(err),
            )
        ).first() or _publication(item, sha, size, status="rejected", reason=str(err))
        s.add(pub)
        s.flush()
        report.publication_id = pub.id
    report.status = "rejected"
    report.error = str(err)
    log.warning("rejected %s publication %s: %s", item.source, item.filename, err)
    return report


def _archive(item: FileInput, sha: str, archive_dir: Path) -> str:
    """Copy the file to ``archive_dir/<source>/<sha[:2]>/<sha>-<name>`` (once); its path."""
    dest = archive_dir / item.source / sha[:2] / f"{sha}-{Path(item.filename).name}"
    if not dest.exists():
        private_dir(dest.parent)
        tmp = dest.with_suffix(dest.suffix + ".part")
        if isinstance(item.data, Path):
            shutil.copyfile(item.data, tmp)
        else:
            tmp.write_bytes(item.data)
        tmp.chmod(0o600)  # the owner's only, like the database
        tmp.replace(dest)
    return str(dest)


def file_published_at(path: Path) -> datetime:
    """A file's modification time, used as published_at for files ingested from disk."""
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
