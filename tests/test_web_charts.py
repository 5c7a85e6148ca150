"""The server-side SVG charts: scale, threshold line, England series, words for screen readers."""

from __future__ import annotations

import re
from datetime import date
from xml.etree import ElementTree as ET

from monitor.web.charts import describe, line_chart, nice_ticks
from monitor.web.orgs_data import Series

SVG = "{http://www.w3.org/2000/svg}"


def series(values: list[float], england: list[float] | None = None) -> Series:
    months = [date(2024 + (7 + i) // 12, (7 + i) % 12 + 1, 1) for i in range(len(values))]
    return Series(
        metric="ae_4hr_type1_pct",
        title="A&E: seen within 4 hours (type 1)",
        unit="%",
        direction="higher",
        granularity="month",
        points=list(zip(months, values, strict=True)),
        england=dict(zip(months, england or [], strict=False)),
        thresholds=[("ae-type1-below-60", 60.0)],
    )


def test_nice_ticks_cover_the_range_in_round_steps() -> None:
    assert nice_ticks(51.0, 65.3) == [50.0, 55.0, 60.0, 65.0, 70.0]
    assert nice_ticks(0, 1234) == [0, 500, 1000, 1500]
    assert nice_ticks(3.0, 3.0) == [3.0, 3.5, 4.0]  # a flat series still gets a scale


def test_chart_is_one_accessible_image_with_threshold_and_england() -> None:
    s = series([65.3, 59.0, 60.7, 52.1], [62.5, 59.8, 58.1, 63.1])
    svg = ET.fromstring(str(line_chart(s, "RCX", "chart-ae")))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-ae-title chart-ae-desc"
    assert svg.findtext(f"{SVG}title") == (
        "A&E: seen within 4 hours (type 1): RCX, August 2024 to November 2024"
    )
    threshold = svg.find(f"{SVG}line[@class='monitor-chart__threshold']")
    assert threshold is not None
    trust = svg.find(f"{SVG}polyline[@class='monitor-chart__trust']")
    england = svg.find(f"{SVG}polyline[@class='monitor-chart__england']")
    assert trust is not None and england is not None
    points = [tuple(map(float, p.split(","))) for p in trust.get("points", "").split()]
    assert len(points) == 4
    # Higher values are drawn higher (smaller y); the 60% line sits between 59.0 and 60.7.
    ys = [y for _, y in points]
    assert ys[0] < ys[2] < float(threshold.get("y1", 0)) < ys[1] < ys[3]


def test_description_says_the_latest_figure_england_and_threshold() -> None:
    text = describe(series([65.3, 52.1], [62.5, 63.1]), "RCX")
    assert text == (
        "RCX: 52.1% in September 2024. England: 63.1%. threshold (ae-type1-below-60): 60%. "
        "over 2 periods the lowest was 52.1% and the highest 65.3%; higher is better."
    )


def test_titles_from_the_data_are_escaped() -> None:
    svg = str(line_chart(series([1.0, 2.0]), "<b>Trust</b> & Co", "c"))
    assert "<b>" not in svg and re.search(r"&lt;b&gt;Trust&lt;/b&gt; &amp; Co", svg)
