"""The ``spc`` kind: a series' Making Data Count chart read as breach or clear, period by period.

One chart per (metric, organisation) and evaluation, drawn by monitor/spc at NHSRplotthedots'
defaults over the figures a trust page charts (those of the last 36 periods of the calendar,
monitor/spc/window.py), shared by every ``spc`` rule on the metric. Each period from the 12th
figure of the chart on is judged by its dot on that chart; earlier figures are not judged:

- a breach where the dot is a special-cause concern whose cause the rule counts (``beyond_limit``,
  ``trend``, ``two_in_three``, ``shift``), or, with ``failing_assurance``, where the chart
  consistently fails the metric's target (the target beyond the process limits on the good side;
  every dot of the latest segment);
- with ``worse_than``, only where the figure is also worse than that level;
- clear otherwise; a series of fewer than 12 figures is not assessed ("too few points").

A new figure redraws the chart, so earlier dots may change colour, as they do on the page.
The chart's limits come first: they answer the assurance, and where they rule out every
special-cause concern (``may_concern``) the dots are not drawn at all; the alert's evidence
draws the chart of the series it reports on. Over many series the limits themselves are first
screened as arrays (``Charts.screen``, monitor/spc/screen.py), which only ever clears a series
the exact computation would clear.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from operator import and_, gt, lt, or_

from monitor import spc
from monitor.metrics import Metric
from monitor.rules.conditions import BREACH, CLEAR, SKIP, small_numbers
from monitor.rules.inputs import Series
from monitor.rules.model import SpcRule
from monitor.spc import Assurance, Chart, Limits, PointType, SpecialCause
from monitor.spc.assurance import assurance as assurance_of
from monitor.spc.screen import cannot_concern
from monitor.spc.window import window_start
from monitor.spc.xmr import limits as xmr_limits

CAUSE_GROUP: dict[SpecialCause, str] = {
    SpecialCause.ABOVE_UCL: "beyond_limit",
    SpecialCause.BELOW_LCL: "beyond_limit",
    SpecialCause.TREND_INCREASING: "trend",
    SpecialCause.TREND_DECREASING: "trend",
    SpecialCause.TWO_IN_THREE_ABOVE: "two_in_three",
    SpecialCause.TWO_IN_THREE_BELOW: "two_in_three",
    SpecialCause.SHIFT_ABOVE: "shift",
    SpecialCause.SHIFT_BELOW: "shift",
}


def target_of(metric: Metric) -> float | None:
    """The value the chart's assurance is judged against (the catalogue's TARGETS)."""
    t = metric.target
    return None if t is None else float(t.value)


def shown(metric: Metric, series: Series) -> int:
    """Where the series' chart starts: its figures of the last CHART_PERIODS periods of the
    calendar, as the trust page charts them (monitor/spc/window.py)."""
    return window_start(series.starts, metric.granularity)


def chart_of(metric: Metric, series: Series) -> Chart:
    """The series' Making Data Count chart at NHSRplotthedots' defaults, with its target,
    over the figures a trust page charts."""
    w = shown(metric, series)
    return spc.chart(
        series.values[w:] if w else series.values,
        series.starts[w:] if w else series.starts,
        improvement_direction=metric.direction,
        target=target_of(metric),
    )


def may_concern(values: Sequence[float], lim: Limits, higher_is_better: bool) -> bool:
    """False only when no point of a one-segment chart with limits ``lim`` can be a
    special-cause concern: none beyond the lower (upper) process limit, no two within three
    points beyond the 2-sigma line on the bad side, no 7 in a row on the bad side of the mean
    and no 6 steps in a row for the worse. These are the conditions each of NHSRplotthedots'
    rules needs (monitor/spc/rules.py), so the chart need not be drawn when none holds."""
    if higher_is_better:
        if min(values) < lim.lpl:
            return True
        near = bytes(map(lim.near_lpl.__gt__, values))
        bad_side = bytes(map(lim.mean.__gt__, values))
        worse = bytes(map(lt, values[1:], values))
    else:
        if max(values) > lim.upl:
            return True
        near = bytes(map(lim.near_upl.__lt__, values))
        bad_side = bytes(map(lim.mean.__lt__, values))
        worse = bytes(map(gt, values[1:], values))
    return _RUN7 in bad_side or _RUN6 in worse or _NEAR_TWICE.search(near) is not None


_RUN7 = b"\x01" * 7
_RUN6 = b"\x01" * 6
_NEAR_TWICE = re.compile(b"\x01[\x00\x01]?\x01")  # two of three points beyond 2 sigma


SCREEN_MIN = 256
"""Series a rule must judge before ``Charts.screen`` clears them as a batch (below it, one by
one costs less than building the arrays)."""


class Charts:
    """What one evaluation has drawn, by (metric, organisation): limits, and charts where a
    rule needs the dots."""

    def __init__(self) -> None:
        self.charts: dict[tuple[str, str], Chart] = {}
        self.limits: dict[tuple[str, str], Limits] = {}
        self.concerns: dict[tuple[str, str], bool] = {}
        self.windows: dict[tuple[str, str], tuple[int, Sequence[float]]] = {}

    def concern(self, metric: Metric, series: Series) -> bool:
        """True when the series' chart has a special-cause concern at some dot."""
        key = (metric.id, series.org)
        found = self.concerns.get(key)
        if found is None:
            lim = self.limits_of(metric, series)
            found = may_concern(self.shown(metric, series)[1], lim, metric.higher_is_better) and (
                PointType.CONCERN in self.chart(metric, series).point_types
            )
            self.concerns[key] = found
        return found

    def screen(self, metric: Metric, many: Iterable[Series]) -> None:
        """Clear in one batch the series of ``many`` whose charts cannot hold a special-cause
        concern (monitor/spc/screen.py), so that ``concern`` answers them without drawing
        limits one by one. Series already judged are left as they are (a second rule on the
        metric finds them all judged); the rest stay to the exact path."""
        by_length: dict[int, list[tuple[str, Sequence[float]]]] = {}
        for series in many:
            key = (metric.id, series.org)
            if key in self.concerns:
                continue
            values = self.shown(metric, series)[1]
            if len(values) >= spc.MIN_POINTS:
                by_length.setdefault(len(values), []).append((series.org, values))
        for batch in by_length.values():
            if len(batch) < SCREEN_MIN:
                continue
            clear = cannot_concern([v for _, v in batch], metric.higher_is_better)
            self.concerns.update(
                ((metric.id, org), False) for (org, _), c in zip(batch, clear, strict=True) if c
            )

    def clear_codes(self, rule: SpcRule, metric: Metric, many: Sequence[Series]) -> dict[str, str]:
        """By organisation, the codes of the series of ``many`` the rule finds clear without
        drawing a chart: those ``screen`` clears, when the rule has no assurance to judge.
        The rest are left out: the caller codes them one by one (``spc_codes``)."""
        if rule.failing_assurance or not rule.special_causes:
            return {}
        self.screen(metric, many)
        concerns, mid = self.concerns, metric.id
        out: dict[str, str] = {}
        texts: dict[tuple[int, int], str] = {}
        lead = spc.MIN_POINTS - 1
        for series in many:
            if concerns.get((mid, series.org)) is not False:
                continue
            w = self.shown(metric, series)[0]
            n = len(series.values) - w
            text = texts.get((w, n))
            if text is None:
                text = texts[(w, n)] = SKIP * (w + lead) + CLEAR * (n - lead)
            out[series.org] = small_numbers(text, series, rule.min_denominator)
        return out

    def shown(self, metric: Metric, series: Series) -> tuple[int, Sequence[float]]:
        """Where the series' chart starts (``shown``), and the figures it charts."""
        key = (metric.id, series.org)
        got = self.windows.get(key)
        if got is None:
            w = shown(metric, series)
            got = self.windows[key] = (w, series.values[w:] if w else series.values)
        return got

    def chart(self, metric: Metric, series: Series) -> Chart:
        key = (metric.id, series.org)
        c = self.charts.get(key)
        if c is None:
            c = self.charts[key] = chart_of(metric, series)
        return c

    def limits_of(self, metric: Metric, series: Series) -> Limits:
        key = (metric.id, series.org)
        lim = self.limits.get(key)
        if lim is None:
            c = self.charts.get(key)
            lim = c.segments[-1] if c is not None else xmr_limits(self.shown(metric, series)[1])
            self.limits[key] = lim
        return lim


