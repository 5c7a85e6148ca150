"""Alert events as templates see them: formatted figures, trend, persistence, links.

Everything here is built from an event's evidence (docs/evidence.md, read through
:class:`monitor.rules.evidence.Evidence`), which is fixed when the event happens, so an email
rendered later still says what was known then. Figures and periods are written by
monitor/periods.py, as on the status page. Every field carries its help text;
tests/test_notify_templates.py checks the templates use every documented field and no
undocumented one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor import periods
from monitor.models import Alert, AlertEvent
from monitor.rules.conditions import breaches
from monitor.rules.evidence import Evidence, TrendValue
from monitor.urls import Urls
from monitor.vocab import Episode, EventKind

SPARK = "▁▂▃▄▅▆▇█"
KIND_TEXT: dict[str, str] = {EventKind.FIRED: "New alert", EventKind.RESOLVED: "Resolved"}
WITHDRAWN_TEXT = "Withdrawn after a revision"


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
class AlertView:
    """One alert event, ready to print."""

    alert_id: int = doc("the alert's id on the status page")
    kind: str = doc("fired, resolved or withdrawn (withdrawn: a revised figure removed it)")
    kind_text: str = doc('"New alert", "Resolved" or "Withdrawn after a revision"')
    rule: str = doc("the rule's id (its file name)")
    rule_title: str = doc('the rule\'s title, e.g. "A&E type 1 below 60%"')
    why: str = doc("why it matters: the rule's own words")
    severity: str = doc("info, low, medium, high or critical")
    org_code: str = doc("ODS code of the organisation")
    org_name: str = doc("the organisation's name")
    region_name: str = doc('its region, e.g. "East of England" ("" when it has none)')
    metric_title: str = doc("what is measured, from the metric catalogue")
    direction_text: str = doc('"higher is better" or "lower is better"')
    period_label: str = doc('the period evaluated, e.g. "July 2025"')
    value_text: str = doc('the figure, formatted: "52.1%", "1,204", "9 min 5 s", "Inadequate"')
    threshold_text: str | None = doc('the threshold in force, formatted ("60%"); None if none')
    gap_text: str | None = doc('how far from the threshold: "7.9 percentage points below"')
    england_text: str = doc('England\'s figure for the same period, or "not published"')
    region_text: str = doc('the region\'s figure for the same period, or "not published"')
    trend: list[TrendPoint] = doc("up to 12 periods ending with this one, oldest first")
    sparkline: str = doc('the trend as block characters for plain text, e.g. "▆▅▃▂▁▁"')
    persistence_text: str = doc('"First breach", "3rd consecutive month in breach, since ..."')
    publication_title: str = doc("the published file's title (or its source and period)")
    publication_url: str = doc("where the figure was published")
    published_text: str = doc('when it was published, e.g. "14 August 2025"')
    alert_url: str = doc("the alert on the status page")
    org_url: str = doc("the organisation's page on the status page")


def _gap(value: float | None, threshold: float | None, unit: str, ev: Evidence) -> str | None:
    if value is None or threshold is None or ev.comparison is None:
        return None
    if value == threshold:
        return "exactly at the threshold"
    side = "below" if value < threshold else "above"
    diff = abs(value - threshold)
    amount = f"{diff:.1f} percentage points" if unit == "%" else periods.figure(diff, unit)
    return f"{amount} {side} the threshold"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _persistence(ev: Evidence, kind: str, granularity: str) -> str:
    if kind == EventKind.WITHDRAWN:
        return "A revised publication no longer shows this breach"
    n = ev.consecutive_periods
    word = {"quarter": "quarter", "month": "month"}.get(granularity, "report")
    since = (
        f", since {periods.period_label(ev.first_period, granularity)}"
        if ev.first_period and n > 1
        else ""
    )
    if kind == EventKind.RESOLVED:
        return f"Resolved after {n} {word}{'s' if n != 1 else ''} in breach{since}"
    if ev.episode == Episode.REBREACH:
        lead = "In breach again after an earlier episode ended"
        return lead if n <= 1 else f"{lead}: {_ordinal(n)} consecutive {word}{since}"
    if n <= 1:
        return "First breach"
    return f"{_ordinal(n)} consecutive {word} in breach{since}"


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
            value_text=periods.figure(p.value, unit),
            bar_width=0 if p.value is None else max(0, min(100, round(100 * p.value / top))),
            breach=p.value is not None and _breach(p.value, ev),
            current=i == len(raw) - 1,
        )
        for i, p in enumerate(raw)
    ]
    return points, "".join(_spark(p.value, lo, hi) for p in raw)


def alert_view(event: AlertEvent, alert: Alert, urls: Urls) -> AlertView:
    """The template view of one event, from its evidence (falling back to the alert row)."""
    ev = Evidence.from_json(event.evidence)
    metric_id = ev.metric or alert.metric or ""
    unit = ev.unit or periods.unit_of(metric_id)
    granularity = periods.granularity_of(metric_id)
    direction = ev.direction or "higher"
    label = ev.period_label or periods.period_label(
        ev.period_start or alert.period_start, granularity
    )
    value = ev.value if ev.value is not None else event.value
    threshold = ev.threshold if ev.threshold is not None else event.threshold
    trend, spark = _trend(ev, unit, granularity)
    return AlertView(
        alert_id=alert.id or 0,
        kind=event.kind,
        kind_text=KIND_TEXT.get(event.kind, WITHDRAWN_TEXT),
        rule=ev.rule or alert.rule,
        rule_title=ev.rule_title or alert.rule,
        why=ev.why,
        severity=ev.severity or alert.severity,
        org_code=alert.org,
        org_name=ev.org_name or alert.org,
        region_name=ev.region_name or "",
        metric_title=ev.metric_title or periods.metric_title(metric_id),
        direction_text=f"{direction} is better",
        period_label=label,
        value_text=periods.figure(value, unit, ev.label),
        threshold_text=periods.threshold(threshold, unit),
        gap_text=_gap(value, threshold, unit, ev),
        england_text=periods.figure(ev.england, unit),
        region_text=periods.figure(ev.region_value, unit),
        trend=trend,
        sparkline=spark,
        persistence_text=_persistence(ev, event.kind, granularity),
        publication_title=ev.publication_title or f"{metric_id} {label}".strip(),
        publication_url=ev.publication_url or urls.sources(),
        published_text=periods.day(ev.published_at),
        alert_url=urls.alert(alert.id),
        org_url=urls.org(alert.org),
    )
