"""The spc and peer kinds, and the peer position every alert's evidence carries."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.metrics import Direction
from monitor.rules.checks import semantic_problems
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext
from monitor.rules.model import parse_rule
from monitor.rules.peers import words
from monitor.rules.spcrule import may_concern
from monitor.spc import TOO_FEW_POINTS, PointType
from monitor.spc import chart as draw_chart
from monitor.spc.xmr import limits
from tests.rules.rulekit import FAR as FAR_DATE
from tests.rules.rulekit import GOVERNANCE, evidence_of, rule, run, series

A4 = "ae_4hr_type1_pct"
STEADY = [70, 71, 69, 70, 72, 70, 71, 69, 70, 71, 70, 69]


def spc(**keys: Any) -> Any:
    return rule(metric=A4, kind="spc", **keys)


def latest(rules: list[Any], values: list[float], org: str = "RCX") -> Any:
    f = run(rules, series(org, A4, "2024-01", values)).get(rules[0].id, org)
    assert f is not None
    return f


# Twelve steady months, then the figure falls: which rules fire at the latest month, and why.
CASES = [
    # name, rule keys, the months after the steady year, state, special cause at the latest
    ("a point below the lower limit", {}, [60], "firing", "Below LCL"),
    ("7 points below the mean", {}, [68.5] * 7, "firing", "7 Points Below CL"),
    ("an improvement is not a concern", {}, [80], "ok", "Above UCL"),
    ("common cause", {}, [70.5], "ok", "Common Cause"),
    (
        "a rule counting only shifts ignores a point beyond the limit",
        {"special_causes": ["shift"]},
        [60],
        "ok",
        "Below LCL",
    ),
    ("below the limit but not below the severe level", {"worse_than": 55}, [60], "ok", "Below LCL"),
    ("below the limit and below the severe level", {"worse_than": 62}, [60], "firing", "Below LCL"),
]


@pytest.mark.parametrize(
    ("name", "keys", "after", "state", "cause"), CASES, ids=[c[0] for c in CASES]
)
def test_special_cause_concern_at_the_latest_point(
    name: str, keys: dict[str, Any], after: list[float], state: str, cause: str
) -> None:
    f = latest([spc(**keys)], STEADY + after)
    assert f.state == state
    ev = evidence_of(f)
    assert ev.spc_special_cause == cause
    assert ev.spc_points == len(STEADY) + len(after)
    assert ev.spc_lpl is not None and ev.spc_upl is not None and ev.spc_mean is not None
    assert ev.spc_lpl < ev.spc_mean < ev.spc_upl


def test_the_evidence_gives_the_limits_and_the_icons_in_words() -> None:
    f = latest([spc()], [*STEADY, 60])
    ev = evidence_of(f)
    assert ev.spc_variation == "special_cause_concern"
    assert ev.spc_variation_text == ("Special cause concern: a point below the lower process limit")
    assert ev.spc_target == 78
    assert ev.spc_assurance == "consistent_fail"
    assert ev.spc_assurance_text == "Consistently failing the 78% target"
    assert ev.spc_mean == pytest.approx(902 / 13)  # the mean of the 13 points shown


def test_fewer_than_12_points_never_fire_and_say_so() -> None:
    f = latest([spc()], [70, 71, 69, 70, 72, 70, 71, 69, 70, 71, 40])
    assert set(f.state_names()) == {"ok"}
    ev = evidence_of(f)
    assert ev.spc_reason == TOO_FEW_POINTS == "too few points"
    assert ev.spc_mean is None


def test_consistently_failing_assurance() -> None:
    failing = spc(special_causes=[], failing_assurance=True)
    assert latest([failing], [50 + (i % 3) for i in range(14)]).state == "firing"
    # The 78% target inside the limits: hit and miss, not a consistent failure.
    assert latest([failing], [70 + 8 * (i % 2) for i in range(14)]).state == "ok"
    # Passing comfortably.
    assert latest([failing], [90 + (i % 3) for i in range(14)]).state == "ok"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"special_causes": []}, "fires on nothing"),
        ({"metric": "rtt_waiting_list", "failing_assurance": True}, "has no target"),
        ({"special_causes": ["shift", "shift"]}, "more than once"),
        ({"worse_than": 0.5}, "looks like a fraction"),
    ],
)
def test_spc_rules_are_checked(keys: dict[str, Any], problem: str) -> None:
    r = parse_rule({**GOVERNANCE, "id": "r", "metric": A4, "kind": "spc", **keys})
    assert any(problem in m for _, m in semantic_problems(r))


def test_an_unknown_special_cause_is_an_error() -> None:
    with pytest.raises(ValueError, match="special_causes"):
        parse_rule({**GOVERNANCE, "id": "r", "metric": A4, "kind": "spc", "special_causes": ["x"]})


def _acute(n: int) -> dict[str, OrgContext]:
    return {f"T{i:02d}": OrgContext(code=f"T{i:02d}", trust_type="acute") for i in range(n)}


def _field(values: dict[str, list[float]]) -> list[Any]:
    return [p for org, vs in values.items() for p in series(org, A4, "2025-04", vs)]


def test_peer_rule_fires_for_the_worst_tenth_of_the_same_type_and_holds_to_its_clear_level() -> (
    None
):
    orgs = _acute(20)
    orgs["AMB"] = OrgContext(code="AMB", trust_type="ambulance")
    # T00 is the worst in April, the 3rd worst in May (inside the worst 20%: held), then 6th.
    field = {f"T{i:02d}": [60.0 + i, 60.0 + i, 60.0 + i] for i in range(1, 20)}
    field["T00"] = [50.0, 61.5, 65.5]
    field["AMB"] = [10.0, 10.0, 10.0]  # an ambulance trust is no acute trust's peer
    r = rule(metric=A4, kind="peer", worst_percent=10, clear_percent=20, severity="high")
    ev = evaluate([r], History.from_points(_field(field)), orgs, as_of=FAR_DATE)
    states = {org: f.states for org, f in ev.by_rule["r"].items()}
    assert states["T00"] == "ffo"
    assert states["T01"] == "fff"  # 2nd worst of 20 each month: the worst 10%
    assert states["T02"] == "oof"  # 2nd worst in June, once T00 has moved up
    assert states["AMB"] == "ooo"  # fewer than 10 ambulance trusts: not assessed
    ev_t00 = evidence_of(ev.by_rule["r"]["T00"])
    assert (ev_t00.peer_rank, ev_t00.peer_count, ev_t00.peer_type) == (15, 20, "acute")
    assert ev_t00.peer_position == "in the worst half of 20 acute trusts: 15th of 20 (1st is best)"


def test_every_alert_with_a_figure_carries_its_peer_position() -> None:
    r = rule(metric=A4, kind="threshold", when="below", value=60)
    points = [*series("RCX", A4, "2025-07", [52.1]), *series("RGT", A4, "2025-07", [75.0])]
    f = run([r], points).get("r", "RCX")
    assert f is not None
    ev = evidence_of(f)
    assert (ev.peer_rank, ev.peer_count, ev.peer_worst_percent) == (2, 2, 50.0)
    assert ev.peer_position.endswith("2nd of 2 (1st is best)")


@pytest.mark.parametrize(
    ("rank", "of", "text"),
    [
        (118, 121, "in the worst 5% of 121 acute trusts: 118th of 121 (1st is best)"),
        (110, 121, "in the worst 10% of 121 acute trusts: 110th of 121 (1st is best)"),
        (1, 121, "in the best 5% of 121 acute trusts: 1st of 121 (1st is best)"),
        (61, 121, "in the better half of 121 acute trusts: 61st of 121 (1st is best)"),
        (62, 121, "in the worst half of 121 acute trusts: 62nd of 121 (1st is best)"),
        (13, 121, "in the best 25% of 121 acute trusts: 13th of 121 (1st is best)"),
    ],
)
def test_peer_position_in_words(rank: int, of: int, text: str) -> None:
    assert words(rank, of, "acute") == text


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(
        st.floats(min_value=0, max_value=100, allow_nan=False).map(lambda v: round(v, 1)),
        min_size=12,
        max_size=40,
    ),
    higher=st.booleans(),
)
def test_the_chart_is_skipped_only_where_no_dot_can_be_a_concern(
    values: list[float], higher: bool
) -> None:
    """spc rules draw a series' chart only when its limits allow a concern: wherever the
    shortcut says none, the chart agrees."""
    periods = [date(2020, 1, 1) + timedelta(days=31 * i) for i in range(len(values))]
    periods = [p.replace(day=1) for p in periods]
    direction = Direction.HIGHER if higher else Direction.LOWER
    chart = draw_chart(values, periods, improvement_direction=direction)
    if not may_concern(values, limits(values), higher):
        assert PointType.CONCERN not in chart.point_types


def test_the_shortcut_lets_a_concern_through() -> None:
    values = [*STEADY, 60.0]
    assert may_concern(values, limits(values), True)
    assert not may_concern(STEADY, limits(STEADY), True)


@settings(max_examples=150, deadline=None)
@given(
    field=st.lists(
        st.lists(st.integers(min_value=40, max_value=60), min_size=4, max_size=4),
        min_size=10,
        max_size=30,
    )
)
def test_peer_states_follow_each_trusts_rank_among_its_peers(field: list[list[int]]) -> None:
    """Whatever the field (ties included), a trust fires in a month where it is in the worst
    10% of the acute trusts, stays firing while in the worst 20%, and is ok otherwise."""
    values = {f"T{i:02d}": [float(v) for v in vs] for i, vs in enumerate(field)}
    r = rule(metric=A4, kind="peer", worst_percent=10, clear_percent=20, severity="high")
    ev = evaluate([r], History.from_points(_field(values)), _acute(len(field)), as_of=FAR_DATE)
    of = len(field)
    for org, vs in values.items():
        expected, state = [], "o"
        for month, v in enumerate(vs):
            better = sum(1 for other in values.values() if other[month] > v)
            worst_share = 100 * (of - better) / of  # rank = better + 1
            if worst_share <= 10:
                state = "f"
            elif worst_share > 20:
                state = "o"
            expected.append(state)
        assert ev.by_rule["r"][org].states == "".join(expected), (org, vs)


def test_the_chart_a_rule_judges_is_the_one_a_trust_page_shows() -> None:
    """Five years of figures: two at 50%, then three steady years near 70%, and a fall to 66%.
    Over every figure the fall is no concern (the mean sits near 62%); over the last 36
    months, which the trust page charts, it is below the lower limit, and the alert says so
    with the page's limits."""
    steady = [70, 71, 69, 70, 72, 70, 71, 69, 70, 71, 70, 69] * 3
    values = [50.0] * 24 + [float(v) for v in steady[:-1]] + [66.0]
    f = latest([spc()], values)
    assert f.state == "firing"
    assert f.states[:24] == "o" * 24  # before the chart's window: not judged
    page = draw_chart(values[-36:], f.periods[-36:], improvement_direction=Direction.HIGHER)
    ev = evidence_of(f)
    assert ev.spc_special_cause == "Below LCL"
    assert (ev.spc_mean, ev.spc_lpl, ev.spc_points) == (
        page.segments[-1].mean,
        page.segments[-1].lpl,
        36,
    )
    everything = draw_chart(values, f.periods, improvement_direction=Direction.HIGHER)
    assert everything.point_types[-1] is not PointType.CONCERN


