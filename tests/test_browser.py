"""The status page in a real browser: Debian's chromium driven by Playwright, with axe-core.

Needs /usr/bin/chromium (`apt-get install -y chromium`; never `playwright install`) and
node_modules/axe-core (`make assets`). With MONITOR_TEST_BROWSER=1 (CI) a missing piece fails
the run; otherwise these tests are reported NOT RUN. Screenshots go to tmp/artifacts/.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server
from web_seed import seed

from monitor import config, db, orgs
from monitor.context import Context
from monitor.web import create_app

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


class Unsubscribe:
    """Stands in for the notifications part's unsubscribe function."""

    def __call__(self, engine: Any, token: str) -> bool:
        return token == "a-real-token"


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The status page on a seeded SQLite database, served by waitress in a thread."""
    folder = tmp_path_factory.mktemp("browser")
    path = folder / "config.toml"
    path.write_text(f"[paths]\nvar = 'var'\ntemplates = '{ROOT / 'templates'}'\n")
    ctx = Context(config.load(path))
    db.upgrade(ctx.engine)
    with db.session_scope(ctx.engine, write=True) as s:
        orgs.load_reference(s)
    seed(ctx.engine)
    app = create_app(ctx)
    app.config["UNSUBSCRIBE"] = Unsubscribe()
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        ctx.close()


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


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the current page, as readable lines."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    assert len(result["passes"]) > 20, "axe-core checked almost nothing: is the page empty?"
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


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
    page.get_by_role(
        "link", name="The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    ).first.click()
    page.wait_for_url("**/orgs/RCX")
    chart = page.locator("svg#chart-ae_4hr_type1_pct")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    points = chart.locator("polyline.monitor-chart__trust").get_attribute("points") or ""
    assert len(points.split()) == 12
    lines = chart.locator("line.monitor-chart__threshold")
    rules = {lines.nth(i).get_attribute("data-rule") for i in range(lines.count())}
    # The breached rule's level, and the pack's other levels on the same metric (78%).
    assert {"ae_type1_below_60", "ae_type1_below_78"} <= rules
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


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("home", "/"),
        ("trust", "/orgs/RCX"),
        ("alert", "/alerts/1"),
        ("league", "/league"),
        ("sources", "/sources"),
        ("login", "/login"),
        ("unsubscribe", "/unsubscribe/a-real-token"),
    ],
)
def test_no_serious_accessibility_violations(
    page: Any, base_url: str, name: str, path: str
) -> None:
    response = page.goto(base_url + path)
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    shot(page, f"axe-{name}")
    assert serious_violations(page) == []
