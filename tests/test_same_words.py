"""An alert's email and its page on the status page write its figures and periods alike.

Real published files are ingested and evaluated with the shipped rules; the email is rendered
from the event's stored evidence as the sender renders it, and the page is fetched from the
app, both over the same database.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import config, periods
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent
from monitor.notify import render, views
from monitor.notify.contexts import AlertEmail
from monitor.rules.run import evaluate_db
from monitor.sources import ambulance, oversight
from monitor.sources.ingest import FileInput, ingest_file
from monitor.urls import Urls
from monitor.web import create_app
from tests.conftest import REAL, ROOT

BASE = "https://alerts.example.nhs.uk"
OVERSIGHT = "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        f'[web]\nbase_url = "{BASE}"\n[security]\nsecret_env = "MONITOR_TEST_SECRET"\n'
    )
    c = Context(config.load(p), engine)
    for source, folder, name, parse in (
        ("ambulance", "ambulance", "ambsys.csv", ambulance.parse),
        ("oversight", "oversight", OVERSIGHT, oversight.parse),
    ):
        r = ingest_file(
            engine,
            FileInput(
                source=source,
                data=(REAL / folder / name).read_bytes(),
                filename=name,
                url=f"https://www.england.nhs.uk/{name}",
                trigger="seed",
                published_at=datetime(2025, 9, 11, 8, 30, tzinfo=UTC),
            ),
            parse,
        )
        assert r.status == "ingested", r.error
    evaluate_db(c)
    return c


def latest(ctx: Context, rule: str) -> tuple[Alert, AlertEvent]:
    with session_scope(ctx.engine) as s:
        alert = s.exec(
            select(Alert).where(Alert.rule == rule).order_by(col(Alert.value).desc())
        ).first()
        assert alert is not None, f"no {rule} alert in the real figures"
        event = s.exec(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(col(AlertEvent.id).desc())
        ).first()
        assert event is not None
        return alert, event


def email_text(ctx: Context, alert: Alert, event: AlertEvent) -> str:
    view = views.alert_view(event, alert, Urls(BASE))
    rendered = render.render(render.env_for(ctx.settings), "alert_fired", AlertEmail(view, BASE))
    return rendered.text


def page_text(ctx: Context, alert_id: int | None) -> str:
    app = create_app(ctx)
    r = app.test_client().get(f"/alerts/{alert_id}")
    assert r.status_code == 200
    no_tags = re.sub(r"<[^>]+>", " ", r.get_data(as_text=True))
    return " ".join(html.unescape(no_tags).split())


def test_a_response_time_reads_the_same_in_the_email_and_on_the_page(ctx: Context) -> None:
    alert, event = latest(ctx, "amb_c2_mean_above_30min")
    assert alert.value is not None and alert.threshold == 1800
    words = [
        periods.figure(alert.value, "seconds"),  # e.g. "47 min 16 s", never "47 min 06 s"
        periods.threshold(alert.threshold, "seconds"),  # "30 min"
        periods.period_label(alert.period_start, "month"),
    ]
    assert re.fullmatch(r"\d+ min \d{1,2} s", words[0])
    email, page = email_text(ctx, alert, event), page_text(ctx, alert.id)
    for w in words:
        assert w in email, f"{w!r} missing from the email"
        assert w in page, f"{w!r} missing from the page"
    # England's figure for the month: the same words in both.
    england = views.alert_view(event, alert, Urls(BASE)).england_text
    assert england in email and england in page


def test_a_quarter_is_named_as_a_quarter_in_the_email_and_on_the_page(ctx: Context) -> None:
    alert, event = latest(ctx, "nof_segment_4")
    label = periods.period_label(alert.period_start, "quarter")
    assert re.fullmatch(r"Q[1-4] \d{4}/\d{2}", label)
    month = periods.period_label(alert.period_start, "month")
    email, page = email_text(ctx, alert, event), page_text(ctx, alert.id)
    assert label in email and label in page
    assert month not in email and month not in page  # a quarter never named by its first month
