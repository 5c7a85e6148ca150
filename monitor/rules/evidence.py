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
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from monitor import orgs as orgs_ref
from monitor import periods
from monitor.rules import conditions as cond
from monitor.rules.findings import LAST_N, Finding
from monitor.rules.lifecycle import PlannedEvent
from monitor.rules.model import ThresholdRule


@dataclass(frozen=True, kw_only=True, slots=True)
class TrendValue:
    """One period of ``last12``."""

    period_start: date
    value: float | None


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
    numerator: float | None = None
    denominator: float | None = None
    threshold: float | None = None
    clear: float | None = None
    threshold_source: str | None = None
    england: float | None = None
    region_value: float | None = None
    last12: tuple[TrendValue, ...] = ()
    # Persistence.
    consecutive_periods: int = 0
    first_period: date | None = None
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
    # Combined rules (all_of, any_of): each part's state, "firing" or "not firing".
    components: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        """The JSON stored in ``AlertEvent.evidence``: dates as ISO strings."""
        return {f.name: _to_json(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Evidence:
        """Stored evidence read back; keys it lacks take their defaults, unknown keys are
        ignored (an operator's acknowledgement copies the evidence it was given)."""
        data = data or {}
        kinds = _field_kinds()
        return cls(**{k: _from_json(kinds[k], v) for k, v in data.items() if k in kinds})


def stored_keys() -> list[str]:
    """Every key of the stored evidence, in the type's order."""
    return [f.name for f in dataclasses.fields(Evidence)]


def _to_json(v: Any) -> Any:
    if isinstance(v, date):  # datetimes too
        return v.isoformat()
    if isinstance(v, TrendValue):
        return {"period_start": v.period_start.isoformat(), "value": v.value}
    if isinstance(v, tuple):
        return [_to_json(x) for x in v]
    return v


_KINDS: dict[str, str] = {}


def _field_kinds() -> dict[str, str]:
    """Field name -> "date", "datetime", "trend" or "plain" (what reading it back needs)."""
    if not _KINDS:
        for name, hint in typing.get_type_hints(Evidence).items():
            args = set(typing.get_args(hint)) | {hint}
            if TrendValue in args:
                _KINDS[name] = "trend"
            elif datetime in args:
                _KINDS[name] = "datetime"
            elif date in args:
                _KINDS[name] = "date"
            else:
                _KINDS[name] = "plain"
    return _KINDS


def _from_json(kind: str, v: Any) -> Any:
    if kind == "trend":
        return tuple(
            TrendValue(
                period_start=date.fromisoformat(str(p["period_start"])[:10]), value=p["value"]
            )
            for p in v or ()
            if isinstance(p, Mapping) and p.get("period_start")
        )
    if not isinstance(v, str) or kind == "plain":
        return v
    return datetime.fromisoformat(v) if kind == "datetime" else date.fromisoformat(v[:10])


@dataclass(frozen=True, kw_only=True, slots=True)
class Names:
    """What the database adds to an event's evidence: the organisation and the publication."""

    org_name: str | None = None
    org_region: str | None = None  # the organisation's region, when the finding has none
    publication_url: str | None = None
    publication_title: str | None = None
    published_at: datetime | None = None


def build(event: PlannedEvent, names: Names | None = None) -> Evidence:
    """The evidence of a planned event: its finding's latest period, and the event's facts."""
    names = names or Names()
    f = event.finding
    rule, metric, point = f.rule, f.rule.catalogue, f.point
    threshold, clear = f.threshold_at(len(f.periods) - 1)
    region, region_value = _region(f)
    region = region or names.org_region
    rating = f.ratings[-1] if f.ratings else None
    episodes = f.episodes()
    earlier = [e for e in episodes if not (f.first >= 0 and e.first == f.first_period)]
    extra = f.extra or {}
    return Evidence(
        rule=rule.id,
        rule_title=rule.title,
        why=rule.why,
        severity=rule.severity,
        rule_version=rule.version,
        kind=rule.kind,
        metric=rule.metric,
        metric_title=metric.title if metric else (rule.metric or ""),
        unit=metric.unit if metric else None,
        direction=metric.direction.value if metric else None,
        comparison=rule.when if isinstance(rule, ThresholdRule) else None,
        org=f.org,
        org_name=names.org_name or f.org,
        region=region,
        region_name=orgs_ref.REGIONS.get(region or ""),
        state=f.state,
        period_start=f.period_start,
        period_end=point.period_end if point else None,
        period_label=periods.period_label(f.period_start, periods.granularity_of(rule.metric)),
        value=f.value,
        label=rating.rating if rating else (point.label if point else None),
        numerator=point.numerator if point else None,
        denominator=point.denominator if point else None,
        threshold=threshold,
        clear=clear,
        threshold_source=_threshold_source(f),
        england=_england(f),
        region_value=region_value,
        last12=tuple(
            TrendValue(period_start=p, value=v)
            for p, v in zip(f.periods[-LAST_N:], f.values[-LAST_N:], strict=True)
        ),
        consecutive_periods=event.consecutive_periods,
        first_period=event.first_period,
        episode=event.episode,
        previous_episodes=len(earlier),
        previous_episode_end=earlier[-1].last if earlier else None,
        revised=event.revised,
        superseded_by=event.superseded_by,
        publication_id=f.publication_id,
        publication_url=names.publication_url,
        publication_title=names.publication_title,
        published_at=names.published_at,
        subject=rating.subject if rating else None,
        subject_type=rating.subject_type if rating else None,
        service=rating.service if rating else None,
        domain=rating.domain if rating else None,
        inherited=rating.inherited if rating else None,
        report_date=rating.report_date if rating else None,
        last_figure_period=extra.get("last_figure_period"),
        missing_periods=extra.get("missing_periods"),
        publisher=extra.get("publisher"),
        expected_next=extra.get("expected_next"),
        grace_days=extra.get("grace_days"),
        latest_period=extra.get("latest_period"),
        days_late=extra.get("days_late"),
        components=dict(extra["components"]) if "components" in extra else None,
    )


def _threshold_source(f: Finding) -> str | None:
    """Where the level in force comes from (threshold rules): the level's source, else the
    rule's."""
    rule = f.rule
    if not isinstance(rule, ThresholdRule):
        return None
    level = cond.threshold_at(rule, f.period_start)[0]
    sources = [lv.source for lv in rule.effective_levels() if lv.value == level]
    return sources[-1] if sources else rule.source


def _england(f: Finding) -> float | None:
    if f.history is None or f.rule.metric is None:
        return None
    eng = f.history.series(f.rule.metric, orgs_ref.ENGLAND)
    return eng.value_at(f.period_start) if eng else None


def _region(f: Finding) -> tuple[str | None, float | None]:
    """(the finding's region, the region's figure for the same period)."""
    if f.history is None or f.rule.metric is None or not f.region:
        return None, None
    s = f.history.series(f.rule.metric, f.region)
    return f.region, s.value_at(f.period_start) if s else None
