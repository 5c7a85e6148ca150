"""The status page in a real browser: Debian's chromium driven by Playwright, with axe-core.

Needs /usr/bin/chromium (`apt-get install -y chromium`; never `playwright install`) and
node_modules/axe-core (`make assets`). With MONITOR_TEST_BROWSER=1 (CI) a missing piece fails
the run; otherwise these tests are reported NOT RUN. Screenshots go to tmp/artifacts/. Every
page type of tools/page_tour.py is checked at 390 and 1280 px.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.engine import Engine
from sqlmodel import select
from web_fixtures import (
    DOUBLE_OPT_IN,
    PASSWORD,
    confirm_link,
    mailbox,
    make_ctx,
    path_of,
    serving,
    unsubscribe_link,
)
from web_seed import RCX_NAME

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Subscription
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af
from tools.page_tour import TOUR, WIDTHS, Site, Stop, axe_findings, overflow, visit

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tmp" / "artifacts"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
pytestmark = pytest.mark.browser


def _require(request: pytest.FixtureRequest) -> None:
    """Fail (CI) or report NOT RUN (a machine without chromium or axe-core)."""
    from conftest import BROWSER_ENV, not_run

    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    if not AXE.exists():
        missing.append(f"{AXE.relative_to(ROOT)} is missing (make assets)")
    if not missing:
        return
    if os.environ.get(BROWSER_ENV) == "1":
        pytest.fail(f"{BROWSER_ENV}=1 but " + "; ".join(missing), pytrace=False)
    not_run("browser", request, "; ".join(missing))


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    """The `engine` fixture's database, with double opt-in; plain http, as served here."""
    return make_ctx(tmp_path, engine, DOUBLE_OPT_IN, base_url="http://127.0.0.1:8000")


@pytest.fixture
def base_url(app: Flask, ctx: Context) -> Iterator[str]:
    """The seeded status page (web_seed) served by the app's own waitress server."""
    with serving(ctx, app=app) as url:
        yield url


