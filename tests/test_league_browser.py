"""The league page and a trust's position in a real browser, on the real seeded files: the acute
and mental-health tables side by side at 1280 px, cards at 390 px with nothing cut off, the
filter form without JavaScript, and axe-core's WCAG 2.2 AA rules (target-size included)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from test_browser import AXE, _needs_chromium_and_axe, shot  # noqa: F401

# test_browser's module-scoped chromium, registered here as the fixture "shared_browser".
from test_browser import browser as shared_browser  # noqa: F401
from test_league_pages import make_ctx, oversight_snapshot
from web_fixtures import serving

from monitor.context import Context
from monitor.sources.seed import seed_and_evaluate

pytestmark = pytest.mark.browser
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@pytest.fixture
def base_url(tmp_path: Path, engine: Engine) -> Iterator[str]:
    ctx: Context = make_ctx(tmp_path, engine, oversight_snapshot(tmp_path / "snapshot"))
    seed_and_evaluate(ctx)
    with serving(ctx) as url:
        yield url


@pytest.fixture
def chromium(request: pytest.FixtureRequest) -> Any:
    return request.getfixturevalue("shared_browser")


def open_page(chromium: Any, width: int) -> Any:
    context = chromium.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors
    return page


def violations(page: Any, within: str | None = None) -> list[str]:
    """axe-core's WCAG 2.2 AA findings of moderate impact or worse (in one element's part)."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async ([within, tags]) => await axe.run(within || document,"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        [within, WCAG],
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("moderate", "serious", "critical")
    ]


def test_the_tables_side_by_side_and_the_filter_form(chromium: Any, base_url: str) -> None:
    page = open_page(chromium, 1280)
    page.goto(base_url + "/league")
    acute = page.locator('section[data-league="acute"]').bounding_box()
    mh = page.locator('section[data-league="mental-health-and-community"]').bounding_box()
    assert acute and mh
    assert acute["x"] + acute["width"] <= mh["x"] and abs(acute["y"] - mh["y"]) < 2
    shot(page, "league-1280")
    assert violations(page) == []
    page.select_option("#league-region", "Y61")
    page.select_option("#league-type", "acute")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/league?region=Y61&type=acute")
    rows = page.locator("tr[data-org]").evaluate_all("els => els.map(e => e.dataset.org)")
    assert "RCX" in rows and len(rows) == 13
    assert page.locator('section[data-league="mental-health-and-community"]').count() == 0
    assert page.errors == []


def test_at_phone_width_the_league_page_is_cards_with_nothing_cut_off(
    chromium: Any, base_url: str
) -> None:
    page = open_page(chromium, 390)
    page.goto(base_url + "/league")
    page.wait_for_load_state("networkidle")
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"the league page is {width} px wide at 390 px"
    shot(page, "league-390")
    assert violations(page) == []
    assert page.errors == []


@pytest.mark.parametrize("code", ["RCX", "RWR", "RW1"])
@pytest.mark.parametrize("width", [390, 1280])
def test_a_trust_pages_position_fits_and_passes_axe(
    chromium: Any, base_url: str, code: str, width: int
) -> None:
    """The position block at the top of a trust page (the rest of the page is the trust
    page's own tests')."""
    page = open_page(chromium, width)
    page.goto(base_url + f"/orgs/{code}")
    block = page.locator("#league-position")
    box = block.bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= width
    assert "Oversight Framework" in block.inner_text()
    shot(page, f"position-{width}-{code}")
    assert violations(page, "#league-position") == []
    assert page.errors == []
