"""The status page's Jinja filters and helpers: figures and periods (monitor/periods.py, as in
the emails), London times, severities and states in words."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor import periods
from monitor.periods import day, period_label
from monitor.vocab import LONDON, OPEN, AlertState, EventKind, Severity

SEVERITY_COLOUR: dict[str, str] = {
    Severity.CRITICAL: "red",
    Severity.HIGH: "orange",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "blue",
    Severity.INFO: "grey",
}
STATE_WORDS = {s: s.capitalize() for s in AlertState}


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


def figure(value: float | None, metric_id: str | None = None, label: str | None = None) -> str:
    """A figure of ``metric_id`` in its unit: ``52.1%``, ``1,234``, ``8 min 41 s``."""
    return periods.figure(value, periods.unit_of(metric_id), label)


def threshold(value: float | None, metric_id: str | None = None) -> str:
    """A threshold of ``metric_id`` in its unit (``60%``); "–" when there is none."""
    return periods.threshold(value, periods.unit_of(metric_id)) or "–"


def event_words(kind: str) -> str:
    """An event of an alert's timeline in words: "Fired", "Withdrawn after a revision"."""
    if kind == EventKind.WITHDRAWN:
        return "Withdrawn after a revision"
    return kind.capitalize()


def is_open(state: str) -> bool:
    """True for a pending or firing alert (acknowledged and silenced ones included)."""
    return state in OPEN


def severity_tag(severity: str) -> dict[str, Any]:
    """Parameters of the NHS.UK tag macro for a severity."""
    return {"text": severity.capitalize(), "colour": SEVERITY_COLOUR.get(severity, "grey")}


def http_url(url: str | None) -> str:
    """The URL when it is http(s); empty otherwise (never a javascript: link from data)."""
    if url and url.lower().startswith(("https://", "http://")):
        return url
    return ""


FILTERS: dict[str, Callable[..., Any]] = {
    "http_url": http_url,
    "when": when,
    "day": day,
    "period": period_label,
    "metric_period": periods.metric_period,
    "figure": figure,
    "threshold": threshold,
    "metric_title": periods.metric_title,
    "event_words": event_words,
    "is_open": is_open,
}
