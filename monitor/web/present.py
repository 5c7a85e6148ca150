"""How figures, dates and severities read on the status page (Jinja filters and helpers)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor import metrics

LONDON = ZoneInfo("Europe/London")

# critical > high > medium > low > info; a higher number sorts first.
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}
SEVERITY_COLOUR = {
    "critical": "red",
    "high": "orange",
    "medium": "yellow",
    "low": "blue",
    "info": "grey",
}
STATE_WORDS = {
    "pending": "Pending",
    "firing": "Firing",
    "resolved": "Resolved",
    "withdrawn": "Withdrawn",
}
OPEN_STATES = ("pending", "firing")
MONTHS = "January February March April May June July August September October November December"


def severity_rank(severity: str | None) -> int:
    return SEVERITY_RANK.get(severity or "", -1)


def london(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite hands some values back naive; they are UTC.
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LONDON)


def when(value: datetime | str | None) -> str:
    """``13 Nov 2025, 09:30`` in London time; empty for None."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = london(value)
    if local is None:
        return ""
    return f"{local.day} {local:%b %Y, %H:%M}"


def day(value: date | datetime | str | None) -> str:
    """``13 November 2025``."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    if isinstance(value, datetime):
        local = london(value)
        assert local is not None
        value = local.date()
    return f"{value.day} {value:%B %Y}"


def month(value: date | str | None) -> str:
    """``July 2025``: how monthly periods are named."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%B %Y}"


def period(start: date | str | None, granularity: str | None = "month") -> str:
    """A period as analysts name it: ``July 2025``, ``Q2 2025/26`` or a day."""
    if start is None or start == "":
        return ""
    if isinstance(start, str):
        start = date.fromisoformat(start[:10])
    if granularity == "quarter":
        fy = start.year if start.month >= 4 else start.year - 1
        q = ((start.month - 4) % 12) // 3 + 1
        return f"Q{q} {fy}/{(fy + 1) % 100:02d}"
    if granularity == "point":
        return day(start)
    return month(start)


def figure(value: float | None, metric_id: str | None = None, label: str | None = None) -> str:
    """A figure in its unit: ``52.1%``, ``1,234``, ``8 min 41 s``; the label for ratings."""
    if label and metric_id in ("cqc_overall", "nof_segment"):
        return label
    if value is None:
        return label or "not published"
    unit = _unit(metric_id)
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "seconds":
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    if unit in ("count", "rank", "segment"):
        return f"{value:,.0f}"
    if unit == "flag":
        return "yes" if value else "no"
    if unit == "rating" and label:
        return label
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _unit(metric_id: str | None) -> str:
    if not metric_id:
        return ""
    m = metrics.METRICS.get(metric_id)
    return m.unit if m else ""


def metric_title(metric_id: str | None) -> str:
    if not metric_id:
        return ""
    m = metrics.METRICS.get(metric_id)
    return m.title if m else metric_id


def severity_tag(severity: str) -> dict[str, Any]:
    """Parameters of the NHS.UK tag macro for a severity."""
    return {"text": severity.capitalize(), "colour": SEVERITY_COLOUR.get(severity, "grey")}


def http_url(url: str | None) -> str:
    """The URL when it is http(s); empty otherwise (never a javascript: link from data)."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return ""


FILTERS = {
    "http_url": http_url,
    "when": when,
    "day": day,
    "month": month,
    "period": period,
    "figure": figure,
    "metric_title": metric_title,
}
