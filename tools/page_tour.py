"""A tour of every page type of the status page, in a real browser: the browser tests check
each stop at phone and desktop width, and `make screenshots` photographs them.

Each stop says how to reach its page from a seeded site (the test seed or the embedded
default's data): a path, or a link made by the real subscription and token code, and what to
click. The checks are the same everywhere: the answer's status, nothing wider than the window,
and axe-core's WCAG 2.2 AA rules (target-size included) with no finding of moderate impact or
worse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert
from monitor.notify import subscriptions as subs
from monitor.notify import tokens
from monitor.vocab import OPEN, Severity

WIDTHS = (390, 1280)  # a phone (iPhone 12 to 15) and a desktop
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FAILING_IMPACTS = ("moderate", "serious", "critical")


@dataclass
class Site:
    """A served, seeded status page and what some stops need from it."""

    base_url: str
    ctx: Context
    trust: str = "RCX"
    operator: tuple[str, str] | None = None  # (name, password) of an operator
    links: int = 0  # links made so far

    def alert_path(self) -> str:
        """The trust's most severe open alert."""
        with session_scope(self.ctx.engine) as s:
            rows = list(
                s.execute(
                    select(col(Alert.id), col(Alert.severity)).where(
                        col(Alert.org) == self.trust, col(Alert.state).in_(OPEN)
                    )
                )
            )
        assert rows, f"no open alert for {self.trust} to show"
        worst = max(rows, key=lambda r: (Severity.rank_of(r.severity), -r.id))
        return f"/alerts/{worst.id}"

    def link(self, purpose: str) -> str:
        """A confirmation or unsubscribe link of a new subscription to the trust, made by the
        real subscription and token code; a new one each time, as a link used once (a
        confirmation confirmed) shows another page the next time."""
        self.links += 1
        email = f"{purpose}.{self.links}@example.nhs.uk"
        with session_scope(self.ctx.engine, write=True) as s:
            sub, _ = subs.add(s, self.ctx.settings, subs.Request(email, "org", self.trust))
            token = sub.token
        secret = tokens.load_secret(self.ctx.settings)
        if purpose == tokens.UNSUBSCRIBE:  # one can only leave what one has joined
            confirm = tokens.sign(secret, tokens.CONFIRM, [token])
            assert tokens.confirm(self.ctx.engine, confirm, settings=self.ctx.settings).ok
        return f"/{purpose}/{tokens.sign(secret, purpose, [token])}"


@dataclass(frozen=True)
class Stop:
    """One page type: how to reach it and the status it answers with."""

    name: str
    path: Callable[[Site], str]
    status: int = 200
    signed_in: bool = False
    click: str | None = None  # a button to press after arriving (its page is the stop)


def _fixed(path: str) -> Callable[[Site], str]:
    return lambda site: path


TOUR: tuple[Stop, ...] = (
    Stop("home", _fixed("/")),
    Stop("orgs", _fixed("/orgs")),
    Stop("orgs-search", _fixed("/orgs?q=kings+lynn")),
    Stop("trust", lambda site: f"/orgs/{site.trust}"),
    Stop("board-pack", lambda site: f"/orgs/{site.trust}/board-pack"),
    Stop("alert", Site.alert_path),
    Stop("league", _fixed("/league")),
    Stop("sources", _fixed("/sources")),
    Stop("login", _fixed("/login")),
    Stop("alert-signed-in", Site.alert_path, signed_in=True),
    Stop("confirm", lambda site: site.link(tokens.CONFIRM)),
    Stop("confirmed", lambda site: site.link(tokens.CONFIRM), click="Confirm subscription"),
    Stop("unsubscribe", lambda site: site.link(tokens.UNSUBSCRIBE)),
    Stop("unsubscribed", lambda site: site.link(tokens.UNSUBSCRIBE), click="Unsubscribe"),
    # After the links above, so that the operators' table has subscriptions to list.
    Stop("admin-subscriptions", _fixed("/admin/subscriptions"), signed_in=True),
    Stop("link-not-valid", _fixed("/unsubscribe/not-a-real-link.abc"), status=400),
    Stop("not-found", _fixed("/orgs/XXX"), status=404),
    Stop("bad-request", _fixed("/?region=Y99"), status=400),
)


def sign_in(page: Any, site: Site) -> None:
    """Sign in as the site's operator through the login form."""
    assert site.operator is not None, "this stop needs an operator"
    name, password = site.operator
    page.goto(site.base_url + "/login")
    page.fill("#username", name)
    page.fill("#password", password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def visit(page: Any, site: Site, stop: Stop) -> None:
    """Go to the stop's page (signed in when it needs it) and check its status."""
    if stop.signed_in:
        sign_in(page, site)
    response = page.goto(site.base_url + stop.path(site))
    if stop.click:
        assert response is not None and response.status == 200, stop.name
        with page.expect_navigation():
            page.get_by_role("button", name=stop.click).click()
    else:
        assert response is not None and response.status == stop.status, (
            f"{stop.name}: {response.status if response else None}, expected {stop.status}"
        )
    page.wait_for_load_state("networkidle")


def overflow(page: Any) -> int:
    """How many CSS pixels the document is wider than the window (0: nothing cut off)."""
    return int(
        page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    )


def axe_findings(page: Any, axe: Path) -> list[str]:
    """axe-core's WCAG 2.2 AA findings of moderate impact or worse, as readable lines."""
    page.add_script_tag(path=str(axe))
    options = {
        "runOnly": {"type": "tag", "values": AXE_TAGS},
        "rules": {"target-size": {"enabled": True}},  # off by default in axe-core 4.14
        "resultTypes": ["violations"],
    }
    result = page.evaluate("async (o) => await axe.run(document, o)", options)
    assert len(result["passes"]) > 10, "axe-core checked almost nothing: is the page empty?"
    ran = {
        r["id"]
        for kind in ("passes", "violations", "incomplete", "inapplicable")
        for r in result[kind]
    }
    assert "target-size" in ran, "axe-core did not run target-size"
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in FAILING_IMPACTS
    ]
