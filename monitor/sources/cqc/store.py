"""Store CQC rating records and trusts' ``cqc_overall`` figures through a SQLModel Session.

Ratings are versions: a row per (subject, service, domain, report date, rating), never updated
except for ``current`` (and blanks that a later source fills, such as ``inherited_from``). What
a body or the bulk file says about one subject is a snapshot of its current ratings:

* a current record becomes the current row of its (service, domain), unless a row already
  current there has a later report date, or the whole snapshot is older than the subject's
  current ratings (an older file read after a newer poll): then it is kept as history;
* a current row whose (service, domain) the snapshot no longer has (a service CQC retired,
  such as "Maternity and gynaecology" after "Maternity") stops being current;
* historic records are added as history and never made current.

Storing the same snapshot twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from monitor import orgs
from monitor.db import insert_rows
from monitor.models import Observation, Rating, utcnow
from monitor.sources.base import Figure
from monitor.sources.cqc.records import RatingRecord

BATCH_SUBJECTS = 500  # subjects whose existing rows are read with one query
_SD = tuple[str, str]  # (service, domain)


@dataclass(slots=True)
class StoreCounts:
    """What storing did: rows added, rows that stopped or started being current."""

    written: int = 0
    retired: int = 0
    made_current: int = 0
    subjects: int = 0

    def add(self, other: StoreCounts) -> None:
        self.written += other.written
        self.retired += other.retired
        self.made_current += other.made_current
        self.subjects += other.subjects


def _batches(groups: Iterable[list[RatingRecord]]) -> Iterator[list[list[RatingRecord]]]:
    it = iter(groups)
    while batch := list(islice(it, BATCH_SUBJECTS)):
        yield batch


def store_snapshots(
    session: Session,
    groups: Iterable[list[RatingRecord]],
    publication_id: int | None,
    *,
    now: datetime | None = None,
    partial: set[str] | frozenset[str] = frozenset(),
) -> StoreCounts:
    """Store each group (all records of one subject) as that subject's snapshot.

    Subjects in ``partial`` (a file that lists a subject in two places) only gain rows: their
    groups are not complete snapshots, so nothing is retired for being absent.

    Reads existing rows ``BATCH_SUBJECTS`` subjects at a time and writes a batch's new rows
    with one executemany (monitor.db.insert_rows), so that the 320k rows of the bulk file go
    in quickly and in bounded memory.
    """
    counts = StoreCounts()
    stamp = now or utcnow()
    for batch in _batches(groups):
        ids = [g[0].subject_id for g in batch if g]
        existing: dict[str, list[Rating]] = {}
        for row in session.exec(select(Rating).where(col(Rating.subject_id).in_(ids))):
            existing.setdefault(row.subject_id, []).append(row)
        new_rows: list[tuple[Any, ...]] = []
        retire: list[int] = []
        promote: list[int] = []
        for group in batch:
            if group:
                sid = group[0].subject_id
                _plan(
                    group,
                    existing.get(sid, []),
                    new_rows,
                    retire,
                    promote,
                    complete=sid not in partial,
                )
        if retire:
            session.exec(update(Rating).where(col(Rating.id).in_(retire)).values(current=False))
        if promote:
            session.exec(update(Rating).where(col(Rating.id).in_(promote)).values(current=True))
        if new_rows:
            # A subject listed twice in one batch could plan the same version twice.
            new_rows = list({r[:5]: r for r in new_rows}.values())
            insert_rows(
                session.connection(),
                Rating.__table__,  # type: ignore[attr-defined]
                ROW_COLUMNS,
                new_rows,
                publication_id=publication_id,
                first_seen_at=stamp,
            )
        counts.add(StoreCounts(len(new_rows), len(retire), len(promote), len(batch)))
    return counts


def _plan(
    group: list[RatingRecord],
    rows: list[Rating],
    new_rows: list[tuple[Any, ...]],
    retire: list[int],
    promote: list[int],
    *,
    complete: bool = True,
) -> None:
    """Decide the inserts and current-flag changes for one subject's snapshot."""
    by_key = {(r.subject_id, r.service, r.domain, r.report_date, r.rating): r for r in rows}
    current_rows: dict[_SD, list[Rating]] = {}
    for r in rows:
        if r.current:
            current_rows.setdefault((r.service, r.domain), []).append(r)
    snap_current: dict[_SD, RatingRecord] = {}
    for rec in group:
        if rec.current:
            snap_current[(rec.service, rec.domain)] = rec
    newest = max((r.report_date for r in group if r.report_date), default=None)
    held = max((r.report_date for r in rows if r.current and r.report_date), default=None)
    # A snapshot older than what is held (an old file read after a newer poll) adds history
    # only: it must not bring back a service a newer report retired.
    stale = _after(held, newest)
    for rec in _unique(group):
        row = by_key.get(rec.key)
        make_current = (
            rec.current and not stale and not _newer_exists(current_rows.get(rec.key[1:3]), rec)
        )
        if make_current:
            for other in current_rows.get((rec.service, rec.domain), []):
                if other.id is not None and (row is None or other.id != row.id):
                    retire.append(other.id)
        if row is None:
            new_rows.append(_as_row(rec, current=make_current))
        else:
            if make_current and not row.current and row.id is not None:
                promote.append(row.id)
            _fill_blanks(row, rec)
    for sd, others in current_rows.items():
        if sd in snap_current or not complete or stale:
            continue
        for other in others:
            # A row newer than anything in this snapshot is left alone: the snapshot is older.
            if other.id is not None and not _after(other.report_date, newest):
                retire.append(other.id)


