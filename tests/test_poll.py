"""Polling end to end against a real HTTP server serving the saved A&E pages and real files."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import select
from werkzeug import Request, Response

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.sources.fetch import Fetcher
from monitor.sources.poll import backfill, poll
from tests.conftest import REAL, ROOT

PAGES = ROOT / "tests" / "data" / "pages"
REAL_HOST = "https://www.england.nhs.uk"
INDEX = "/statistics/statistical-work-areas/ae-waiting-times-and-activity/"
YEAR = INDEX + "ae-attendances-and-emergency-admissions-2025-26/"


class Publisher:
    """Serves pages (with links pointing back at this server) and files, with ETags."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.base = server.url_for("/").rstrip("/")
        self.pages: dict[str, bytes] = {}
        self.files: dict[str, bytes] = {}
        self.hits: Counter[str] = Counter()
        self.bodies_sent: Counter[str] = Counter()
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)

    def page(self, path: str, fixture: str, extra: str = "") -> None:
        html = (PAGES / fixture).read_text().replace(REAL_HOST, self.base)
        self.pages[path] = html.replace("</article>", extra + "</article>").encode()

    def handle(self, request: Request) -> Response:
        self.hits[request.path] += 1
        body = self.pages.get(request.path) or self.files.get(Path(request.path).name)
        if body is None:
            return Response("not found", status=404)
        etag = '"' + hashlib.md5(body).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        self.bodies_sent[request.path] += 1
        return Response(body, headers={"ETag": etag})


