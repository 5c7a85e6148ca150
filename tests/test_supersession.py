"""The current figure is the latest by the publisher's date, whatever the order of ingest; an
older publication ingested after its revision changes no figure and no alert."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Observation
from monitor.service import jobs
from monitor.sources.files import ingest_paths
from tests.conftest import REAL, ROOT

JULY = REAL / "ae" / "July-2025-CSV-9jfy4.csv"
OVER_T1 = "Attendances over 4hrs Type 1"
FIRST = datetime(2025, 8, 14, 8, 30, tzinfo=UTC)
REVISED = datetime(2025, 9, 11, 8, 30, tzinfo=UTC)
RULE = "ae_type1_below_60"


def revised_july() -> bytes:
    """July with King's Lynn's type-1 waits over 4 hours cut by 1,500 (its TOTAL row too): the
    type-1 figure rises from 52.1% to over 60%."""
    text = JULY.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]]
    col, code = header.index(OVER_T1), header.index("Org Code")
    for r in rows[1:]:
        if r[code].strip().upper() in ("RCX", "TOTAL"):
            r[col] = str(int(r[col]) - 1500)
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode()


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text(f'[paths]\nvar = "var"\nrules = "{ROOT / "rules"}"\n')
    return Context(config.load(p), engine)


def ingest(ctx: Context, data: bytes, name: str, published: datetime) -> int:
    f = ctx.var.parent / name
    f.write_bytes(data)
    [r] = ingest_paths(ctx, "ae", [f], published_at=published)
    assert r.status == "ingested", r.error
    assert r.publication_id is not None
    jobs.evaluate(ctx, publications=[r.publication_id])
    return r.publication_id


def current_rcx(ctx: Context) -> float:
    with session_scope(ctx.engine) as s:
        [value] = s.exec(
            select(Observation.value).where(
                Observation.org == "RCX",
                Observation.metric == "ae_4hr_type1_pct",
                col(Observation.superseded_by).is_(None),
            )
        ).all()
        return value


def rcx_alerts(ctx: Context) -> list[tuple[str, str]]:
    with session_scope(ctx.engine) as s:
        q = select(Alert).where(Alert.org == "RCX", Alert.rule == RULE).order_by(Alert.id)
        return [(a.state, str(a.period_start)) for a in s.exec(q)]


def event_count(ctx: Context) -> int:
    with session_scope(ctx.engine) as s:
        return len(s.exec(select(AlertEvent.id)).all())


def test_an_older_file_ingested_after_its_revision_changes_nothing(ctx: Context) -> None:
    ingest(ctx, revised_july(), "July-2025-revised.csv", REVISED)
    revised = current_rcx(ctx)
    assert revised > 60
    assert rcx_alerts(ctx) == []
    events = event_count(ctx)
    # The first July file, fetched late (a back-fill walking the years), published before.
    ingest(ctx, JULY.read_bytes(), JULY.name, FIRST)
    assert current_rcx(ctx) == revised
    assert rcx_alerts(ctx) == [] and event_count(ctx) == events
    with session_scope(ctx.engine) as s:
        versions = s.exec(
            select(Observation.value, Observation.superseded_by).where(
                Observation.org == "RCX", Observation.metric == "ae_4hr_type1_pct"
            )
        ).all()
        # Both versions are kept; the older one is history from the start.
        assert sorted(round(v, 1) for v, _ in versions) == [52.1, round(revised, 1)]
        assert sum(sup is None for _, sup in versions) == 1


def test_a_withdrawn_alert_does_not_fire_again_when_the_old_figures_arrive_again(
    ctx: Context,
) -> None:
    ingest(ctx, JULY.read_bytes(), JULY.name, FIRST)
    assert current_rcx(ctx) == pytest.approx(52.1, abs=0.05)
    [(state, _)] = rcx_alerts(ctx)
    assert state == "firing"
    ingest(ctx, revised_july(), "July-2025-revised.csv", REVISED)
    after_revision = rcx_alerts(ctx)
    assert [s for s, _ in after_revision] != ["firing"]
    events = event_count(ctx)
    # The original figures again, in another copy of the first file (other bytes: a blank line).
    again = JULY.read_bytes() + b"\n"
    ingest(ctx, again, "July-2025-CSV-copy.csv", FIRST)
    assert current_rcx(ctx) > 60
    assert rcx_alerts(ctx) == after_revision and event_count(ctx) == events
