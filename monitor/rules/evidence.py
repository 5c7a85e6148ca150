"""Alert evidence: everything an event knew when it happened, as one type (docs/evidence.md).

:func:`build` is the one place evidence is made, when the lifecycle's events are written
(rules/store.py): from the finding (the rule, the figures, the trend, England and the region),
the planned event (episode, persistence, revision, supersession) and the names the database
adds (the organisation, the publication). It is stored as JSON in ``AlertEvent.evidence``
(:meth:`Evidence.as_json`) and read back by the emails and the status page through
:meth:`Evidence.from_json`, so every reader sees the same keys, typed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from monitor import orgs as orgs_ref
from monitor import periods
from monitor.rules import conditions as cond
from monitor.rules import explain as wording
from monitor.rules import plainjson
from monitor.rules.findings import LAST_N, PART_STATES, Finding
from monitor.rules.model import SpcRule, ThresholdRule
from monitor.rules.peers import words as peer_words
from monitor.rules.plans import PlannedEvent
from monitor.rules.spcrule import chart_of
from monitor.spc.reading import assurance_text, variation_text
from monitor.spc.window import CHART_PERIODS


@dataclass(frozen=True, kw_only=True, slots=True)
class TrendValue:
    """One period of ``last12``."""

    period_start: date
    value: float | None
    label: str | None = None  # the figure's words (a rating, a segment, a flag)


@dataclass(frozen=True, kw_only=True, slots=True)
class Part:
    """One rule a combined rule (``all_of``, ``any_of``) combines, at the period evaluated."""

    rule: str
    rule_title: str = ""
    kind: str = ""
    state: str = ""  # firing, not firing, or no figure (nothing published for the period)
    metric: str | None = None
    metric_title: str = ""
    unit: str | None = None
    period_start: date | None = None
    value: float | None = None
    label: str | None = None
    threshold: float | None = None  # the level in force (a trend rule: the figure before)
    comparison: str | None = None
    publication_url: str | None = None
    publication_title: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Evidence:
    """What one alert event knew. Every field is a key of the stored JSON (docs/evidence.md).

    Fields a rule kind does not have are None (ratings for a threshold rule, say).
    """

    # The rule.
    rule: str = ""
    rule_title: str = ""
    why: str = ""
    severity: str = ""
    rule_version: str = ""
    kind: str = ""
    # What is measured.
    metric: str | None = None
    metric_title: str = ""
    unit: str | None = None
    direction: str | None = None
    comparison: str | None = None
    granularity: str = ""  # month, quarter or point: how the periods are named
    # Where.
    org: str = ""
    org_name: str = ""
    region: str | None = None
    region_name: str | None = None
    # The period evaluated and its figure.
    state: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    period_label: str = ""
    value: float | None = None
    label: str | None = None
    inferred_from: str | None = None
    numerator: float | None = None
    denominator: float | None = None
    counted: str = ""  # what numerator and denominator count: "attendances"
    threshold: float | None = None
    clear: float | None = None
    threshold_source: str | None = None
    england: float | None = None
    region_value: float | None = None
    last12: tuple[TrendValue, ...] = ()
    # Persistence.
    consecutive_periods: int = 0
    first_period: date | None = None
    last_breach_period: date | None = None
    episode_periods: int = 0
    episode_span: int = 0
    episode: str | None = None
    previous_episodes: int = 0
    previous_episode_end: date | None = None
    revised: bool = False
    superseded_by: str | None = None
    # Where the figure was published.
    publication_id: int | None = None
    publication_url: str | None = None
    publication_title: str | None = None
    published_at: datetime | None = None
    evaluated_on: date | None = None
    # CQC ratings (rating rules).
    subject: str | None = None
    subject_type: str | None = None
    service: str | None = None
    domain: str | None = None
    inherited: bool | None = None
    report_date: date | None = None
    # A figure missing for a period others have (stale rules, mode "missing").
    last_figure_period: date | None = None
    missing_periods: int | None = None
    # A publisher late against its calendar (stale rules, mode "late").
    publisher: str | None = None
    expected_next: date | None = None
    grace_days: int | None = None
    latest_period: date | None = None
    days_late: int | None = None
    # Combined rules (all_of, any_of): each part's state ("firing", "not firing", "no
    # figure"), and each part's figure and publication.
    components: dict[str, str] | None = None
    parts: tuple[Part, ...] = ()
    # Peer position: the figure's rank among the trusts of the same type nationally for the
    # same metric and period (1 = best), and it in words.
    peer_rank: int | None = None
    peer_count: int | None = None
    peer_type: str | None = None
    peer_worst_percent: float | None = None
    peer_position: str = ""
    # Making Data Count (spc rules): the dot of the period on the series' XmR chart.
    spc_mean: float | None = None
    spc_lpl: float | None = None
    spc_upl: float | None = None
    spc_target: float | None = None
    spc_special_cause: str | None = None  # NHSRplotthedots' words: "7 Points Below CL"
    spc_variation: str | None = None  # the point type: special_cause_concern, common_cause ...
    spc_assurance: str | None = None  # consistent_pass, consistent_fail, inconsistent
    spc_variation_text: str = ""  # the variation icon in words
    spc_assurance_text: str = ""  # the assurance icon in words
    spc_points: int | None = None  # figures on the chart
    spc_reason: str | None = None  # why there is no chart: "too few points"

    def as_json(self) -> dict[str, Any]:
        """The JSON stored in ``AlertEvent.evidence``: dates as ISO strings."""
        return dict(plainjson.to_json(self))

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Evidence:
        """Stored evidence read back; keys it lacks take their defaults, unknown keys are
        ignored (an operator's acknowledgement copies the evidence it was given)."""
        return plainjson.read(cls, data or {}, nested=(TrendValue, Part))

    def explain(self, kind: str = "") -> wording.Explanation:
        """The evidence in words, as emails and the alert page write it (rules/explain.py);
        ``kind`` is the event's (fired, resolved ...)."""
        return wording.explain(self, kind)


def stored_keys() -> list[str]:
    """Every key of the stored evidence, in the type's order."""
    return [f.name for f in dataclasses.fields(Evidence)]


def part_keys() -> list[str]:
    """Every key of an item of ``parts`` (combined rules)."""
    return [f.name for f in dataclasses.fields(Part)]


@dataclass(frozen=True, kw_only=True, slots=True)
class Published:
    """A publication as the evidence names it."""

    url: str | None = None
    title: str | None = None  # the link text of the file, else its file name
    published_at: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Names:
    """What the database and the clock add to an event's evidence: the organisation, the
    publications it cites and the day it was evaluated."""

    org_name: str | None = None
    org_region: str | None = None  # the organisation's region, when the finding has none
    publication_url: str | None = None
    publication_title: str | None = None
    published_at: datetime | None = None
    # The publications of a combined rule's parts, by id.
    publications: Mapping[int, Published] = dataclasses.field(default_factory=dict)
    evaluated_on: date | None = None


def cited(event: PlannedEvent) -> set[int]:
    """Every publication an event's evidence names: its own and its parts' (combined rules)."""
    f = event.finding
    ids = {event.publication_id} if event.publication_id else set()
    return ids | {
        p.publication_id for p in f.parts_at(event.period_start) if p and p.publication_id
    }


def build(event: PlannedEvent, names: Names | None = None) -> Evidence:
    """The evidence of a planned event: its finding at the event's period, and the event's
    facts (persistence, episode, revision, supersession)."""
    names = names or Names()
    f = event.finding
    i = f.index(event.period_start)
    i = len(f.periods) - 1 if i is None else i
    return Evidence(
        **_rule_facts(f),
        **_figure_facts(f, i, names),
        **_persistence_facts(event, f),
        publication_id=event.publication_id,
        publication_url=names.publication_url,
        publication_title=names.publication_title,
        published_at=names.published_at,
        evaluated_on=names.evaluated_on,
        **_rating_facts(f, i),
        **_kind_facts(f, i, names),
        **_peer_facts(f, i),
        **_spc_facts(f, i),
    )


def _peer_facts(f: Finding, i: int) -> dict[str, Any]:
    """The figure's rank among the trusts of the same type for the same period."""
    metric = f.rule.catalogue
    if f.peers is None or metric is None or f.rule.kind == "stale":
        return {}
    pos = f.peers.position(metric, f.trust_type, f.periods[i], f.values[i])
    if pos is None:
        return {}
    return {
        "peer_rank": pos.rank,
        "peer_count": pos.of,
        "peer_type": pos.trust_type,
        "peer_worst_percent": round(pos.worst_percent, 1),
        "peer_position": peer_words(pos.rank, pos.of, pos.trust_type),
    }


BEFORE_CHART = f"before the last {CHART_PERIODS} periods a chart shows"


def _spc_facts(f: Finding, i: int) -> dict[str, Any]:
    """The period's dot on the series' Making Data Count chart (spc rules)."""
    metric = f.rule.catalogue
    if not isinstance(f.rule, SpcRule) or metric is None or f.series is None:
        return {}
    chart = chart_of(metric, f.series)
    if chart.reason is not None:
        return {"spc_reason": chart.reason, "spc_points": len(chart.values)}
    i -= len(f.series.values) - len(chart.values)  # the period's dot on the chart shown
    if i < 0:
        return {"spc_reason": BEFORE_CHART, "spc_points": len(chart.values)}
    lim = chart.segments[chart.segment_of[i]]
    kind, cause = chart.point_types[i], chart.special_causes[i]
    target = periods.threshold(chart.target, metric.unit)
    return {
        "spc_mean": lim.mean,
        "spc_lpl": lim.lpl,
        "spc_upl": lim.upl,
        "spc_target": chart.target,
        "spc_special_cause": str(cause),
        "spc_variation": str(kind),
        "spc_assurance": None if chart.assurance is None else str(chart.assurance),
        "spc_variation_text": variation_text(kind, cause),
        "spc_assurance_text": assurance_text(chart.assurance, target) or "",
        "spc_points": len(chart.values),
    }


def _rule_facts(f: Finding) -> dict[str, Any]:
    """The rule and what it measures."""
    rule, metric = f.rule, f.rule.catalogue
    titles = dict.fromkeys(p.rule.catalogue.title for p in f.parts if p.rule.catalogue)
    return {
        "rule": rule.id,
        "rule_title": rule.title,
        "why": rule.why,
        "severity": rule.severity,
        "rule_version": rule.version,
        "kind": rule.kind,
        "metric": rule.metric,
        "metric_title": metric.title if metric else ("; ".join(titles) or rule.metric or ""),
        "unit": metric.unit if metric else None,
        "direction": metric.direction.value if metric else None,
        "comparison": rule.when if isinstance(rule, ThresholdRule) else None,
        "granularity": str(f.granularity),
        "counted": metric.counted if metric else "",
    }


def _figure_facts(f: Finding, i: int, names: Names) -> dict[str, Any]:
    """Period ``i``: where, when, the figure, its level, England and the region."""
    point = f.points[i] if f.points else None
    start = f.periods[i]
    threshold, clear = f.threshold_at(i)
    region, region_value = _region(f, start)
    region = region or names.org_region
    rating = f.ratings[i] if f.ratings else None
    return {
        "org": f.org,
        "org_name": names.org_name or f.org,
        "region": region,
        "region_name": orgs_ref.REGIONS.get(region or ""),
        "state": f.state_names()[i],
        "period_start": start,
        "period_end": point.period_end if point else None,
        "period_label": periods.period_label(start, f.granularity),
        "value": f.values[i],
        "label": rating.rating if rating else (point.label if point else None),
        "inferred_from": point.inferred_from if point else None,
        "numerator": point.numerator if point else None,
        "denominator": point.denominator if point else None,
        "threshold": threshold,
        "clear": clear,
        "threshold_source": _threshold_source(f, start),
        "england": _england(f, start),
        "region_value": region_value,
        "last12": _last12(f, i),
    }


def _persistence_facts(event: PlannedEvent, f: Finding) -> dict[str, Any]:
    """How long the episode has lasted, and the episodes before it."""
    p = event.persistence
    earlier = [e for e in f.episodes() if event.first_period is None or e.last < event.first_period]
    return {
        "consecutive_periods": event.consecutive_periods,
        "first_period": event.first_period,
        "last_breach_period": p.last if p else None,
        "episode_periods": p.periods if p else 0,
        "episode_span": p.span if p else 0,
        "episode": event.episode,
        "previous_episodes": len(earlier),
        "previous_episode_end": earlier[-1].last if earlier else None,
        "revised": event.revised,
        "superseded_by": event.superseded_by,
    }


def _rating_facts(f: Finding, i: int) -> dict[str, Any]:
    rating = f.ratings[i] if f.ratings else None
    if rating is None:
        return {}
    return {
        "subject": rating.subject,
        "subject_type": rating.subject_type,
        "service": rating.service,
        "domain": rating.domain,
        "inherited": rating.inherited,
        "report_date": rating.report_date,
    }


def _kind_facts(f: Finding, i: int, names: Names) -> dict[str, Any]:
    """What only stale and combined rules find."""
    extra = f.extra or {}
    out: dict[str, Any] = {
        k: extra.get(k)
        for k in (
            "last_figure_period",
            "missing_periods",
            "publisher",
            "expected_next",
            "grace_days",
            "latest_period",
            "days_late",
        )
    }
    if "components" in extra:
        out["components"] = dict(extra["components"])
        out["parts"] = _parts(f, f.periods[i], names)
    return out


def _parts(f: Finding, start: date, names: Names) -> tuple[Part, ...]:
    """Each combined part at the period starting ``start``: its state, figure and source."""
    out = []
    for part, point in zip(f.parts, f.parts_at(start), strict=True):
        k = part.index(start)
        metric = part.rule.catalogue
        pub = names.publications.get(point.publication_id or 0) if point else None
        out.append(
            Part(
                rule=part.rule.id,
                rule_title=part.rule.title,
                kind=part.rule.kind,
                state=PART_STATES[part.firing_at(start)],
                metric=part.rule.metric,
                metric_title=metric.title if metric else "",
                unit=metric.unit if metric else None,
                period_start=start if k is not None else None,
                value=point.value if point else None,
                label=point.label if point else None,
                threshold=part.threshold_at(k)[0] if k is not None else None,
                comparison=part.rule.when if isinstance(part.rule, ThresholdRule) else None,
                publication_url=pub.url if pub else None,
                publication_title=pub.title if pub else None,
                published_at=pub.published_at if pub else None,
            )
        )
    return tuple(out)


def _last12(f: Finding, i: int) -> tuple[TrendValue, ...]:
    """Up to 12 periods ending with period ``i``, oldest first: every period of the metric,
    with no figure (None) where none was published; for dated points, the last 12 points."""
    if not f.points and not f.ratings:
        return ()  # no figures of its own: a combined rule (see ``parts``), a late publisher
    step = cond.months_of(f.granularity)
    figures = [
        TrendValue(period_start=p, value=v, label=_label(f, k))
        for k, (p, v) in enumerate(zip(f.periods[: i + 1], f.values[: i + 1], strict=True))
    ]
    if not step:
        return tuple(figures[-LAST_N:])
    by_start = {t.period_start: t for t in figures}
    end, first = f.periods[i], f.periods[0]
    starts = [cond.shift_months(end, -step * k) for k in range(LAST_N - 1, -1, -1)]
    return tuple(
        by_start.get(p) or TrendValue(period_start=p, value=None) for p in starts if p >= first
    )


def _label(f: Finding, k: int) -> str | None:
    """The words of period ``k``'s figure, where it has them."""
    if f.ratings:
        return f.ratings[k].rating
    point = f.points[k] if f.points else None
    return point.label if point else None


def _threshold_source(f: Finding, start: date) -> str | None:
    """Where the level in force comes from (threshold rules): the level's source, else the
    rule's."""
    rule = f.rule
    if not isinstance(rule, ThresholdRule):
        return None
    level = cond.threshold_at(rule, start)[0]
    sources = [lv.source for lv in rule.effective_levels() if lv.value == level]
    return sources[-1] if sources else rule.source


def _england(f: Finding, start: date) -> float | None:
    if f.history is None or f.rule.metric is None:
        return None
    eng = f.history.series(f.rule.metric, orgs_ref.ENGLAND)
    return eng.value_at(start) if eng else None


def _region(f: Finding, start: date) -> tuple[str | None, float | None]:
    """(the finding's region, the region's figure for the same period)."""
    if f.history is None or f.rule.metric is None or not f.region:
        return None, None
    s = f.history.series(f.rule.metric, f.region)
    return f.region, s.value_at(start) if s else None
