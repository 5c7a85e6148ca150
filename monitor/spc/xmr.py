"""XmR process limits of one segment: the mean, the screened mean moving range, the limits.

Conforms to NHSRplotthedots' ``ptd_spc_standard()`` (R/ptd_spc_standard.R at commit 8aac3239)
at its defaults (no ``fix_after_n_points``, ``screen_outliers = TRUE``):

1. the centre line is the mean of every point of the segment;
2. the moving ranges are |x[i] - x[i-1]|; the first point has none (R's leading NA is dropped
   by ``mean(na.rm = TRUE)``, so the mean is over n - 1 ranges);
3. screening: a moving range is kept only when it is strictly below 3.267 times the mean of all
   the moving ranges, and the mean moving range is taken again over the kept ones;
4. process limits at mean ± 2.66 × mean moving range, and the "close to limits" band at
   mean ± 2 × (2.66 / 3) × mean moving range (the 2-sigma line), computed in that order, with
   means taken R's way, so the figures are the same doubles R produces.

One case R leaves undefined: when every moving range is zero (a flat series) screening keeps
none (0 < 0 is false) and R's limits become NaN. Here the mean moving range is then 0 and the
limits sit on the mean: a flat series shows no variation, and no point can lie outside it.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

LIMIT = 2.66
"""Process limits: 2.66 × the mean moving range (3 sigma for an XmR chart)."""
CLOSE = 2 * (LIMIT / 3)
"""The "close to limits" band: two thirds of the way to the limits (2 sigma)."""
SCREEN = 3.267
"""Moving ranges at or above this many times their mean are left out of the mean moving range."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits of one segment of a chart."""

    mean: float
    mean_moving_range: float
    lpl: float
    upl: float
    near_lpl: float  # the close-to-limits band's lower edge
    near_upl: float


def limits(values: Sequence[float], *, screen_outliers: bool = True) -> Limits:
    """The XmR limits of ``values`` (at least two points), NHSRplotthedots' way."""
    n = len(values)
    if n < 2:
        raise ValueError(f"XmR limits need at least 2 points, got {n}")
    mean = r_mean(values)
    ranges = list(map(abs, map(operator.sub, values[1:], values)))
    amr = r_mean(ranges)
    if screen_outliers:
        cut = SCREEN * amr
        if not max(ranges) < cut:  # else every range is kept and the mean stands
            kept = [r for r in ranges if r < cut]
            amr = r_mean(kept) if kept else 0.0
    return Limits(
        mean=mean,
        mean_moving_range=amr,
        lpl=mean - LIMIT * amr,
        upl=mean + LIMIT * amr,
        near_lpl=mean - CLOSE * amr,
        near_upl=mean + CLOSE * amr,
    )


def r_mean(values: Sequence[float]) -> float:
    """The mean as R's ``mean()`` computes it: a first estimate, then the mean of the residuals
    added to it, so that the limits are the same doubles NHSRplotthedots prints."""
    n = len(values)
    first = math.fsum(values) / n
    return first + math.fsum(map(operator.sub, values, repeat(first))) / n
