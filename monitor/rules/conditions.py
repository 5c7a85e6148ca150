"""Per-kind conditions: one code per period, for the state machine in states.py.

Codes: ``B`` breach; ``C`` clear (resolves an open episode); ``H`` hold (no breach, but not past
the hysteresis level: keeps a firing alert firing, ends a pending one); ``N`` not assessed
(too small a denominator, no level in force, nothing to compare with): the state carries on.
Which way is worse always comes from the metric catalogue (monitor/metrics.py).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from datetime import date
from operator import add

import numpy as np

from monitor.metrics import Granularity, Metric
from monitor.rules.inputs import RatingRecord, Series, same_periods
from monitor.rules.model import (
    ANY,
    ChangeRule,
    Level,
    RankRule,
    RatingRule,
    ThresholdRule,
    TrendRule,
)

BREACH, CLEAR, HOLD, SKIP = "B", "C", "H", "N"
_B, _C, _H = (np.uint8(ord(c)) for c in (BREACH, CLEAR, HOLD))
# The comparisons of _ops, as arrays: a breach of the level, and past the clear level.
_ARRAY_BREACH = {
    "below": np.less,
    "at_or_below": np.less_equal,
    "above": np.greater,
    "at_or_above": np.greater_equal,
}
_ARRAY_CLEARED = {
    "below": np.greater_equal,
    "at_or_below": np.greater_equal,
    "above": np.less_equal,
    "at_or_above": np.less_equal,
}
# bytes of (2 * breach + cleared) -> code; breach wins when a level and its clear level meet.
_TABLE = bytes.maketrans(b"\x00\x01\x02\x03", b"HCBB")
_TABLE2 = bytes.maketrans(b"\x00\x01", b"CB")


def shift_months(d: date, months: int) -> date:
    """The same day ``months`` later (or earlier); period starts are the 1st of a month."""
    y, m = divmod(d.month - 1 + months, 12)
    return d.replace(year=d.year + y, month=m + 1)


_MONTHS: dict[str, int] = {Granularity.MONTH: 1, Granularity.QUARTER: 3}


def months_of(granularity: str) -> int:
    """Months in one period of ``granularity`` (0 for dated events such as CQC reports)."""
    return _MONTHS.get(granularity, 0)


def period_months(metric: Metric) -> int:
    """Months in one period of ``metric`` (0 for dated events such as CQC reports)."""
    return months_of(metric.granularity)


def _ops(when: str, level: float, clear: float) -> tuple[Callable[[float], bool], ...]:
    # Bound methods of the level keep the per-period work inside C: L > v is "v below L".
    if when == "below":
        return level.__gt__, clear.__le__
    if when == "at_or_below":
        return level.__ge__, clear.__le__
    if when == "above":
        return level.__lt__, clear.__ge__
    return level.__le__, clear.__ge__


def breaches(when: str, level: float, value: float) -> bool:
    """True when ``value`` breaches ``level`` for a threshold rule's ``when`` (below, ...)."""
    return _ops(when, float(level), float(level))[0](float(value))


def _segment_codes(when: str, level: float, clear: float | None, values: Sequence[float]) -> str:
    breach, cleared = _ops(when, float(level), float(level if clear is None else clear))
    # Most series never breach: their lowest (or highest) figure says so without a pass in
    # Python. Without a breach, held periods change nothing either.
    if not breach(min(values) if when in ("below", "at_or_below") else max(values)):
        return CLEAR * len(values)
    if clear is None:
        return bytes(map(breach, values)).translate(_TABLE2).decode()
    twice = map(add, map(breach, values), map(breach, values))
    return bytes(map(add, twice, map(cleared, values))).translate(_TABLE).decode()


