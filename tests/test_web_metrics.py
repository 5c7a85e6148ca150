"""/metrics: the real app on its own waitress server, scraped over HTTP and parsed with
prometheus_client's own parser; every family checked against the database it is read from."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import col, select
from web_fixtures import CONFIG, ROOT, serving
from web_seed import seed

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, Outbox, Publication, utcnow
from monitor.notify import subscriptions as subs
from monitor.service import jobs
from monitor.service.jobrun import record
from monitor.sources import registry
from monitor.vocab import OPEN, SEVERITIES
from monitor.web import create_app
from monitor.web.metrics_collector import MonitorCollector
from tests.chat_sinks import Answer, ChatServer
from tests.smtp_sink import free_port

TOKEN_ENV = "MONITOR_TEST_METRICS_TOKEN"
FAMILIES = {
    "monitor_polls": "counter",
    "monitor_poll_duration_seconds": "summary",
    "monitor_ingests": "counter",
    "monitor_rejects": "counter",
    "monitor_evaluations": "counter",
    "monitor_evaluation_duration_seconds": "summary",
    "monitor_send_runs": "counter",
    "monitor_send_run_duration_seconds": "summary",
    "monitor_sends": "counter",
    "monitor_outbox_depth": "gauge",
    "monitor_outbox_oldest_unsent_age_seconds": "gauge",
    "monitor_source_late": "gauge",
    "monitor_source_late_seconds": "gauge",
    "monitor_source_last_published_timestamp_seconds": "gauge",
    "monitor_job_last_success_timestamp_seconds": "gauge",
    "monitor_open_alerts": "gauge",
}


def make_ctx(tmp_path: Path, engine: Engine, extra: str = "") -> Context:
    """The status page's test config, with the A&E publisher at a closed port on 127.0.0.1
    (its poll fails at once) and the chat signing secret's variable named."""
    text = CONFIG.replace("{templates}", str(ROOT / "templates"))
    text = text.replace("{base_url}", "http://127.0.0.1:8000")
    text = text.replace(
        "[sources.ae]\n", f'[sources.ae]\nindex_url = "http://127.0.0.1:{free_port()}/ae/"\n'
    )
    path = tmp_path / "config.toml"
    path.write_text(text + "\n[http]\nretries = 0\n" + extra)
    return Context(config.load(path), engine)


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    server = ChatServer()
    yield server
    server.stop()


def scrape(url: str, **headers: str) -> dict[str, Any]:
    r = requests.get(f"{url}/metrics", headers=headers, timeout=30)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def value(families: dict[str, Any], sample: str, **labels: str) -> float:
    family = families[sample.removesuffix("_total").removesuffix("_count").removesuffix("_sum")]
    found = [s.value for s in family.samples if s.name == sample and s.labels == labels]
    assert len(found) == 1, (sample, labels, family.samples)
    return found[0]


