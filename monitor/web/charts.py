"""Server-side SVG line charts of a trust's metric: its figures, England's and the threshold.

No JavaScript: the SVG is part of the page. It is one image to assistive technology
(role="img" with a <title> and a <desc> that says what it shows in words); the page also
offers the same figures as a table.
"""

from __future__ import annotations

import math
from datetime import date

from markupsafe import Markup, escape

from monitor.periods import period_label, tick
from monitor.web.orgs_data import Series
from monitor.web.present import figure, threshold

WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 40, 16, 40
TRUST_COLOUR = "#005eb8"  # NHS blue
ENGLAND_COLOUR = "#4c6272"  # NHS dark grey
THRESHOLD_COLOUR = "#d5281b"  # NHS red


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2 or 5 times a power of ten)."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    v = start
    while v < high + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def line_chart(s: Series, org_name: str, chart_id: str) -> Markup:
    """An SVG of one series; empty when there is nothing to draw."""
    if not s.points:
        return Markup("")
    periods: list[date] = [p for p, _ in s.points]
    values = [v for _, v in s.points]
    england = [s.england.get(p) for p in periods]
    levels = [t for _, t in s.thresholds]
    everything = values + [v for v in england if v is not None] + levels
    low, high = min(everything), max(everything)
    if s.unit in ("%", "count", "seconds"):
        low = min(low, 0) if s.unit != "%" else max(0.0, low - (high - low) * 0.1)
    ticks = nice_ticks(low, high)
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (len(periods) - 1) if len(periods) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - (v - y0) / (y1 - y0))

    title_id, desc_id = f"{chart_id}-title", f"{chart_id}-desc"
    first, last = period_label(periods[0], s.granularity), period_label(periods[-1], s.granularity)
    parts = [
        f'<svg class="monitor-chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="xMidYMid meet" '
        f'aria-labelledby="{title_id} {desc_id}" id="{chart_id}" data-metric="{escape(s.metric)}">',
        f'<title id="{title_id}">{escape(s.title)}: {escape(org_name)}, {escape(first)} to '
        f"{escape(last)}</title>",
        f'<desc id="{desc_id}">{escape(describe(s, org_name))}</desc>',
    ]
    for t in ticks:
        ty = y(t)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" '
            f'stroke="#d8dde0" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="#212b32">{escape(tick(t, s.unit))}</text>'
        )
    step = max(1, math.ceil(len(periods) / 6))
    for i, p in enumerate(periods):
        # Every step-th period, and the latest unless that would crowd the one before.
        crowded = i % step < step / 2
        if i % step == 0 or (i == len(periods) - 1 and not crowded):
            label = period_label(p, s.granularity, short=True)
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle" '
                f'font-size="12" fill="#212b32">{escape(label)}</text>'
            )
    for rule, level in s.thresholds:
        ty = y(level)
        parts.append(
            f'<line class="monitor-chart__threshold" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
            f'y1="{ty:.1f}" y2="{ty:.1f}" stroke="{THRESHOLD_COLOUR}" stroke-width="2" '
            f'stroke-dasharray="8 4" data-rule="{escape(rule)}"/>'
        )
    eng_points = [(x(i), y(v)) for i, v in enumerate(england) if v is not None]
    if eng_points:
        parts.append(
            f'<polyline class="monitor-chart__england" fill="none" stroke="{ENGLAND_COLOUR}" '
            f'stroke-width="2" stroke-dasharray="3 3" points="{_points(eng_points)}"/>'
        )
    trust_points = [(x(i), y(v)) for i, v in enumerate(values)]
    parts.append(
        f'<polyline class="monitor-chart__trust" fill="none" stroke="{TRUST_COLOUR}" '
        f'stroke-width="3" points="{_points(trust_points)}"/>'
    )
    for px, py in trust_points:
        parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{TRUST_COLOUR}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _points(points: list[tuple[float, float]]) -> str:
    return " ".join(f"{px:.1f},{py:.1f}" for px, py in points)


def describe(s: Series, org_name: str) -> str:
    """The chart in words, for its <desc>."""
    latest_p, latest_v = s.points[-1]
    words = [f"{org_name}: {figure(latest_v, s.metric)} in {period_label(latest_p, s.granularity)}"]
    eng = s.england.get(latest_p)
    if eng is not None:
        words.append(f"England: {figure(eng, s.metric)}")
    for rule, level in s.thresholds:
        words.append(f"threshold ({rule}): {threshold(level, s.metric)}")
    values = [v for _, v in s.points]
    words.append(
        f"over {len(values)} periods the lowest was {figure(min(values), s.metric)} and the "
        f"highest {figure(max(values), s.metric)}; {s.direction} is better"
    )
    return ". ".join(words) + "."
