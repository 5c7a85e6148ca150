"""Orienting a chart by the metric's good direction: point types and assurance.

Conforms to NHSRplotthedots' ``ptd_point_type()`` (R/ptd_calculate_point_type.R at f7891af) and
``ptd_calculate_assurance_type()`` (R/ptd_calculate_assurance_type.R at f7891af).
"""

from __future__ import annotations

from monitor.metrics import Direction
from monitor.spc.words import Assurance, PointType, SpecialCause


def point_type(cause: SpecialCause, direction: Direction | None) -> PointType:
    """Improvement or concern by the metric's good direction; neutral high/low without one."""
    side = cause.side
    if side == 0:
        return PointType.COMMON_CAUSE
    if direction is None:
        return PointType.NEUTRAL_HIGH if side > 0 else PointType.NEUTRAL_LOW
    good = 1 if direction is Direction.HIGHER else -1
    return PointType.IMPROVEMENT if side * good > 0 else PointType.CONCERN


def assurance(
    target: float | None, lpl: float, upl: float, direction: Direction | None
) -> Assurance | None:
    """Will the process meet ``target``? Judged against the latest segment's limits.

    The target beyond the limits on the good side of the process (above the upper limit when
    higher is better) can never be met: consistent fail; beyond them on the other side it is
    always met: consistent pass. A target between the limits, or exactly on one (the package
    compares strictly), is hit and miss: inconsistent. No target or no good direction: None.
    """
    if target is None or direction is None:
        return None
    higher = direction is Direction.HIGHER
    if target > upl:
        return Assurance.FAIL if higher else Assurance.PASS
    if target < lpl:
        return Assurance.PASS if higher else Assurance.FAIL
    return Assurance.INCONSISTENT
