"""Server-side SVG charts: a trust's Making Data Count chart of one metric, and the bar trend
of an alert's last periods with its breaches in red.

No JavaScript: the SVG is part of the page. Each chart is one image to assistive technology
(role="img" with a <title> and a <desc> that says what it shows in words); the page also
offers the same figures as a table. Whatever is stored, drawing takes a bounded number of
steps: figures a unit cannot hold are marked at the edge of the chart (monitor/web/axes.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from typing import Any

from markupsafe import Markup, escape

from monitor.periods import granularity_of, period_label, unit_of
from monitor.rules.conditions import breaches
from monitor.rules.evidence import Evidence
from monitor.web import icons
from monitor.web.axes import CalendarAxis, domain, drawable, nice_ticks, tick_label
from monitor.web.present import figure, threshold
from monitor.web.spc_view import Dot, SpcView

WIDTH, HEIGHT = 440, 260
LEFT, RIGHT, TOP, BOTTOM = 58, 14, 12, 34
ENGLAND_COLOUR = "#4c6272"  # NHS dark grey
BREACH_COLOUR = "#d5281b"  # NHS red: as the emails' trend bars
BAR_COLOUR = "#005eb8"  # NHS blue
TEXT = 'font-size="11" fill="#212b32" font-family="Arial, sans-serif"'


class _Frame:
    """The plot area: a calendar x axis and a y axis of round ticks."""

    def __init__(self, first: date, last: date, granularity: str, ticks: list[float]) -> None:
        self.axis = CalendarAxis(first, granularity)
        self.span = max(self.axis.index(last), 1.0)
        self.ticks = ticks
        self.y0, self.y1 = ticks[0], ticks[-1]
        self.w, self.h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(self, d: date) -> float:
        return LEFT + self.w * self.axis.index(d) / self.span

    def y(self, v: float) -> float:
        v = min(max(v, self.y0), self.y1)  # on the chart, whatever the value
        return TOP + self.h * (1 - (v - self.y0) / (self.y1 - self.y0))


def _range(values: Iterable[float], unit: str) -> tuple[float, float]:
    """The y range that shows every drawable value (from zero for counts)."""
    found = [v for v in values if drawable(v, unit)]
    lo_bound, hi_bound = domain(unit)
    if not found:
        return (0.0, 100.0) if unit == "%" else (0.0, 1.0)
    low, high = min(found), max(found)
    pad = (high - low) * 0.1
    if unit == "%":
        return max(lo_bound, low - pad), min(hi_bound, high + pad / 2)
    if unit == "count":
        return min(low, 0.0), high  # counts from zero, so their sizes compare honestly
    return low - pad, high + pad


def _runs(frame: _Frame, dots: list[tuple[date, float]]) -> list[list[tuple[float, float]]]:
    """Points joined by lines only between adjacent periods: a missing period is a gap."""
    runs: list[list[tuple[float, float]]] = []
    previous: date | None = None
    for d, v in dots:
        if previous is None or not frame.axis.adjacent(previous, d):
            runs.append([])
        runs[-1].append((frame.x(d), frame.y(v)))
        previous = d
    return runs


def _polylines(runs: list[list[tuple[float, float]]], css: str, style: str) -> list[str]:
    return [
        f'<polyline class="{css}" fill="none" {style} '
        f'points="{" ".join(f"{x:.1f},{y:.1f}" for x, y in run)}"/>'
        for run in runs
        if len(run) > 1
    ]


def _hline(frame: _Frame, css: str, level: float, style: str, x1: float, x2: float) -> str:
    y = frame.y(level)
    return f'<line class="{css}" x1="{x1:.1f}" x2="{x2:.1f}" y1="{y:.1f}" y2="{y:.1f}" {style}/>'


def _axes(frame: _Frame, unit: str, first: date, last: date, granularity: str) -> list[str]:
    out = []
    for t in frame.ticks:
        y = frame.y(t)
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dde0"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {TEXT}>'
            f"{escape(tick_label(t, unit))}</text>"
        )
    every = frame.axis.label_every(frame.span)
    for d in _calendar(first, last, granularity, every):
        out.append(
            f'<text x="{frame.x(d):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" {TEXT}>'
            f"{escape(period_label(d, granularity, short=True))}</text>"
        )
    return out


def _calendar(first: date, last: date, granularity: str, every: int) -> list[date]:
    """Every ``every``-th period from ``first`` to ``last`` on the calendar."""
    if granularity == "point":
        return [first, last] if first != last else [first]
    step = every * (3 if granularity == "quarter" else 1)
    out: list[date] = []
    k = 0
    while True:
        months = first.month - 1 + k * step
        d = date(first.year + months // 12, months % 12 + 1, 1)
        if d > last:
            return out
        out.append(d)
        k += 1


def spc_chart(v: SpcView, org_name: str, chart_id: str) -> Markup:
    """The SVG of one series: figures coloured by point type, mean, process limits, target,
    the rules' alert levels and (except for counts, which have their own axis) England."""
    s = v.series
    first, last = v.dots[0].period, v.dots[-1].period
    draw_england = s.unit != "count"  # a trust's 124 waits beside England's 60,000 say nothing
    levels = [lim_value for lim in v.limits for lim_value in (lim.mean, lim.lpl, lim.upl)]
    everything = [d.value for d in v.charted] + levels + [t.level for t in s.thresholds]
    if s.target is not None:
        everything.append(s.target)
    if draw_england:
        everything += s.england.values()
    frame = _Frame(first, last, s.granularity, nice_ticks(*_range(everything, s.unit), unit=s.unit))
    left, right = LEFT, WIDTH - RIGHT
    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="monitor-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{title_id} {desc_id}" id="{chart_id}" data-metric="{escape(s.metric)}">',
        f'<title id="{title_id}">{escape(s.title)}: {escape(org_name)}, '
        f"{escape(period_label(first, s.granularity))} to "
        f"{escape(period_label(last, s.granularity))}</title>",
        f'<desc id="{desc_id}">{escape(describe(v, org_name))}</desc>',
        *_axes(frame, s.unit, first, last, s.granularity),
    ]
    for lim in v.limits:
        x1, x2 = frame.x(lim.start), frame.x(lim.end)
        grey = f'stroke="{icons.LIMIT}" stroke-width="1.5" stroke-dasharray="6 4"'
        parts.append(_hline(frame, "monitor-chart__lpl", lim.lpl, grey, x1, x2))
        parts.append(_hline(frame, "monitor-chart__upl", lim.upl, grey, x1, x2))
        mean = f'stroke="{icons.MEAN}" stroke-width="1.5"'
        parts.append(_hline(frame, "monitor-chart__mean", lim.mean, mean, x1, x2))
    if s.target is not None:
        style = f'stroke="{icons.TARGET}" stroke-width="2" stroke-dasharray="8 4"'
        parts.append(_hline(frame, "monitor-chart__target", s.target, style, left, right))
    for t in s.thresholds:
        if t.level != s.target and drawable(t.level, s.unit):
            style = f'stroke="{icons.TARGET}" stroke-width="1.5" stroke-dasharray="2 3"'
            line = _hline(frame, "monitor-chart__threshold", t.level, style, left, right)
            parts.append(line.replace("/>", f' data-rule="{escape(t.rule)}"/>'))
    if draw_england:
        eng = [(p, x) for p, x in sorted(s.england.items()) if drawable(x, s.unit)]
        style = f'stroke="{ENGLAND_COLOUR}" stroke-width="2" stroke-dasharray="3 3"'
        parts += _polylines(_runs(frame, eng), "monitor-chart__england", style)
    trust = [(d.period, d.value) for d in v.charted]
    style = f'stroke="{icons.GREY.edge}" stroke-width="1.5"'
    parts += _polylines(_runs(frame, trust), "monitor-chart__trust", style)
    parts += [_dot(frame, d) for d in v.dots]
    parts.append("</svg>")
    return Markup("".join(parts))


