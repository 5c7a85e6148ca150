"""A series read the Making Data Count way, ready to draw: each figure with its point type,
the limits, and the variation and assurance in words and icons.

Pure. The chart is computed on the figures in order, as NHSRplotthedots does (a missing month
is simply not there); the drawing places them on the calendar. A figure that cannot be a
real one (not a number, infinite, or beyond what its unit can hold) is left out of the
computation and marked on the chart instead of stretching it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date

from markupsafe import Markup

from monitor import spc
from monitor.metrics import Direction
from monitor.periods import threshold as threshold_text
from monitor.spc import Chart, PointType, SpecialCause
from monitor.spc.reading import assurance_text, variation_text
from monitor.web.axes import drawable
from monitor.web.icons import assurance_icon, variation_icon
from monitor.web.series import Series

TOO_FEW = (
    "Too few figures for process limits: {n} held, {need} needed. The figures are shown "
    "without them."
)
NO_LIMITS = "Process limits could not be worked out from these figures."


@dataclass(frozen=True)
class Dot:
    """One figure of the series and what the chart makes of it."""

    period: date
    value: float
    charted: bool  # a real figure inside its unit's range, part of the computation
    point_type: PointType | None = None  # None when there are no limits
    special_cause: SpecialCause | None = None


@dataclass(frozen=True)
class Limits:
    """One segment's centre line and process limits, over its first and last period."""

    start: date
    end: date
    mean: float
    lpl: float
    upl: float


@dataclass(frozen=True)
class SpcView:
    series: Series
    dots: list[Dot]
    limits: list[Limits] = field(default_factory=list)
    reason: str | None = None  # why there are no limits
    variation: str | None = None
    assurance: str | None = None
    variation_icon: Markup | None = None
    assurance_icon: Markup | None = None
    assurance_kind: spc.Assurance | None = None  # the code behind ``assurance``

    @property
    def charted(self) -> list[Dot]:
        return [d for d in self.dots if d.charted]

    @property
    def off_scale(self) -> list[Dot]:
        return [d for d in self.dots if not d.charted]

    @property
    def target_text(self) -> str | None:
        return threshold_text(self.series.target, self.series.unit)


def view(s: Series) -> SpcView:
    """The chart of ``s`` with NHSRplotthedots' defaults and the metric's target."""
    dots = [Dot(p, v, drawable(v, s.unit)) for p, v in s.points]
    charted = [d for d in dots if d.charted]
    if len(charted) < spc.MIN_POINTS:
        return SpcView(s, dots, reason=TOO_FEW.format(n=len(charted), need=spc.MIN_POINTS))
    chart = spc.chart(
        [d.value for d in charted],
        [d.period for d in charted],
        improvement_direction=Direction(s.direction),
        target=s.target,
    )
    if chart.reason or not _finite(chart):
        return SpcView(s, dots, reason=chart.reason or NO_LIMITS)
    points = iter(chart.points)
    typed = []
    for d in dots:
        if d.charted:
            p = next(points)
            d = Dot(d.period, d.value, True, p.point_type, p.special_cause)
        typed.append(d)
    last = chart.points[-1]
    variation = variation_text(last.point_type, last.special_cause)
    target = threshold_text(s.target, s.unit)
    assurance = assurance_text(chart.assurance, target)
    return SpcView(
        s,
        typed,
        limits=_limits(chart),
        variation=variation,
        assurance=assurance,
        variation_icon=variation_icon(last.point_type, last.special_cause.side > 0, variation),
        assurance_icon=assurance_icon(chart.assurance, assurance)
        if chart.assurance is not None and assurance
        else None,
        assurance_kind=chart.assurance,
    )


def _finite(chart: Chart) -> bool:
    return all(math.isfinite(x) for lim in chart.segments for x in (lim.mean, lim.lpl, lim.upl))


def _limits(chart: Chart) -> list[Limits]:
    out = []
    for k, lim in enumerate(chart.segments):
        periods = [p for p, seg in zip(chart.periods, chart.segment_of, strict=True) if seg == k]
        out.append(Limits(periods[0], periods[-1], lim.mean, lim.lpl, lim.upl))
    return out