def _unique(group: list[RatingRecord]) -> list[RatingRecord]:
    seen: dict[tuple[str, str, str, date | None, str], RatingRecord] = {}
    for rec in group:
        if rec.key not in seen or (rec.current and not seen[rec.key].current):
            seen[rec.key] = rec
    return list(seen.values())


def _after(a: date | None, b: date | None) -> bool:
    return a is not None and b is not None and a > b


def _newer_exists(current: list[Rating] | None, rec: RatingRecord) -> bool:
    return any(_after(r.report_date, rec.report_date) for r in current or [])


def _fill_blanks(row: Rating, rec: RatingRecord) -> None:
    # The bulk file says "inherited" but not from whom; the API says both. Keep what is known.
    if rec.inherited_from and not row.inherited_from:
        row.inherited_from = rec.inherited_from
        row.inherited = True
    if rec.score is not None and row.score is None:
        row.score = rec.score
    if rec.report_link and not row.report_link:
        row.report_link = rec.report_link


# The columns of a new rating row, as _as_row gives them; the first five are its version key.
ROW_COLUMNS = (
    "subject_id", "service", "domain", "report_date", "rating", "subject_type", "subject_name",
    "org", "ordinal", "report_link", "inherited", "inherited_from", "score", "current",
)  # fmt: skip


def _as_row(rec: RatingRecord, *, current: bool) -> tuple[Any, ...]:
    return (
        rec.subject_id, rec.service, rec.domain, rec.report_date, rec.rating, rec.subject_type,
        rec.subject_name, rec.org, rec.ordinal, rec.report_link, rec.inherited,
        rec.inherited_from, rec.score, current,
    )  # fmt: skip


DOMAIN_ORDER = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")


def trust_ratings(session: Session, code: str) -> list[Rating]:
    """The trust's own current ratings of the whole organisation: those of its provider body,
    newest per key question, Overall first. Never a location's (RM317's rating, inherited from
    RW603, is the hospital's, not RM3's)."""
    rows = session.exec(
        select(Rating)
        .where(
            col(Rating.subject_type) == "provider",
            col(Rating.subject_id) == code,
            col(Rating.current).is_(True),
            col(Rating.service) == "",
        )
        .order_by(col(Rating.report_date).desc(), col(Rating.id).desc())
    )
    latest: dict[str, Rating] = {}
    for r in rows:
        latest.setdefault(r.domain, r)
    return sorted(
        latest.values(),
        key=lambda r: DOMAIN_ORDER.index(r.domain) if r.domain in DOMAIN_ORDER else 99,
    )


def retire_subject(session: Session, subject_id: str) -> int:
    """Mark every current rating of a deregistered subject as no longer current."""
    result = session.exec(
        update(Rating)
        .where(col(Rating.subject_id) == subject_id, col(Rating.current).is_(True))
        .values(current=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(slots=True)
class OverallCounts:
    """What storing trusts' ``cqc_overall`` figures did."""

    written: int = 0
    revisions: int = 0
    new_orgs: list[str] = field(default_factory=list)
    affected: set[tuple[str, str]] = field(default_factory=set)  # (metric, org) pairs


def store_overall(
    session: Session, figures: Iterable[Figure], publication_id: int
) -> OverallCounts:
    """Store trusts' ``cqc_overall`` figures, as monitor.sources.ingest stores every publisher's.

    An identical current observation creates nothing; a different one for the same report date
    is a revision: a new row, the old one marked superseded by this publication (both kept).
    Trusts missing from the reference organisations are added as kind ``other``.
    """
    counts = OverallCounts()
    figures = list(figures)
    counts.new_orgs = orgs.ensure_orgs(session, {f.org: f.org_name for f in figures})
    for figure in figures:
        old = session.exec(
            select(Observation).where(
                col(Observation.org) == figure.org,
                col(Observation.metric) == figure.metric,
                col(Observation.period_start) == figure.period_start,
                col(Observation.superseded_by).is_(None),
            )
        ).first()
        if (
            old is not None
            and old.value == figure.value
            and old.label == figure.label
            and old.derived == figure.derived
        ):
            continue
        if old is not None:
            # Mark the old version first: the partial unique index allows one current row.
            old.superseded_by = publication_id
            session.add(old)
            session.flush()
            counts.revisions += 1
        session.add(
            Observation(
                org=figure.org,
                metric=figure.metric,
                period_start=figure.period_start,
                period_end=figure.period_end,
                granularity=str(figure.granularity),
                value=float(figure.value or 0),
                label=figure.label,
                derived=figure.derived,
                publication_id=publication_id,
            )
        )
        session.flush()
        counts.written += 1
        counts.affected.add((figure.metric, figure.org))
    return counts