def test_every_family_is_served_and_agrees_with_the_database(
    tmp_path: Path, engine: Engine, chat: ChatServer
) -> None:
    seed(engine)
    ctx = make_ctx(tmp_path, engine)
    # A Teams channel whose webhook was deleted, and a busy Slack one: one failed, one waits.
    chat.answer("/teams", default=Answer(404, b"gone"))
    chat.answer("/slack", default=Answer(429, b"busy"))
    with session_scope(engine, write=True) as s:
        for channel in ("teams", "slack"):
            subs.add(
                s,
                ctx.settings,
                subs.Request(chat.url(f"/{channel}"), "org", "RCX", channel=channel),
            )

    started = utcnow()
    polled = jobs.poll_and_notify(ctx, ["ae"])  # the publisher cannot be reached
    assert [p.outcome for p in polled.polls] == ["failed"]
    evaluated = record(ctx, "evaluate", jobs.evaluate)  # the seed's alerts, routed to the channels
    sent = record(ctx, "send", jobs.send)
    assert (evaluated.outcome, sent.outcome) == ("ok", "failed")  # a message failed for good
    assert len(chat.to("/teams")) == 1 and len(chat.to("/slack")) == 1

    with serving(ctx, app=create_app(ctx)) as url:
        before = utcnow()
        families = scrape(url)
        after = utcnow()

    assert {name: f.type for name, f in families.items()} == FAMILIES

    # Job runs: the failed poll, the evaluation, the send run; each with its duration.
    assert value(families, "monitor_polls_total", source="ae", outcome="failed") == 1
    assert value(families, "monitor_polls_total", source="ae", outcome="ok") == 0
    assert value(families, "monitor_poll_duration_seconds_count", source="ae") == 1
    took = value(families, "monitor_poll_duration_seconds_sum", source="ae")
    assert 0 <= took <= (after - started).total_seconds()
    assert value(families, "monitor_evaluations_total", outcome="ok") == 1
    assert value(families, "monitor_evaluation_duration_seconds_count") == 1
    assert value(families, "monitor_send_runs_total", outcome="failed") == 1
    last = value(families, "monitor_job_last_success_timestamp_seconds", job="evaluate")
    assert started.timestamp() <= last <= before.timestamp()

    with session_scope(engine) as s:
        pubs = {
            (src, st): n
            for src, st, n in s.exec(
                select(Publication.source, Publication.status, func.count()).group_by(
                    Publication.source, Publication.status
                )
            )
        }
        open_alerts = dict(
            s.exec(
                select(Alert.severity, func.count())
                .where(col(Alert.state).in_(OPEN))
                .group_by(Alert.severity)
            ).all()
        )
        outbox = list(s.exec(select(Outbox)))
        latest_ae = s.exec(
            select(func.max(Publication.published_at)).where(
                Publication.source == "ae", Publication.status == "ingested"
            )
        ).one()
    for source in registry.NAMES:
        for status in ("ingested", "rejected"):
            got = value(families, "monitor_ingests_total", source=source, outcome=status)
            assert got == pubs.get((source, status), 0)
        assert value(families, "monitor_rejects_total", source=source) == pubs.get(
            (source, "rejected"), 0
        )
    assert pubs.get(("ae", "ingested"), 0) > 0
    assert sum(open_alerts.values()) > 0
    for severity in SEVERITIES:
        assert value(families, "monitor_open_alerts", severity=severity) == open_alerts.get(
            severity, 0
        )

    # The outbox: Teams failed, Slack waits; the age of the oldest waiting row.
    statuses = {(r.recipient.split(":")[0], r.status) for r in outbox}
    assert statuses == {("teams", "failed"), ("slack", "pending")}
    assert value(families, "monitor_sends_total", channel="teams", outcome="failed") == 1
    assert value(families, "monitor_sends_total", channel="slack", outcome="sent") == 0
    assert value(families, "monitor_outbox_depth", channel="slack") == 1
    assert value(families, "monitor_outbox_depth", channel="email") == 0
    (waiting,) = [r for r in outbox if r.status == "pending"]
    created = waiting.created_at
    age = value(families, "monitor_outbox_oldest_unsent_age_seconds")
    assert (before - created).total_seconds() <= age <= (after - created).total_seconds()

    # Lateness, as the one definition has it: A&E's latest file is July 2025's, so it is late.
    assert value(families, "monitor_source_late", source="ae") == 1
    assert value(families, "monitor_source_late_seconds", source="ae") > 86400 * 30
    assert value(
        families, "monitor_source_last_published_timestamp_seconds", source="ae"
    ) == pytest.approx(latest_ae.replace(tzinfo=latest_ae.tzinfo or before.tzinfo).timestamp())


def test_counts_do_not_fall_when_old_job_runs_are_pruned(tmp_path: Path, engine: Engine) -> None:
    ctx = make_ctx(tmp_path, engine)
    for _ in range(3):
        assert record(ctx, "evaluate", jobs.evaluate).outcome == "ok"

    def evaluations(collector: MonitorCollector) -> float:
        (family,) = [m for m in collector.collect() if m.name == "monitor_evaluations"]
        (ok,) = [s for s in family.samples if s.labels == {"outcome": "ok"}]
        return ok.value

    scraper = MonitorCollector(ctx)
    assert evaluations(scraper) == 3
    # The runs are pruned (as 100 days on); the count stays, and a new run adds one.
    assert jobs.prune_runs(ctx, now=utcnow() + timedelta(days=100))["deleted"] == 3
    assert evaluations(scraper) == 3
    assert record(ctx, "evaluate", jobs.evaluate).outcome == "ok"
    assert evaluations(scraper) == 4
    # Another process (its own collector), a week on, when the checkpoint moves: the same.
    week_on = MonitorCollector(ctx, clock=lambda: utcnow() + timedelta(days=8))
    assert evaluations(week_on) == 4 and evaluations(week_on) == 4


def test_a_token_protects_metrics_when_configured(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    ctx = make_ctx(tmp_path, engine, f'\n[metrics]\ntoken_env = "{TOKEN_ENV}"\n')
    with serving(ctx, app=create_app(ctx)) as url:
        unset = requests.get(f"{url}/metrics", timeout=30)
        assert unset.status_code == 503 and TOKEN_ENV in unset.text  # never open by mistake
        monkeypatch.setenv(TOKEN_ENV, "let-prometheus-in")
        refused = requests.get(f"{url}/metrics", timeout=30)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith(
            "Bearer"
        )
        wrong = requests.get(f"{url}/metrics", headers={"Authorization": "Bearer no"}, timeout=30)
        assert wrong.status_code == 401
        families = scrape(url, Authorization="Bearer let-prometheus-in")
        assert set(families) == set(FAMILIES)


def test_a_scraper_that_asks_for_openmetrics_gets_it(tmp_path: Path, engine: Engine) -> None:
    ctx = make_ctx(tmp_path, engine)
    with serving(ctx, app=create_app(ctx)) as url:
        r = requests.get(
            f"{url}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            timeout=30,
        )
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert r.text.endswith("# EOF\n")
    families = {f.name: f.type for f in openmetrics_families(r.text)}
    assert families == FAMILIES
