"""Gather a trust's monthly board pack from the database: its league position, a Making Data
Count chart per measure with the summary matrix, CQC ratings, DSPT status, open alerts and
what changed since the previous month's pack.

A pack for a month holds the figures of periods starting on or before the month's last day
(the latest held, revisions applied), so the pack for August 2025 shows what a board could know
of the periods up to August. Every figure names its period and the publication it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from markupsafe import Markup
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor import metrics, orgs
from monitor.board.month import Month
from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Alert, Observation, Organisation, Publication, Rating, utcnow
from monitor.periods import metric_period
from monitor.sources import registry
from monitor.spc import Assurance, PointType
from monitor.web import alerts_data, league_data, series, spc_view
from monitor.web.charts import spc_chart

# The summary matrix, as Making Data Count lays it out: assurance down, variation across.
ASSURANCE_ROWS: tuple[tuple[str, str], ...] = (
    ("pass", "Consistently passing the target"),
    ("hit_and_miss", "Hit and miss: the target is within the limits"),
    ("fail", "Consistently failing the target"),
    ("none", "No target"),
)
VARIATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("improvement", "Special cause improvement"),
    ("common_cause", "Common cause"),
    ("concern", "Special cause concern"),
    ("neutral", "Special cause, neither better nor worse"),
)
_VARIATION = {
    PointType.IMPROVEMENT: "improvement",
    PointType.COMMON_CAUSE: "common_cause",
    PointType.CONCERN: "concern",
    PointType.NEUTRAL_HIGH: "neutral",
    PointType.NEUTRAL_LOW: "neutral",
}
_ASSURANCE = {
    Assurance.PASS: "pass",
    Assurance.INCONSISTENT: "hit_and_miss",
    Assurance.FAIL: "fail",
}
RATING_ORDER = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")


@dataclass(frozen=True)
class SourceRef:
    """Where a figure comes from: the publication, its publisher and the day it was published."""

    publisher: str
    title: str
    url: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, pub: Publication | None) -> SourceRef | None:
        if pub is None:
            return None
        name = registry.get(pub.source).title if pub.source in registry.NAMES else pub.source
        url = pub.url if pub.url.startswith(("http://", "https://")) else None
        return cls(name, pub.title or pub.filename, url, pub.published_at)


@dataclass(frozen=True)
class Figure:
    """One stored figure with its period and source."""

    metric: str
    value: float
    label: str | None
    numerator: float | None
    denominator: float | None
    period_start: Any
    period: str  # the period in words
    source: SourceRef | None


@dataclass
class Measure:
    """One measure of the pack: its chart, its latest figure and where it sits in the matrix."""

    view: spc_view.SpcView
    svg: Markup
    latest: Figure
    variation_key: str | None  # a VARIATION_COLUMNS key, None without limits
    assurance_key: str | None  # an ASSURANCE_ROWS key, None without limits

    @property
    def metric(self) -> str:
        return self.view.series.metric

    @property
    def title(self) -> str:
        return self.view.series.title


@dataclass
class BoardPack:
    """Everything a board pack shows, for one trust and one month."""

    org: dict[str, Any]
    month: Month
    produced_at: datetime
    measures: list[Measure]
    not_charted: list[str]  # measures with no figure up to the month, in words
    single: list[Figure]  # measures with one figure up to the month: no trend to chart
    position: league_data.TrustPosition | None
    ratings: list[tuple[Rating, SourceRef | None]]
    dspt: Figure | None
    alerts: list[dict[str, Any]]
    changes: list[str] = field(default_factory=list)
    predecessors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def matrix(self) -> dict[str, dict[str, list[Measure]]]:
        """assurance row -> variation column -> the measures in that cell."""
        out: dict[str, dict[str, list[Measure]]] = {
            a: {v: [] for v, _ in VARIATION_COLUMNS} for a, _ in ASSURANCE_ROWS
        }
        for m in self.measures:
            if m.variation_key is not None and m.assurance_key is not None:
                out[m.assurance_key][m.variation_key].append(m)
        return out

    @property
    def without_limits(self) -> list[Measure]:
        return [m for m in self.measures if m.variation_key is None]

    @property
    def columns(self) -> tuple[tuple[str, str], ...]:
        """The matrix's columns: the neutral one only when a measure sits in it."""
        used = {m.variation_key for m in self.measures}
        return tuple(c for c in VARIATION_COLUMNS if c[0] != "neutral" or "neutral" in used)