def _dot(frame: _Frame, d: Dot) -> str:
    x = frame.x(d.period)
    if not d.charted:  # marked at the edge it lies beyond: a triangle pointing off the chart
        high = not (d.value < frame.y0)  # NaN counts as high: it has no side
        y = TOP + 5 if high else HEIGHT - BOTTOM - 5
        tip = -6 if high else 6
        return (
            f'<path class="monitor-chart__off-scale" d="M{x - 5:.1f},{y - tip / 2:.1f} '
            f'L{x + 5:.1f},{y - tip / 2:.1f} L{x:.1f},{y + tip / 2:.1f} Z" '
            f'fill="#ffffff" stroke="{icons.TARGET}" stroke-width="1.5"/>'
        )
    colour = icons.POINT_COLOURS[d.point_type] if d.point_type else icons.GREY
    kind = f' data-type="{d.point_type}"' if d.point_type else ""
    r = 3 if colour is icons.GREY else 4
    return (
        f'<circle class="monitor-chart__point"{kind} cx="{x:.1f}" cy="{frame.y(d.value):.1f}" '
        f'r="{r}" fill="{colour.fill}" stroke="{colour.edge}" stroke-width="1"/>'
    )


def describe(v: SpcView, org_name: str) -> str:
    """The chart in words, for its <desc>."""
    s = v.series
    latest = v.dots[-1]
    when = period_label(latest.period, s.granularity)
    words = [f"{org_name}: {figure(latest.value, s.metric)} in {when}"]
    eng = s.england.get(latest.period)
    if eng is not None:
        words.append(f"England: {figure(eng, s.metric)}")
    if s.target is not None:
        words.append(f"Target: {threshold(s.target, s.metric)}")
    for t in s.thresholds:
        words.append(f"Alert level ({t.title}): {threshold(t.level, s.metric)}")
    for lim in v.limits[-1:]:
        words.append(
            f"Mean {figure(lim.mean, s.metric)}, process limits {figure(lim.lpl, s.metric)} "
            f"to {figure(lim.upl, s.metric)}"
        )
    words += [w.rstrip(".") for w in (v.variation, v.assurance, v.reason) if w]
    values = [d.value for d in v.charted]
    if values:
        words.append(
            f"Over {len(values)} periods the lowest was {figure(min(values), s.metric)} and "
            f"the highest {figure(max(values), s.metric)}; {s.direction} is better"
        )
    if v.off_scale:
        words.append(
            f"{len(v.off_scale)} figures are not real ones: they are marked at the edge, not drawn"
        )
    return ". ".join(words) + "."


