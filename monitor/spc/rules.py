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
tests of the function of the same purpose (tests/test_spc.py).
"""

from __future__ import annotations

import operator
import re
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
    later = values[1:]
    # One byte per step between neighbours, 1 where it rises (falls): a trend is 6 ones in a row.
    for mark, steps in (
        (1, map(operator.gt, later, values)),
        (-1, map(operator.lt, later, values)),
    ):
        for run in _STEPS.finditer(bytes(steps)):
            for i in range(run.start() + RUN - 1, run.end() + 1):
                ends[i] = mark
    return ends


def shift_ends(side: Sequence[int]) -> list[int]:
    """1 at a point that ends 7 consecutive points on the same side of the mean, else 0."""
    ends = [0] * len(side)
    for run in _SIDES.finditer(bytes(map(_PLUS_ONE, side))):  # sides -1, 0, 1 as bytes 0, 1, 2
        for i in range(run.start() + RUN - 1, run.end()):
            ends[i] = 1
    return ends


_STEPS = re.compile(b"\x01{%d,}" % (RUN - 1))
_SIDES = re.compile(b"\x00{%d,}|\x02{%d,}" % (RUN, RUN))
_PLUS_ONE = (1).__add__


def part_of_run(ends: Sequence[int]) -> list[bool]:
    """True for every point of a run that ends at a non-zero entry of ``ends``."""
    part = [False] * len(ends)
    if not any(ends):
        return part
    done = 0  # points before this are already marked
    for j, e in enumerate(ends):
        if e:
            for i in range(max(done, j - RUN + 1), j + 1):
                part[i] = True
            done = j + 1
    return part


def two_in_three(close: Sequence[bool], side: Sequence[int]) -> list[bool]:
    """True for a point in any 3 consecutive points on one side with 2 or more close to limits."""
    n = len(close)
    if len(side) != n:
        raise ValueError(f"close ({n}) and side ({len(side)}) differ in length")
    flags = [False] * n
    for s in range(n - 2):
        if (
            close[s] + close[s + 1] + close[s + 2] >= 2
            and abs(side[s] + side[s + 1] + side[s + 2]) == 3
        ):
            flags[s] = flags[s + 1] = flags[s + 2] = True
    return flags


def part_of_two_in_three(flags: Sequence[bool], close: Sequence[bool]) -> list[bool]:
    """Of the points in a 2-in-3 pattern, only those in the close-to-limits band."""
    if len(flags) != len(close):
        raise ValueError(f"flags ({len(flags)}) and close ({len(close)}) differ in length")
    return list(map(operator.and_, flags, close))


def special_causes(values: Sequence[float], lim: Limits) -> list[SpecialCause]:
    """The special cause of each point of one segment, or Common Cause.

    Each rule marks its points, the rule of lowest precedence first, so that a point that
    breaks several rules keeps the name of the first in NHSRplotthedots' order.
    """
    n = len(values)
    side = sides(values, lim.mean)
    causes = [SpecialCause.COMMON_CAUSE] * n
    shift = part_of_run(shift_ends(side))
    for i in _marked(shift):
        causes[i] = SpecialCause.SHIFT_ABOVE if side[i] > 0 else SpecialCause.SHIFT_BELOW
    # Points beyond the 2-sigma line: each either close to the limits or outside them.
    lpl, upl, near_lpl, near_upl = lim.lpl, lim.upl, lim.near_lpl, lim.near_upl
    beyond = [i for i, v in enumerate(values) if v < near_lpl or v > near_upl]
    outside = [i for i in beyond if values[i] > upl or values[i] < lpl]
    if len(beyond) - len(outside) >= 2:
        close = [False] * n
        for i in beyond:
            close[i] = lpl <= values[i] <= upl
        for i in _marked(part_of_two_in_three(two_in_three(close, side), close)):
            causes[i] = _TWO_IN_THREE[side[i] > 0]
    trend = part_of_run(trend_ends(values))
    for i in _marked(trend):
        rising = _trend_step(values, trend, i) == 1
        causes[i] = SpecialCause.TREND_INCREASING if rising else SpecialCause.TREND_DECREASING
    for i in outside:
        causes[i] = SpecialCause.ABOVE_UCL if side[i] == 1 else SpecialCause.BELOW_LCL
    return causes


def _marked(flags: list[bool]) -> list[int]:
    """The indices of the flagged points (`any` first: most rules flag nothing)."""
    return [i for i, f in enumerate(flags) if f] if any(flags) else []


_TWO_IN_THREE = {True: SpecialCause.TWO_IN_THREE_ABOVE, False: SpecialCause.TWO_IN_THREE_BELOW}


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