@pytest.fixture(autouse=True)
def _needs_chromium_and_axe(request: pytest.FixtureRequest) -> None:
    _require(request)  # per test, so that the NOT RUN line counts every one


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        yield None  # each test is then failed or reported NOT RUN by the fixture above
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # axe-core is injected as an inline script, which the pages' CSP would (rightly) block.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    # A script error or a missing asset (a 404 for a stylesheet or icon) shows up here.
    p.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        yield p
    finally:
        context.close()
    assert errors == []


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_home_page_filters_by_region(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    assert page.locator("h1").inner_text() == "Open alerts"
    assert page.locator("tr[data-alert]").count() == 2
    shot(page, "home")
    page.select_option("#filter-region", "Y60")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url("**/?region=Y60*")
    assert page.locator("section.monitor-trust").evaluate_all(
        "els => els.map(e => e.dataset.org)"
    ) == ["RWE"]
    shot(page, "home-midlands")


def test_trust_page_draws_its_chart(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    page.get_by_role("link", name=RCX_NAME).first.click()
    page.wait_for_url("**/orgs/RCX")
    chart = page.locator("svg#chart-ae_4hr_type1_pct")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    points = chart.locator("polyline.monitor-chart__trust").get_attribute("points") or ""
    assert len(points.split()) == 12
    lines = chart.locator("line.monitor-chart__threshold")
    rules = [lines.nth(i).get_attribute("data-rule") for i in range(lines.count())]
    # The breached rule's level (60%) once; the pack's 78% level is the target's line.
    assert rules == ["ae-type1-below-60"]
    assert chart.locator("line.monitor-chart__target").count() == 1
    assert chart.locator("line.monitor-chart__mean").count() == 1
    assert chart.get_attribute("role") == "img"
    shot(page, "trust-RCX")


def test_pages_work_without_javascript(browser: Any, base_url: str) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        p = context.new_page()
        p.goto(base_url + "/?severity=critical")
        assert p.locator("tr[data-alert]").count() == 1
        p.goto(base_url + "/orgs/RCX")
        assert p.locator("svg.monitor-chart").count() >= 1
        # The figures' table is inside <details>, which opens without JavaScript.
        p.get_by_text("Show the figures as a table").first.click()
        assert p.get_by_role("cell", name="July 2025").first.is_visible()
    finally:
        context.close()


def subscribe(ctx: Context, email: str) -> str:
    """A subscription to RCX added by the real code; the path of its confirmation link."""
    with session_scope(ctx.engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request(email, "org", "RCX"))
    (msg,) = [m for m in mailbox(ctx) if m["To"] == email]
    return path_of(confirm_link(msg))


def one_click_link(ctx: Context, email: str) -> str:
    """An alert for RCX delivered to ``email``; the path of its List-Unsubscribe link."""
    _, event = af.alert(ctx.engine, "RCX", af.publication(ctx.engine))
    af.route(ctx.engine, ctx.settings, [event])
    (msg,) = [m for m in mailbox(ctx) if m["To"] == email and m["List-Unsubscribe"]]
    return path_of(unsubscribe_link(msg))


def subscription(ctx: Context, email: str) -> Subscription:
    with session_scope(ctx.engine) as s:
        return s.exec(select(Subscription).where(Subscription.email == email)).one()


def test_a_subscriber_confirms_then_unsubscribes_with_the_buttons(
    page: Any, base_url: str, ctx: Context
) -> None:
    email = "board@qehkl.nhs.uk"
    page.goto(base_url + subscribe(ctx, email))
    assert page.locator("h1").inner_text() == "Confirm your subscription"
    assert subscription(ctx, email).confirmed_at is None  # opening the link changed nothing
    shot(page, "confirm")
    page.get_by_role("button", name="Confirm subscription").click()
    page.wait_for_load_state()
    assert "Your subscription is confirmed" in page.locator("main").inner_text()
    assert subscription(ctx, email).confirmed_at is not None

    page.goto(base_url + one_click_link(ctx, email))
    assert page.locator("h1").inner_text() == "Unsubscribe from alert emails"
    assert subscription(ctx, email).unsubscribed_at is None
    shot(page, "unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    page.wait_for_load_state()
    assert "You have been unsubscribed" in page.locator("main").inner_text()
    assert subscription(ctx, email).unsubscribed_at is not None


def test_an_operator_adds_and_removes_a_subscription(
    page: Any, base_url: str, ctx: Context, alice: None
) -> None:
    page.goto(base_url + "/login?next=/admin/subscriptions")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/admin/subscriptions")
    page.fill("#email", "east.oversight@example.nhs.uk")
    page.select_option("#scope", "region")
    page.fill("#code", "Y61")
    page.select_option("#min_severity", "high")
    page.get_by_role("button", name="Add subscription").click()
    page.wait_for_url("**/admin/subscriptions")
    row = page.locator("#subscriptions-table tbody tr")
    assert row.count() == 1 and "region Y61, high and above" in row.inner_text()
    sub = subscription(ctx, "east.oversight@example.nhs.uk")
    assert (sub.code, sub.min_severity, sub.origin, sub.confirmed_at) == (
        "Y61",
        "high",
        "web",
        None,
    )
    shot(page, "admin-subscriptions")
    assert axe_findings(page, AXE) == []
    row.get_by_role("button", name="Remove").click()
    page.wait_for_url("**/admin/subscriptions")
    assert page.locator("#subscriptions-table").count() == 0
    assert subscription(ctx, "east.oversight@example.nhs.uk").unsubscribed_at is not None


@pytest.fixture
def site(base_url: str, ctx: Context, alice: None) -> Site:
    return Site(base_url, ctx, operator=("alice", PASSWORD))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("stop", TOUR, ids=[s.name for s in TOUR])
def test_every_page_fits_the_screen_and_passes_axe(
    browser: Any, site: Site, stop: Stop, width: int
) -> None:
    """Every page type at phone and desktop width: nothing cut off horizontally, and no
    WCAG 2.2 AA finding (target-size included) of moderate impact or worse."""
    context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
    try:
        p = context.new_page()
        visit(p, site, stop)
        shot(p, f"{stop.name}-{width}")
        assert overflow(p) <= 0, f"{stop.name} at {width} px is {overflow(p)} px too wide"
        assert axe_findings(p, AXE) == []
    finally:
        context.close()


def test_alert_cards_show_every_column_on_a_phone(browser: Any, base_url: str) -> None:
    """At 390 px an alert table reads as one card per alert, each field named and in view."""
    context = browser.new_context(viewport={"width": 390, "height": 900})
    try:
        p = context.new_page()
        p.goto(base_url + "/orgs/RCX")
        card = p.locator("#open-alerts-table tbody tr").first
        box = card.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        headings = card.locator(".nhsuk-table__heading")
        assert [h.inner_text().strip() for h in headings.all()] == [
            "Alert", "Severity", "Latest figure", "Threshold", "Opened", "Status"
        ]  # fmt: skip
        for cell in card.locator("td").all():
            cbox = cell.bounding_box()
            assert cbox is not None and cbox["x"] + cbox["width"] <= 390
    finally:
        context.close()
