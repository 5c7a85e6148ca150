"""The server-side SVG charts: Making Data Count colours and lines, a calendar axis with gaps,
counts on their own axis, readable minute ticks, words for screen readers, and any stored
value drawn in bounded time and memory."""

from __future__ import annotations

import math
import re
from datetime import date
from xml.etree import ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.spc import PointType
from monitor.web.axes import MAX_TICKS, nice_ticks, tick_label
from monitor.web.charts import alert_trend, describe, spc_chart
from monitor.web.series import Series, Threshold
from monitor.web.spc_view import view

SVG = "{http://www.w3.org/2000/svg}"

# The Queen Elizabeth Hospital King's Lynn's type-1 four-hour figures (tests/web_seed.py's
# months, August 2024 to July 2025) and England's.
RCX = [65.3, 59.0, 60.7, 57.3, 51.0, 53.6, 51.5, 52.8, 54.5, 55.6, 55.3, 52.1]
ENG = [62.5, 59.8, 58.1, 57.0, 55.3, 57.7, 58.4, 60.9, 60.2, 61.2, 61.7, 63.1]


def months(n: int, start: date = date(2024, 8, 1)) -> list[date]:
    return [
        date(start.year + (start.month - 1 + i) // 12, (start.month - 1 + i) % 12 + 1, 1)
        for i in range(n)
    ]


def series(
    values: list[float],
    periods: list[date] | None = None,
    *,
    unit: str = "%",
    metric: str = "ae_4hr_type1_pct",
    direction: str = "higher",
    england: dict[date, float] | None = None,
    target: float | None = 78.0,
) -> Series:
    periods = periods or months(len(values))
    return Series(
        metric=metric,
        title="A chart",
        unit=unit,
        direction=direction,
        granularity="month",
        points=list(zip(periods, values, strict=True)),
        england=england or {},
        thresholds=[Threshold("ae_type1_below_60", "A&E (type 1): under 60% seen", 60.0)],
        target=target,
    )


def svg_of(s: Series, name: str = "RCX", chart_id: str = "c") -> ET.Element:
    return ET.fromstring(str(spc_chart(view(s), name, chart_id)))


def test_nice_ticks_cover_the_range_in_round_steps() -> None:
    assert nice_ticks(51.0, 65.3) == [50.0, 55.0, 60.0, 65.0, 70.0]
    assert nice_ticks(0, 1234) == [0, 500, 1000, 1500]
    assert nice_ticks(3.0, 3.0) == [3.0, 3.5, 4.0]  # a flat series still gets a scale


def test_time_axes_tick_in_whole_minutes() -> None:
    # An ambulance axis from 6 to 10 minutes: "3.33333 min" was today's tick.
    ticks = nice_ticks(362.0, 598.0, unit="seconds")
    assert all(t % 60 == 0 for t in ticks)
    assert [tick_label(t, "seconds") for t in ticks] == [
        "6 min",
        "7 min",
        "8 min",
        "9 min",
        "10 min",
    ]


def test_the_chart_is_a_making_data_count_chart_with_icons_and_words() -> None:
    # Twelve months of RCX and two more far below: a run below the mean ends the series.
    values = [*RCX, 40.0, 41.0]
    s = series(values, england=dict(zip(months(12), ENG, strict=True)))
    v = view(s)
    svg = svg_of(s)
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "c-title c-desc"
    for line in ("mean", "lpl", "upl", "target", "threshold"):
        assert svg.find(f"{SVG}line[@class='monitor-chart__{line}']") is not None, line
    points = svg.findall(f"{SVG}circle[@class='monitor-chart__point']")
    assert len(points) == 14
    # The last point is far below the lower limit: a concern, drawn in Making Data Count orange.
    assert points[-1].get("data-type") == PointType.CONCERN
    assert points[-1].get("fill") == "#e46c0a"
    assert points[5].get("data-type") == PointType.COMMON_CAUSE
    assert points[5].get("fill") == "#a6a6a6"
    assert v.variation == "Special cause concern: a point below the lower process limit"
    assert v.assurance == "Consistently failing the 78% target"
    assert v.variation_icon is not None and 'aria-label="Special cause concern' in v.variation_icon
    assert v.assurance_icon is not None and ">F</text>" in v.assurance_icon
    desc = svg.findtext(f"{SVG}desc") or ""
    assert "Special cause concern" in desc and "Consistently failing the 78% target" in desc
    assert "England: " not in desc  # England has no figure for the latest month


def test_fewer_than_twelve_figures_are_shown_without_limits_and_say_so() -> None:
    s = series(RCX[:8])
    v = view(s)
    assert v.limits == [] and v.variation is None and v.variation_icon is None
    assert v.reason is not None and "8 held, 12 needed" in v.reason
    svg = svg_of(s)
    assert svg.find(f"{SVG}line[@class='monitor-chart__mean']") is None
    assert len(svg.findall(f"{SVG}circle[@class='monitor-chart__point']")) == 8
    assert "12 needed" in (svg.findtext(f"{SVG}desc") or "")


def test_missing_months_are_gaps_on_a_calendar_axis() -> None:
    # September 2023, then August 2024 onwards: ten months missing between them.
    periods = [date(2023, 9, 1), *months(13)]
    svg = svg_of(series([61.0, *RCX, 52.3], periods))
    lines = svg.findall(f"{SVG}polyline[@class='monitor-chart__trust']")
    assert len(lines) == 1  # the lone first point has no line; the rest are one run
    xs = [float(c.get("cx", 0)) for c in svg.findall(f"{SVG}circle")]
    # Eleven months from the first point to the second, one month between the others.
    assert math.isclose((xs[1] - xs[0]) / (xs[2] - xs[1]), 11.0, rel_tol=1e-3)


def test_counts_keep_their_own_axis() -> None:
    # RCX's 12-hour waits beside England's tens of thousands.
    waits = [124.0, 98, 130, 110, 150, 160, 140, 120, 118, 125, 131, 124]
    england = dict(zip(months(12), [60000.0] * 12, strict=True))
    s = series(
        waits,
        unit="count",
        metric="ae_12hr_dta_count",
        direction="lower",
        england=england,
        target=0,
    )
    svg = svg_of(s)
    assert svg.find(f"{SVG}polyline[@class='monitor-chart__england']") is None
    labels = [t.text for t in svg.findall(f"{SVG}text")]
    assert "0" in labels and "200" in labels and "60,000" not in labels


def test_titles_from_the_data_are_escaped() -> None:
    out = str(spc_chart(view(series(RCX[:3])), "<b>Trust</b> & Co", "c"))
    assert "<b>" not in out and re.search(r"&lt;b&gt;Trust&lt;/b&gt; &amp; Co", out)


def test_the_description_says_the_latest_figure_england_target_and_levels() -> None:
    s = series(RCX[:2], england={months(2)[1]: 59.8})
    assert describe(view(s), "RCX") == (
        "RCX: 59.0% in September 2024. England: 59.8%. Target: 78%. "
        "Alert level (A&E (type 1): under 60% seen): 60%. Too few figures for process limits: "
        "2 held, 12 needed. The figures are shown without them. Over 2 periods the lowest was "
        "59.0% and the highest 65.3%; higher is better."
    )


def test_the_alert_trend_marks_breaches_in_red() -> None:
    from monitor.rules.evidence import Evidence, TrendValue

    ev = Evidence(
        threshold=60.0,
        comparison="below",
        last12=tuple(
            TrendValue(period_start=p, value=v)
            for p, v in zip(months(4), [65.3, 59.0, 60.7, 57.3], strict=True)
        ),
    )
    trend = alert_trend(ev, "ae_4hr_type1_pct", "t")
    assert trend is not None and trend["breaches"] == 2 and trend["threshold"] == "60%"
    bars = ET.fromstring(str(trend["svg"])).findall(f"{SVG}rect")
    assert [b.get("fill") for b in bars] == ["#005eb8", "#d5281b", "#005eb8", "#d5281b"]


ANY_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e16, 1e17, -1e17, 1e308, -5.0, 129.4, -1370.0, 0.0]),
)


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(ANY_VALUE, min_size=2, max_size=40),
    unit=st.sampled_from(["%", "count", "seconds", "score"]),
)
def test_any_stored_value_renders_a_bounded_chart(values: list[float], unit: str) -> None:
    s = series(values, unit=unit)
    v = view(s)
    svg = ET.fromstring(str(spc_chart(v, "R1A", "c")))
    # Every coordinate is a number on the canvas: nothing drawn at NaN or off to infinity.
    for el in svg.iter():
        for name in ("x", "y", "cx", "cy", "x1", "x2", "y1", "y2"):
            if el.get(name) is not None:
                assert -50 <= float(el.get(name, "0")) <= 500, (name, el.attrib)
    y_ticks = [t for t in svg.findall(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert 2 <= len(y_ticks) <= MAX_TICKS
    # A figure that cannot be real is left out of the limits and marked at the edge.
    marked = svg.findall(f"{SVG}path[@class='monitor-chart__off-scale']")
    assert len(marked) == len(v.off_scale) == sum(1 for x in values if not _real(x, unit))


def _real(x: float, unit: str) -> bool:
    low, high = {"%": (0.0, 100.0), "count": (0.0, 1e12), "seconds": (0.0, 1e12)}.get(
        unit, (-1e12, 1e12)
    )
    return math.isfinite(x) and low <= x <= high


@settings(max_examples=300, deadline=None)
@given(low=st.floats(-1e300, 1e300), span=st.floats(0, 1e300))
def test_ticks_are_bounded_for_any_finite_range(low: float, span: float) -> None:
    high = low + span
    if not math.isfinite(high):
        return
    ticks = nice_ticks(low, high)
    assert 2 <= len(ticks) <= MAX_TICKS and ticks == sorted(ticks)