class ThresholdCheck:
    """One threshold rule, compiled for many series: ``codes(series)`` is ``threshold_codes``.

    A level breached by a figure is breached by it at the rule's loosest level too (the
    highest of ``below`` levels, the lowest of ``above`` ones), so one comparison of a series'
    lowest (highest) figure with that level clears a series that never breaches any level.
    """

    def __init__(self, rule: ThresholdRule) -> None:
        self.rule = rule
        self.levels = rule.effective_levels()
        low = rule.when in ("below", "at_or_below")
        values = [float(level.value) for level in self.levels]
        self.loosest = _ops(rule.when, *(2 * [max(values) if low else min(values)]))[0]
        self.extreme = min if low else max
        self.first_from = self.levels[0].from_
        self.clear_codes: dict[tuple[int, int], str] = {}

    def codes(self, series: Series) -> str:
        rule, starts, values = self.rule, series.starts, series.values
        first = 0 if starts[0] >= self.first_from else bisect_left(starts, self.first_from)
        n = len(values)
        if first < n and not self.loosest(self.extreme(values[first:] if first else values)):
            clear = self.clear_codes.get((first, n))
            if clear is None:
                clear = self.clear_codes[(first, n)] = SKIP * first + CLEAR * (n - first)
            return small_numbers(clear, series, rule.min_denominator)
        return threshold_codes(rule, series, self.levels)

    def codes_many(self, many: Sequence[Series], at_least: int = 32) -> dict[str, str]:
        """``codes`` of many series at once, by organisation: the series with the same periods
        (``at_least`` of them) are compared with each level as one array, with the same float
        comparisons and the same per-level shortcut (a level no figure breaches gives clear
        throughout, held periods included), so the codes are identical. The rest are left
        out: the caller codes them one by one."""
        out: dict[str, str] = {}
        for starts, members in same_periods(many)[0]:
            if len(members) >= at_least:
                out.update(self._as_array(starts, members))
        return out

    def _as_array(self, starts: list[date], members: list[Series]) -> dict[str, str]:
        rule, levels, n = self.rule, self.levels, len(starts)
        values = np.array([s.values for s in members], dtype=np.float64)
        codes = np.full(values.shape, ord(SKIP), dtype=np.uint8)
        for k, level in enumerate(levels):
            lo = bisect_left(starts, level.from_)
            hi = bisect_left(starts, levels[k + 1].from_) if k + 1 < len(levels) else n
            if hi <= lo:
                continue
            seg = values[:, lo:hi]
            clear = level.clear if level.clear is not None else rule.clear
            breach = _ARRAY_BREACH[rule.when](seg, float(level.value))
            if clear is None:
                codes[:, lo:hi] = np.where(breach, _B, _C)
                continue
            cleared = _ARRAY_CLEARED[rule.when](seg, float(clear))
            held = np.where(breach, _B, np.where(cleared, _C, _H))
            # A segment without a breach is clear throughout (see _segment_codes).
            codes[:, lo:hi] = np.where(np.any(breach, axis=1, keepdims=True), held, _C)
        text = codes.tobytes().decode("ascii")
        md = rule.min_denominator
        return {
            s.org: small_numbers(text[k * n : (k + 1) * n], s, md) for k, s in enumerate(members)
        }


def threshold_codes(
    rule: ThresholdRule, series: Series, levels: Sequence[Level] | None = None
) -> str:
    """Breach/clear/hold per period against the level in force for each period.

    ``levels`` is ``rule.effective_levels()``, passed in when evaluating many series.
    """
    levels = levels or rule.effective_levels()
    starts, values = series.starts, series.values
    parts: list[str] = []
    first = bisect_left(starts, levels[0].from_)
    n = len(values)
    if first < n:
        # Most series never breach any level: their lowest (highest) figure says so at once.
        tail = values[first:] if first else values
        extreme = min(tail) if rule.when in ("below", "at_or_below") else max(tail)
        if not any(breaches(rule.when, level.value, extreme) for level in levels):
            return small_numbers(SKIP * first + CLEAR * (n - first), series, rule.min_denominator)
    if first:
        parts.append(SKIP * first)  # before any level was in force
    for k, level in enumerate(levels):
        lo = bisect_left(starts, level.from_)
        hi = bisect_left(starts, levels[k + 1].from_) if k + 1 < len(levels) else len(starts)
        if hi > lo:
            clear = level.clear if level.clear is not None else rule.clear
            parts.append(_segment_codes(rule.when, level.value, clear, values[lo:hi]))
    codes = "".join(parts)
    return small_numbers(codes, series, rule.min_denominator)


