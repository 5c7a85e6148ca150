"""A subscriber's whole life through the running monitor, as a new user would meet it.

The real app on its own waitress server (monitor.web.server) on 127.0.0.1, a real SMTP server
(aiosmtpd, tests/smtp_sink.py), the real sender (`monitor send`), real A&E files ingested as a
live poll would ingest them, and the `engine` fixture's database (SQLite and PostgreSQL),
checked at every step. With ``[subscriptions] double_opt_in = true``:

1. an operator adds two subscriptions to The Queen Elizabeth Hospital, King's Lynn (RCX) on
   /admin/subscriptions; each gets a confirmation email, whose link, followed, confirms;
2. June 2025's A&E file arrives: RCX's alerts fire and the alert emails arrive;
3. one subscriber's mail client POSTs the email's List-Unsubscribe URL (RFC 8058);
4. July 2025's file arrives: a new alert fires for RCX; only the other subscriber hears of it;
5. the operator removes that subscription on the page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from typer.testing import CliRunner
from web_fixtures import ADMIN_ENV, PASSWORD, csrf_in, serving, unsubscribe_link

from monitor import config
from monitor.cli import app as cli
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Outbox, Subscription
from monitor.service import jobs
from monitor.sources import ae
from monitor.sources.ingest import FileInput, ingest_file
from monitor.web import users
from tests.conftest import REAL, ROOT
from tests.smtp_sink import Received, SmtpServer, free_port

BOARD = "board@qehkl.nhs.uk"  # unsubscribes from the email
CHAIR = "chair@qehkl.nhs.uk"  # stays, until the operator removes the subscription
ONE_CLICK = "List-Unsubscribe=One-Click"
UPLOADS = "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2"
# (file in data/real/ae, where NHS England published it, when: 09:30 London, second Thursday)
JUNE = ("Monthly-AE-June-2025-1-1.csv", "2025/07", datetime(2025, 7, 10, 8, 30, tzinfo=UTC))
JULY = ("July-2025-CSV-9jfy4.csv", "2025/08", datetime(2025, 8, 14, 8, 30, tzinfo=UTC))


@dataclass
class Site:
    ctx: Context
    config: Path
    url: str  # the status page, as [web] base_url names it
    smtp: SmtpServer


@pytest.fixture
def site(tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    monkeypatch.setenv(ADMIN_ENV, f"alice:{users.hash_password(PASSWORD)}")
    smtp = SmtpServer()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    path = tmp_path / "config.toml"
    path.write_text(
        f"""
