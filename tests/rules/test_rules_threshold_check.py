"""The compiled threshold check (conditions.ThresholdCheck) gives the codes threshold_codes
gives, whatever the levels, direction, hysteresis and series."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.rules import conditions as cond
from monitor.rules.inputs import History
from tests.rules.rulekit import rule, series

A4 = "ae_4hr_type1_pct"  # higher is better: "below" rules
WAITS = "rtt_52wk_pct"  # lower is better: "above" rules


@settings(max_examples=300, deadline=None)
@given(
    when=st.sampled_from(["below", "at_or_below", "above", "at_or_above"]),
    levels=st.lists(st.integers(min_value=40, max_value=90), min_size=1, max_size=3),
    first_year=st.integers(min_value=2023, max_value=2026),
    gap=st.integers(min_value=0, max_value=5),
    values=st.lists(st.integers(min_value=30, max_value=100), min_size=1, max_size=30),
)
def test_the_compiled_check_codes_as_the_rule_does(
    when: str, levels: list[int], first_year: int, gap: int, values: list[int]
) -> None:
    low = when in ("below", "at_or_below")
    dated = [
        {
            "from": date(first_year + k, 4, 1),
            "value": v,
            # hysteresis on the clear side of the level
            **({"clear": v + gap if low else v - gap} if gap else {}),
            "source": f"level {k}",
        }
        for k, v in enumerate(levels)
    ]
    metric = A4 if low else WAITS
    r = rule(metric=metric, kind="threshold", when=when, levels=dated)
    history = History.from_points(series("RCX", metric, "2024-01", [float(v) for v in values]))
    s = history.series(metric, "RCX")
    assert s is not None
    assert cond.ThresholdCheck(r).codes(s) == cond.threshold_codes(r, s)


@settings(max_examples=100, deadline=None)
@given(
    when=st.sampled_from(["below", "at_or_below", "above", "at_or_above"]),
    levels=st.lists(st.integers(min_value=40, max_value=90), min_size=1, max_size=3),
    gap=st.integers(min_value=0, max_value=5),
    field=st.lists(
        st.lists(st.integers(min_value=30, max_value=100), min_size=30, max_size=30),
        min_size=40,
        max_size=60,
    ),
)
def test_many_series_coded_as_one_array_code_as_each_one_does(
    when: str, levels: list[int], gap: int, field: list[list[int]]
) -> None:
    """Levels changing inside the series, hysteresis, whole-number figures on the levels."""
    low = when in ("below", "at_or_below")
    dated = [
        {
            "from": date(2024 + k, 4, 1),
            "value": v,
            **({"clear": v + gap if low else v - gap} if gap else {}),
            "source": f"level {k}",
        }
        for k, v in enumerate(levels)
    ]
    metric = A4 if low else WAITS
    r = rule(metric=metric, kind="threshold", when=when, levels=dated)
    points = [
        p
        for i, values in enumerate(field)
        for p in series(f"T{i:03d}", metric, "2024-01", [float(v) for v in values])
    ]
    history = History.from_points(points)
    many = list(history.by_metric[metric].values())
    check = cond.ThresholdCheck(r)
    batch = check.codes_many(many)
    assert len(batch) == len(many)
    for s in many:
        assert batch[s.org] == cond.threshold_codes(r, s), s.org
