"""The status page's Jinja filters and helpers: figures and periods (monitor/periods.py, as in
the emails), London times, severities and states in words."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from monitor import periods
from monitor.periods import day, period_label
from monitor.spc.reading import VARIATION_NAMES
from monitor.vocab import LONDON, OPEN, SEVERITY_COLOURS, AlertState, EventKind, Severity

STATE_WORDS = {s: s.capitalize() for s in AlertState}
# What each state (and an operator's marks) means, for the glossary beside alert tables.
STATE_HELP: dict[str, str] = {
    AlertState.PENDING: (
        "The figure breaches the rule, but not yet for as many periods in a row as the rule "
        "needs before it fires. Nobody is emailed yet."
    ),
    AlertState.FIRING: (
        "The figure has breached the rule for long enough: the alert is open and subscribers "
        "are told."
    ),
    "acknowledged": (
        "An operator has seen the alert and noted what is being done. It stays open until the "
        "figures clear it."
    ),
    "silenced": (
        "An operator has stopped emails about the alert until a date. It stays open and shown."
    ),
    AlertState.RESOLVED: "A later figure no longer breaches the rule: the alert has ended.",
    AlertState.WITHDRAWN: (
        "A revised publication (or a changed rule) removed the breach: the alert has ended."
    ),
}


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


# Beyond this a stored figure cannot be a real one (no NHS count or time comes near it); it is
# written in powers of ten, so that it cannot run off a phone's screen.
IMPLAUSIBLE = 1e15


def _unreal(value: float | None) -> str | None:
    """Words for a stored value no figure can have (NaN, infinite, astronomically large)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if math.isnan(value):
        return "not a number (a bad figure)"
    if math.isinf(value):
        return "infinite (a bad figure)"
    if abs(value) >= IMPLAUSIBLE:
        return f"{value:.2e} (a bad figure)"
    return None


def figure(value: float | None, metric_id: str | None = None, label: str | None = None) -> str:
    """A figure of ``metric_id`` in its unit: ``52.1%``, ``1,234``, ``8 min 41 s``."""
    return _unreal(value) or periods.figure(value, periods.unit_of(metric_id), label)


def threshold(value: float | None, metric_id: str | None = None) -> str:
    """A threshold of ``metric_id`` in its unit (``60%``); "–" when there is none."""
    return _unreal(value) or periods.threshold(value, periods.unit_of(metric_id)) or "–"


def event_words(kind: str) -> str:
    """An event of an alert's timeline in words: "Fired", "Withdrawn after a revision"."""
    if kind == EventKind.WITHDRAWN:
        return "Withdrawn after a revision"
    return kind.capitalize()


def is_open(state: str) -> bool:
    """True for a pending or firing alert (acknowledged and silenced ones included)."""
    return state in OPEN


def severity_tag(severity: str) -> dict[str, Any]:
    """Parameters of the NHS.UK tag macro for a severity (the emails use the same colours)."""
    try:
        colour = SEVERITY_COLOURS[Severity(severity)].name
    except ValueError:
        colour = "white"  # a severity no rule gives: shown, in no severity's colour
    return {"text": severity.capitalize(), "colour": colour}


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
    "variation_name": lambda point_type: VARIATION_NAMES.get(point_type, ""),
}
