"""Alert events as templates see them: formatted figures, trend, persistence, links.

Everything here is built from an event's evidence (docs/evidence.md, read through
:class:`monitor.rules.evidence.Evidence`), which is fixed when the event happens, so an email
rendered later still says what was known then. The sentences about the figure come from
monitor/rules/explain.py and figures and periods from monitor/periods.py, as on the status
page. Every field carries its help text;
tests/test_notify_templates.py checks the templates use every documented field and no
undocumented one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from monitor import periods
from monitor.models import Alert, AlertEvent
from monitor.rules import explain
from monitor.rules.conditions import breaches
from monitor.rules.evidence import Evidence, TrendValue
from monitor.urls import Urls
from monitor.vocab import MERGER_ACTOR, EventKind

SPARK = "▁▂▃▄▅▆▇█"
KIND_TEXT: dict[str, str] = {EventKind.FIRED: "New alert", EventKind.RESOLVED: "Resolved"}
WITHDRAWN_TEXT = "Withdrawn after a revision"
MERGED_TEXT = "Ended by a merger"


def doc(help: str) -> Any:
    """A dataclass field with its help text (no default: every field is always given)."""
    return field(metadata={"help": help})


@dataclass(frozen=True, kw_only=True)
class TrendPoint:
    """One period of the trend chart."""

    label: str = doc('the period, short: "Jul 2025", "Q1 2025/26"')
    value_text: str = doc('the figure formatted in its unit, or "not published"')
    bar_width: int = doc("bar length 0-100: the figure on an axis from 0 (100 for percentages)")
    breach: bool = doc("the figure breached the threshold in force now")
    current: bool = doc("this is the period the email is about")


@dataclass(frozen=True, kw_only=True)
class PartView:
    """One rule a combined rule (all_of, any_of) combines, at the period the email is about."""

    title: str = doc('the rule\'s title, e.g. "Finance: flagged as in financial deficit"')
    measure: str = doc('what it measures and when: "In financial deficit, Q4 2025/26"')
    figure: str = doc('its figure: "yes", "-1.2%", or "not published"')
    state: str = doc('"firing", "not firing" or "no figure" (nothing published that period)')
    condition: str = doc('when it is in breach: "worse than -0.2% the quarter before"; or ""')
    source: str = doc('the title of the publication of its figure, or ""')
    url: str = doc('where that publication was published, or ""')
    published: str = doc('the publisher\'s date of it, "11 June 2026", or ""')


@dataclass(frozen=True, kw_only=True)
class AlertView:
    """One alert event, ready to print."""

    alert_id: int = doc("the alert's id on the status page")
    kind: str = doc("fired, resolved or withdrawn (withdrawn: re-evaluated, no longer a breach)")
    kind_text: str = doc('"New alert", "Resolved", "Withdrawn after a revision" or "Withdrawn"')
    rule: str = doc("the rule's id (its file name)")
    rule_title: str = doc('the rule\'s title, e.g. "A&E type 1 below 60%"')
    why: str = doc("why it matters: the rule's own words")
    severity: str = doc("info, low, medium, high or critical")
    org_code: str = doc("ODS code of the organisation")
    org_name: str = doc("the organisation's name")
    region_name: str = doc('its region, e.g. "East of England" ("" when it has none)')
    metric_title: str = doc(
        "what is measured, from the metric catalogue (a combined rule: its parts')"
    )
    direction_text: str = doc('"higher is better" or "lower is better" ("" for a combined rule)')
    period_label: str = doc('the period evaluated, e.g. "July 2025", "Q3 2025/26"')
    value_text: str = doc('the figure: "52.1%", "9 min 5 s", "Inadequate", "both conditions met"')
    counts_text: str = doc('the counts behind it: "3,678 of 7,060 attendances"; or ""')
    condition_text: str = doc('when the rule is in breach: "below 60%; clears at 62%"; or ""')
    status_text: str = doc(
        'the figure against the threshold and the clear level: "60.8%: above the 60% '
        'threshold but not yet at the 62% needed to clear"; or ""'
    )
    since_text: str = doc('when the breach began: "Below 60% since September 2024"; or ""')
    inferred_text: str = doc('why a figure was counted from another metric\'s publication; or ""')
    peer_text: str = doc(
        'where the figure ranks among the trusts of the same type: "In the worst 5% of 121 '
        'acute trusts: 118th of 121 (1st is best)"; or ""'
    )
    spc_text: str = doc(
        'the period on the Making Data Count chart: "Special cause concern: 7 points in a row '
        'below the mean; mean 61.2%, process limits 55.0% to 67.4%"; or ""'
    )
    assurance_text: str = doc('the assurance icon in words: "Consistently failing the 78% target"')
    england_text: str = doc('England\'s figure for the same period, "not published"; or ""')
    region_text: str = doc('the region\'s figure for the same period, "not published"; or ""')
    trend: list[TrendPoint] = doc("up to 12 periods ending with this one, oldest first")
    sparkline: str = doc('the trend as block characters for plain text, e.g. "▆▅▃▂▁▁"')
    persistence_text: str = doc(
        '"14th consecutive month in breach, since September 2023", "In breach in 14 of the 24 '
        'months since ... (no figure for 10 of them)", "Resolved after 14 months in breach"'
    )
    parts: list[PartView] = doc("a combined rule's parts, each with its figure and source")
    publication_title: str = doc("the published file's title (or its source and period)")
    publication_url: str = doc("where the figure was published")
    published_text: str = doc('when it was published, e.g. "14 August 2025"')
    age_text: str = doc('how old the figure was when evaluated: "16 months old on 7 December 2026"')
    alert_url: str = doc("the alert on the status page")
    org_url: str = doc("the organisation's page on the status page")
    merged_text: str = doc(
        'for an alert ended by a merger: "merged into Somerset NHS Foundation Trust (RH5) on '
        '1 April 2023"; or ""'
    )


def _breach(v: float, ev: Evidence) -> bool:
    return bool(ev.comparison and ev.threshold is not None) and breaches(
        str(ev.comparison), float(ev.threshold or 0), v
    )


def _spark(v: float | None, lo: float, hi: float) -> str:
    if v is None:
        return " "
    # The sparkline shows the shape, so it spans the series' own range.
    step = (v - lo) / (hi - lo) if hi > lo else 0.5
    return SPARK[min(len(SPARK) - 1, int(step * len(SPARK)))]


def _trend(ev: Evidence, unit: str, granularity: str) -> tuple[list[TrendPoint], str]:
    raw: list[TrendValue] = list(ev.last12[-12:])
    nums = [p.value for p in raw if p.value is not None]
    # Bars start at zero so their lengths compare honestly; percentages use the full 0-100.
    top = 100.0 if unit == "%" else max([*nums, float(ev.threshold or 0), 1e-9])
    lo, hi = (min(nums), max(nums)) if nums else (0.0, 0.0)
    points = [
        TrendPoint(
            label=periods.period_label(p.period_start, granularity, short=True),
            value_text=periods.figure(p.value, unit, p.label),
            bar_width=0 if p.value is None else max(0, min(100, round(100 * p.value / top))),
            breach=p.value is not None and _breach(p.value, ev),
            current=i == len(raw) - 1,
        )
        for i, p in enumerate(raw)
    ]
    return points, "".join(_spark(p.value, lo, hi) for p in raw)


def _kind_text(kind: str, ev: Evidence, actor: str | None = None) -> str:
    if actor == MERGER_ACTOR:
        return MERGED_TEXT
    if kind == EventKind.WITHDRAWN:
        return WITHDRAWN_TEXT if ev.revised else "Withdrawn"
    return KIND_TEXT.get(kind, kind.capitalize())


def alert_view(event: AlertEvent, alert: Alert, urls: Urls) -> AlertView:
    """The template view of one event, from its evidence (falling back to the alert row)."""
    ev = Evidence.from_json(event.evidence)
    words = ev.explain(event.kind)
    metric_id = ev.metric or alert.metric or ""
    unit = ev.unit or periods.unit_of(metric_id)
    granularity = explain.granularity(ev)
    combined = ev.kind in explain.COMBINED
    label = ev.period_label or periods.period_label(
        ev.period_start or alert.period_start, granularity
    )
    trend, spark = _trend(ev, unit, granularity)
    return AlertView(
        alert_id=alert.id or 0,
        kind=event.kind,
        kind_text=_kind_text(event.kind, ev, event.actor),
        rule=ev.rule or alert.rule,
        rule_title=ev.rule_title or alert.rule,
        why=ev.why,
        severity=ev.severity or alert.severity,
        org_code=alert.org,
        org_name=ev.org_name or alert.org,
        region_name=ev.region_name or "",
        metric_title=ev.metric_title or periods.metric_title(metric_id),
        direction_text=f"{ev.direction or 'higher'} is better" if not combined else "",
        period_label=label,
        value_text=words.figure
        if ev.value is not None or combined
        else periods.figure(event.value, unit, ev.label),
        counts_text=words.counts,
        condition_text=words.condition,
        status_text=words.status,
        since_text=words.since,
        inferred_text=words.inferred,
        peer_text=words.peer,
        spc_text=words.spc,
        assurance_text=words.assurance,
        england_text="" if combined else periods.figure(ev.england, unit),
        region_text="" if combined else periods.figure(ev.region_value, unit),
        trend=trend,
        sparkline=spark,
        persistence_text=words.persistence,
        parts=[PartView(**dataclasses.asdict(p)) for p in words.parts],
        publication_title=ev.publication_title or f"{ev.metric_title or metric_id} {label}".strip(),
        publication_url=ev.publication_url or urls.sources(),
        published_text=words.published,
        age_text=words.age,
        alert_url=urls.alert(alert.id),
        org_url=urls.org(alert.org),
        merged_text=(event.note or "") if event.actor == MERGER_ACTOR else "",
    )
