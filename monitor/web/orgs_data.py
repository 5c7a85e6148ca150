"""Read a trust's figures, ratings and latest Oversight Framework figures (the league tables and
full league positions are monitor/web/league_data.py's)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor import metrics, orgs
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Observation, Organisation, Rating

log = logging.getLogger(__name__)

CHART_PERIODS = 24
CHART_UNITS = ("%", "count", "seconds", "score")
LEAGUE_METRICS = ("nof_segment", "nof_rank", "nof_average_score")


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
    thresholds: list[tuple[str, float]] = field(default_factory=list)  # (rule, level)


def _current(q: Any) -> Any:
    return q.where(col(Observation.superseded_by).is_(None))


def series(engine: Engine, code: str, rules_dir: Any = None) -> list[Series]:
    """Chartable metrics of an organisation: the last 24 periods, England's figure, thresholds."""
    with session_scope(engine) as s:
        obs = list(
            s.execute(
                _current(select(Observation))
                .where(col(Observation.org) == code)
                .order_by(col(Observation.metric), col(Observation.period_start))
            ).scalars()
        )
        by_metric: dict[str, list[Observation]] = {}
        for o in obs:
            m = metrics.METRICS.get(o.metric)
            if m is not None and m.unit in CHART_UNITS:
                by_metric.setdefault(o.metric, []).append(o)
        for mid in by_metric:
            by_metric[mid] = by_metric[mid][-CHART_PERIODS:]
        england: dict[str, dict[date, float]] = {}
        if by_metric and code != orgs.ENGLAND:
            since = min(v[0].period_start for v in by_metric.values())
            q = _current(select(Observation)).where(
                col(Observation.org) == orgs.ENGLAND,
                col(Observation.metric).in_(by_metric),
                col(Observation.period_start) >= since,
            )
            for o in s.execute(q).scalars():
                england.setdefault(o.metric, {})[o.period_start] = o.value
        thresholds = _thresholds(s, code, list(by_metric))
    if by_metric:
        for mid, rules in _rule_file_thresholds(rules_dir, list(by_metric)).items():
            known = {r for r, _ in thresholds.get(mid, [])}
            thresholds.setdefault(mid, []).extend(x for x in rules if x[0] not in known)
    out = []
    for mid, points in by_metric.items():
        if len(points) < 2:
            continue  # one figure is no trend: the page states it instead
        m = metrics.METRICS[mid]
        out.append(
            Series(
                metric=mid,
                title=m.title,
                unit=m.unit,
                direction=m.direction.value,
                granularity=m.granularity.value,
                points=[(o.period_start, o.value) for o in points],
                england=england.get(mid, {}),
                thresholds=sorted(thresholds.get(mid, [])),
            )
        )
    return out


def _thresholds(
    session: Any, code: str, metric_ids: list[str]
) -> dict[str, list[tuple[str, float]]]:
    """metric -> [(rule, threshold)] from the latest alert event of each rule on that metric.

    The organisation's own events win; otherwise the rule's latest threshold for any
    organisation (a rule usually applies one level to every trust).
    """
    if not metric_ids:
        return {}
    found: dict[tuple[str, str], float] = {}
    for own in (False, True):  # the organisation's own thresholds overwrite the general ones
        latest = (
            select(func.max(AlertEvent.id).label("id"))
            .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
            .where(col(Alert.metric).in_(metric_ids), col(AlertEvent.threshold).is_not(None))
            .group_by(col(Alert.metric), col(Alert.rule))
        )
        if own:
            latest = latest.where(col(Alert.org) == code)
        q = (
            select(col(Alert.metric), col(Alert.rule), col(AlertEvent.threshold))
            .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
            .where(col(AlertEvent.id).in_(latest.scalar_subquery()))
        )
        for metric_id, rule, threshold in session.execute(q):
            found[(metric_id, rule)] = threshold
    out: dict[str, list[tuple[str, float]]] = {}
    for (metric_id, rule), threshold in found.items():
        out.setdefault(metric_id, []).append((rule, threshold))
    return out


def _rule_file_thresholds(
    rules_dir: Any, metric_ids: list[str]
) -> dict[str, list[tuple[str, float]]]:
    """Thresholds from the rule files, when the rules engine is installed; else nothing.

    Alert events are the better source (they record the level in force); this fills in the
    line for a trust that has never breached.
    """
    if rules_dir is None:
        return {}
    from monitor.rules.conditions import threshold_at
    from monitor.rules.load import load_rules
    from monitor.rules.model import ThresholdRule

    today = date.today()
    out: dict[str, list[tuple[str, float]]] = {}
    for rule_id, rule in load_rules(rules_dir, today=today).rules.items():
        if isinstance(rule, ThresholdRule) and rule.metric in metric_ids:
            level, _clear = threshold_at(rule, today)  # the level in force now
            if level is not None:
                out.setdefault(str(rule.metric), []).append((rule_id, level))
    return out


def org_facts(engine: Engine, code: str) -> dict[str, Any] | None:
    """An organisation with its latest Oversight Framework position and CQC ratings."""
    with session_scope(engine) as s:
        org = s.get(Organisation, code)
        if org is None:
            return None
        league: dict[str, Observation] = {}
        for mid in LEAGUE_METRICS:
            o = s.execute(
                _current(select(Observation))
                .where(col(Observation.org) == code, col(Observation.metric) == mid)
                .order_by(col(Observation.period_start).desc())
                .limit(1)
            ).scalar_one_or_none()
            if o is not None:
                league[mid] = o
        ratings = list(
            s.execute(
                select(Rating)
                .where(
                    col(Rating.org) == code,
                    col(Rating.current).is_(True),
                    col(Rating.service) == "",
                )
                .order_by(col(Rating.subject_type).desc(), col(Rating.report_date).desc())
            ).scalars()
        )
    latest: dict[str, Rating] = {}
    for r in ratings:  # providers before locations, newest first: keep the first per domain
        latest.setdefault(r.domain, r)
    order = ["Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led"]
    return {
        "org": orgs.as_dict(org),
        "segment": league.get("nof_segment"),
        "rank": league.get("nof_rank"),
        "score": league.get("nof_average_score"),
        "ratings": sorted(
            latest.values(), key=lambda r: order.index(r.domain) if r.domain in order else 99
        ),
    }
