"""Read an organisation's series for its charts: the figures of each chartable metric over the
last CHART_PERIODS periods of the calendar, England's figures beside them, the metric's target
and the alert levels of the rules that watch it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor import metrics, orgs
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Observation
from monitor.rules.evidence import Evidence
from monitor.spc.window import window_since, window_start
from monitor.web.rulebook import rulebook

CHART_UNITS = ("%", "count", "seconds", "score")


@dataclass(frozen=True)
class Threshold:
    """A rule's alert level on a metric: the line a trust's figure breaches."""

    rule: str  # the rule's id, kept in the SVG's data attributes; readers see the title
    title: str
    level: float


@dataclass(kw_only=True)
class Series:
    """One metric of one organisation, oldest period first, with what to compare it to."""

    metric: str
    title: str
    unit: str
    direction: str
    granularity: str
    points: list[tuple[date, float]]
    england: dict[date, float] = field(default_factory=dict)
    thresholds: list[Threshold] = field(default_factory=list)
    target: float | None = None
    # A count charted as a percentage of its published denominator, so that trusts of any
    # size (and England) compare on one axis.
    as_rate: bool = False


def _current(q: Any) -> Any:
    return q.where(col(Observation.superseded_by).is_(None))


def _window(rows: list[Observation], granularity: str) -> list[Observation]:
    """The figures of the last CHART_PERIODS periods of the calendar, ending at the latest
    (the chart the ``spc`` rules judge too)."""
    return rows[window_start([o.period_start for o in rows], granularity) :]


def _rate(rows: list[Observation]) -> list[tuple[date, float]] | None:
    """A count as a percentage of its denominator, when every figure has one."""
    if not rows or any(not o.denominator for o in rows):
        return None
    return [(o.period_start, 100 * o.value / o.denominator) for o in rows if o.denominator]


def series(
    engine: Engine, code: str, rules_dir: Path | None = None, *, until: date | None = None
) -> list[Series]:
    """Chartable metrics of an organisation, each with at least two figures (of periods
    starting on or before ``until``, when given: a board pack's month)."""
    with session_scope(engine) as s:
        mine = [col(Observation.org) == code, col(Observation.superseded_by).is_(None)]
        if until is not None:
            mine.append(col(Observation.period_start) <= until)
        # Only the periods the charts show: the read does not grow with the years held.
        windows = []
        for mid, latest in s.execute(
            select(col(Observation.metric), func.max(Observation.period_start))
            .where(*mine)
            .group_by(col(Observation.metric))
        ):
            m = metrics.METRICS.get(mid)
            if m is None or m.unit not in CHART_UNITS:
                continue
            since = window_since(latest, m.granularity)
            metric_is = col(Observation.metric) == mid
            windows.append(
                metric_is
                if since is None
                else and_(metric_is, col(Observation.period_start) >= since)
            )
        by_metric: dict[str, list[Observation]] = {}
        if windows:
            q = select(Observation).where(*mine, or_(*windows))
            q = q.order_by(col(Observation.metric), col(Observation.period_start))
            for o in s.execute(q).scalars():
                by_metric.setdefault(o.metric, []).append(o)
        by_metric = {
            mid: _window(rows, metrics.METRICS[mid].granularity)
            for mid, rows in by_metric.items()
            if len(rows) >= 2  # one figure is no trend: the table of figures says it
        }
        england = _england(s, code, by_metric)
        thresholds = _event_thresholds(s, code, list(by_metric))
    book = rulebook(rules_dir)
    out = []
    for mid, rows in by_metric.items():
        m = metrics.METRICS[mid]
        known = {t.rule for t in thresholds.get(mid, [])}
        lines: dict[float, Threshold] = {}  # one line per level, the alerts' own first
        for t in thresholds.get(mid, []):
            if book.has_level(t.rule):
                lines.setdefault(
                    t.level, Threshold(t.rule, book.title(t.rule, t.title or None), t.level)
                )
        for rule, level in book.levels.get(mid, []):
            if rule not in known:
                lines.setdefault(level, Threshold(rule, book.title(rule), level))
        rate = _rate(rows) if m.unit == "count" else None
        eng = england.get(mid, [])
        eng_points = (_rate(eng) or []) if rate else [(o.period_start, o.value) for o in eng]
        out.append(
            Series(
                metric=mid,
                title=m.title,
                unit="%" if rate else m.unit,
                direction=m.direction.value,
                granularity=m.granularity.value,
                points=rate or [(o.period_start, o.value) for o in rows],
                england=dict(eng_points),
                thresholds=[] if rate else sorted(lines.values(), key=lambda t: (t.level, t.title)),
                target=None if rate or m.target is None else m.target.value,
                as_rate=bool(rate),
            )
        )
    return out


def _england(
    session: Any, code: str, by_metric: dict[str, list[Observation]]
) -> dict[str, list[Observation]]:
    """England's figures of the same metrics over the same periods."""
    if not by_metric or code == orgs.ENGLAND:
        return {}
    since = min(rows[0].period_start for rows in by_metric.values())
    q = (
        _current(select(Observation))
        .where(
            col(Observation.org) == orgs.ENGLAND,
            col(Observation.metric).in_(by_metric),
            col(Observation.period_start) >= since,
        )
        .order_by(col(Observation.period_start))
    )
    out: dict[str, list[Observation]] = {}
    for o in session.execute(q).scalars():
        out.setdefault(o.metric, []).append(o)
    return out


def _event_thresholds(session: Any, code: str, metric_ids: list[str]) -> dict[str, list[Threshold]]:
    """metric -> the level of each rule on it, from the rule's latest alert event.

    The organisation's own events win; otherwise the rule's latest level for any organisation
    (a rule usually applies one level to every trust). Events record the level in force, so
    they are the better source; the rule files fill in the lines of rules never breached.
    """
    if not metric_ids:
        return {}
    found: dict[tuple[str, str], Threshold] = {}
    for own in (False, True):  # the organisation's own levels overwrite the general ones
        latest = (
            select(func.max(AlertEvent.id).label("id"))
            .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
            .where(col(Alert.metric).in_(metric_ids), col(AlertEvent.threshold).is_not(None))
            .group_by(col(Alert.metric), col(Alert.rule))
        )
        if own:
            latest = latest.where(col(Alert.org) == code)
        q = (
            select(col(Alert.metric), col(Alert.rule), AlertEvent)
            .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
            .where(col(AlertEvent.id).in_(latest.scalar_subquery()))
        )
        for metric_id, rule, event in session.execute(q):
            title = Evidence.from_json(event.evidence).rule_title  # for a rule since removed
            found[(metric_id, rule)] = Threshold(rule, title, event.threshold)
    out: dict[str, list[Threshold]] = {}
    for (metric_id, _rule), t in found.items():
        out.setdefault(metric_id, []).append(t)
    return out
