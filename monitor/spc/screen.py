"""Many series at once: which charts cannot hold a special-cause concern, without drawing them.

``monitor.rules.spcrule.may_concern`` asks of one chart the conditions each of NHSRplotthedots'
concern rules needs (a point beyond the process limit on the bad side; two of three beyond the
2-sigma line there; seven in a row on the bad side of the mean; six steps in a row for the
worse). Asked of tens of thousands of series one at a time, computing each one's limits in
Python is most of an evaluation's cost. ``cannot_concern`` asks the same of a whole batch of
equally long series as array operations.

Array means are summed in a different order from ``monitor.spc.xmr``'s exactly rounded ones, so
their last bits may differ. The answer is therefore one-sided: every comparison that depends on
a computed mean or limit is widened by a tolerance far above that rounding error, so a chart is
reported clear only when the exact computation would find it clear too. A chart on the edge of
a condition (or whose screening of moving ranges is on the edge) is left to the exact path,
which draws it as before. The test (tests/spc/test_screen.py) holds that one-sidedness over
generated series, ties and flat ones included.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from monitor.spc.xmr import CLOSE, LIMIT, SCREEN

RELATIVE_TOLERANCE = 1e-7
"""How far (relative to a series' largest figure, plus one) a figure may sit from a computed
mean or limit and still be treated as on either side of it. Rounding differences between the
two ways of summing 36 figures are about 1e-14 of that."""

Bools = npt.NDArray[np.bool_]


def cannot_concern(rows: Sequence[Sequence[float]], higher_is_better: bool) -> list[bool]:
    """For each row (the figures of one chart, one segment, all rows the same length, at
    least two figures), True when no point of its chart can be a special-cause concern for a
    metric whose good direction is ``higher_is_better``; False when one may be (or when the
    row is too close to a limit to say)."""
    lengths = {len(r) for r in rows}
    if len(lengths) != 1 or min(lengths) < 2:
        raise ValueError(f"cannot_concern needs rows of equal length >= 2, got lengths {lengths}")
    v = np.array(rows, dtype=np.float64)
    tol = (RELATIVE_TOLERANCE * (np.abs(v).max(axis=1) + 1.0))[:, None]
    mean = v.mean(axis=1)[:, None]
    ranges = np.abs(np.diff(v, axis=1))
    amr = ranges.mean(axis=1)[:, None]
    # Screening (monitor.spc.xmr): ranges at or above 3.267 × their mean are left out.
    cut = SCREEN * amr
    edge = (np.abs(ranges - cut) <= tol).any(axis=1)
    kept = ranges < cut
    count = kept.sum(axis=1, keepdims=True)
    screened = np.where(
        count > 0, (ranges * kept).sum(axis=1, keepdims=True) / np.maximum(count, 1), 0.0
    )
    amr = np.where(kept.all(axis=1, keepdims=True), amr, screened)
    if higher_is_better:
        beyond = (v < mean - LIMIT * amr + tol).any(axis=1)
        near = v < mean - CLOSE * amr + tol
        bad_side = v < mean + tol
        worse = v[:, 1:] < v[:, :-1]
    else:
        beyond = (v > mean + LIMIT * amr - tol).any(axis=1)
        near = v > mean + CLOSE * amr - tol
        bad_side = v > mean - tol
        worse = v[:, 1:] > v[:, :-1]
    two_in_three = (near[:, :-1] & near[:, 1:]).any(axis=1)
    if near.shape[1] > 2:
        two_in_three |= (near[:, :-2] & near[:, 2:]).any(axis=1)
    may = beyond | two_in_three | _run(bad_side, 7) | _run(worse, 6) | edge
    return [bool(c) for c in ~may]


def _run(flags: Bools, length: int) -> Bools:
    """Per row, whether ``length`` consecutive flags are all set."""
    rows, n = flags.shape
    if n < length:
        return np.zeros(rows, dtype=np.bool_)
    span = n - length + 1
    out = flags[:, :span].copy()
    for j in range(1, length):
        out &= flags[:, j : j + span]
    return np.asarray(out.any(axis=1), dtype=np.bool_)
