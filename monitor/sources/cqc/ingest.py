"""Ingest one CQC publication (an API body or the bulk ratings file) into the database.

Each publication is one transaction: a Publication row, its Rating rows, and a ``cqc_overall``
observation per trust it rates. The same bytes are never ingested twice; a body or file that
cannot be read leaves the database as it was and is recorded as rejected with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.db import session_scope
from monitor.models import CqcSubject, Publication, SourceState, utcnow
from monitor.sources.base import ParseError
from monitor.sources.cqc.ods import OdsReport, ratings_from_ods
from monitor.sources.cqc.ratings import BodyRatings, parse_body
from monitor.sources.cqc.records import RatingRecord, overall_figure
from monitor.sources.cqc.store import (
    OverallCounts,
    StoreCounts,
    retire_subject,
    store_overall,
    store_snapshots,
)
from monitor.sources.cqc.values import Scope
from monitor.sources.ingest import IngestReport, sha256_of

log = logging.getLogger(__name__)

SOURCE = "cqc"
_FILE_DATE = re.compile(r"(\d{1,2})_([A-Za-z]+)_(\d{4})_Latest_ratings", re.IGNORECASE)


@dataclass
class CqcIngestReport(IngestReport):
    """monitor.sources.ingest's report of one publication, with the ratings it wrote.

    ``status`` is ingested, unchanged or rejected as for every source, or, for an API body,
    ``out_of_scope`` (not an organisation the monitor keeps: nothing stored) or
    ``deregistered`` (its ratings stopped being current).
    """

    source: str = SOURCE
    status: str = "ingested"
    ratings_written: int = 0
    subject: BodyRatings | None = None

    def as_json(self) -> dict[str, Any]:
        return {**super().as_json(), "ratings_written": self.ratings_written}


def file_date(name: str) -> date | None:
    """The date in a ``DD_Month_YYYY_Latest_ratings.ods`` name."""
    m = _FILE_DATE.search(name)
    if not m:
        return None
    try:
        return datetime.strptime(f"{m[1]} {m[2]} {m[3]}", "%d %B %Y").date()
    except ValueError:
        return None


def midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def already_ingested(session: Session, sha256: str) -> Publication | None:
    return session.exec(
        select(Publication).where(
            col(Publication.source) == SOURCE,
            col(Publication.sha256) == sha256,
            col(Publication.status) == "ingested",
        )
    ).first()


def record_rejected(engine: Engine, pub: Publication, reason: str) -> None:
    """Keep a rejected publication (once per sha256) with its reason, in its own transaction."""
    with session_scope(engine, write=True) as session:
        seen = session.exec(
            select(Publication).where(
                col(Publication.source) == SOURCE,
                col(Publication.sha256) == pub.sha256,
                col(Publication.status) == "rejected",
            )
        ).first()
        if seen is None:
            pub.status, pub.reason = "rejected", reason
            session.add(pub)


def upsert_subject(session: Session, body: BodyRatings, *, in_scope: bool, sha256: str) -> None:
    """Record what a body says about its subject, and a provider's registered locations."""
    subj = session.get(CqcSubject, (body.kind, body.subject_id)) or CqcSubject(
        kind=body.kind, subject_id=body.subject_id
    )
    subj.name = body.name
    subj.provider_id = body.provider_id
    subj.type = body.type
    subj.region = body.region
    subj.registration_status = body.registration_status
    subj.in_scope = in_scope
    subj.sha256 = sha256
    subj.error = "; ".join(body.problems) or None
    session.add(subj)
    if body.kind == "provider" and in_scope and not body.deregistered:
        for lid in body.location_ids:
            loc = session.get(CqcSubject, ("location", lid))
            if loc is None:
                session.add(
                    CqcSubject(
                        kind="location", subject_id=lid, provider_id=body.subject_id, in_scope=True
                    )
                )
            elif not loc.in_scope:
                loc.in_scope = True
                session.add(loc)


