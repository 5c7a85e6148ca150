"""Pages cope with any stored value, on SQLite and PostgreSQL: figures of 1e16 and 1e17 (which
once hung /orgs/R1A and answered 500), infinities, negative waits and percentages beyond 100
render, marked, in a page of bounded size."""

from __future__ import annotations

import math
from datetime import date, timedelta
from xml.etree import ElementTree as ET

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine

from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Observation
from tests import alert_fixtures as af

BAD = [1e16, 1e17, math.inf, -math.inf, -5.0, 129.4, -1370.0]
MONTHS = [date(2024 + (i + 6) // 12, (i + 6) % 12 + 1, 1) for i in range(14)]


def month_end(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1) - timedelta(days=1)


@pytest.fixture
def bad_figures(engine: Engine, ids: dict[str, int]) -> int:
    """R1A's figures: seven ordinary months and one of each bad value; an alert citing 1e17."""
    pub = af.publication(engine)
    values = [61.0, 62.5, 60.1, 59.9, 63.0, 61.7, 60.4, *BAD]
    with session_scope(engine, write=True) as s:
        for metric in ("ae_4hr_type1_pct", "ae_12hr_dta_count", "amb_c1_mean_s"):
            for month, value in zip(MONTHS, values, strict=True):
                s.add(
                    Observation(
                        org="R1A",
                        metric=metric,
                        period_start=month,
                        period_end=month_end(month),
                        granularity="month",
                        value=value,
                        publication_id=pub,
                    )
                )
        alert = Alert(
            rule="ae_type1_below_60",
            org="R1A",
            metric="ae_4hr_type1_pct",
            state="firing",
            severity="high",
            value=1e17,
            threshold=60.0,
            period_start=MONTHS[-1],
        )
        s.add(alert)
        s.flush()
        ev = af.evidence("RCX", pub)
        # JSON holds no infinity (PostgreSQL refuses it), so the evidence has the finite ones.
        last12 = [
            {"period_start": m.isoformat(), "value": v}
            for m, v in zip(MONTHS, values, strict=True)
            if math.isfinite(v)
        ]
        ev.update(value=1e17, last12=last12[-12:])
        s.add(AlertEvent(alert_id=alert.id or 0, kind="fired", value=1e17, evidence=ev))
        return alert.id or 0


def test_a_trust_page_with_any_stored_value_renders(client: FlaskClient, bad_figures: int) -> None:
    r = client.get("/orgs/R1A")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert len(html) < 2_000_000
    charts = html.split('<svg class="monitor-chart"')[1:]
    assert len(charts) == 3
    for c in charts:
        svg = ET.fromstring('<svg class="monitor-chart"' + c.split("</svg>")[0] + "</svg>")
        # Seven figures cannot be real ones: marked at the edge, not drawn, not in the limits.
        marked = [e for e in svg.iter() if e.get("class") == "monitor-chart__off-scale"]
        assert len(marked) in (6, 7)  # a negative count or time is the seventh
    assert "1.00e+17 (a bad figure)" in html and "infinite (a bad figure)" in html
    assert "could not be drawn" in html


def test_an_alert_citing_a_huge_figure_renders(client: FlaskClient, bad_figures: int) -> None:
    r = client.get(f"/alerts/{bad_figures}")
    assert r.status_code == 200
    assert "1.00e+17 (a bad figure)" in r.get_data(as_text=True)
    assert client.get("/").status_code == 200
    assert client.get("/orgs?q=herefordshire").status_code == 200