def alert_trend(ev: Evidence | None, metric: str | None, chart_id: str) -> dict[str, Any] | None:
    """An alert's last periods as bars (``svg``), red where the figure breached the threshold
    in force, with the threshold in words for the legend; None without a trend."""
    if ev is None or not ev.last12:
        return None
    granularity = granularity_of(metric)

    def breached(v: float | None) -> bool:
        if v is None or ev.threshold is None or not ev.comparison or not math.isfinite(v):
            return False
        try:
            return breaches(str(ev.comparison), float(ev.threshold), v)
        except (KeyError, ValueError):
            return False  # a comparison this version does not know marks nothing

    points = [
        (period_label(p.period_start, granularity, short=True), p.value, breached(p.value))
        for p in ev.last12
    ]
    return {
        "svg": trend_bars(points, unit_of(metric), chart_id),
        "threshold": threshold(ev.threshold, metric) if ev.threshold is not None else None,
        "breaches": sum(b for _, _, b in points),
    }


def trend_bars(points: list[tuple[str, float | None, bool]], unit: str, chart_id: str) -> Markup:
    """An alert's last periods as bars, red where the figure breached the threshold in force:
    ``points`` are (period label, figure, breached), oldest first."""
    values = [v for _, v, _ in points if v is not None and drawable(v, unit)]
    top = 100.0 if unit == "%" else max([*values, 1e-9])
    row, label_w = 22, 78
    height = row * len(points)
    parts = [
        f'<svg class="monitor-trend" xmlns="http://www.w3.org/2000/svg" aria-hidden="true" '
        f'focusable="false" viewBox="0 0 {WIDTH} {height}" width="100%" id="{chart_id}">'
    ]
    for i, (label, v, breached) in enumerate(points):
        y = i * row
        parts.append(f'<text x="0" y="{y + 15}" {TEXT}>{escape(label)}</text>')
        if v is None or not math.isfinite(v):
            continue
        width = (WIDTH - label_w) * min(max(v, 0.0), top) / top
        colour = BREACH_COLOUR if breached else BAR_COLOUR
        css = "monitor-trend__bar" + (" monitor-trend__bar--breach" if breached else "")
        parts.append(
            f'<rect class="{css}" x="{label_w}" y="{y + 4}" width="{max(width, 1):.1f}" '
            f'height="14" fill="{colour}"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
