"""Evaluating the rule pack against real ingested figures: alerts, idempotence, replay, quiet
first runs and live publications."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent
from monitor.rules.evidence import build, stored_keys
from monitor.rules.run import affected_pairs, evaluate_db, list_alerts
from monitor.sources import ae, ambulance
from monitor.sources.ingest import FileInput, ingest_file
from tests.conftest import REAL, ROOT

FILES = [  # (file, published), oldest first
    ("Monthly-AE-April-2025.csv", date(2025, 5, 8)),
    ("Monthly-AE-May-2025.csv", date(2025, 6, 12)),
    ("Monthly-AE-June-2025-1-1.csv", date(2025, 7, 10)),
    ("July-2025-CSV-9jfy4.csv", date(2025, 8, 14)),
]


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text(f'[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\n')
    return Context(config.load(p), engine)


def ingest(ctx: Context, name: str, published: date, trigger: str = "seed") -> int:
    r = ingest_file(
        ctx.engine,
        FileInput(
            source="ae",
            data=(REAL / "ae" / name).read_bytes(),
            filename=name,
            url=f"https://www.england.nhs.uk/{name}",
            trigger=trigger,
            published_at=datetime(
                published.year, published.month, published.day, 8, 30, tzinfo=UTC
            ),
        ),
        ae.parse,
    )
    assert r.status == "ingested" and r.publication_id
    return r.publication_id


def events(ctx: Context) -> int:
    with session_scope(ctx.engine) as s:
        return s.exec(select(func.count()).select_from(AlertEvent)).one()


def test_seeded_history_opens_alerts_quietly_and_twice_changes_nothing(ctx: Context) -> None:
    pubs = [ingest(ctx, f, d) for f, d in FILES]
    first = evaluate_db(ctx, publications=pubs)
    assert first.events_written > 0
    rcx = {a["rule"]: a for a in list_alerts(ctx, org="RCX")}
    assert rcx["ae_type1_below_60"]["state"] == "firing"
    assert round(rcx["ae_type1_below_60"]["value"], 1) == 52.1
    assert rcx["ae_type1_below_60"]["period_start"] == "2025-07-01"
    with session_scope(ctx.engine) as s:
        assert not s.exec(select(AlertEvent).where(AlertEvent.notify == True)).all()  # noqa: E712
    before = events(ctx)
    second = evaluate_db(ctx, publications=pubs)
    assert (second.events_written, events(ctx)) == (0, before)


def test_the_evidence_explains_the_breach(ctx: Context) -> None:
    for f, d in FILES:
        ingest(ctx, f, d)
    evaluate_db(ctx)
    with session_scope(ctx.engine) as s:
        alert = s.exec(
            select(Alert).where(Alert.rule == "ae_type1_below_60", Alert.org == "RCX")
        ).one()
        event = s.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id)).first()
        assert event is not None
        ev = event.evidence
    assert ev["org_name"] == "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    assert (ev["threshold"], ev["direction"], ev["region"], ev["region_name"]) == (
        60.0,
        "higher",
        "Y61",
        "East of England",
    )
    assert ev["period_label"] == "July 2025" and round(ev["value"], 1) == 52.1
    assert 60 < ev["england"] < 65 and 60 < ev["region_value"] < 70
    assert [round(x["value"], 1) for x in ev["last12"]][-1] == 52.1
    assert ev["publication_url"].endswith("July-2025-CSV-9jfy4.csv")
    assert ev["rule_version"] and ev["why"]
    # Every key of the one evidence type (docs/evidence.md), and the comparison the emails'
    # "7.9 percentage points below the threshold" needs.
    assert list(ev) == stored_keys() and ev["comparison"] == "below"
    assert ev["publication_title"] and ev["published_at"]


def test_a_live_publication_is_emailed_and_only_its_pairs_are_touched(ctx: Context) -> None:
    for f, d in FILES[:-1]:
        ingest(ctx, f, d)
    evaluate_db(ctx)
    july = ingest(ctx, *FILES[-1], trigger="poll")  # after the source's first ingest: live
    run = evaluate_db(ctx, publications=[july])
    live = [e for p in run.plans for e in p.events if e.notify]
    assert live, "a new month's breaches are emailed"
    assert all(e.publication_id == july for e in live)


def test_replaying_an_earlier_day_sees_only_what_was_published_then(ctx: Context) -> None:
    for f, d in FILES:
        ingest(ctx, f, d)
    run = evaluate_db(ctx, as_of=date(2025, 7, 20))
    assert run.dry_run and run.events_written == 0
    rcx = {(p.rule, p.org): p for p in run.plans if p.org == "RCX"}
    assert rcx[("ae_type1_below_60", "RCX")].changes[-1].period_start == date(2025, 6, 1)
    assert list_alerts(ctx) == []  # a replay writes nothing


def test_a_dry_run_writes_nothing(ctx: Context) -> None:
    for f, d in FILES:
        ingest(ctx, f, d)
    run = evaluate_db(ctx, dry_run=True)
    assert run.plans and events(ctx) == 0 and list_alerts(ctx, state="all") == []


def test_after_one_publication_only_its_pairs_are_evaluated(ctx: Context) -> None:
    for f, d in FILES[:-1]:
        ingest(ctx, f, d)
    amb = ingest_file(
        ctx.engine,
        FileInput(
            source="ambulance",
            data=(REAL / "ambulance" / "ambsys.csv").read_bytes(),
            filename="ambsys.csv",
            url="https://www.england.nhs.uk/ambsys.csv",
            trigger="seed",
            published_at=datetime(2026, 5, 14, 8, 30, tzinfo=UTC),
        ),
        ambulance.parse,
    )
    assert amb.status == "ingested"
    everything = evaluate_db(ctx)
    july = ingest(ctx, *FILES[-1], trigger="poll")
    with session_scope(ctx.engine) as s:
        brought = affected_pairs(s, [july])
    # A fresh full evaluation, as a dry run, is what the affected-only one must agree with.
    full = evaluate_db(ctx, publications=[july], dry_run=True)
    run = evaluate_db(ctx, publications=[july], only_affected=True)
    assert run.touched <= brought and run.touched < full.touched
    assert any(m.startswith("amb_") for m, _ in full.touched)  # the rest of the data
    assert len(run.touched) < len(everything.touched)
    assert {m for m, _ in run.touched} == {"ae_4hr_pct", "ae_4hr_type1_pct", "ae_12hr_dta_count"}

    def events(r: object) -> set[tuple[str, str, str]]:
        return {(p.rule, p.org, e.kind) for p in r.plans for e in p.events}  # type: ignore[attr-defined]

    assert events(run) == events(full)

    # Reading only the metrics the new figures' rules need changes no event and no evidence.
    def rows(r: object) -> dict[tuple[str, str, str], object]:
        return {
            (p.rule, p.org, e.kind): (row, build(e).as_json())
            for p in r.plans  # type: ignore[attr-defined]
            for row, e in zip(p.as_json(), p.events, strict=True)
        }

    assert rows(run) == rows(full)
