"""Realistic rows for the status page tests: The Queen Elizabeth Hospital, King's Lynn (RCX).

The A&E figures are NHS England's published type-1 four-hour figures for RCX and England,
computed from the monthly provider CSVs (../shared/data/real/ae: Monthly-AE-August-2024.csv
to July-2025-CSV-9jfy4.csv; type 1 plus booked type 1, as NHS England counts them):
(seen within 4 hours, attendances).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from monitor.db import session_scope
from monitor.models import (
    Alert,
    AlertEvent,
    Observation,
    Publication,
    Rating,
    SourceState,
)
from tests.alert_fixtures import stored

RCX_NAME = "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
RULE = "ae-type1-below-60"
RULE_TITLE = "A&E type 1: under 60% seen within 4 hours"

# month -> ((RCX within 4h, RCX attendances), (England within 4h, England attendances))
AE_TYPE1: dict[date, tuple[tuple[int, int], tuple[int, int]]] = {
    date(2024, 8, 1): ((4332, 6630), (825658, 1320157)),
    date(2024, 9, 1): ((3862, 6549), (815960, 1364482)),
    date(2024, 10, 1): ((4097, 6749), (844129, 1453242)),
    date(2024, 11, 1): ((3901, 6813), (813728, 1428050)),
    date(2024, 12, 1): ((3602, 7060), (796929, 1440311)),
    date(2025, 1, 1): ((3417, 6370), (784388, 1359026)),
    date(2025, 2, 1): ((3108, 6037), (741834, 1271336)),
    date(2025, 3, 1): ((3561, 6746), (883691, 1450686)),
    date(2025, 4, 1): ((3625, 6646), (835898, 1388299)),
    date(2025, 5, 1): ((3753, 6756), (889434, 1453036)),
    date(2025, 6, 1): ((3668, 6635), (881692, 1428563)),
    date(2025, 7, 1): ((3678, 7060), (926890, 1469050)),
}
JULY_URL = (
    "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2/2025/08/"
    "July-2025-CSV-9jfy4.csv"
)


def _month_end(d: date) -> date:
    nxt = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return nxt - timedelta(days=1)


def _second_thursday(year: int, month: int) -> datetime:
    d = date(year, month, 1)
    d += timedelta(days=(3 - d.weekday()) % 7 + 7)
    return datetime(d.year, d.month, d.day, 8, 30, tzinfo=UTC)  # 09:30 London in summer


def pct(within: int, total: int) -> float:
    return round(100 * within / total, 1)


def _run_below_60(last12: list[dict[str, Any]]) -> int:
    """The months below 60% in a row ending with the latest."""
    n = 0
    for p in reversed(last12):
        if p["value"] >= 60:
            break
        n += 1
    return n


def evidence(period: date, value: float, england: float, last12: list[dict[str, Any]]) -> dict:
    return stored(
        {
            "rule": RULE,
            "rule_title": RULE_TITLE,
            "why": "Fewer than 60% of type-1 A&E patients were seen within four hours.",
            "severity": "high",
            "rule_version": "3f2a9c",
            "metric": "ae_4hr_type1_pct",
            "metric_title": "A&E: seen within 4 hours (type 1)",
            "unit": "%",
            "direction": "higher",
            "org": "RCX",
            "org_name": RCX_NAME,
            "region": "Y61",
            "region_name": "East of England",
            "period_start": period.isoformat(),
            "period_end": _month_end(period).isoformat(),
            "period_label": f"{period:%B %Y}",
            "value": value,
            "threshold": 60.0,
            "threshold_source": "the monitor's severe-breach level for the 4-hour standard",
            "comparison": "below",
            "england": england,
            "region_value": None,
            "last12": last12,
            "consecutive_periods": _run_below_60(last12),
            "first_period": "2024-11-01",
            "episode": "persistent",
            "publication_url": JULY_URL,
            "publication_title": "Monthly A&E July 2025 (CSV, 27KB)",
            "published_at": "2025-08-14T08:30:00+00:00",
            "superseded_by": None,
        }
    )


def seed(engine: Engine, *, failing_source: bool = True) -> dict[str, int]:
    """Publications, RCX and England figures, two open alerts, a resolved one, sources."""
    ids: dict[str, int] = {}
    with session_scope(engine, write=True) as s:
        pubs: dict[date, Publication] = {}
        for month in AE_TYPE1:
            published = _second_thursday(month.year + (month.month == 12), month.month % 12 + 1)
            p = Publication(
                source="ae",
                url=JULY_URL
                if month == date(2025, 7, 1)
                else f"https://www.england.nhs.uk/statistics/ae-{month:%Y-%m}.csv",
                title=f"Monthly A&E {month:%B %Y} (CSV)",
                filename=f"Monthly-AE-{month:%B-%Y}.csv",
                sha256=f"{month:%Y%m}".ljust(64, "0"),
                published_at=published,
                fetched_at=published + timedelta(minutes=5),
                trigger="backfill",
                periods=[f"{month.isoformat()}/{_month_end(month).isoformat()}"],
            )
            s.add(p)
            pubs[month] = p
        oversight = Publication(
            source="oversight",
            url="https://www.england.nhs.uk/publication/nhs-oversight-framework-acute-trust-league-table/",
            title="NHS Oversight Framework acute trust league table Q1 2025/26",
            filename="acute-league-table.csv",
            sha256="b" * 64,
            published_at=datetime(2025, 9, 9, 9, 0, tzinfo=UTC),
        )
        s.add(oversight)
        s.flush()
        for month, ((r_in, r_all), (e_in, e_all)) in AE_TYPE1.items():
            for org, within, total in (("RCX", r_in, r_all), ("ENG", e_in, e_all)):
                s.add(
                    Observation(
                        org=org,
                        metric="ae_4hr_type1_pct",
                        period_start=month,
                        period_end=_month_end(month),
                        granularity="month",
                        value=pct(within, total),
                        numerator=within,
                        denominator=total,
                        publication_id=pubs[month].id or 0,
                    )
                )
        q1 = (date(2025, 4, 1), date(2025, 6, 30))
        for metric, value, label, denominator in (
            ("nof_segment", 4.0, "4", None),
            ("nof_rank", 133.0, None, 134.0),
            ("nof_average_score", 3.22, None, None),
        ):
            s.add(
                Observation(
                    org="RCX",
                    metric=metric,
                    period_start=q1[0],
                    period_end=q1[1],
                    granularity="quarter",
                    value=value,
                    label=label,
                    denominator=denominator,
                    publication_id=oversight.id or 0,
                )
            )
        # A second acute trust in the league table, ranked first.
        for metric, value, label, denominator in (
            ("nof_segment", 1.0, "1", None),
            ("nof_rank", 1.0, None, 134.0),
        ):
            s.add(
                Observation(
                    org="RGT",
                    metric=metric,
                    period_start=q1[0],
                    period_end=q1[1],
                    granularity="quarter",
                    value=value,
                    label=label,
                    denominator=denominator,
                    publication_id=oversight.id or 0,
                )
            )
        s.add(
            Rating(
                subject_type="provider",
                subject_id="RCX",
                subject_name=RCX_NAME,
                org="RCX",
                domain="Overall",
                rating="Requires improvement",
                ordinal=3,
                report_date=date(2024, 3, 1),
                report_link="http://www.cqc.org.uk/provider/RCX",
            )
        )
        last12 = [{"period_start": m.isoformat(), "value": pct(*v[0])} for m, v in AE_TYPE1.items()]
        july = date(2025, 7, 1)
        opened = datetime(2025, 1, 9, 8, 30, tzinfo=UTC)
        alert = Alert(
            rule=RULE,
            org="RCX",
            metric="ae_4hr_type1_pct",
            state="firing",
            severity="high",
            opened_at=opened,
            fired_at=opened,
            value=52.1,
            period_start=july,
            period_end=_month_end(july),
            first_period=date(2024, 11, 1),
            consecutive_periods=9,
            threshold=60.0,
            rule_version="3f2a9c",
        )
        s.add(alert)
        s.flush()
        assert alert.id is not None
        ids["alert"] = alert.id
        for kind, at, month in (
            ("fired", opened, date(2024, 12, 1)),
            ("updated", datetime(2025, 8, 14, 8, 40, tzinfo=UTC), july),
        ):
            value = pct(*AE_TYPE1[month][0])
            s.add(
                AlertEvent(
                    alert_id=alert.id,
                    kind=kind,
                    at=at,
                    period_start=month,
                    value=value,
                    threshold=60.0,
                    rule_version="3f2a9c",
                    publication_id=pubs[month].id,
                    evidence=evidence(
                        month,
                        value,
                        pct(*AE_TYPE1[month][1]),
                        [p for p in last12 if p["period_start"] <= month.isoformat()],
                    ),
                )
            )
        # Another region: University Hospitals of Leicester (RWE), Midlands.
        other = Alert(
            rule="cancer-62d-below-85",
            org="RWE",
            metric="cancer_62d_pct",
            state="firing",
            severity="critical",
            opened_at=datetime(2025, 6, 12, 8, 30, tzinfo=UTC),
            value=61.4,
            period_start=date(2025, 4, 1),
            period_end=date(2025, 4, 30),
            threshold=85.0,
        )
        resolved = Alert(
            rule="ae-type1-below-60",
            org="RCX",
            metric="ae_4hr_type1_pct",
            state="resolved",
            severity="high",
            opened_at=datetime(2024, 3, 14, 9, 30, tzinfo=UTC),
            ended_at=datetime(2024, 9, 12, 8, 30, tzinfo=UTC),
            value=65.3,
            period_start=date(2024, 8, 1),
            threshold=60.0,
        )
        s.add_all([other, resolved])
        s.flush()
        assert other.id is not None and resolved.id is not None
        ids["other"], ids["resolved"] = other.id, resolved.id
        now = datetime.now(UTC)
        s.add(
            SourceState(
                source="ae",
                last_poll_at=now - timedelta(minutes=20),
                last_success_at=now - timedelta(minutes=20),
                last_publication_id=pubs[july].id,
            )
        )
        if failing_source:
            s.add(
                SourceState(
                    source="cancer",
                    last_poll_at=now - timedelta(minutes=15),
                    last_success_at=now - timedelta(days=3),
                    failing_since=now - timedelta(days=2),
                    consecutive_failures=4,
                    last_error="HTTP 503 from https://www.england.nhs.uk/statistics/",
                )
            )
    return ids