def body_in_scope(body: BodyRatings, scope: Scope) -> bool:
    """Whether the organisation a body describes is one the monitor keeps."""
    ptype = body.type if body.kind == "provider" else None
    return scope.includes(body.provider_id, ptype, body.region)


def ingest_body(
    engine: Engine,
    raw: bytes,
    *,
    url: str,
    filename: str,
    scope: Scope,
    trigger: str = "ingest",
    quiet: bool = True,
    now: datetime | None = None,
) -> CqcIngestReport:
    """Parse one provider or location body and store it (one transaction).

    A body outside the scope is not stored (its subject row says so). A deregistered subject's
    ratings stop being current. Raises nothing for a bad body: the report says ``rejected``.
    """
    now = now or utcnow()
    report = CqcIngestReport(file=filename)
    sha = hashlib.sha256(raw).hexdigest()
    pub = Publication(
        source=SOURCE, url=url, filename=filename, sha256=sha, size=len(raw),
        published_at=now, fetched_at=now, trigger=trigger, quiet=quiet,
    )  # fmt: skip
    try:
        body = parse_body(raw)
    except ValueError as e:
        report.status, report.error = "rejected", str(e)
        record_rejected(engine, pub, str(e))
        return report
    except Exception as e:  # a body of an unexpected shape is that body's rejection
        log.exception("cqc: unexpected error reading %s", filename)
        report.status = "rejected"
        report.error = f"{filename}: not a body the monitor can read ({type(e).__name__}: {e})"
        record_rejected(engine, pub, report.error)
        return report
    report.subject = body
    report.rows_read = len(body.records)
    report.skipped = [{"row": None, "reason": p} for p in body.problems]
    in_scope = body_in_scope(body, scope)
    with session_scope(engine, write=True) as session:
        upsert_subject(session, body, in_scope=in_scope, sha256=sha)
        if not in_scope:
            report.status = "out_of_scope"
            return report
        if body.deregistered:
            _keep_history(session, body, pub, sha)
            retired = retire_subject(session, body.subject_id)
            report.status = "deregistered"
            log.info(
                "cqc: %s %s is deregistered; %d ratings retired",
                body.kind,
                body.subject_id,
                retired,
            )
            return report
        if already_ingested(session, sha) is not None:
            report.status = "unchanged"
            return report
        dates = [r.report_date for r in body.records if r.current and r.report_date]
        pub.published_at = midnight(max(dates)) if dates else now
        pub.rows_read = len(body.records)
        pub.skipped = report.skipped
        session.add(pub)
        session.flush()
        assert pub.id is not None
        # A rating left out for an unknown word must not retire the stored one it replaces.
        partial = {body.subject_id} if body.unknown_words else set()
        counts = store_snapshots(session, [body.records], pub.id, now=now, partial=partial)
        figure = overall_figure(body.records)
        if figure is not None:
            _overall(report, store_overall(session, [figure], pub.id))
            report.periods = [f"{figure.period_start}/{figure.period_end}"]
        pub.observations_written = report.observations_written
        pub.orgs = 1
        pub.periods = report.periods
        session.add(pub)
        _mark_source(session, pub.id, complete=False)
        report.ratings_written = counts.written
        report.orgs = 1
        report.publication_id = pub.id
        report.quiet = quiet
    return report


def _keep_history(session: Session, body: BodyRatings, pub: Publication, sha: str) -> None:
    """A deregistered subject's ratings, kept as its history (retired by the caller), when
    these bytes are new: one seen for the first time after deregistration keeps them too. No
    ``cqc_overall`` figure: the organisation it rated no longer exists as registered."""
    if not body.records or already_ingested(session, sha) is not None:
        return
    dates = [r.report_date for r in body.records if r.report_date]
    pub.published_at = midnight(max(dates)) if dates else pub.published_at
    pub.rows_read = len(body.records)
    session.add(pub)
    session.flush()
    partial = {body.subject_id} if body.unknown_words else set()
    store_snapshots(session, [body.records], pub.id, partial=partial)


