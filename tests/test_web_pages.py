"""The status page's HTML pages on SQLite and PostgreSQL: what a reader sees, and caching."""

from __future__ import annotations

import html as html_module
import re
import time
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from web_fixtures import make_ctx
from web_seed import RCX_NAME

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Publication, SourceState
from monitor.vocab import LONDON
from monitor.web import assets, create_app
from monitor.web.sources_status import age

PAGES = ["/", "/orgs/RCX", "/league", "/sources", "/login"]


class Links(HTMLParser):
    """Every URL a page loads (scripts, stylesheets, images, icons)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.loaded.append(a["src"] or "")
        if tag == "link" and a.get("rel") in ("stylesheet", "icon", "mask-icon", "manifest"):
            self.loaded.append(a.get("href") or "")
        if tag == "img":
            self.loaded.append(a.get("src") or "")


def text(html: str) -> str:
    """The visible words of a page, whitespace collapsed."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return html_module.unescape(" ".join(re.sub(r"<[^>]+>", " ", html).split()))


def test_home_groups_open_alerts_by_region_and_trust(client: FlaskClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    words = text(page)
    assert "2 open alerts" in words
    # East of England before Midlands (name order), each with its trust and alert.
    east, midlands = page.index('id="region-Y61"'), page.index('id="region-Y60"')
    assert east < page.index('data-org="RCX"') < midlands < page.index('data-org="RWE"')
    assert "52.1%" in words and "July 2025" in words and "60%" in words
    assert "East of England : 1" in words and "London : 0" in words
    # The resolved alert is not on the home page.
    assert page.count("data-alert=") == 2


def test_home_filters_by_region_severity_and_trust(client: FlaskClient, ids: dict) -> None:
    page = client.get("/?region=Y60").get_data(as_text=True)
    assert f'data-alert="{ids["other"]}"' in page and 'data-org="RCX"' not in page
    # The region counts ignore the region filter: they are how to pick another.
    assert 'data-region-count="Y61">1<' in page
    page = client.get("/?severity=high").get_data(as_text=True)
    assert f'data-alert="{ids["alert"]}"' in page and f'data-alert="{ids["other"]}"' not in page
    page = client.get("/?trust=rwe&metric=cancer_62d_pct").get_data(as_text=True)
    assert "1 open alert match these filters" in text(page)
    assert client.get("/?region=Y99").status_code == 400
    assert client.get("/?page=0").status_code == 400


def test_home_sorts_by_severity_then_age_and_pages_at_100(
    client: FlaskClient, engine: Engine
) -> None:
    opened = datetime(2025, 9, 11, 8, 30, tzinfo=UTC)
    with session_scope(engine, write=True) as s:
        for i in range(150):
            s.add(
                Alert(
                    rule=f"rule-{i:03d}",
                    org="RCX",
                    metric="ae_4hr_type1_pct",
                    state="pending",
                    severity="critical" if i == 149 else "low",
                    opened_at=opened - timedelta(days=i),
                )
            )
    first = client.get("/").get_data(as_text=True)
    assert first.count("data-alert=") == 100
    assert "152 open alerts" in text(first) and "page 1 of 2" in text(first)
    severities = re.findall(r'data-severity="(\w+)"', first)
    # RCX: its critical alert first, then high, then the lows oldest first.
    assert severities[:2] == ["critical", "high"]
    shown = [int(i) for i in re.findall(r'data-alert="(\d+)"', first)]
    with session_scope(engine) as s:
        rules = [s.get_one(Alert, i).rule for i in shown[2:4]]
    assert rules == ["rule-148", "rule-147"]
    second = client.get("/?page=2").get_data(as_text=True)
    assert second.count("data-alert=") == 52
    assert 'aria-label="Page 1"' in second and 'rel="prev"' in second
    assert client.get("/?page=3").status_code == 404


def test_pages_carry_etags_and_answer_304_until_the_data_changes(
    client: FlaskClient, engine: Engine, ids: dict
) -> None:
    for path in ["/", "/orgs/RCX", f"/alerts/{ids['alert']}", "/api/v1/alerts", "/alerts.csv"]:
        r = client.get(path)
        etag = r.headers["ETag"]
        assert r.headers["Cache-Control"] == "no-cache"
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.data == b""
    etag = client.get("/").headers["ETag"]
    with session_scope(engine, write=True) as s:
        a = s.get(Alert, ids["other"])
        assert a is not None
        a.state, a.ended_at, a.updated_at = "resolved", datetime.now(UTC), datetime.now(UTC)
        s.add(a)
    r = client.get("/", headers={"If-None-Match": etag})
    assert r.status_code == 200 and r.headers["ETag"] != etag
    assert "1 open alert." in text(r.get_data(as_text=True))


def test_repeated_requests_are_served_from_the_cache(app: Flask, client: FlaskClient) -> None:
    """The league keys on the minute too: a minute that turns mid-loop renders it once more.

    The minute is read before the first request: a minute that turns while the first render
    runs (the page is kept under the minute its request began in) counts as turned too."""
    pages = app.extensions["monitor"].pages
    minute = int(time.time() // 60)
    client.get("/league")
    misses = pages.misses
    for _ in range(5):
        assert client.get("/league").status_code == 200
    turned = int(time.time() // 60) - minute
    extra = pages.misses - misses  # renders in the loop: none, or one if the minute turned
    assert extra <= min(turned, 1) and pages.hits >= 5 - extra


def test_trust_page_shows_alerts_chart_segment_rank_and_ratings(client: FlaskClient) -> None:
    page = client.get("/orgs/rcx").get_data(as_text=True)
    words = text(page)
    assert RCX_NAME in words
    assert "Q1 2025/26: segment 4, ranked 133 of 134 acute trusts" in words
    assert "Requires improvement" in words
    svg = re.search(r'<svg class="monitor-chart".*?</svg>', page, flags=re.S)
    assert svg is not None
    chart = svg.group(0)
    assert 'role="img"' in chart and "<title" in chart and "<desc" in chart
    assert chart.count("<circle") == 12  # twelve months of RCX figures
    assert 'class="monitor-chart__england"' in chart
    assert 'data-rule="ae-type1-below-60"' in chart  # the threshold line
    # The same figures as a table, for those who cannot see the chart.
    assert "Show the figures as a table" in words and "63.1%" in words
    assert "Past alerts" in words and "65.3%" in words  # the resolved episode
    assert client.get("/orgs/XXX").status_code == 404


def test_alert_page_shows_evidence_timeline_and_source(client: FlaskClient, ids: dict) -> None:
    page = client.get(f"/alerts/{ids['alert']}").get_data(as_text=True)
    words = text(page)
    assert "A&amp;E type 1: under 60% seen within 4 hours" in page
    assert "52.1% in July 2025" in words and "England 63.1%" in words
    assert "9th consecutive month in breach, since November 2024" in words
    assert (
        'href="https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2/2025/08/'
        'July-2025-CSV-9jfy4.csv"' in page
    )
    assert re.findall(r'data-kind="(\w+)"', page) == ["fired", "updated"]
    assert "sign in to acknowledge or silence" in words
    assert client.get("/alerts/999999").status_code == 404


def test_league_lists_trusts_by_rank(client: FlaskClient) -> None:
    page = client.get("/league").get_data(as_text=True)
    assert "Q1 2025/26" in text(page)
    assert page.index('data-org="RGT"') < page.index('data-org="RCX"')
    assert "133 of 134" in text(page)


def test_sources_page_says_plainly_what_is_failing_and_how_old_the_figures_are(
    client: FlaskClient,
) -> None:
    page = text(client.get("/sources").get_data(as_text=True))
    assert "Cancer waiting times: checks have failed since" in page
    assert "(4 attempts in a row). The last one said: HTTP 503" in page
    assert "Monthly A&E July 2025 (CSV)" in page and "published 14 August 2025" in page
    months_old = age(date(2025, 7, 31), datetime.now(LONDON).date())[1]
    assert f"Newest figures July 2025 ({months_old})" in page
    assert "A&E statistics: late. A publication expected on" in page
    assert f"The newest figures are for July 2025, {months_old}." in page
    # Schedules in words, and the publisher's own page rather than a file path.
    assert "Second Thursday of each month at 09:30 (London time)" in page
    assert "Every 30 minutes" in page
    assert "day 2nd thu" not in page and "file://" not in page
    assert "Next scheduled poll" in page


def test_every_page_says_in_one_line_that_sources_are_late(client: FlaskClient) -> None:
    for path in PAGES:
        html = client.get(path).get_data(as_text=True)
        found = re.search(r'<section class="monitor-notice".*?</section>', html, flags=re.S)
        assert found, path
        notice = found.group(0)
        assert notice.count("<p") == 1 and "<li" not in notice, path
        assert "2 sources are late or failing. Their newest figures are" in text(notice)
        assert 'href="/sources"' in notice


def test_the_notice_names_one_late_source_and_goes_when_all_is_well(
    client: FlaskClient, engine: Engine
) -> None:
    now = datetime.now(UTC)
    with session_scope(engine, write=True) as s:
        st = s.get(SourceState, "cancer")
        assert st is not None
        st.failing_since, st.consecutive_failures, st.last_success_at = None, 0, now
        s.add(st)
    # A&E is expected on the second Thursday of each month; the seeded data ends in 2025.
    words = text(client.get("/").get_data(as_text=True))
    months_old = age(date(2025, 7, 31), datetime.now(LONDON).date())[1]
    assert f"A&E statistics: late. The newest figures are for July 2025, {months_old}." in words
    with session_scope(engine, write=True) as s:
        s.add(
            Publication(
                source="ae",
                url="https://www.england.nhs.uk/statistics/latest.csv",
                filename="latest.csv",
                sha256="c" * 64,
                published_at=now,
            )
        )
    assert 'data-source-notice="true"' not in client.get("/").get_data(as_text=True)


def test_pages_load_nothing_from_other_sites(client: FlaskClient, ids: dict) -> None:
    for path in [*PAGES, f"/alerts/{ids['alert']}"]:
        r = client.get(path)
        parser = Links()
        parser.feed(r.get_data(as_text=True))
        assert parser.loaded, path
        for url in parser.loaded:
            assert url.startswith("/") and not url.startswith("//"), (path, url)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp


def test_inline_scripts_match_the_content_security_policy(client: FlaskClient) -> None:
    import base64
    import hashlib

    r = client.get("/")
    for body in re.findall(r"<script>(.*?)</script>", r.get_data(as_text=True), flags=re.S):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in r.headers["Content-Security-Policy"]


def test_text_from_the_data_is_escaped(client: FlaskClient, engine: Engine, ids: dict) -> None:
    with session_scope(engine, write=True) as s:
        s.add(
            AlertEvent(
                alert_id=ids["alert"],
                kind="updated",
                evidence={"rule_title": "<script>alert(1)</script>", "why": "a < b"},
            )
        )
    page = client.get(f"/alerts/{ids['alert']}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_assets_are_served_by_the_app_without_external_fonts(app: Flask) -> None:
    frontend = app.config["NHSUK_FRONTEND"]
    client = app.test_client()
    if not frontend.available:
        assert client.get("/assets/nhsuk-frontend.min.css").status_code == 404
        page = client.get("/").get_data(as_text=True)
        assert "plain.css" in page and "nhsuk-frontend.min.css" not in page
        return
    css = client.get("/assets/nhsuk-frontend.min.css?v=10.6.1")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert b"https://" not in css.data and b".nhsuk-header" in css.data
    assert client.get("/assets/nhsuk-frontend.min.js").status_code == 200
    assert client.get("/assets/images/favicon.svg").status_code == 200
    assert client.get("/assets/../package.json").status_code == 404


def test_without_the_npm_assets_pages_are_plain_html(
    tmp_path: Path, engine: Engine, ids: dict, caplog: pytest.LogCaptureFixture
) -> None:
    # An installation whose node_modules folder holds no nhsuk-frontend (npm was not there).
    empty = tmp_path / "node_modules"
    empty.mkdir()
    (tmp_path / "conf").mkdir()
    ctx = make_ctx(tmp_path / "conf", engine)
    text = ctx.settings.config_path.read_text().replace(
        "[paths]\n", f'[paths]\nnode_modules = "{empty}"\n', 1
    )
    ctx = Context(config.parse(text, ctx.settings.config_path), engine)
    assert assets.candidates(ctx.settings) == [empty]
    app = create_app(ctx)
    assert "nhsuk-frontend 10.6.1 is not installed" in caplog.text
    client = app.test_client()
    page = client.get("/").get_data(as_text=True)
    assert 'href="/static/plain.css"' in page and "nhsuk-frontend.min.css" not in page
    assert "monitor.js" not in page and "favicon" not in page
    assert "<main" in page and "<table" in page and "Open alerts" in page
    assert client.get("/assets/nhsuk-frontend.min.css").status_code == 404


def test_a_superseded_alert_is_listed_under_the_one_that_supersedes_it() -> None:
    from monitor.web.alerts_data import nest

    rows = [
        {
            "org": "RCX",
            "rule": "ae_type1_below_78",
            "rule_title": "under 78%",
            "superseded_by": "ae_type1_below_60",
        },
        {
            "org": "RGT",
            "rule": "ae_type1_below_78",
            "rule_title": "under 78%",
            "superseded_by": None,
        },
        {
            "org": "RCX",
            "rule": "ae_type1_below_60",
            "rule_title": "under 60%",
            "superseded_by": None,
        },
    ]
    out = nest(rows)
    assert [(r["org"], r["rule"], r.get("under")) for r in out] == [
        ("RGT", "ae_type1_below_78", None),
        ("RCX", "ae_type1_below_60", None),
        ("RCX", "ae_type1_below_78", "under 60%"),
    ]
