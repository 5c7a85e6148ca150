"""The SPC engine against NHSRplotthedots' own test cases.

The cases live in tests/data/spc/nhsrplotthedots_cases.toml, each naming the R test it came
from; the engine must give the package's expected limits, special causes, point types,
assurance, rebase segments and short-series behaviour.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from monitor.metrics import Direction
from monitor.spc import TOO_FEW_POINTS, SpecialCause, chart, limits
from monitor.spc import rules as spc_rules
from monitor.spc.assurance import assurance
from monitor.spc.chart import segment_bounds

CASES = tomllib.loads(
    (Path(__file__).parent / "data" / "spc" / "nhsrplotthedots_cases.toml").read_text()
)
SERIES: dict[str, dict[str, Any]] = CASES["series"]
DIRECTIONS = {"higher": Direction.HIGHER, "lower": Direction.LOWER, "neutral": None}


def months(n: int, start: str = "2020-01") -> list[date]:
    """``n`` consecutive month starts from ``start`` (YYYY-MM)."""
    year, month = map(int, start.split("-"))
    out = []
    for _ in range(n):
        out.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def series_of(case: dict[str, Any]) -> tuple[list[float], list[date]]:
    s = SERIES[case["series"]] if "series" in case else case
    values = [float(v) for v in s["values"]]
    return values, months(len(values), s.get("start", "2020-01"))


def signif(x: float, digits: int | None) -> float:
    """``x`` to the digits a snapshot prints (all of them when ``digits`` is None)."""
    return x if digits is None else float(f"{x:.{digits}g}")


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [c.get("name", c["from"]) for c in cases]


@pytest.mark.parametrize("case", CASES["limits"], ids=ids(CASES["limits"]))
def test_limits_match_the_package(case: dict[str, Any]) -> None:
    values, _ = series_of(case)
    lo, hi = case.get("slice", [0, len(values)])
    lim = limits(values[lo:hi], screen_outliers=case.get("screen_outliers", True))
    digits = case.get("digits")
    assert signif(lim.mean, digits) == case["mean"], case["from"]
    assert signif(lim.lpl, digits) == case["lpl"], case["from"]
    assert signif(lim.upl, digits) == case["upl"], case["from"]


@pytest.mark.parametrize("case", CASES["chart"], ids=ids(CASES["chart"]))
def test_charts_match_the_package(case: dict[str, Any]) -> None:
    values, periods = series_of(case)
    rebase = [months(1, m)[0] for m in case.get("rebase_at", [])]
    c = chart(
        values, periods, improvement_direction=DIRECTIONS[case["direction"]], rebase_at=rebase
    )
    digits = case.get("digits")
    segments = case.get("segments") or (
        [{"points": len(values), **{k: case[k] for k in ("mean", "lpl", "upl")}}]
        if "mean" in case
        else []
    )
    start = 0
    for k, seg in enumerate(segments):
        points = c.points[start : start + seg["points"]]
        assert {p.segment for p in points} == {k}
        for field in ("mean", "lpl", "upl"):
            assert {signif(getattr(p, field), digits) for p in points} == {seg[field]}, field
        start += seg["points"]
    if case.get("special_causes") == "all Common Cause":
        assert {p.special_cause for p in c.points} == {SpecialCause.COMMON_CAUSE}
    if "variation" in case:
        assert c.variation == case["variation"]
    if "point_types" in case:
        assert [p.point_type for p in c.points] == case["point_types"]
    if "last_point_types" in case:
        tail = c.points[-len(case["last_point_types"]) :]
        assert [p.point_type for p in tail] == case["last_point_types"]


@pytest.mark.parametrize("case", CASES["short"], ids=ids(CASES["short"]))
def test_short_series_have_no_limits(case: dict[str, Any]) -> None:
    periods = months(case["points"])
    values = [float(i % 5) for i in range(case["points"])]
    rebase = [periods[i] for i in case.get("rebase_index", [])]
    c = chart(values, periods, improvement_direction=Direction.HIGHER, target=3, rebase_at=rebase)
    if case["too_few"]:
        assert (c.points, c.reason, c.variation, c.assurance) == ((), TOO_FEW_POINTS, None, None)
        assert c.as_json() == {
            "points": [],
            "variation": None,
            "assurance": None,
            "target": 3,
            "reason": TOO_FEW_POINTS,
        }
    else:
        assert len(c.points) == case["points"] and c.reason is None
        assert "reason" not in c.as_json()


@pytest.mark.parametrize("case", CASES["rebase"], ids=ids(CASES["rebase"]))
def test_rebase_dates_start_segments(case: dict[str, Any]) -> None:
    periods = months(case["points"])
    rebase = [periods[i] for i in case["rebase_index"]]
    assert segment_bounds(periods, rebase) == [tuple(s) for s in case["segments"]]


@pytest.mark.parametrize("case", CASES["assurance"], ids=ids(CASES["assurance"]))
def test_assurance_matches_the_package(case: dict[str, Any]) -> None:
    direction = DIRECTIONS[case["direction"]]
    for row in case["rows"]:
        got = assurance(row.get("target"), row["lpl"], row["upl"], direction)
        assert (got or "none") == row["expect"], row


@pytest.mark.parametrize("case", CASES["helper"], ids=ids(CASES["helper"]))
def test_special_cause_helpers_match_the_package(case: dict[str, Any]) -> None:
    for c in case["cases"]:
        if case["fn"] == "part_of_two_in_three":
            close, side = c["args"]
            flags = spc_rules.part_of_two_in_three(
                spc_rules.two_in_three([bool(x) for x in close], side), [bool(x) for x in close]
            )
        elif case["fn"] == "two_in_three":
            close, side = c["args"]
            flags = spc_rules.two_in_three([bool(x) for x in close], side)
        else:
            flags = getattr(spc_rules, case["fn"])(*c["args"])
        assert [int(f) for f in flags] == c["expect"], c
