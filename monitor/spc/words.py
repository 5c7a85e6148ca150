"""The words of a Making Data Count chart: special causes, point types, assurance.

Each string is NHSRplotthedots' own (nhs-r-community/NHSRplotthedots, R/ptd_calculate_point_type.R
and R/ptd_calculate_assurance_type.R), so a chart printed here reads the same as one drawn by
the NHS-R package and the DESIGN.md contract can quote them.
"""

from __future__ import annotations

from enum import StrEnum


class SpecialCause(StrEnum):
    """Why a point is flagged, in NHSRplotthedots' words and order of precedence."""

    ABOVE_UCL = "Above UCL"
    BELOW_LCL = "Below LCL"
    TREND_INCREASING = "7 Point Trend (Increasing)"
    TREND_DECREASING = "7 Point Trend (Decreasing)"
    TWO_IN_THREE_ABOVE = "2 in 3 Above CL"
    TWO_IN_THREE_BELOW = "2 in 3 Below CL"
    SHIFT_ABOVE = "7 Points Above CL"
    SHIFT_BELOW = "7 Points Below CL"
    COMMON_CAUSE = "Common Cause"

    @property
    def side(self) -> int:
        """+1 for a high signal (above, increasing), -1 for a low one, 0 for common cause."""
        return _SIDE[self]


_SIDE = {
    SpecialCause.ABOVE_UCL: 1,
    SpecialCause.TREND_INCREASING: 1,
    SpecialCause.TWO_IN_THREE_ABOVE: 1,
    SpecialCause.SHIFT_ABOVE: 1,
    SpecialCause.BELOW_LCL: -1,
    SpecialCause.TREND_DECREASING: -1,
    SpecialCause.TWO_IN_THREE_BELOW: -1,
    SpecialCause.SHIFT_BELOW: -1,
    SpecialCause.COMMON_CAUSE: 0,
}


class PointType(StrEnum):
    """A point's variation, oriented by the metric's good direction."""

    IMPROVEMENT = "special_cause_improvement"
    CONCERN = "special_cause_concern"
    COMMON_CAUSE = "common_cause"
    NEUTRAL_HIGH = "special_cause_neutral_high"
    NEUTRAL_LOW = "special_cause_neutral_low"


class Assurance(StrEnum):
    """Whether the process will meet its target, judged from its limits."""

    PASS = "consistent_pass"
    FAIL = "consistent_fail"
    INCONSISTENT = "inconsistent"


TOO_FEW_POINTS = "too few points"
"""The reason a chart has no points; NHSRplotthedots warns below 12 points per segment."""
