"""The rule pack on the shipped data: signal, not noise (python -m tools.census).

The embedded default's snapshot (data/real, real publications to August 2025) is seeded with
`monitor init` into a fresh SQLite database, and the census is taken the way an operator takes
it, with `python -m tools.census --config ... --json`.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, utcnow
from monitor.notify import digest, render, views
from monitor.notify import subscriptions as subs
from monitor.notify.contexts import AlertEmail
from monitor.rules.evidence import Evidence
from monitor.rules.peers import ordinal
from monitor.urls import Urls
from monitor.vocab import OPEN, Severity
from monitor.web import create_app
from tests.conftest import REAL

ROOT = Path(__file__).resolve().parents[2]
# The trusts the 2025 league tables put at the bottom that the shipped data covers.
BOTTOM = ("RCX", "RJR", "RNN", "RKB", "RAJ")
MEDIUM_UP = ("medium", "high", "critical")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("census")
    cfg = folder / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{folder / "monitor.db"}"\n'
        f'[paths]\nrules = "{ROOT / "rules"}"\ntemplates = "{ROOT / "templates"}"\n'
        f'var = "{folder / "var"}"\nsnapshot = "{REAL}"\n'
    )
    monitor = [sys.executable, "-m", "monitor.cli", "--config", str(cfg)]
    subprocess.run([*monitor, "init"], check=True, capture_output=True, cwd=ROOT)
    out = subprocess.run(
        [sys.executable, "-m", "tools.census", "--config", str(cfg), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    return cfg, json.loads(out.stdout)


@pytest.mark.slow
def test_no_rule_at_medium_or_above_fires_for_more_than_half(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    _, census = seeded
    alerting = [r for r in census["rules"] if r["role"] == "alert"]
    assert len(alerting) > 30
    noisy = [
        (r["rule"], r["fires"], r["applies"])
        for r in alerting
        if r["severity"] in MEDIUM_UP and r["applies"] and r["fires"] * 2 > r["applies"]
    ]
    assert noisy == []
    # The context rules are the ones that fire for most trusts.
    context = {r["rule"]: r for r in census["rules"] if r["role"] == "context"}
    assert context["ae_type1_below_78"]["fires"] * 2 > context["ae_type1_below_78"]["applies"]


@pytest.mark.slow
def test_no_region_has_more_than_40_open_alerts_at_medium_or_above(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    _, census = seeded
    by_region = census["open_medium_up_by_region"]
    assert {"Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63"} <= set(by_region)
    assert max(by_region.values()) <= 40, by_region
    assert sum(by_region.values()) > 0


@pytest.mark.slow
def test_the_bottom_of_the_league_keeps_a_high_alert_a_board_secretary_can_read(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    cfg, census = seeded
    ctx = Context(config.load(cfg))
    with session_scope(ctx.engine) as s:
        for org in BOTTOM:
            alerts = s.exec(
                select(Alert).where(
                    Alert.org == org,
                    col(Alert.state).in_(OPEN),
                    col(Alert.severity).in_(("high", "critical")),
                )
            ).all()
            assert alerts, f"{org} has no high alert"
            for a in alerts:
                event = s.exec(
                    select(AlertEvent)
                    .where(AlertEvent.alert_id == a.id)
                    .order_by(col(AlertEvent.id).desc())
                ).first()
                assert event is not None
                ev = Evidence.from_json(event.evidence)
                words = ev.explain(event.kind)
                assert ev.rule_title and ev.org_name and ev.period_label, (org, a.rule)
                assert words.figure and words.figure != "not published", (org, a.rule)
                # Where the trust stands: against a level, or among its peers, in words.
                assert words.condition or ev.peer_position, (org, a.rule)
                if ev.peer_rank is not None:
                    assert f"of {ev.peer_count} " in ev.peer_position
    ctx.engine.dispose()
    # The Oversight Framework comparison is reported beside the base rate.
    share = census["acute_high_alert_in_segment_4"]
    assert share["of"] > 0 and 0 <= share["count"] <= share["of"]
    assert census["acute_in_segment_4"]["of"] == 129


@pytest.mark.slow
def test_the_email_and_the_alert_page_give_the_peer_position_in_words(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    cfg, _ = seeded
    ctx = Context(config.load(cfg))
    with session_scope(ctx.engine) as s:
        alert = s.exec(
            select(Alert).where(
                Alert.org == "RCX",
                Alert.rule == "cancer_62d_worst_10pct",
                col(Alert.state).in_(OPEN),
            )
        ).one()
        event = s.exec(
            select(AlertEvent)
            .where(AlertEvent.alert_id == alert.id)
            .order_by(col(AlertEvent.id).desc())
        ).first()
        assert event is not None
        ev = Evidence.from_json(event.evidence)
        view = views.alert_view(event, alert, Urls("http://127.0.0.1:8000"))
        alert_id = alert.id
    # RCX's 62-day figure ranks among the worst of the acute trusts: it fired in the worst 10%
    # and holds until it is out of the worst 20% (the rule's clear_percent).
    assert ev.peer_type == "acute" and ev.peer_worst_percent is not None
    assert ev.peer_worst_percent <= 20
    expected = f"{ordinal(ev.peer_rank or 0)} of {ev.peer_count} (1st is best)"
    assert view.peer_text.startswith("In the worst ") and view.peer_text.endswith(expected)
    env = render.env_for(ctx.settings)
    email = render.render(env, "alert_fired", AlertEmail(alert=view, status_url="http://x/"))
    assert view.peer_text in email.text
    assert html.escape(view.peer_text, quote=False) in email.html
    page = create_app(ctx).test_client().get(f"/alerts/{alert_id}")
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Among its peers" in body and html.escape(view.peer_text, quote=False) in body
    ctx.engine.dispose()


@pytest.mark.slow
def test_a_regional_digest_on_the_shipped_data_leads_with_the_trusts_and_puts_context_apart(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    cfg, census = seeded
    ctx = Context(config.load(cfg))
    with session_scope(ctx.engine, write=True) as s:
        subs.add(s, ctx.settings, subs.Request("east@example.nhs.uk", "region", "Y61"))
    now = utcnow()
    week = digest.week_name(now.date() - timedelta(days=now.weekday()))
    with session_scope(ctx.engine) as s:
        built = digest.build(s, ctx.settings, week, now=now)["east@example.nhs.uk"]
    ctx.engine.dispose()
    assert built["scope_name"] == "East of England"
    # One line per trust, most severe first; the league breaks ties, worst first.
    rows = built["trusts"]
    ranks = [Severity.rank_of(t["worst_severity"]) for t in rows]
    assert rows and ranks == sorted(ranks, reverse=True)
    high = [t for t in rows if t["worst_severity"] == "high" and t["league_text"]]
    shares = [int(t["league_text"].split()[1]) / int(t["league_text"].split()[3]) for t in high]
    assert shares == sorted(shares, reverse=True)
    assert any(t["org_code"] == "RCX" for t in high)
    # The standards most trusts miss: one paragraph, with England's figure, no alert lines.
    context = {r["rule"]: r for r in census["rules"] if r["role"] == "context"}
    a_and_e = context["ae_type1_below_78"]
    assert f"{a_and_e['fires']} of {a_and_e['applies']} trusts (England " in built["context_text"]
    listed = {i["rule_title"] for i in built["new"] + built["still_open"]}
    assert "A&E (type 1): under the 4-hour operational standard" not in listed


@pytest.mark.slow
def test_trust_pages_and_the_league_show_the_standards_most_trusts_miss_as_context(
    seeded: tuple[Path, dict[str, Any]],
) -> None:
    """A context rule opens no alert, but a reader of RCX's page sees that the trust misses
    the A&E operational standard, its figure and how many trusts miss it too; the league page
    lists the standards most trusts miss."""
    cfg, census = seeded
    ctx = Context(config.load(cfg))
    client = create_app(ctx).test_client()
    context = {r["rule"]: r for r in census["rules"] if r["role"] == "context"}
    a_and_e = context["ae_type1_below_78"]
    with session_scope(ctx.engine) as s:
        open_context = s.exec(
            select(Alert).where(Alert.rule == "ae_type1_below_78", col(Alert.state).in_(OPEN))
        ).all()
    assert open_context == []  # context: no alert, anywhere

    body = client.get("/orgs/RCX").get_data(as_text=True)
    section = body[body.index('id="context-missed"') : body.index('id="charts"')]
    line = re.search(r'<li data-rule="ae_type1_below_78">([^<]*)</li>', section)
    assert line is not None, section
    words = html.unescape(line.group(1))
    assert words.startswith("A&E (type 1): under the 4-hour operational standard: ")
    assert f"Missed by {a_and_e['fires']} of {a_and_e['applies']} trusts; England " in words

    league = client.get("/league").get_data(as_text=True)
    listed = re.findall(r'<li data-rule="([^"]+)">', league[league.index('id="context"') :])
    widespread = [r for r, c in context.items() if c["applies"] and c["fires"] * 2 > c["applies"]]
    assert sorted(listed) == sorted(widespread)
    ctx.engine.dispose()
