"""Chart axes: round ticks for any finite range, minute ticks for times, a calendar axis.

Pure and bounded: whatever the figures (a stored 1e16, a negative wait), an axis has at most
``MAX_TICKS`` ticks and is computed in a handful of steps; figures beyond what a unit can
plausibly hold are drawn at the edge of the chart and marked, never allowed to stretch it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from monitor.metrics import Granularity
from monitor.periods import tick

MAX_TICKS = 12
# What a figure of each unit can be, for drawing: percentages 0-100, counts and times from 0
# to far beyond any NHS figure. A figure outside is drawn at the edge and marked.
HUGE = 1e12
DOMAIN: dict[str, tuple[float, float]] = {
    "%": (0.0, 100.0),
    "count": (0.0, HUGE),
    "seconds": (0.0, HUGE),
}
# Steps for axes in seconds: whole minutes where the range allows, so ticks read "8 min".
_SECOND_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 18000, 36000)


def domain(unit: str) -> tuple[float, float]:
    """The drawable range of a unit's figures."""
    return DOMAIN.get(unit, (-HUGE, HUGE))


def drawable(value: float, unit: str) -> bool:
    """True for a finite figure inside its unit's drawable range."""
    low, high = domain(unit)
    return math.isfinite(value) and low <= value <= high


def _step(raw: float, unit: str) -> float:
    if unit == "seconds":
        for s in _SECOND_STEPS:
            if s >= raw:
                return float(s)
    power = 10.0 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def nice_ticks(low: float, high: float, count: int = 5, unit: str = "") -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten (whole
    minutes or familiar seconds for times), at most MAX_TICKS of them, for any finite range."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"an axis needs finite ends, not {low!r} and {high!r}")
    if high <= low:
        high = low + max(1.0, abs(low) * 1e-9)  # a flat series still gets a scale
    raw = (high - low) / max(count - 1, 1)
    # Below the resolution of a float at this magnitude, a step would not move the tick.
    raw = max(raw, abs(high) * 1e-12, 1e-12)
    step = _step(raw, unit)
    first = math.floor(low / step)
    n = min(MAX_TICKS, math.ceil(high / step - first - 1e-9) + 1)
    return [round((first + i) * step, 10) for i in range(max(n, 2))]


def tick_label(value: float, unit: str) -> str:
    """A tick's text: "60%", "8 min", "1,200"; very large values in powers of ten."""
    if abs(value) >= 1e9:
        return f"{value:.0e}".replace("e+", "e")
    return tick(value, unit)


@dataclass(frozen=True)
class CalendarAxis:
    """Periods placed by the calendar: a missing month keeps its place, so it shows as a gap."""

    first: date
    granularity: str

    def index(self, d: date) -> float:
        """How many periods after the first period ``d`` starts (days for dated points)."""
        if self.granularity == Granularity.POINT:
            return float((d - self.first).days)
        months = (d.year - self.first.year) * 12 + d.month - self.first.month
        return months / 3 if self.granularity == Granularity.QUARTER else float(months)

    def adjacent(self, a: date, b: date) -> bool:
        """True when ``b`` is the period right after ``a`` (no gap between them)."""
        if self.granularity == Granularity.POINT:
            return True  # dated reports have no cadence to miss
        return self.index(b) - self.index(a) <= 1

    def label_every(self, span: float) -> int:
        """Label every n-th period so that at most about six labels fit."""
        if self.granularity == Granularity.POINT:
            return max(1, math.ceil(span / 6))
        for n in (1, 2, 3, 6, 12, 24, 60):
            if span / n <= 6:
                return n
        return 120