def _overall(report: CqcIngestReport, counts: OverallCounts) -> None:
    report.observations_written += counts.written
    report.revisions += counts.revisions
    report.new_orgs = counts.new_orgs
    report.affected |= counts.affected


def _mark_source(session: Session, publication_id: int, *, complete: bool) -> None:
    # As monitor.sources.ingest does for every publisher: the status page reads these.
    state = session.get(SourceState, SOURCE) or SourceState(source=SOURCE)
    state.last_publication_id = publication_id
    if complete:
        state.last_success_at = utcnow()
        if state.first_complete_ingest_at is None:
            state.first_complete_ingest_at = utcnow()
    session.add(state)


def _grouped(
    records: Iterator[RatingRecord], partial: set[str], figures: list[Any]
) -> Iterator[list[RatingRecord]]:
    """Consecutive records of one subject as one group. A subject met again after its group
    closed is marked partial (its second group must not retire the first one's rows)."""
    closed: set[str] = set()
    group: list[RatingRecord] = []
    for rec in records:
        if group and rec.subject_id != group[0].subject_id:
            yield from _close(group, closed, partial, figures)
            group = []
        group.append(rec)
    if group:
        yield from _close(group, closed, partial, figures)


def _close(
    group: list[RatingRecord], closed: set[str], partial: set[str], figures: list[Any]
) -> Iterator[list[RatingRecord]]:
    sid = group[0].subject_id
    if sid in closed:
        partial.add(sid)
    closed.add(sid)
    figure = overall_figure(group)
    if figure is not None:
        figures.append(figure)
    yield group


def ingest_ods(
    engine: Engine,
    path: Path,
    *,
    scope: Scope,
    published: date | None = None,
    trigger: str = "ingest",
    now: datetime | None = None,
) -> CqcIngestReport:
    """Ingest a ``*_Latest_ratings.ods`` file whole or not at all (one transaction)."""
    now = now or utcnow()
    report = CqcIngestReport(file=str(path))
    sha, size = sha256_of(path)
    when = published or file_date(path.name)
    pub = Publication(
        source=SOURCE, url=path.resolve().as_uri(), filename=path.name, sha256=sha, size=size,
        published_at=midnight(when) if when else now, fetched_at=now, trigger=trigger, quiet=True,
    )  # fmt: skip
    ods = OdsReport(file=path.name)
    try:
        with session_scope(engine, write=True) as session:
            if (held := already_ingested(session, sha)) is not None:
                report.status, report.publication_id = "unchanged", held.id
                return report
            session.add(pub)
            session.flush()
            assert pub.id is not None
            partial: set[str] = set()
            figures: list[Any] = []
            groups = _grouped(ratings_from_ods(path, scope, ods), partial, figures)
            counts: StoreCounts = store_snapshots(session, groups, pub.id, now=now, partial=partial)
            _overall(report, store_overall(session, figures, pub.id))
            _mark_source(session, pub.id, complete=True)
            report.periods = sorted({f"{f.period_start}/{f.period_end}" for f in figures})
            report.rows_read = ods.rows_read
            report.ratings_written = counts.written
            report.orgs = counts.subjects
            report.skipped = [{"row": s.row, "reason": s.reason} for s in ods.skipped]
            pub.rows_read, pub.orgs = ods.rows_read, counts.subjects
            pub.observations_written = report.observations_written
            pub.periods, pub.skipped = report.periods, report.skipped
            session.add(pub)
            report.publication_id = pub.id
    except ParseError as e:
        report.status, report.error = "rejected", str(e.located(path.name))
        record_rejected(engine, Publication(**pub.model_dump(exclude={"id"})), report.error)
        return report
    if ods.skipped_count:
        log.warning(
            "cqc: %s: %d rows skipped (first: %s)",
            path.name,
            ods.skipped_count,
            ods.skipped[0].reason,
        )
    return report