def small_numbers(codes: str, series: Series, min_denominator: float | None) -> str:
    """Periods whose denominator is below ``min_denominator`` are not assessed."""
    if min_denominator is None:
        return codes
    out = list(codes)
    for i, p in enumerate(series.points):
        if p.denominator is not None and p.denominator < min_denominator:
            out[i] = SKIP
    return "".join(out)


def threshold_at(rule: ThresholdRule, start: date) -> tuple[float | None, float | None]:
    """The level and hysteresis level in force for the period starting ``start``."""
    levels = rule.effective_levels()
    k = bisect_right([lv.from_ for lv in levels], start) - 1
    if k < 0:
        return None, None
    level = levels[k]
    return level.value, level.clear if level.clear is not None else rule.clear


def _previous(series: Series, i: int, months: int) -> int | None:
    """Index of the period ``months`` before period ``i``, when the series has it."""
    if months <= 0 or i == 0:
        return None
    if series.starts[i - 1] == shift_months(series.starts[i], -months):
        return i - 1
    return series.index(shift_months(series.starts[i], -months))


def trend_codes(rule: TrendRule, metric: Metric, series: Series) -> str:
    """Breach where each of the last ``periods`` steps was worse than the period before."""
    step = period_months(metric)
    worse_steps = 0
    out = []
    for i, v in enumerate(series.values):
        j = _previous(series, i, step)
        if j is None:
            worse_steps = 0
            out.append(SKIP)
            continue
        if metric.worsening(v, series.values[j]) > rule.by_at_least:
            worse_steps += 1
        else:
            worse_steps = 0
        out.append(BREACH if worse_steps >= rule.periods else CLEAR if worse_steps == 0 else HOLD)
    return small_numbers("".join(out), series, rule.min_denominator)


def comparator(rule: ChangeRule, metric: Metric, series: Series, i: int) -> float | None:
    """The earlier figure period ``i`` is compared with (previous period or a year before)."""
    months = period_months(metric) if rule.against == "previous" else 12
    j = _previous(series, i, months)
    return None if j is None else series.values[j]


def change_level(rule: ChangeRule, metric: Metric, earlier: float) -> float:
    """The value that is "worse by at least by_at_least" than ``earlier``."""
    delta = abs(earlier) * rule.by_at_least / 100 if rule.relative else rule.by_at_least
    return earlier - delta if metric.higher_is_better else earlier + delta


def change_codes(rule: ChangeRule, metric: Metric, series: Series) -> str:
    """Breach where the figure is worse than the comparison by at least ``by_at_least``."""
    out = []
    for i, v in enumerate(series.values):
        earlier = comparator(rule, metric, series, i)
        if earlier is None or (rule.relative and earlier == 0):
            out.append(SKIP)
        else:
            level = change_level(rule, metric, earlier)
            out.append(CLEAR if metric.is_worse(level, v) else BREACH)
    return small_numbers("".join(out), series, rule.min_denominator)


def bottom_cutoff(rule: RankRule, metric: Metric, peers: float | None) -> float | None:
    """The best rank that is still in the bottom N of a peer group of ``peers``."""
    assert rule.bottom is not None
    if peers is None:
        return None
    return peers - rule.bottom + 1 if not metric.higher_is_better else float(rule.bottom)


def rank_codes(rule: RankRule, metric: Metric, series: Series) -> str:
    """Segment at or beyond N, rank in the bottom N of its peers, or fallen a segment."""
    out = []
    if rule.at_or_beyond is not None:
        n = rule.at_or_beyond
        for v in series.values:
            if not metric.is_worse(float(n), v):  # v is n or worse
                out.append(BREACH)
            elif rule.clear is None or not metric.is_worse(v, rule.clear):
                out.append(CLEAR)
            else:
                out.append(HOLD)
    elif rule.bottom is not None:
        for p in series.points:
            cutoff = bottom_cutoff(rule, metric, p.denominator)
            out.append(
                SKIP if cutoff is None else CLEAR if metric.is_worse(cutoff, p.value) else BREACH
            )
    else:
        out = list(fallen_codes(metric, series.values))
    return small_numbers("".join(out), series, rule.min_denominator)