def _latest_figures(
    s: Any, code: str, metric_ids: list[str], month: Month
) -> dict[str, tuple[Observation, Publication]]:
    """metric -> its latest current figure of a period up to the month, with its publication."""
    if not metric_ids:
        return {}
    q = (
        select(Observation, Publication)
        .join(Publication, col(Publication.id) == col(Observation.publication_id))
        .where(
            col(Observation.org) == code,
            col(Observation.metric).in_(metric_ids),
            col(Observation.superseded_by).is_(None),
            col(Observation.period_start) <= month.end,
        )
        .order_by(col(Observation.period_start))
    )
    out: dict[str, tuple[Observation, Publication]] = {}
    for o, p in s.execute(q):
        out[o.metric] = (o, p)  # ordered by period: the last one wins
    return out


def _figure(o: Observation, p: Publication) -> Figure:
    return Figure(
        metric=o.metric,
        value=o.value,
        label=o.label,
        numerator=o.numerator,
        denominator=o.denominator,
        period_start=o.period_start,
        period=metric_period(o.period_start, o.metric),
        source=SourceRef.of(p),
    )


def _ratings(s: Any, code: str, month: Month) -> list[tuple[Rating, SourceRef | None]]:
    """The latest rating of each key question reported by the month's end (provider first)."""
    q = (
        select(Rating, Publication)
        .outerjoin(Publication, col(Publication.id) == col(Rating.publication_id))
        .where(
            col(Rating.org) == code,
            col(Rating.service) == "",
            col(Rating.report_date) <= month.end,
        )
        .order_by(col(Rating.subject_type).desc(), col(Rating.report_date).desc())
    )
    latest: dict[str, tuple[Rating, SourceRef | None]] = {}
    for r, p in s.execute(q):
        latest.setdefault(r.domain, (r, SourceRef.of(p)))
    return sorted(
        latest.values(),
        key=lambda rp: RATING_ORDER.index(rp[0].domain) if rp[0].domain in RATING_ORDER else 99,
    )


def _assurance_key(v: spc_view.SpcView) -> str | None:
    if not v.limits:
        return None
    return _ASSURANCE[v.assurance_kind] if v.assurance_kind is not None else "none"


def _open_alerts(engine: Engine, code: str, month: Month) -> list[dict[str, Any]]:
    """The trust's open alerts whose breach began in a period up to the month."""
    rows = alerts_data.org_alerts(engine, code)["open"]
    with session_scope(engine) as s:
        first = dict(
            s.execute(
                select(col(Alert.id), col(Alert.first_period)).where(
                    col(Alert.id).in_([r["id"] for r in rows])
                )
            ).all()
        )
    return [r for r in rows if (first.get(r["id"]) or month.start) <= month.end]


def build(engine: Engine, settings: Settings, code: str, month: Month) -> BoardPack | None:
    """The board pack of trust ``code`` for ``month``, or None for an unknown organisation."""
    code = code.strip().upper()
    with session_scope(engine) as s:
        org = s.get(Organisation, code)
        if org is None:
            return None
        facts = orgs.as_dict(org)
        held = {
            m
            for (m,) in s.execute(
                select(col(Observation.metric))
                .where(col(Observation.org) == code, col(Observation.superseded_by).is_(None))
                .distinct()
            )
        }
        predecessors = [orgs.as_dict(p) for p in orgs.predecessors(s, code)]
    views = [
        spc_view.view(x) for x in series.series(engine, code, settings.paths.rules, until=month.end)
    ]
    with session_scope(engine) as s:
        latest = _latest_figures(s, code, [v.series.metric for v in views], month)
        ratings = _ratings(s, code, month)
        dspt = _latest_figures(s, code, ["dspt_status"], month).get("dspt_status")
    measures = []
    for v in views:
        o, p = latest[v.series.metric]
        last = v.charted[-1] if v.charted else None
        measures.append(
            Measure(
                view=v,
                svg=spc_chart(v, org.name, f"chart-{v.series.metric}"),
                latest=_figure(o, p),
                variation_key=_VARIATION.get(last.point_type) if last and last.point_type else None,
                assurance_key=_assurance_key(v),
            )
        )
    rest = sorted(
        m
        for m in held - {x.metric for x in measures}
        if m in metrics.METRICS and metrics.METRICS[m].unit in series.CHART_UNITS
    )
    with session_scope(engine) as s:
        lone = _latest_figures(s, code, rest, month)
    not_charted = [metrics.METRICS[m].title for m in rest if m not in lone]
    open_alerts = _open_alerts(engine, code, month)
    return BoardPack(
        org=facts,
        month=month,
        produced_at=utcnow(),
        measures=measures,
        not_charted=not_charted,
        single=[_figure(*lone[m]) for m in rest if m in lone],
        position=league_data.position(engine, code, until=month.end),
        ratings=ratings,
        dspt=_figure(*dspt) if dspt else None,
        alerts=open_alerts,
        predecessors=predecessors,
    )