@pytest.fixture
def publisher(httpserver: HTTPServer) -> Publisher:
    pub = Publisher(httpserver)
    pub.page(INDEX, "ae-waiting-times-and-activity.html")
    pub.page(YEAR, "ae-attendances-and-emergency-admissions-2025-26.html")
    for f in (REAL / "ae").glob("*.csv"):
        pub.files[f.name] = f.read_bytes()
    return pub


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path, publisher: Publisher) -> Iterator[Context]:
    p = tmp_path / "config.toml"
    p.write_text(f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n[http]\nretries = 1\n')
    c = Context(config.load(p), engine)
    yield c


def fetcher(ctx: Context) -> Fetcher:
    return Fetcher(ctx.settings.http, sleep=lambda s: None)


def test_first_poll_ingests_the_years_files_quietly(ctx: Context, publisher: Publisher) -> None:
    report = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert report.ok, report.error
    assert [r.periods for r in report.ingested] == [
        [f"2025-0{m}-01/2025-0{m}-{d}"] for m, d in ((4, 30), (5, 31), (6, 30), (7, 31), (8, 31))
    ]
    assert all(r.status == "ingested" and r.quiet for r in report.ingested)
    with session_scope(ctx.engine) as s:
        pubs = s.exec(select(Publication).order_by(Publication.id)).all()
        assert [p.trigger for p in pubs] == ["backfill"] * 4 + ["poll"]
        assert pubs[-1].title == "Monthly A&E August 2025 (CSV, 28KB)"


def test_an_unchanged_source_transfers_no_body_and_parses_nothing(
    ctx: Context, publisher: Publisher
) -> None:
    poll(ctx, "ae", fetcher=fetcher(ctx))
    # The first poll found new files, so it did not yet remember the pages; the second does.
    poll(ctx, "ae", fetcher=fetcher(ctx))
    sent_before = publisher.bodies_sent.copy()
    hits_before = sum(publisher.hits.values())
    third = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert (third.pages, third.pages_unchanged, third.files_fetched, third.ingested) == (
        2,
        1,
        0,
        [],
    )
    # The landing page (a list of yearly pages) in full, the yearly page answered 304.
    assert sum(publisher.hits.values()) - hits_before == 2
    assert publisher.bodies_sent - sent_before == Counter({INDEX: 1})


def test_a_file_added_to_the_yearly_page_is_found_although_the_landing_page_is_unchanged(
    ctx: Context, publisher: Publisher
) -> None:
    poll(ctx, "ae", fetcher=fetcher(ctx))
    poll(ctx, "ae", fetcher=fetcher(ctx))  # nothing new: the pages' validators are remembered
    publisher.files["September-2025-CSV-abc12.csv"] = (
        (REAL / "ae" / "Monthly-AE-September-2024.csv").read_bytes().replace(b"2024", b"2025")
    )
    publisher.page(
        YEAR,
        "ae-attendances-and-emergency-admissions-2025-26.html",
        extra=(
            f'<p><a href="{publisher.base}/statistics/wp-content/uploads/sites/2/2025/10/'
            'September-2025-CSV-abc12.csv">Monthly A&amp;E September 2025 (CSV, 28KB)</a></p>'
        ),
    )
    report = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert [r.periods for r in report.ingested] == [["2025-09-01/2025-09-30"]]


def test_a_new_file_is_live_and_emailable(ctx: Context, publisher: Publisher) -> None:
    poll(ctx, "ae", fetcher=fetcher(ctx))
    publisher.files["September-2025-CSV-abc12.csv"] = (
        (REAL / "ae" / "Monthly-AE-September-2024.csv").read_bytes().replace(b"2024", b"2025")
    )
    publisher.page(
        YEAR,
        "ae-attendances-and-emergency-admissions-2025-26.html",
        extra=(
            f'<p><a href="{publisher.base}/statistics/wp-content/uploads/sites/2/2025/10/'
            'September-2025-CSV-abc12.csv">Monthly A&amp;E September 2025 (CSV, 28KB)</a></p>'
        ),
    )
    report = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert [(r.periods, r.quiet) for r in report.ingested] == [(["2025-09-01/2025-09-30"], False)]


def test_a_bad_file_is_rejected_and_tried_again_next_poll(
    ctx: Context, publisher: Publisher
) -> None:
    good = publisher.files["July-2025-CSV-9jfy4.csv"]
    publisher.files["July-2025-CSV-9jfy4.csv"] = b"<!DOCTYPE html><html>Service unavailable</html>"
    first = poll(ctx, "ae", fetcher=fetcher(ctx))
    rejected = [r for r in first.ingested if r.status == "rejected"]
    assert len(rejected) == 1 and "July-2025-CSV-9jfy4.csv" in (rejected[0].error or "")
    with session_scope(ctx.engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is not None
        assert "July-2025-CSV-9jfy4.csv" in (state.last_error or "")
    publisher.files["July-2025-CSV-9jfy4.csv"] = good
    second = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert [r.periods for r in second.ingested] == [["2025-07-01/2025-07-31"]]
    with session_scope(ctx.engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is None and state.last_error is None


def test_a_file_that_cannot_be_fetched_holds_up_no_other_and_is_fetched_next_poll(
    ctx: Context, publisher: Publisher
) -> None:
    july = publisher.files.pop("July-2025-CSV-9jfy4.csv")  # the link answers 404
    first = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert len(first.ingested) == 4 and all(r.status == "ingested" for r in first.ingested)
    [error] = first.errors
    assert "July-2025-CSV-9jfy4.csv" in error and not first.ok
    publisher.files["July-2025-CSV-9jfy4.csv"] = july
    second = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert second.ok and [r.periods for r in second.ingested] == [["2025-07-01/2025-07-31"]]


def test_an_unreachable_publisher_is_recorded_and_the_poll_returns(
    engine: Engine, tmp_path: Path
) -> None:
    p = tmp_path / "config.toml"
    p.write_text('[sources.ae]\nindex_url = "http://127.0.0.1:9/nowhere/"\n[http]\nretries = 0\n')
    c = Context(config.load(p), engine)
    report = poll(c, "ae", fetcher=fetcher(c))
    assert report.error and "cannot connect" in report.error
    with session_scope(engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.consecutive_failures == 1 and state.last_poll_at


def test_backfill_walks_every_yearly_page_oldest_first(ctx: Context, publisher: Publisher):
    publisher.page(
        INDEX + "ae-attendances-and-emergency-admissions-2024-25/",
        "ae-attendances-and-emergency-admissions-2024-25.html",
    )
    seen: list[str] = []
    report = backfill(
        ctx, "ae", fetcher=fetcher(ctx), progress=lambda i, n, text: seen.append(text)
    )
    periods = [r.periods[0][:7] for r in report.ingested if r.status == "ingested"]
    assert periods == sorted(periods) and "2024-10" in periods and "2025-08" in periods
    assert all(r.quiet for r in report.ingested)
    assert len(seen) == len(report.ingested) + report.files_unchanged