def spc_codes(rule: SpcRule, metric: Metric, series: Series, charts: Charts) -> str:
    """Breach/clear per period from the dots of the series' chart (see the module docstring).

    The chart is drawn only when a breach is possible: its limits alone answer the assurance
    and rule out a special-cause concern for most series.
    """
    everything = len(series.values)
    w, values = charts.shown(metric, series)  # figures before the chart's window: not judged
    n = everything - w
    if n < spc.MIN_POINTS:
        return SKIP * everything
    lead = spc.MIN_POINTS - 1
    fail = False
    if rule.failing_assurance:
        lim = charts.limits_of(metric, series)
        fail = assurance_of(target_of(metric), lim.lpl, lim.upl, metric.direction) is Assurance.FAIL
    concern = bool(rule.special_causes) and charts.concern(metric, series)
    if not fail and not concern:
        codes = SKIP * (w + lead) + CLEAR * (n - lead)
        return small_numbers(codes, series, rule.min_denominator)
    hits = [True] * n if fail else [False] * n  # no rebase: one segment
    if concern:
        chart = charts.chart(metric, series)
        counted = _counted(rule.special_causes)
        concerns = map(PointType.CONCERN.__eq__, chart.point_types)
        hits = list(
            map(or_, hits, map(and_, concerns, map(counted.__contains__, chart.special_causes)))
        )
    level = rule.worse_than
    if level is not None:
        worse = metric.is_worse
        hits = [h and worse(v, level) for h, v in zip(hits, values, strict=True)]
    codes = SKIP * (w + lead) + "".join([BREACH if h else CLEAR for h in hits[lead:]])
    return small_numbers(codes, series, rule.min_denominator)


@functools.cache
def _counted(groups: tuple[str, ...]) -> frozenset[SpecialCause]:
    """The special causes a rule counts, from its ``special_causes`` groups."""
    return frozenset(c for c, g in CAUSE_GROUP.items() if g in groups)
