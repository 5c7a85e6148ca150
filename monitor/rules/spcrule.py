"""The ``spc`` kind: a series' Making Data Count chart read as breach or clear, period by period.

One chart per (metric, organisation) and evaluation, drawn by monitor/spc at NHSRplotthedots'
defaults over every figure held (as a board's chart shows them), shared by every ``spc`` rule
on the metric. Each period from the 12th figure on is judged by its dot on that chart:

- a breach where the dot is a special-cause concern whose cause the rule counts (``beyond_limit``,
  ``trend``, ``two_in_three``, ``shift``), or, with ``failing_assurance``, where the chart
  consistently fails the metric's target (the target beyond the process limits on the good side;
  every dot of the latest segment);
- with ``worse_than``, only where the figure is also worse than that level;
- clear otherwise; a series of fewer than 12 figures is not assessed ("too few points").

A new figure redraws the chart, so earlier dots may change colour, as they do on the page.
"""

from __future__ import annotations

from monitor import spc
from monitor.metrics import Metric
from monitor.rules.conditions import BREACH, CLEAR, SKIP, small_numbers
from monitor.rules.inputs import Series
from monitor.rules.model import SpcRule
from monitor.spc import Assurance, Chart, PointType, SpecialCause

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


class Charts:
    """Charts drawn during one evaluation, by (metric, organisation)."""

    def __init__(self) -> None:
        self.memo: dict[tuple[str, str], Chart] = {}

    def of(self, metric: Metric, series: Series) -> Chart:
        key = (metric.id, series.org)
        c = self.memo.get(key)
        if c is None:
            c = self.memo[key] = spc.chart(
                series.values,
                series.starts,
                improvement_direction=metric.direction,
                target=target_of(metric),
            )
        return c


def spc_codes(rule: SpcRule, metric: Metric, series: Series, chart: Chart) -> str:
    """Breach/clear per period from the dots of ``chart`` (see the module docstring)."""
    n = len(series.values)
    if chart.reason is not None:
        return SKIP * n
    lead = spc.MIN_POINTS - 1
    fail = rule.failing_assurance and chart.assurance is Assurance.FAIL
    concern = bool(rule.special_causes) and PointType.CONCERN in chart.point_types
    if not fail and not concern:
        return small_numbers(SKIP * lead + CLEAR * (n - lead), series, rule.min_denominator)
    if fail:  # every dot of the latest segment
        last = chart.segment_of[-1]
        hits = [k == last for k in chart.segment_of]
    else:
        hits = [False] * n
    if concern:
        counted = _counted(rule.special_causes)
        for i, (kind, cause) in enumerate(
            zip(chart.point_types, chart.special_causes, strict=True)
        ):
            if kind is PointType.CONCERN and cause in counted:
                hits[i] = True
    level = rule.worse_than
    if level is not None:
        worse = metric.is_worse
        hits = [h and worse(v, level) for h, v in zip(hits, series.values, strict=True)]
    codes = SKIP * lead + "".join([BREACH if h else CLEAR for h in hits[lead:]])
    return small_numbers(codes, series, rule.min_denominator)


def _counted(groups: tuple[str, ...]) -> frozenset[SpecialCause]:
    """The special causes a rule counts, from its ``special_causes`` groups."""
    return frozenset(c for c, g in CAUSE_GROUP.items() if g in groups)
