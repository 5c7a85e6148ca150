"""Alert events as templates see them: formatted figures, trend, persistence, links.

Everything here is built from an event's evidence (docs/evidence.md), which is fixed when the
event happens, so an email rendered later still says what was known then. Every field carries
its help text; tests/test_notify_templates.py checks the templates use every documented field
and no undocumented one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monitor import metrics, orgs
from monitor.models import Alert, AlertEvent

SPARK = "▁▂▃▄▅▆▇█"
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def doc(help: str) -> Any:
    """A dataclass field with its help text (no default: every field is always given)."""
    return field(metadata={"help": help})


@dataclass(frozen=True)
class TrendPoint:
    """One period of the trend chart."""

    label: str = doc('the period, short: "Jul 2025", "Q1 2025/26"')
    value_text: str = doc('the figure formatted in its unit, or "no data"')
    bar_width: int = doc("bar length 0-100: the figure on an axis from 0 (100 for percentages)")
    breach: bool = doc("the figure breached the threshold in force now")
    current: bool = doc("this is the period the email is about")


@dataclass(frozen=True)
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
    value_text: str = doc('the figure, formatted: "52.1%", "1,204", "9 min 12 s", "Inadequate"')
    threshold_text: str | None = doc('the threshold in force, formatted ("60%"); None if none')
    gap_text: str | None = doc('how far from the threshold: "7.9 percentage points below"')
    england_text: str | None = doc("England's figure for the same period; None if unpublished")
    region_text: str | None = doc("the region's figure for the same period; None if unpublished")
    trend: list[TrendPoint] = doc("up to 12 periods ending with this one, oldest first")
    sparkline: str = doc('the trend as block characters for plain text, e.g. "▆▅▃▂▁▁"')
    persistence_text: str = doc('"First breach", "3rd consecutive month in breach, since ..."')
    publication_title: str = doc("the published file's title (or its source and period)")
    publication_url: str = doc("where the figure was published")
    published_text: str = doc('when it was published, e.g. "14 August 2025"')
    alert_url: str = doc("the alert on the status page")
    org_url: str = doc("the organisation's page on the status page")


def period_label(start: date, granularity: str, *, short: bool = False) -> str:
    """``July 2025`` / ``Jul 2025`` for months, ``Q1 2025/26`` for financial quarters."""
    if granularity == "quarter":
        fy = start.year if start.month >= 4 else start.year - 1
        return f"Q{(start.month - 4) % 12 // 3 + 1} {fy}/{(fy + 1) % 100:02d}"
    if granularity == "month":
        return f"{_MONTHS[start.month - 1] if short else start.strftime('%B')} {start.year}"
    return long_date(start)


def long_date(d: date) -> str:
    """``14 August 2025``."""
    return f"{d.day} {d.strftime('%B %Y')}"


def format_value(value: float | None, unit: str, label: str | None = None) -> str:
    """A figure in its unit, as an analyst would write it."""
    if label and unit in ("rating", "segment", "flag"):
        return label
    if value is None:
        return label or "no data"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "seconds":
        return _duration(value)
    if unit == "flag":
        return "yes" if value else "no"
    if unit in ("count", "rank", "segment"):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def format_threshold(value: float | None, unit: str) -> str | None:
    """A threshold in its unit; whole numbers without decimals ("60%", not "60.0%")."""
    if value is None:
        return None
    if unit == "%" and float(value).is_integer():
        return f"{value:.0f}%"
    return format_value(value, unit)


def _duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {sec:02d} s" if m else f"{sec} s"


def _gap(value: Any, threshold: Any, unit: str, comparison: str) -> str | None:
    if not isinstance(value, int | float) or not isinstance(threshold, int | float):
        return None
    if comparison not in _BREACH:
        return None
    diff = abs(float(value) - float(threshold))
    side = "below" if value < threshold else "above" if value > threshold else "at"
    if side == "at":
        return "exactly at the threshold"
    amount = f"{diff:.1f} percentage points" if unit == "%" else format_value(diff, unit)
    return f"{amount} {side} the threshold"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _persistence(ev: dict[str, Any], kind: str, granularity: str) -> str:
    if kind == "withdrawn":
        return "A revised publication no longer shows this breach"
    n = int(ev.get("consecutive_periods") or 0)
    word = {"quarter": "quarter", "month": "month"}.get(granularity, "report")
    first = ev.get("first_period")
    since = (
        f", since {period_label(date.fromisoformat(first), granularity)}"
        if isinstance(first, str) and n > 1
        else ""
    )
    if kind == "resolved":
        return f"Resolved after {n} {word}{'s' if n != 1 else ''} in breach{since}"
    if ev.get("episode") == "re-breach":
        lead = "In breach again after an earlier episode ended"
        return lead if n <= 1 else f"{lead}: {_ordinal(n)} consecutive {word}{since}"
    if n <= 1:
        return "First breach"
    return f"{_ordinal(n)} consecutive {word} in breach{since}"


_BREACH = {
    "below": lambda v, t: v < t,
    "at_or_below": lambda v, t: v <= t,
    "above": lambda v, t: v > t,
    "at_or_above": lambda v, t: v >= t,
}


def _breaches(v: float, threshold: Any, comparison: str) -> bool:
    test = _BREACH.get(comparison)
    return bool(test and isinstance(threshold, int | float) and test(v, float(threshold)))


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _trend(ev: dict[str, Any], unit: str, granularity: str) -> tuple[list[TrendPoint], str]:
    raw = [p for p in ev.get("last12") or [] if isinstance(p, dict)][-12:]
    values = [_number(p.get("value")) for p in raw]
    nums = [v for v in values if v is not None]
    threshold, comparison = ev.get("threshold"), str(ev.get("comparison") or "")
    # Bars start at zero so their lengths compare honestly; percentages use the full 0-100.
    top = 100.0 if unit == "%" else max([*nums, float(threshold or 0), 1e-9])
    lo, hi = (min(nums), max(nums)) if nums else (0.0, 0.0)
    points, spark = [], []
    for i, (p, v) in enumerate(zip(raw, values, strict=True)):
        points.append(
            TrendPoint(
                label=period_label(
                    date.fromisoformat(str(p["period_start"])), granularity, short=True
                ),
                value_text="no data" if v is None else format_value(v, unit),
                bar_width=0 if v is None else max(0, min(100, round(100 * v / top))),
                breach=v is not None and _breaches(v, threshold, comparison),
                current=i == len(raw) - 1,
            )
        )
        if v is None:
            spark.append(" ")
        else:
            # The sparkline shows the shape, so it spans the series' own range.
            step = (v - lo) / (hi - lo) if hi > lo else 0.5
            spark.append(SPARK[min(len(SPARK) - 1, int(step * len(SPARK)))])
    return points, "".join(spark)


def alert_view(event: AlertEvent, alert: Alert, base_url: str) -> AlertView:
    """The template view of one event, from its evidence (falling back to the alert row)."""
    ev: dict[str, Any] = dict(event.evidence or {})
    metric_id = str(ev.get("metric") or alert.metric or "")
    metric = metrics.METRICS.get(metric_id)
    unit = str(ev.get("unit") or (metric.unit if metric else ""))
    granularity = metric.granularity.value if metric else "month"
    direction = str(ev.get("direction") or (metric.direction.value if metric else "higher"))
    start = ev.get("period_start") or (alert.period_start and alert.period_start.isoformat())
    label = ev.get("period_label") or (
        period_label(date.fromisoformat(start), granularity) if start else ""
    )
    value = ev.get("value", event.value)
    threshold = ev.get("threshold", event.threshold)
    england, regional = ev.get("england"), ev.get("region_value")
    trend, spark = _trend(ev, unit, granularity)
    published = ev.get("published_at")
    region_code = ev.get("region")
    return AlertView(
        alert_id=alert.id or 0,
        kind=event.kind,
        kind_text={"fired": "New alert", "resolved": "Resolved"}.get(
            event.kind, "Withdrawn after a revision"
        ),
        rule=str(ev.get("rule") or alert.rule),
        rule_title=str(ev.get("rule_title") or alert.rule),
        why=str(ev.get("why") or ""),
        severity=str(ev.get("severity") or alert.severity),
        org_code=alert.org,
        org_name=str(ev.get("org_name") or alert.org),
        region_name=str(
            ev.get("region_name") or (orgs.REGIONS.get(region_code) if region_code else "") or ""
        ),
        metric_title=str(ev.get("metric_title") or (metric.title if metric else metric_id)),
        direction_text=f"{direction} is better",
        period_label=str(label),
        value_text=format_value(value, unit, ev.get("label")),
        threshold_text=format_threshold(threshold, unit),
        gap_text=_gap(value, threshold, unit, str(ev.get("comparison") or "")),
        england_text=format_value(england, unit) if england is not None else None,
        region_text=format_value(regional, unit) if regional is not None else None,
        trend=trend,
        sparkline=spark,
        persistence_text=_persistence(ev, event.kind, granularity),
        publication_title=str(ev.get("publication_title") or f"{metric_id} {label}".strip()),
        publication_url=str(ev.get("publication_url") or f"{base_url}/sources"),
        published_text=long_date(date.fromisoformat(str(published)[:10])) if published else "",
        alert_url=f"{base_url}/alerts/{alert.id}",
        org_url=f"{base_url}/orgs/{alert.org}",
    )