@pytest.mark.parametrize(
    ("starts", "granularity", "first"),
    [
        ([date(2023, m, 1) for m in range(1, 13)], "month", 0),
        ([date(2020 + k // 12, k % 12 + 1, 1) for k in range(60)], "month", 24),
        # a gap: the window is 36 months of the calendar, not 36 figures
        ([date(2021, 1, 1), *(date(2023 + k // 12, k % 12 + 1, 1) for k in range(36))], "month", 1),
        ([date(2016 + k // 4, 3 * (k % 4) + 1, 1) for k in range(40)], "quarter", 4),
        ([date(2015, 5, 1), date(2025, 5, 1)], "point", 0),
    ],
)
def test_a_chart_shows_the_last_36_periods_of_the_calendar(
    starts: list[date], granularity: str, first: int
) -> None:
    from monitor.spc.window import window_start

    assert window_start(starts, granularity) == first


@given(
    st.lists(st.dates(date(2000, 1, 1), date(2040, 12, 31)), min_size=1, max_size=60),
    st.sampled_from(["month", "quarter", "point"]),
)
def test_a_read_from_window_since_keeps_exactly_the_charted_figures(
    days: list[date], granularity: str
) -> None:
    """The trust page reads only figures from window_since on (so that its read does not grow
    with history): the same figures window_start keeps from the whole series."""
    from monitor.spc.window import window_since, window_start

    step = {"month": 1, "quarter": 3}.get(granularity, 1)
    starts = sorted({d.replace(day=1, month=d.month - (d.month - 1) % step) for d in days})
    since = window_since(starts[-1], granularity)
    read = starts if since is None else [d for d in starts if d >= since]
    assert read == starts[window_start(starts, granularity) :]
