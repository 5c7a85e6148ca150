"""One definition of "late": the sources page, the operators' emails, the late-publisher
rules and /metrics give the same answer for the same source state and clock.

A&E is expected on the 4th Thursday at 09:30 London time with three days' grace: October's
publication, due Thu 22 October 2026 09:30 (summer time), turns late at 09:30 on Sunday the
25th, the day the clocks go back (GMT). The CQC feed is checked every 30 minutes and turns late
a day after its last successful check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Publication, SourceState
from monitor.notify.operators import queue_incidents
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History
from monitor.rules.load import load_or_raise
from monitor.rules.run import read_calendars, read_orgs
from monitor.web.metrics_collector import MonitorCollector
from monitor.web.sources_status import statuses
from tests.conftest import ROOT

LONDON = ZoneInfo("Europe/London")
PUBLISHED = datetime(2026, 9, 24, 9, 30, tzinfo=LONDON)  # September's, on time
CHECKED = datetime(2026, 10, 24, 12, 0, tzinfo=UTC)  # the CQC feed's last good check

CQC_LATE_RULE = """\
title = "CQC ratings: feed late"
why = "No check of the CQC changes feed has succeeded for a day."
metric = "cqc_overall"
kind = "stale"
mode = "late"
severity = "info"
for_periods = 1
authored_by = "tests"
checked_by = "tests"
next_review = 2030-01-01
source = "[sources.cqc] in config.toml"

[scope]
kinds = ["england"]
"""


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    """Both sources' state as the pollers leave it: one publication each, checks recorded."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "stale_ae_late.toml").write_text((ROOT / "rules" / "stale_ae_late.toml").read_text())
    (rules / "stale_cqc_late.toml").write_text(CQC_LATE_RULE)
    p = tmp_path / "config.toml"
    p.write_text(
        '[paths]\nrules = "rules"\n[mail]\noperators = ["ops@example.nhs.uk"]\n'
        "[sources.ae]\nschedule = { day = '4th thu', hour = 9, minute = 30 }\ngrace_days = 3\n"
        "[sources.cqc]\nevery_minutes = 30\ngrace_days = 1\n"
    )
    with session_scope(engine, write=True) as s:
        for source, published in (("ae", PUBLISHED), ("cqc", CHECKED)):
            s.add(
                Publication(
                    source=source,
                    url=f"https://example.org/{source}",
                    filename=source,
                    sha256=source.ljust(64, "0"),
                    published_at=published,
                )
            )
            s.add(
                SourceState(
                    source=source,
                    last_poll_at=published,
                    last_success_at=published,
                    first_complete_ingest_at=published,
                )
            )
    return Context(config.load(p), engine)


def on_the_page(ctx: Context, source: str, now: datetime) -> bool:
    [status] = [st for st in statuses(ctx.engine, ctx.settings, now) if st.name == source]
    assert status.late is (status.level == "late")
    return status.late


def told_operators(ctx: Context, source: str, now: datetime) -> bool:
    keys = queue_incidents(ctx.engine, ctx.settings, now=now)
    return any(k.startswith(f"operator:late:{source}:") for k in keys)


def metrics_say_late(ctx: Context, source: str, now: datetime) -> bool:
    [family] = [
        m
        for m in MonitorCollector(ctx, clock=lambda: now).collect()
        if m.name == "monitor_source_late"
    ]
    [sample] = [x for x in family.samples if x.labels == {"source": source}]
    return sample.value == 1


def rule_fires(ctx: Context, source: str, now: datetime) -> bool:
    pack = load_or_raise(ctx.settings.paths.rules)
    with session_scope(ctx.engine) as s:
        calendars, orgs = read_calendars(ctx, s, now), read_orgs(s)
    found = evaluate(
        pack.rules.values(),
        History.from_points([]),
        orgs,
        as_of=now.astimezone(LONDON).date(),
        calendars=calendars,
    )
    finding = found.get(f"stale_{source}_late", "ENG")
    assert finding is not None
    return finding.state == "firing"


@pytest.mark.parametrize(
    ("source", "now", "late"),
    [
        ("ae", utc(2026, 10, 22, 12), False),  # due today: within the grace days
        # 09:15 GMT on the 25th: 72 hours after 09:30 BST on the 22nd have passed, but the
        # grace days end at 09:30 on the London clock.
        ("ae", utc(2026, 10, 25, 9, 15), False),
        ("ae", utc(2026, 10, 25, 9, 45), True),
        ("ae", utc(2026, 11, 26, 10), True),  # November's is due too: still the same episode
        ("cqc", utc(2026, 10, 25, 11, 59), False),
        ("cqc", utc(2026, 10, 25, 12, 1), True),
    ],
)
def test_the_page_the_operators_and_the_rules_agree(
    ctx: Context, source: str, now: datetime, late: bool
) -> None:
    assert (on_the_page(ctx, source, now), told_operators(ctx, source, now)) == (late, late)
    assert rule_fires(ctx, source, now) is late
    assert metrics_say_late(ctx, source, now) is late
