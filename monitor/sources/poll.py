"""Polling and back-filling the NHS England publishers: discover -> fetch -> ingest.

Each statistics publisher's registry entry (monitor/sources/registry.py) supplies ``discover``
(its files on a page, found by link text and href, never by building URLs), ``parse`` and,
where the publisher has one page per financial year, ``yearly_pages``. A publisher whose
whole publication is one file at a fixed address, changing in place (the DSPT download),
supplies ``download`` instead of ``discover``: its ``index_url`` is that file, fetched
conditionally on every poll.

A poll fetches the landing page and the newest yearly page (conditionally: an unchanged page
answers 304 and nothing else happens; a landing page that only lists yearly pages is read in
full, since it does not change when a file is added), then fetches and ingests each linked file
not already ingested from that URL. Files for the newest period are live ("poll"); older files
the poll finds for the first time are catching up and are ingested quietly, like a back-fill. A
failure is recorded on the source's state and logged in one line; the poll never raises. Any
error while one file is read is that file's rejection (monitor/sources/ingest.py): the other
files are still ingested, and the operators' email about it is queued at once.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from monitor.context import Context
from monitor.db import private_dir, session_scope
from monitor.models import Publication, SourceState, utcnow
from monitor.sources.discover import Link
from monitor.sources.fetch import Fetched, Fetcher, FetchError, remember, remembered
from monitor.sources.ingest import FileInput, IngestReport, ingest_file
from monitor.sources.registry import Statistics, statistics
from monitor.vocab import LONDON

log = logging.getLogger(__name__)
# NHS England releases statistics at 09:30 London time.
RELEASE_TIME = time(9, 30, tzinfo=LONDON)


@dataclass(kw_only=True)
class PollReport:
    source: str
    pages: int = 0
    pages_unchanged: int = 0
    files_fetched: int = 0
    files_unchanged: int = 0
    ingested: list[IngestReport] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None

    @property
    def ok(self) -> bool:
        return self.error is None and not any(r.status == "rejected" for r in self.ingested)

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "pages": self.pages,
            "pages_unchanged": self.pages_unchanged,
            "files_fetched": self.files_fetched,
            "files_unchanged": self.files_unchanged,
            "ingested": [r.as_json() for r in self.ingested],
            "error": self.error,
        }


def _order(link: Link) -> tuple[date, bool, str]:
    return (link.period or date.min, link.revised, link.url)


def _known_urls(ctx: Context, source: str, urls: Sequence[str]) -> set[str]:
    if not urls:
        return set()
    with session_scope(ctx.engine) as s:
        q = select(Publication.url).where(
            Publication.source == source,
            Publication.status == "ingested",
            col(Publication.url).in_(urls),
        )
        return set(s.exec(q))


def _get_page(ctx: Context, fetcher: Fetcher, url: str, report: PollReport) -> Fetched:
    with session_scope(ctx.engine) as s:
        cached = remembered(s, url)
    got = fetcher.get(
        url,
        etag=cached.etag if cached else None,
        last_modified=cached.last_modified if cached else None,
    )
    report.pages += 1
    if got.not_modified:
        report.pages_unchanged += 1
    return got


def _discover(
    ctx: Context,
    pub: Statistics,
    index_url: str,
    fetcher: Fetcher,
    report: PollReport,
    *,
    every_year: bool = False,
) -> tuple[list[Link], list[Fetched]]:
    """Links on the landing page and its newest (or every) yearly page; pages that changed."""
    discover = pub.discover
    assert discover is not None, f"{pub.name} is a download: nothing to discover"
    pages: list[Fetched] = []
    links: list[Link] = []
    if pub.yearly_pages is not None and not every_year:
        # Such a landing page lists the yearly pages, not the files, so it stays the same when
        # a month's file is added to the current year's page. Read it in full (it is small) so
        # that the newest yearly page is always asked for, conditionally.
        index = fetcher.get(index_url)
        report.pages += 1
    else:
        index = _get_page(ctx, fetcher, index_url, report)
    if every_year:
        # A back-fill must read the pages even when they have not changed since last time.
        index = fetcher.get(index_url) if index.not_modified else index
    todo = [index]
    while todo:
        page = todo.pop()
        if page.not_modified:
            continue
        pages.append(page)
        html = page.text()
        links += discover(html, page.final_url)
        if page is index and pub.yearly_pages is not None:
            yearly = pub.yearly_pages(html, page.final_url)
            if not every_year:
                todo += [_get_page(ctx, fetcher, url, report) for url in yearly[:1]]
                continue
            for url in yearly:
                try:
                    todo.append(fetcher.get(url))
                    report.pages += 1
                except FetchError as e:
                    # An old year's page that moved does not stop the rest of the back-fill.
                    report.errors.append(str(e))
                    log.warning("backfill %s: skipping a yearly page: %s", pub.name, e)
    return links, pages


def _fetch_and_ingest(
    ctx: Context,
    pub: Statistics,
    link: Link,
    fetcher: Fetcher,
    trigger: str,
    report: PollReport,
    *,
    quiet: bool | None = None,
) -> None:
    """Fetch one linked file (conditionally) and ingest it; remember it unless rejected."""
    private_dir(ctx.var)
    with session_scope(ctx.engine) as s:
        cached = remembered(s, link.url)
    filename = Path(link.url.split("?")[0]).name
    with tempfile.TemporaryDirectory(dir=ctx.var) as tmp:
        try:
            got = fetcher.get(
                link.url,
                etag=cached.etag if cached else None,
                last_modified=cached.last_modified if cached else None,
                to_path=Path(tmp) / filename if pub.streams else None,
            )
        except FetchError as e:
            # One unreachable file does not hold up the others; it is tried again next poll.
            report.errors.append(str(e))
            log.warning("%s: could not fetch %s: %s", pub.name, link.text or link.url, e.reason)
            return
        if got.not_modified:
            report.files_unchanged += 1
            return
        report.files_fetched += 1
        item = FileInput(
            source=pub.name,
            data=got.path if got.path is not None else (got.body or b""),
            filename=filename,
            url=link.url,
            title=link.text,
            etag=got.etag,
            last_modified=got.last_modified,
            published_at=(
                datetime.combine(link.published, RELEASE_TIME)
                if link.published
                else got.modified_at or utcnow()
            ),
            trigger=trigger,
            quiet=quiet,
        )
        try:
            result = ingest_file(ctx.engine, item, pub.parse, archive_dir=ctx.var / "publications")
        except Exception as e:  # e.g. the database refused the write: the others still go
            report.errors.append(f"{filename}: {type(e).__name__}: {e}")
            log.exception("%s: could not ingest %s", pub.name, filename)
            return
    report.ingested.append(result)
    if result.status != "rejected":
        with session_scope(ctx.engine, write=True) as s:
            remember(s, got)


def _record(ctx: Context, source: str, report: PollReport) -> None:
    with session_scope(ctx.engine, write=True) as s:
        state = s.get(SourceState, source) or SourceState(source=source)
        state.last_poll_at = utcnow()
        problem = report.error or next(
            (r.error for r in report.ingested if r.status == "rejected"), None
        )
        if problem:
            state.failing_since = state.failing_since or utcnow()
            state.last_error = problem
            state.consecutive_failures += 1
        else:
            # A check that finds nothing new is a success too: a source polled on an interval
            # (the DSPT download) is late only when its checks stop succeeding.
            state.last_success_at = utcnow()
            state.failing_since = None
            state.last_error = None
            state.consecutive_failures = 0
        s.add(state)


def _tell_operators(ctx: Context) -> None:
    """Queue the operators' email about a rejected file now, whether or not anything else of
    the poll is sent: once per rejected publication (monitor/notify/operators.py)."""
    from monitor.notify import operators

    try:
        operators.queue_incidents(ctx.engine, ctx.settings, now=utcnow())
    except Exception:  # telling must not turn the poll into a failure of its own
        log.exception("could not queue the operators' email about a rejected file")


@contextmanager
def _session(
    ctx: Context, source: str, fetcher: Fetcher | None, report: PollReport, what: str
) -> Iterator[tuple[Statistics, Fetcher, str]]:
    """The source's publisher, a fetcher and its index URL for one poll or back-fill.

    ValueError for a source that is not a statistics publisher. Otherwise a failure is
    recorded in ``report`` (never raised), and the source's state is updated at the end.
    """
    pub = statistics(source)
    own = fetcher is None
    fetcher = fetcher or Fetcher(ctx.settings.http)
    try:
        index_url = ctx.settings.source(source).index_url
        if not index_url:
            raise FetchError("(none)", f"[sources.{source}] has no index_url")
        yield pub, fetcher, index_url
    except FetchError as e:
        report.errors.append(str(e))
        log.warning("%s %s failed: %s (will retry on the next poll)", what, source, e)
    finally:
        if own:
            fetcher.close()
        _record(ctx, source, report)
        if any(r.status == "rejected" for r in report.ingested):
            _tell_operators(ctx)


def poll(ctx: Context, source: str, *, fetcher: Fetcher | None = None) -> PollReport:
    """Poll one NHS England source once (see the module docstring)."""
    report = PollReport(source=source)
    with _session(ctx, source, fetcher, report, "poll") as (pub, fetcher, index_url):
        with session_scope(ctx.engine) as s:
            state = s.get(SourceState, source)
            # A source's first poll is quiet throughout: everything it finds is history.
            first = state is None or state.first_complete_ingest_at is None
        if pub.download is not None:
            # One file at a fixed address whose content changes (the DSPT download): a
            # conditional GET of it; the same bytes again ingest nothing.
            link = pub.download(index_url)
            quiet = True if first else None
            _fetch_and_ingest(ctx, pub, link, fetcher, "poll", report, quiet=quiet)
            if first:
                _first_poll_done(ctx, source, report)
            return report
        links, pages = _discover(ctx, pub, index_url, fetcher, report)
        known = _known_urls(ctx, source, [lk.url for lk in links])
        new = sorted((lk for lk in links if lk.url not in known), key=_order)
        newest = max((lk.period or date.min for lk in links), default=date.min)
        for link in new:
            live = (link.period or date.min) >= newest
            trigger = "poll" if live else "backfill"
            quiet = True if first else None
            _fetch_and_ingest(ctx, pub, link, fetcher, trigger, report, quiet=quiet)
        if not new:
            # Nothing new on the pages: remember them so the next poll can be a cheap 304.
            with session_scope(ctx.engine, write=True) as s:
                for page in pages:
                    remember(s, page)
        if first:
            _first_poll_done(ctx, source, report)
    return report


def _first_poll_done(ctx: Context, source: str, report: PollReport) -> None:
    """A source's first poll that fetched everything it found is its first complete ingest:
    the polls after it are live. One that failed part-way (or was killed) is not, so the next
    poll is quiet again and what it finds is still history, not news."""
    if report.errors or not any(r.status == "ingested" for r in report.ingested):
        return
    with session_scope(ctx.engine, write=True) as s:
        state = s.get(SourceState, source) or SourceState(source=source)
        if state.first_complete_ingest_at is None:
            state.first_complete_ingest_at = utcnow()
            s.add(state)


def backfill(
    ctx: Context,
    source: str,
    *,
    since: date | None = None,
    fetcher: Fetcher | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> PollReport:
    """Walk every yearly page and ingest each earlier publication, oldest first, quietly."""
    report = PollReport(source=source)
    with _session(ctx, source, fetcher, report, "backfill") as (pub, fetcher, index_url):
        if pub.download is not None:  # a single file holds all there is
            _fetch_and_ingest(ctx, pub, pub.download(index_url), fetcher, "backfill", report)
            return report
        links, _pages = _discover(ctx, pub, index_url, fetcher, report, every_year=True)
        known = _known_urls(ctx, source, [lk.url for lk in links])
        todo = sorted(
            (
                lk
                for lk in links
                if lk.url not in known and (since is None or (lk.period or date.min) >= since)
            ),
            key=_order,
        )
        for i, link in enumerate(todo, start=1):
            if progress:
                progress(i, len(todo), link.text)
            _fetch_and_ingest(ctx, pub, link, fetcher, "backfill", report)
    return report
