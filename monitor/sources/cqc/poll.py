"""One CQC poll's work: which changed ids to fetch, fetching them, and the tally.

The changes feed gives ids only. Each feed is read for two windows: the new one (cursor to now),
whose ids are always fetched, and the overlap (``overlap_days`` before the cursor), re-read
because CQC lists changes late. An overlap id is fetched only when it was not already listed
and fetched (CqcSubject.listed_at / fetched_at). A body that failed (refused, malformed) is
retried by later polls within the overlap even when the feed does not list it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.db import session_scope
from monitor.models import CqcSubject
from monitor.sources.cqc.api import ApiError, CqcApi, NotFound
from monitor.sources.cqc.ingest import CqcIngestReport, ingest_body
from monitor.sources.cqc.values import Scope, is_trust_code

log = logging.getLogger(__name__)

_IN_CHUNK = 500  # ids per IN (...) query


@dataclass(slots=True, kw_only=True)
class PollResult:
    """What one poll (or back-fill) did; ``error`` is set when the feed itself failed."""

    status: str = "ok"  # ok | failed
    listed: int = 0
    fetched: int = 0
    ingested: int = 0
    unchanged: int = 0
    out_of_scope: int = 0
    ratings_written: int = 0
    observations_written: int = 0
    not_found: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "RM317: reason", logged as they happen
    failed: list[str] = field(default_factory=list)  # ids to retry: refused, bad body
    requests: int = 0
    last_publication_id: int | None = None
    error: str | None = None


class Poller:
    """One poll or back-fill: the client, the scope, the clock reading and the running tally.

    ``trigger`` and ``quiet`` go on every Publication it stores (quiet: its alert events are
    not emailed one by one, as for a back-fill or a source's first ingest).
    """

    def __init__(
        self, engine: Engine, api: CqcApi, scope: Scope, now: datetime, *, trigger: str, quiet: bool
    ) -> None:
        self.engine, self.api, self.scope, self.now = engine, api, scope, now
        self.trigger, self.quiet = trigger, quiet
        self.result = PollResult()

    def mark(self, kind: str, sid: str, *, listed: bool, fetched: bool, error: str | None) -> None:
        with session_scope(self.engine, write=True) as session:
            subj = session.get(CqcSubject, (kind, sid)) or CqcSubject(kind=kind, subject_id=sid)
            if listed:
                subj.listed_at = self.now
            if fetched:
                subj.fetched_at = self.now
            if error is not None or fetched:
                subj.error = error or subj.error
            session.add(subj)

    def fetch(self, kind: str, sid: str, *, listed: bool) -> None:
        """Fetch, parse and store one body; every outcome is logged and tallied."""
        r = self.result
        try:
            raw = self.api.body(kind, sid)
        except NotFound:
            log.warning("cqc: %s %s answers 404 (listed but not served); skipped", kind, sid)
            r.not_found.append(sid)
            self.mark(kind, sid, listed=listed, fetched=True, error="404 not found")
            return
        except ApiError as e:
            log.warning("cqc: %s %s not fetched: %s", kind, sid, e)
            r.failed.append(f"{sid}: {e}")
            self.mark(kind, sid, listed=True, fetched=False, error=str(e))
            return
        r.fetched += 1
        try:
            rep = ingest_body(
                self.engine, raw, url=f"{self.api.base_url}/{kind}s/{sid}",
                filename=f"{kind}_{sid}.json", scope=self.scope, trigger=self.trigger,
                quiet=self.quiet, now=self.now,
            )  # fmt: skip
        except Exception as e:  # a store failure must not end the poll; the id is retried
            log.exception("cqc: %s %s could not be stored", kind, sid)
            r.failed.append(f"{sid}: {e}")
            self.mark(kind, sid, listed=True, fetched=False, error=f"store failed: {e}")
            return
        self.tally(kind, sid, rep)
        ok = rep.status != "rejected"
        self.mark(kind, sid, listed=listed or not ok, fetched=ok, error=rep.error)

    def tally(self, kind: str, sid: str, rep: CqcIngestReport) -> None:
        r = self.result
        if rep.status == "rejected":
            log.warning("cqc: %s %s rejected: %s", kind, sid, rep.error)
            r.failed.append(f"{sid}: {rep.error}")
            return
        for p in rep.skipped:
            log.warning("cqc: %s %s: %s", kind, sid, p["reason"])
            r.problems.append(f"{sid}: {p['reason']}")
        r.ingested += rep.status == "ingested"
        r.unchanged += rep.status == "unchanged"
        r.out_of_scope += rep.status == "out_of_scope"
        if rep.publication_id is not None:
            r.last_publication_id = rep.publication_id
        r.ratings_written += rep.ratings_written
        r.observations_written += rep.observations_written

    def known_locations(self) -> set[str]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(CqcSubject.subject_id).where(
                    col(CqcSubject.kind) == "location", col(CqcSubject.in_scope).is_(True)
                )
            )
            return set(rows)

    def wanted(self, kind: str, sid: str, known: set[str]) -> bool:
        if kind == "provider":
            return self.scope.may_want_provider(sid)
        return self.scope.may_want_location(sid, known)

    def outside(self, subj: CqcSubject | None) -> bool:
        """Known to be out of scope for good: fetched before, neither a trust's nor in a
        chosen region (organisations do not move region), so a new change is not fetched."""
        return (
            subj is not None
            and subj.fetched_at is not None
            and not subj.in_scope
            and subj.region is not None
            and not self.scope.includes(subj.provider_id, None, subj.region)
        )

    def listing(self, kind: str) -> list[str]:
        """Ids to back-fill: trust-coded providers of the full listing, and with regions
        chosen every provider or location the API lists for those regions."""
        ids: list[str] = []
        if kind == "provider":
            ids = [i for i in self.api.listing("provider") if is_trust_code(i)]
        for name in self.scope.cqc_region_names():
            try:
                ids.extend(self.api.listing(kind, region=name))
            except ApiError as e:
                if e.status != 400:
                    raise
                # The filter was refused: list everything; scope is checked on each body.
                log.warning("cqc: the %s listing has no region filter (%s); listing all", kind, e)
                ids.extend(self.api.listing(kind))
                break
        return list(dict.fromkeys(ids))

    def subjects(self, kind: str, ids: Sequence[str]) -> dict[str, CqcSubject]:
        out: dict[str, CqcSubject] = {}
        with Session(self.engine) as session:
            for i in range(0, len(ids), _IN_CHUNK):
                chunk = ids[i : i + _IN_CHUNK]
                stmt = select(CqcSubject).where(
                    col(CqcSubject.kind) == kind, col(CqcSubject.subject_id).in_(chunk)
                )
                out.update({s.subject_id: s for s in session.exec(stmt)})
        return out

    def pending(self, kind: str, since: datetime) -> list[str]:
        """Ids listed since ``since`` whose fetch has not succeeded yet (to retry)."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(CqcSubject).where(
                    col(CqcSubject.kind) == kind, col(CqcSubject.listed_at) >= since
                )
            )
            return [s.subject_id for s in rows if _unfetched(s)]

    def poll_feed(self, kind: str, cursor: datetime, overlap: timedelta) -> bool:
        """Read one feed's new and overlap windows and fetch what they call for."""
        try:
            new = self.api.changes(kind, cursor, self.now)
            old = self.api.changes(kind, cursor - overlap, cursor) if overlap else []
        except ApiError as e:
            log.error("cqc: the %s changes feed failed: %s", kind, e)
            self.result.error = f"{kind} changes feed: {e}"
            return False
        listed = list(dict.fromkeys([*new, *old]))
        self.result.listed += len(listed)
        known = self.known_locations() if kind == "location" else set()
        seen = self.subjects(kind, listed)
        todo = [i for i in new if self.wanted(kind, i, known) and not self.outside(seen.get(i))]
        fresh = set(new)
        for sid in old:
            if sid in fresh or _done(seen.get(sid), cursor, overlap):
                continue
            if self.wanted(kind, sid, known):
                todo.append(sid)
        todo.extend(self.pending(kind, self.now - overlap))
        for sid in dict.fromkeys(todo):
            self.fetch(kind, sid, listed=True)
        return True


def _unfetched(subj: CqcSubject) -> bool:
    return subj.listed_at is not None and (
        subj.fetched_at is None or subj.fetched_at < subj.listed_at
    )


def _done(subj: CqcSubject | None, cursor: datetime, overlap: timedelta) -> bool:
    """Already listed and fetched: re-seeing it in the overlap is the same listing again."""
    if subj is None or subj.fetched_at is None:
        return False
    fetched = subj.fetched_at
    if fetched >= cursor:  # fetched (by back-fill or the last poll) after the window closed
        return True
    listed = subj.listed_at
    return listed is not None and listed >= cursor - overlap and fetched >= listed
