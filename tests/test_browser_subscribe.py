"""A trust board subscribes itself, in a real browser (Debian's chromium driven by Playwright,
axe-core on every page), at a phone's width (390 px) and a desktop's (1280 px).

The real app on its own waitress server, a real SMTP server on 127.0.0.1 (aiosmtpd,
tests/smtp_sink.py) and the real sender (`outbox.deliver`, what `monitor send` runs), on the
`engine` fixture's database:

1. from The Queen Elizabeth Hospital, King's Lynn's page (RCX), "Get alerts for this trust";
2. the form, pre-filled with RCX and medium; the address typed; "check your email";
3. the confirmation email arrives; its link opens a page whose button confirms;
4. an alert for RCX fires; its email arrives with a manage link; on that page the minimum
   severity becomes "Critical only", and a high alert afterwards is not routed to the board;
5. the mail client's one-click POST (RFC 8058) of the alert email's List-Unsubscribe URL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine
from sqlmodel import select
from test_browser import AXE, _require, browser, shot  # noqa: F401 (a fixture)
from web_fixtures import make_ctx, serving
from web_seed import RCX_NAME, seed

from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Subscription
from monitor.notify import outbox
from tests import alert_fixtures as af
from tests.smtp_sink import SmtpServer, free_port
from tools.page_tour import axe_findings, overflow

BOARD = "board@qehkl.nhs.uk"
ONE_CLICK = "List-Unsubscribe=One-Click"
pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _needs_chromium_and_axe(request: pytest.FixtureRequest) -> None:
    _require(request)


class Site:
    """The status page on 127.0.0.1 mailing through a local SMTP server."""

    def __init__(self, ctx: Context, url: str, smtp: SmtpServer) -> None:
        self.ctx, self.url, self.smtp = ctx, url, smtp

    def deliver(self, count: int) -> EmailMessage:
        """Send what waits (`monitor send`); the ``count``-th message to BOARD."""
        outbox.deliver(self.ctx.engine, self.ctx.settings)
        self.smtp.sink.wait_for(lambda got: sum(r.rcpt_tos == [BOARD] for r in got) >= count)
        mine = [r.message for r in self.smtp.sink.received if r.rcpt_tos == [BOARD]]
        assert len(mine) == count, "more mail arrived than was expected"
        return mine[-1]

    def subscription(self) -> Subscription:
        with session_scope(self.ctx.engine) as s:
            return s.exec(select(Subscription).where(Subscription.email == BOARD)).one()


@pytest.fixture
def site(tmp_path: Path, engine: Engine) -> Iterator[Site]:
    seed(engine)
    smtp = SmtpServer()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mail = f'\n[mail]\ntransport = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
    ctx = make_ctx(tmp_path, engine, mail, base_url=url)
    assert ctx.settings.subscriptions.double_opt_in is False  # self-service confirms anyway
    try:
        with serving(ctx, port) as served:
            assert served == url
            yield Site(ctx, url, smtp)
    finally:
        smtp.stop()


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def link(msg: EmailMessage, label: str) -> str:
    found = re.search(rf"{label}: (\S+)", body(msg))
    assert found, f"no {label!r} link in the email"
    return found.group(1)


def check(page: Any, name: str, width: int) -> None:
    """A screenshot, no accessibility finding of moderate impact or worse (WCAG 2.2 AA with
    target-size), and nothing wider than the screen."""
    page.wait_for_load_state("networkidle")
    shot(page, f"subscribe-{width}-{name}")
    assert axe_findings(page, AXE) == [], name
    wider = overflow(page)
    assert wider <= 0, f"{name} is {wider} px wider than a {width} px screen"


@pytest.mark.parametrize("width", [390, 1280])
def test_a_trust_board_subscribes_confirms_changes_and_unsubscribes(
    browser: Any,  # noqa: F811 (test_browser's fixture)
    site: Site,
    width: int,
) -> None:
    context = browser.new_context(bypass_csp=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"script error: {e}"))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        # 1-2. From the trust's page to the form, pre-filled; then the address.
        page.goto(f"{site.url}/orgs/RCX")
        page.get_by_role("button", name="Get alerts for this trust").click()
        page.wait_for_url("**/subscribe?org=RCX")
        assert page.locator("#scope").input_value() == "org:RCX"
        assert page.locator("#scope option:checked").inner_text() == f"{RCX_NAME} (RCX)"
        assert page.get_by_label("Medium and above").is_checked()
        check(page, "form", width)
        page.get_by_label("Email address").fill(BOARD)
        page.get_by_role("button", name="Get alerts").click()
        page.wait_for_load_state()
        assert "Check your email" in page.locator("main").inner_text()
        check(page, "sent", width)
        sub = site.subscription()
        assert (sub.scope, sub.code, sub.min_severity, sub.confirmed_at) == (
            "org",
            "RCX",
            "medium",
            None,
        )

        # 3. The confirmation email, its link, its button.
        confirmation = site.deliver(1)
        assert confirmation["Subject"] == "Confirm your NHS trust monitor subscription"
        page.goto(link(confirmation, "Confirm"))
        assert site.subscription().confirmed_at is None  # opening the link changed nothing
        check(page, "confirm", width)
        page.get_by_role("button", name="Confirm subscription").click()
        page.wait_for_load_state()
        assert "Your subscription is confirmed" in page.locator("main").inner_text()
        assert site.subscription().confirmed_at is not None

        # 4. A later email: an alert for RCX, with the manage link.
        pub = af.publication(site.ctx.engine)
        _, event = af.alert(site.ctx.engine, "RCX", pub, severity="high")
        assert af.route(site.ctx.engine, site.ctx.settings, [event])
        alert_email = site.deliver(2)
        assert "The Queen Elizabeth Hospital" in body(alert_email)
        manage = link(alert_email, r"Manage your subscriptions \(change, pause or leave\)")
        page.goto(manage)
        card = page.locator(f"section[data-subscription='{sub.id}']")
        assert "Active" in card.inner_text()
        check(page, "manage", width)
        card.get_by_label("Critical only").check()
        card.get_by_role("button", name="Save changes").click()
        page.wait_for_load_state()
        assert "Saved: org RCX, critical only." in page.locator("main").inner_text()
        assert site.subscription().min_severity == "critical"
        assert (
            page.locator(f"section[data-subscription='{sub.id}']")
            .get_by_label("Critical only")
            .is_checked()
        )
        check(page, "manage-saved", width)
        _, high = af.alert(site.ctx.engine, "RCX", pub, rule="ae_all_below_60", severity="high")
        assert af.route(site.ctx.engine, site.ctx.settings, [high]) == []

        # 5. The mail client's one-click unsubscribe: no cookie, no CSRF token.
        assert alert_email["List-Unsubscribe-Post"] == ONE_CLICK
        url = re.sub(r"\s+", "", str(alert_email["List-Unsubscribe"])).strip("<>")
        r = requests.post(
            url,
            data=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert r.status_code == 200 and "You have been unsubscribed" in r.text
        assert site.subscription().unsubscribed_at is not None
        page.goto(manage)
        assert "You have no subscriptions" in page.locator("main").inner_text()
    finally:
        context.close()
    assert errors == []
