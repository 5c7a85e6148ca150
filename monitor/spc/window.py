"""The figures a chart shows: those of the last ``CHART_PERIODS`` periods of the calendar.

A trust page charts the last 36 periods of a measure (three years of a monthly one, nine of a
quarterly one), and its limits come from those figures only. The ``spc`` rules judge the same
chart, so that an alert and the chart a reader opens agree, and so that the work of judging a
series does not grow with the years of history held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

CHART_PERIODS = 36
"""Periods of the calendar a chart covers, ending at the series' latest period."""

_MONTHS = {"month": 1, "quarter": 3}


def _index(d: date, months: int) -> int:
    return (d.year * 12 + d.month - 1) // months


def window_start(starts: Sequence[date], granularity: str) -> int:
    """The position in ``starts`` (period starts, oldest first) of the first figure inside the
    last ``CHART_PERIODS`` periods of the calendar ending at the latest; 0 for dated points,
    which have no calendar of periods."""
    months = _MONTHS.get(str(granularity))
    if not starts or months is None:
        return 0
    first = _index(starts[-1], months) - CHART_PERIODS + 1
    if _index(starts[0], months) >= first:
        return 0  # the common case: every figure is inside
    for i, d in enumerate(starts):
        if _index(d, months) >= first:
            return i
    return len(starts) - 1  # pragma: no cover - the latest is always inside


def window_since(latest: date, granularity: str) -> date | None:
    """The first period start inside the window that ends at ``latest``: a figure is charted
    when its period starts on or after it (the same cut as ``window_start``); None for dated
    points."""
    months = _MONTHS.get(str(granularity))
    if months is None:
        return None
    first = (_index(latest, months) - CHART_PERIODS + 1) * months  # in months since year 0
    return date(first // 12, first % 12 + 1, 1)