def fallen_codes(metric: Metric, values: Sequence[float | None]) -> list[str]:
    """Breach while the figure is worse than it was before it fell; clear once it is back."""
    out = []
    reference: float | None = None  # the figure before the fall
    previous: float | None = None
    for v in values:
        if v is None:
            out.append(SKIP)
            continue
        if reference is not None and metric.is_worse(v, reference):
            out.append(BREACH)
        elif previous is not None and metric.is_worse(v, previous):
            reference = previous
            out.append(BREACH)
        else:
            reference = None
            out.append(CLEAR)
        previous = v
    return out


class RatingCheck:
    """One rating rule, compiled: per report date, is the organisation in breach?

    In the set: any matching rating (provider or location, service, key question) currently in
    ``in``. Downgrade: any matching rating still worse than it was before it was lowered;
    inherited ratings (carried over after a merger) reset the reference and never count.
    """

    def __init__(self, rule: RatingRule, metric: Metric) -> None:
        self.rule, self.metric = rule, metric
        self.wanted = {w.lower() for w in rule.in_}
        self.subjects = rule.subjects
        self.domain = None if rule.domain == ANY else rule.domain.lower()
        self.service = None if rule.service == ANY else rule.service.lower()

    def selected(self, r: RatingRecord) -> bool:
        if self.subjects != ANY and r.subject_type != self.subjects:
            return False
        if self.domain is not None and r.domain.lower() != self.domain:
            return False
        return self.service is None or r.service.lower() == self.service

    def codes(self, records: Sequence[RatingRecord]) -> tuple[list[date], str, list[RatingRecord]]:
        """The report dates, a code per date, and per date the rating that decided it."""
        rule, metric = self.rule, self.metric
        if len(records) == 1:  # the common case: one rating, nothing to compare it with
            r = records[0]
            if not self.selected(r):
                return [], "", []
            hit = not rule.downgrade and r.rating.lower() in self.wanted
            return [r.report_date], BREACH if hit else CLEAR, [r]
        current: dict[tuple[str, str, str], RatingRecord] = {}
        reference: dict[tuple[str, str, str], int] = {}  # the ordinal before a downgrade
        dates: list[date] = []
        codes: list[str] = []
        deciding: list[RatingRecord] = []
        for r in records:
            if not self.selected(r):
                continue
            key = (r.subject, r.service, r.domain)
            before = current.get(key)
            current[key] = r
            if rule.downgrade and r.ordinal is not None:
                old = reference.get(key)
                if r.inherited:
                    reference.pop(key, None)
                elif old is not None and metric.is_worse(r.ordinal, old):
                    pass  # still below where it was before the downgrade
                elif (
                    before is not None
                    and before.ordinal is not None
                    and (metric.is_worse(r.ordinal, before.ordinal))
                ):
                    reference[key] = before.ordinal
                else:
                    reference.pop(key, None)
            if dates and dates[-1] == r.report_date:  # several ratings on one report date
                dates.pop()
                codes.pop()
                deciding.pop()
            if rule.downgrade:
                bad = [current[k] for k in reference]
            else:
                bad = [c for c in current.values() if c.rating.lower() in self.wanted]
            worst = r
            for c in bad:
                if worst is r or _worse_rating(metric, c, worst):
                    worst = c
            dates.append(r.report_date)
            codes.append(BREACH if bad else CLEAR)
            deciding.append(worst)
        return dates, "".join(codes), deciding


def _worse_rating(metric: Metric, a: RatingRecord, b: RatingRecord) -> bool:
    if a.ordinal is None:
        return False
    return b.ordinal is None or metric.is_worse(a.ordinal, b.ordinal)
