"""One Making Data Count XmR chart: limits per segment, special causes, point types, assurance.

A pure function over plain lists: no database, clock or network, so the CLI, a rule or a page
can chart thousands of series without touching anything else.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from monitor.metrics import Direction
from monitor.spc.assurance import assurance as assurance_of
from monitor.spc.assurance import point_type
from monitor.spc.rules import special_causes
from monitor.spc.words import TOO_FEW_POINTS, Assurance, PointType, SpecialCause
from monitor.spc.xmr import Limits, limits

MIN_POINTS = 12
"""Points a segment needs before it gets limits (NHSRplotthedots warns below 12)."""


@dataclass(frozen=True, slots=True)
class Point:
    """One dot of the chart with the limits of its segment."""

    period_start: date
    value: float
    mean: float
    lpl: float
    upl: float
    special_cause: SpecialCause
    point_type: PointType
    segment: int = 0  # 0 before the first rebase, 1 after it, ...

    def as_json(self) -> dict[str, Any]:
        return {
            "period_start": self.period_start.isoformat(),
            "value": self.value,
            "mean": self.mean,
            "lpl": self.lpl,
            "upl": self.upl,
            "special_cause": str(self.special_cause),
            "point_type": str(self.point_type),
        }


@dataclass(frozen=True, slots=True)
class Chart:
    """The chart of one series: its points, the latest point's variation and the assurance.

    A series too short for limits has no points, no variation and no assurance, and says why
    in ``reason``. The points are kept as columns and built on demand, so that a caller that
    only needs the latest point's variation (a rule over thousands of trusts) pays for no more.
    """

    variation: PointType | None
    assurance: Assurance | None
    target: float | None
    reason: str | None = None
    segments: tuple[Limits, ...] = ()
    periods: tuple[date, ...] = ()
    values: tuple[float, ...] = ()
    special_causes: tuple[SpecialCause, ...] = ()
    point_types: tuple[PointType, ...] = ()
    segment_of: tuple[int, ...] = ()  # each point's index into ``segments``

    @property
    def points(self) -> tuple[Point, ...]:
        return tuple(
            Point(period, value, lim.mean, lim.lpl, lim.upl, cause, kind, k)
            for period, value, cause, kind, k, lim in zip(
                self.periods,
                self.values,
                self.special_causes,
                self.point_types,
                self.segment_of,
                (self.segments[k] for k in self.segment_of),
                strict=False,
            )
        )

    def as_json(self) -> dict[str, Any]:
        """The DESIGN.md contract's fields after ``org`` and ``metric``."""
        out: dict[str, Any] = {
            "points": [p.as_json() for p in self.points],
            "variation": None if self.variation is None else str(self.variation),
            "assurance": None if self.assurance is None else str(self.assurance),
            "target": self.target,
        }
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def chart(
    values: Sequence[float],
    periods: Sequence[date],
    *,
    improvement_direction: Direction | None,
    target: float | None = None,
    rebase_at: Collection[date] = (),
    min_points: int = MIN_POINTS,
) -> Chart:
    """The XmR chart of ``values`` (one per period, oldest first), NHSRplotthedots' way.

    1. check the series: one finite value per period, periods strictly increasing, every
       rebase date one of the periods;
    2. split it at each rebase date (a change point: that period starts a new segment);
    3. a segment shorter than ``min_points`` means no chart: no points, reason "too few points";
    4. each segment gets its own limits (monitor.spc.xmr) and special causes (monitor.spc.rules);
    5. each point is oriented by ``improvement_direction`` (None: a metric with no good
       direction, whose signals are neutral high/low), the variation is the last point's type,
       and the assurance compares ``target`` with the last segment's limits.
    """
    _check(values, periods, rebase_at)
    bounds = segment_bounds(periods, rebase_at)
    if min(stop - start for start, stop in bounds) < min_points:
        return Chart(None, None, target, TOO_FEW_POINTS)
    oriented = _POINT_TYPES[improvement_direction]
    segments: list[Limits] = []
    causes: list[SpecialCause] = []
    segment_of: list[int] = []
    for k, (start, stop) in enumerate(bounds):
        ys = values[start:stop]
        lim = limits(ys)
        segments.append(lim)
        causes += special_causes(ys, lim)
        segment_of += [k] * (stop - start)
    types = tuple(map(oriented.__getitem__, causes))
    last = segments[-1]
    return Chart(
        types[-1],
        assurance_of(target, last.lpl, last.upl, improvement_direction),
        target,
        None,
        tuple(segments),
        tuple(periods),
        tuple(values),
        tuple(causes),
        types,
        tuple(segment_of),
    )


_POINT_TYPES = {
    direction: {cause: point_type(cause, direction) for cause in SpecialCause}
    for direction in (Direction.HIGHER, Direction.LOWER, None)
}


def _check(values: Sequence[float], periods: Sequence[date], rebase_at: Collection[date]) -> None:
    if len(values) != len(periods):
        raise ValueError(f"{len(values)} values for {len(periods)} periods")
    # One sum finds a NaN, an infinity or a non-number; only then is each value looked at.
    try:
        finite = math.isfinite(math.fsum(values))
    except (TypeError, ValueError, OverflowError):
        finite = False
    if not finite:
        for i, v in enumerate(values):
            if not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"value {i + 1} ({periods[i]}) is {v!r}, not a finite number")
    if not all(map(operator.lt, periods, periods[1:])):
        i = next(i for i in range(1, len(periods)) if periods[i] <= periods[i - 1])
        raise ValueError(
            f"periods must be in order, each once: {periods[i]} follows {periods[i - 1]}"
        )
    if rebase_at:
        missing = sorted(set(rebase_at) - set(periods))
        if missing:
            raise ValueError(f"rebase date {missing[0]} is not one of the series' periods")


def segment_bounds(periods: Sequence[date], rebase_at: Collection[date]) -> list[tuple[int, int]]:
    """[start, stop) of each segment: a rebase period starts a new one (NHSRplotthedots'
    ``cumsum(rebase)`` groups); a rebase on the first period changes nothing."""
    if not rebase_at:
        return [(0, len(periods))]
    cuts = [i for i, p in enumerate(periods) if i and p in rebase_at]
    edges = [0, *cuts, len(periods)]
    return list(zip(edges, edges[1:], strict=False))