[database]
url = "{engine.url.render_as_string(hide_password=False)}"
[paths]
var = "var"
rules = "{ROOT / "rules"}"
templates = "{ROOT / "templates"}"
[mail]
transport = "smtp"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}
from = "NHS trust monitor <monitor@alerts.example.nhs.uk>"
[web]
base_url = "{url}"
admin_users_env = "{ADMIN_ENV}"
[security]
secret_env = "MONITOR_TEST_SECRET"
[subscriptions]
double_opt_in = true
"""
    )
    ctx = Context(config.load(path), engine)
    try:
        with serving(ctx, port) as served:
            assert served == url
            yield Site(ctx, path, url, smtp)
    finally:
        smtp.stop()


# --- what the people involved do ----------------------------------------------------------


def sign_in(site: Site) -> requests.Session:
    """The operator signs in on the login page."""
    operator = requests.Session()
    form = {"username": "alice", "password": PASSWORD, "next": "/admin/subscriptions"}
    r = operator.post(
        f"{site.url}/login", data={**form, "csrf_token": csrf_in(get(operator, site, "/login"))}
    )
    assert r.status_code == 200 and r.url == f"{site.url}/admin/subscriptions"
    return operator


def get(session: requests.Session, site: Site, path: str) -> str:
    r = session.get(site.url + path)
    assert r.status_code == 200, r.text
    return r.text


def admin_post(operator: requests.Session, site: Site, form: dict[str, str]) -> str:
    """Submit a form on /admin/subscriptions; the page it leads to."""
    token = csrf_in(get(operator, site, "/admin/subscriptions"))
    r = operator.post(f"{site.url}/admin/subscriptions", data={**form, "csrf_token": token})
    assert r.status_code == 200 and r.history and r.history[0].status_code == 302, r.text
    return r.text


def send(site: Site) -> None:
    """`monitor send`, as the service runs it every minute."""
    result = CliRunner().invoke(cli, ["--config", str(site.config), "send"])
    assert result.exit_code == 0, result.output


def publish(site: Site, name: str, folder: str, published: datetime) -> dict[str, int]:
    """A real A&E file arrives by a live poll: ingested (not quiet), then the rules evaluated
    as the service does after a poll (the alert lifecycle routes its events to the outbox)."""
    data = (REAL / "ae" / name).read_bytes()
    item = FileInput(
        source="ae",
        data=data,
        filename=name,
        url=f"{UPLOADS}/{folder}/{name}",
        published_at=published,
        trigger="poll",
        quiet=False,
    )
    report = ingest_file(site.ctx.engine, item, ae.parse, archive_dir=site.ctx.var / "pubs")
    assert report.status == "ingested" and not report.quiet and report.publication_id
    return jobs.evaluate(site.ctx, publications=[report.publication_id])


def mail_to(site: Site, address: str) -> list[EmailMessage]:
    return [r.message for r in site.smtp.sink.received if r.rcpt_tos == [address]]


def wait_for_mail(site: Site, counts: dict[str, int]) -> None:
    def arrived(got: list[Received]) -> bool:
        return all(sum(r.rcpt_tos == [a] for r in got) >= n for a, n in counts.items())

    site.smtp.sink.wait_for(arrived)


def body(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


# --- what the database holds ----------------------------------------------------------------


def subscription(engine: Engine, email: str) -> Subscription:
    with session_scope(engine) as s:
        return s.exec(select(Subscription).where(Subscription.email == email)).one()


def outbox(engine: Engine, recipient: str) -> list[tuple[str, str]]:
    """(kind, status) of the messages queued for ``recipient``, oldest first."""
    with session_scope(engine) as s:
        rows = s.exec(select(Outbox).where(Outbox.recipient == recipient).order_by(col(Outbox.id)))
        return [(r.kind, r.status) for r in rows]


def fired_for_rcx(engine: Engine) -> set[str]:
    """The rules with an emailed `fired` event for RCX."""
    with session_scope(engine) as s:
        rows = s.exec(
            select(Alert.rule)
            .join(AlertEvent, col(AlertEvent.alert_id) == col(Alert.id))
            .where(Alert.org == "RCX", AlertEvent.kind == "fired", col(AlertEvent.notify))
        )
        return set(rows)


# --- the walkthrough -------------------------------------------------------------------------


def test_subscribe_confirm_alert_unsubscribe_and_remove(site: Site) -> None:
    engine = site.ctx.engine
    operator = sign_in(site)

    # 1. The operator adds two subscriptions; each waits for its confirmation.
    for address in (BOARD, CHAIR):
        page = admin_post(operator, site, {"email": address, "scope": "org", "code": "RCX"})
        assert f"It starts once {address} confirms" in page
        sub = subscription(engine, address)
        assert (sub.scope, sub.code, sub.origin) == ("org", "RCX", "web")
        assert sub.confirmed_at is None and sub.unsubscribed_at is None
        assert outbox(engine, address) == [("confirm", "pending")]
    send(site)
    wait_for_mail(site, {BOARD: 1, CHAIR: 1})
    for address in (BOARD, CHAIR):
        assert outbox(engine, address) == [("confirm", "sent")]
        (msg,) = mail_to(site, address)
        found = re.search(r"Confirm: (\S+)", body(msg))
        assert found and found.group(1).startswith(f"{site.url}/confirm/")
        link = found.group(1)
        # Following the link (as a mail scanner would too) changes nothing...
        reader = requests.Session()
        page = reader.get(link)
        assert page.status_code == 200 and "Confirm your subscription" in page.text
        assert subscription(engine, address).confirmed_at is None
        # ...its button confirms.
        action = re.search(r'<form method="post" action="([^"]+)"', page.text)
        assert action and site.url + action.group(1) == link
        done = reader.post(link)
        assert done.status_code == 200 and "Your subscription is confirmed" in done.text
        assert subscription(engine, address).confirmed_at is not None

    # 2. June's A&E figures arrive: 55.3% of RCX's type-1 patients seen within 4 hours.
    counts = publish(site, *JUNE)
    assert counts["fired"] > 0
    fired = fired_for_rcx(engine)
    # 12-hour waits from decision to admit are context (most trusts have some): no alert.
    assert "ae_type1_below_60" in fired and "ae_12hr_dta_waits" not in fired
    # One alert to email (the 12-hour waits are context): one event email, not a group.
    assert outbox(engine, BOARD)[1:] == [("event", "pending")]
    send(site)
    wait_for_mail(site, {BOARD: 2, CHAIR: 2})
    alert_email = mail_to(site, BOARD)[-1]
    assert "The Queen Elizabeth Hospital" in body(alert_email) and "55.3%" in body(alert_email)
    assert outbox(engine, BOARD) == [("confirm", "sent"), ("event", "sent")]

    # 3. The board's mail client unsubscribes with one click (RFC 8058): no cookie, no CSRF.
    assert alert_email["List-Unsubscribe-Post"] == ONE_CLICK
    url = unsubscribe_link(alert_email)
    assert url.startswith(f"{site.url}/unsubscribe/")
    r = requests.post(
        url, data=ONE_CLICK, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 200 and "You have been unsubscribed" in r.text
    assert subscription(engine, BOARD).unsubscribed_at is not None
    assert subscription(engine, CHAIR).unsubscribed_at is None

    # 4. July's figures: all A&E types at RCX fall below 60% too, a new alert.
    before = fired_for_rcx(engine)
    publish(site, *JULY)
    assert fired_for_rcx(engine) - before == {"ae_all_below_60"}
    send(site)
    wait_for_mail(site, {CHAIR: 3})
    assert "A&E (all types): under 60%" in mail_to(site, CHAIR)[-1]["Subject"] + body(
        mail_to(site, CHAIR)[-1]
    )
    assert len(mail_to(site, BOARD)) == 2  # the confirmation and June's alert only
    assert outbox(engine, BOARD) == [("confirm", "sent"), ("event", "sent")]

    # 5. The operator removes the chair's subscription on the page.
    chair = subscription(engine, CHAIR)
    page = admin_post(operator, site, {"action": "remove", "id": str(chair.id)})
    assert f"Subscription #{chair.id} removed: {CHAIR}, org RCX." in page
    assert f'data-subscription="{chair.id}"' not in page
    assert subscription(engine, CHAIR).unsubscribed_at is not None
