"""Special causes of one segment: which points Making Data Count flags, and why.

Conforms to NHSRplotthedots' ``ptd_special_cause_type()`` and its helpers
(R/ptd_calculate_point_type.R at commit f7891af, the version with the 0.2.x fixes for points on
opposite sides of the mean (#143), decreasing trends (#167) and trends crossing the mean (#171)).
The rules, each marking every point of the pattern, in the package's order of precedence:

1. a point above the upper or below the lower process limit;
2. part of a run of 7 points each strictly higher (or lower) than the one before; a repeated
   value ends the run;
3. part of 2 of 3 consecutive points all on one side of the mean, at least two of them in the
   close-to-limits band (beyond 2 sigma, inside the limits); only the points in the band are
   flagged;
4. part of 7 consecutive points on one side of the mean; a point exactly on the mean ends the run.

The helpers take and return plain lists so each can be checked against the package's own
tests of the function of the same purpose (tests/test_spc_rules.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from monitor.spc.words import SpecialCause
from monitor.spc.xmr import Limits

RUN = 7
"""The length of a trend or a shift (NHSRplotthedots' default)."""


def sides(values: Sequence[float], mean: float) -> list[int]:
    """+1 above the mean, -1 below, 0 on it (R's ``sign(y - mean)``)."""
    return [(v > mean) - (v < mean) for v in values]


def trend_ends(values: Sequence[float]) -> list[int]:
    """+1 (-1) at a point that ends 7 strictly rising (falling) points, else 0."""
    ends = [0] * len(values)
    up = down = 0  # how many steps in a row have risen / fallen up to this point
    for i in range(1, len(values)):
        step = values[i] - values[i - 1]
        up = up + 1 if step > 0 else 0
        down = down + 1 if step < 0 else 0
        if up >= RUN - 1:
            ends[i] = 1
        elif down >= RUN - 1:
            ends[i] = -1
    return ends


def shift_ends(side: Sequence[int]) -> list[int]:
    """1 at a point that ends 7 consecutive points on the same side of the mean, else 0."""
    ends = [0] * len(side)
    run = 0
    previous = 0
    for i, s in enumerate(side):
        run = (run + 1 if s == previous else 1) if s else 0
        previous = s
        if run >= RUN:
            ends[i] = 1
    return ends


def part_of_run(ends: Sequence[int]) -> list[bool]:
    """True for every point of a run that ends at a non-zero entry of ``ends``."""
    part = [False] * len(ends)
    for j, e in enumerate(ends):
        if e:
            for i in range(max(0, j - RUN + 1), j + 1):
                part[i] = True
    return part


def two_in_three(close: Sequence[bool], side: Sequence[int]) -> list[bool]:
    """True for a point in any 3 consecutive points on one side with 2 or more close to limits."""
    n = len(close)
    if len(side) != n:
        raise ValueError(f"close ({n}) and side ({len(side)}) differ in length")
    window = [
        close[s] + close[s + 1] + close[s + 2] >= 2
        and abs(side[s] + side[s + 1] + side[s + 2]) == 3
        for s in range(n - 2)
    ]
    return [any(window[s] for s in range(max(0, i - 2), min(i, n - 3) + 1)) for i in range(n)]


def part_of_two_in_three(flags: Sequence[bool], close: Sequence[bool]) -> list[bool]:
    """Of the points in a 2-in-3 pattern, only those in the close-to-limits band."""
    return [bool(f and c) for f, c in zip(flags, close, strict=True)]


def special_causes(values: Sequence[float], lim: Limits) -> list[SpecialCause]:
    """The special cause of each point of one segment, or Common Cause."""
    side = sides(values, lim.mean)
    outside = [v > lim.upl or v < lim.lpl for v in values]
    close = [
        not out and (v < lim.near_lpl or v > lim.near_upl)
        for v, out in zip(values, outside, strict=True)
    ]
    trend = part_of_run(trend_ends(values))
    band = part_of_two_in_three(two_in_three(close, side), close)
    shift = part_of_run(shift_ends(side))
    causes = []
    for i, s in enumerate(side):
        if outside[i]:
            cause = SpecialCause.ABOVE_UCL if s == 1 else SpecialCause.BELOW_LCL
        elif trend[i]:
            rising = _trend_step(values, trend, i) == 1
            cause = SpecialCause.TREND_INCREASING if rising else SpecialCause.TREND_DECREASING
        elif band[i]:
            cause = SpecialCause.TWO_IN_THREE_ABOVE if s > 0 else SpecialCause.TWO_IN_THREE_BELOW
        elif shift[i]:
            cause = SpecialCause.SHIFT_ABOVE if s > 0 else SpecialCause.SHIFT_BELOW
        else:
            cause = SpecialCause.COMMON_CAUSE
        causes.append(cause)
    return causes


def _trend_step(values: Sequence[float], trend: Sequence[bool], i: int) -> int:
    """The direction of a trend point: the step to the next point when that is in a trend too,
    else the step from the previous point (NHSRplotthedots: "use right side")."""
    if i + 1 < len(values) and trend[i + 1]:
        step = values[i + 1] - values[i]
    elif i == 0:
        return 0
    else:
        step = values[i] - values[i - 1]
    return (step > 0) - (step < 0)
