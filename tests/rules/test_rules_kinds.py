"""The evaluator, kind by kind: figures in, the state per period out.

The tables read: the rule's keys, the figures from April 2025 on ("_" = no figure published),
and the expected state per period. Only periods with a figure get a state (a missing month
keeps the state of the month before).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from rulekit import evidence_of, figures, keys, rating, rows, rule, run, series, states

A4 = "ae_4hr_type1_pct"
BELOW_60 = {"metric": A4, "kind": "threshold", "when": "below", "value": 60}

THRESHOLD = rows("""
    extra keys               | figures from April 2025 | state per month
    -                        | 65 59 58 61             | ok firing firing ok
    -                        | 60 60                   | ok ok
    when=at_or_below         | 60 61                   | firing ok
    for_periods=2            | 65 59 58 61             | ok pending firing ok
    for_periods=3            | 59 61 59 58 57          | pending ok pending pending firing
    clear=62                 | 59 61 61.9 62           | firing firing firing ok
    clear=62 for_periods=2   | 59 61 59 59             | pending ok pending firing
    -                        | 59 _ _ 58               | firing firing
    for_periods=2            | 59 _ 58                 | pending firing
""")


@pytest.mark.parametrize(("extra", "values", "expected"), THRESHOLD)
def test_threshold_below_60(extra: str, values: str, expected: str) -> None:
    points = series("RCX", A4, "2025-04", figures(values))
    ev = run([rule(**{**BELOW_60, **keys(extra)})], points)
    assert states(ev, "r", "RCX") == expected


def test_a_missing_month_keeps_the_state_of_the_month_before() -> None:
    f = run([rule(**BELOW_60)], series("RCX", A4, "2025-04", [59, "_", "_", 58])).get("r", "RCX")
    assert f is not None
    # Only months with a figure are evaluated; June and July simply are not there.
    assert [p.isoformat() for p in f.periods] == ["2025-04-01", "2025-07-01"]
    assert f.consecutive == 2 and f.first_period == date(2025, 4, 1)


def test_effective_dated_levels_use_the_level_in_force_for_each_period() -> None:
    r = rule(
        metric="ae_4hr_pct",
        kind="threshold",
        when="below",
        levels=[
            {"from": date(2024, 4, 1), "value": 76, "source": "2024/25"},
            {"from": date(2025, 4, 1), "value": 78, "source": "2025/26"},
        ],
    )
    ev = run([r], series("RCX", "ae_4hr_pct", "2025-02", [77, 77, 77, 77]))
    f = ev.get("r", "RCX")
    assert f is not None
    assert f.state_names() == ["ok", "ok", "firing", "firing"]
    assert [f.threshold_at(i)[0] for i in range(4)] == [76, 76, 78, 78]
    assert evidence_of(f).threshold_source == "2025/26"


def test_min_denominator_skips_tiny_numbers() -> None:
    r = rule(**{**BELOW_60, "min_denominator": 20, "for_periods": 2})
    points = series("RCX", A4, "2025-04", [50, 10, 50], denominators=[100, 5, 100])
    assert states(run([r], points), "r", "RCX") == "pending pending firing"


def test_scope_limits_organisations() -> None:
    points = [
        *series("RCX", A4, "2025-04", [50]),
        *series("RRU", A4, "2025-04", [50]),
        *series("NLO", A4, "2025-04", [50]),  # kind other: not a trust
    ]
    ev = run([rule(**BELOW_60, scope={"trust_types": ["acute"]})], points)
    assert [f.org for f in ev] == ["RCX"]
    ev = run([rule(**BELOW_60, scope={"regions": ["Y56"], "trust_types": []})], points)
    assert [f.org for f in ev] == ["RRU"]


TREND = rows("""
    keys                       | variance to plan by quarter from April 2025 | states
    periods=2                  | -0.5 -1 -1.8 -1.2                           | ok ok firing ok
    periods=2                  | -0.5 -1 -0.9 -1.1                           | ok ok ok ok
    periods=2 by_at_least=0.2  | -0.5 -0.6 -0.7 -1                           | ok ok ok ok
    periods=2                  | -0.5 -1 _ -1.8                              | ok ok ok
""")


@pytest.mark.parametrize(("extra", "values", "expected"), TREND)
def test_trend_direction_comes_from_the_metric(extra: str, values: str, expected: str) -> None:
    # Higher is better for the variance to plan, so "worse" means lower.
    r = rule(metric="fin_variance_to_plan_pct", kind="trend", **keys(extra))
    pts = series("RCX", "fin_variance_to_plan_pct", "2025-04", figures(values), step=3)
    assert states(run([r], pts), "r", "RCX") == expected


def test_trend_on_a_lower_is_better_metric_looks_for_rises() -> None:
    r = rule(metric="ae_12hr_dta_count", kind="trend", periods=3)
    pts = series("RCX", "ae_12hr_dta_count", "2025-04", [10, 20, 30, 40, 35])
    assert states(run([r], pts), "r", "RCX") == "ok ok ok firing ok"


CHANGE = rows("""
    keys                          | 4-hour % from April 2025 | states
    by_at_least=5                 | 70 66 60 61              | ok ok firing ok
    by_at_least=5                 | 70 _ 60                  | ok ok
    by_at_least=10 relative=true  | 70 63.1 56.7             | ok ok firing
""")


@pytest.mark.parametrize(("extra", "values", "expected"), CHANGE)
def test_change_against_the_previous_month(extra: str, values: str, expected: str) -> None:
    r = rule(metric=A4, kind="change", against="previous", **keys(extra))
    points = series("RCX", A4, "2025-04", figures(values))
    assert states(run([r], points), "r", "RCX") == expected


def test_change_against_the_same_month_a_year_earlier() -> None:
    r = rule(metric=A4, kind="change", against="year_ago", by_at_least=5)
    # April 2024 to April 2025: the first twelve months have nothing a year before them.
    values = [70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 64, 70]
    f = run([r], series("RCX", A4, "2024-04", values)).get("r", "RCX")
    assert f is not None
    assert f.state_names()[12:] == ["firing", "ok"]
    assert f.threshold_at(12)[0] == 65  # 70 a year before, less 5 points
    assert f.threshold_at(0)[0] is None


RATINGS = "cqc_overall"


def test_rating_in_a_set() -> None:
    r = rule(metric=RATINGS, kind="rating", **{"in": ["Requires improvement", "Inadequate"]})
    ratings = [
        rating("RCX", "2019-03-01", "Good"),
        rating("RCX", "2022-06-01", "Requires improvement"),
        rating("RCX", "2023-06-01", "Inadequate"),
        rating("RCX", "2024-05-01", "Good"),
    ]
    ev = run([r], [], ratings)
    assert states(ev, "r", "RCX") == "ok firing firing ok"
    f = ev.get("r", "RCX")
    assert f is not None and evidence_of(f).label == "Good"


def test_rating_downgrades_and_inherited_ratings() -> None:
    r = rule(metric=RATINGS, kind="rating", downgrade=True)
    ratings = [
        rating("RCX", "2018-01-01", "Outstanding"),
        rating("RCX", "2019-01-01", "Good"),  # downgrade
        rating("RCX", "2020-01-01", "Good"),  # still below Outstanding
        rating("RCX", "2021-01-01", "Inadequate", inherited=True),  # a merger: not a downgrade
        rating("RCX", "2022-01-01", "Requires improvement"),  # better than the inherited rating
        rating("RCX", "2023-01-01", "Inadequate"),  # downgrade again
    ]
    assert states(run([r], [], ratings), "r", "RCX") == "ok firing firing ok ok firing"


def test_a_downgrade_of_one_location_among_several() -> None:
    r = rule(metric=RATINGS, kind="rating", downgrade=True, subjects="location")
    ratings = [
        rating("RCX", "2019-01-01", "Good", subject="RCX01", subject_type="location"),
        rating("RCX", "2019-02-01", "Good", subject="RCX02", subject_type="location"),
        rating(
            "RCX", "2021-01-01", "Requires improvement", subject="RCX02", subject_type="location"
        ),
        rating("RCX", "2022-01-01", "Outstanding", subject="RCX01", subject_type="location"),
        rating("RCX", "2023-01-01", "Good", subject="RCX02", subject_type="location"),
        rating("RCX", "2021-06-01", "Inadequate", subject="RCX", subject_type="provider"),
    ]
    ratings.sort(key=lambda x: x.report_date)
    ev = run([r], [], ratings)
    # The provider's rating is not a location's, so it is left out.
    assert states(ev, "r", "RCX") == "ok ok firing firing ok"
    f = ev.get("r", "RCX")
    assert f is not None and evidence_of(f).subject == "RCX02"


RANK = rows("""
    keys                   | metric      | from 2025-04 | peer group  | state per quarter
    at_or_beyond=4         | nof_segment | 3 4 5 3      | -           | ok firing firing ok
    at_or_beyond=4 clear=2 | nof_segment | 4 3 2        | -           | firing firing ok
    fallen=true            | nof_segment | 2 3 3 2 2    | -           | ok firing firing ok ok
    bottom=10              | nof_rank    | 1 125 124    | 134 134 134 | ok firing ok
    bottom=10              | nof_rank    | 1 125 130    | 134 134 _   | ok firing firing
""")


@pytest.mark.parametrize(("extra", "metric", "values", "peers", "expected"), RANK)
def test_rank(extra: str, metric: str, values: str, peers: str, expected: str) -> None:
    # Segment 1 is best, 4 worst (5 = Recovery Support); rank 1 is best of its peer group.
    r = rule(kind="rank", metric=metric, **keys(extra))
    sizes = None if peers == "-" else [0.0 if p == "_" else float(p) for p in peers.split()]
    pts = series("RCX", metric, "2025-04", figures(values), step=3, denominators=sizes)
    if peers.endswith("_"):  # the peer group's size is not known for the last quarter
        pts[-1] = replace(pts[-1], denominator=None)
    assert states(run([r], pts), "r", "RCX") == expected


def test_stale_missing_counts_periods_published_for_other_trusts() -> None:
    r = rule(metric=A4, kind="stale", mode="missing", for_periods=2, reported_for=1)
    points = [
        *series("RGT", A4, "2025-04", [70, 70, 70, 70, 70]),
        *series("RCX", A4, "2025-04", [55, "_", "_", 56, "_"]),
    ]
    ev = run([r], points)
    assert states(ev, "r", "RCX") == "ok pending firing ok pending"
    assert states(ev, "r", "RGT") == "ok ok ok ok ok"
    f = ev.get("r", "RCX")
    assert f is not None and f.value is None
    assert evidence_of(f).last_figure_period == date(2025, 7, 1)
    # By default only a trust that had a figure for 3 published periods in a row is watched.
    default = rule(metric=A4, kind="stale", mode="missing", for_periods=2)
    assert states(run([default], points), "r", "RCX") == "ok ok ok ok ok"


def test_stale_late_against_the_calendar() -> None:
    from monitor.rules.inputs import SourceCalendar

    # The calendar's verdict is the timetable's (monitor.sources.timetable), made by the caller.
    r = rule(metric=A4, kind="stale", mode="late")
    due, last = date(2025, 9, 11), date(2025, 7, 1)

    def calendar(late: bool, days_late: int = 0) -> list[SourceCalendar]:
        return [
            SourceCalendar(
                source="ae",
                expected_next=due,
                late=late,
                days_late=days_late,
                grace_days=3,
                latest_period=last,
            )
        ]

    late = run([r], [], as_of=date(2025, 9, 15), calendars=calendar(True, 1)).get("r", "ENG")
    on_time = run([r], [], as_of=date(2025, 9, 14), calendars=calendar(False)).get("r", "ENG")
    assert late is not None and late.state == "firing" and evidence_of(late).days_late == 1
    assert late.periods == [due] and evidence_of(late).expected_next == due
    # The publication awaited is a day, named as one, and the words say how late it is.
    ev = evidence_of(late)
    assert (ev.period_label, ev.last12) == ("11 September 2025", ())
    assert ev.explain().persistence == (
        "Due 11 September 2025 (with 3 days' grace): 1 day late; "
        "the latest period it published is July 2025"
    )
    assert on_time is not None and on_time.state == "ok"


def test_all_of_and_any_of_combine_firing_rules() -> None:
    flag = rule("flag", metric="nof_deficit_flag", kind="threshold", when="at_or_above", value=1)
    worse = rule("worse", metric="fin_variance_to_plan_pct", kind="trend", periods=2)
    both = rule("both", kind="all_of", rules=["flag", "worse"])
    either = rule("either", kind="any_of", rules=["flag", "worse"])
    points = [
        *series("RCX", "nof_deficit_flag", "2025-04", [0, 1, 1, 1, 0], step=3),
        *series("RCX", "fin_variance_to_plan_pct", "2025-04", [0, -1, -2, -1, -2], step=3),
    ]
    ev = run([both, either, flag, worse], points)
    assert states(ev, "flag", "RCX") == "ok firing firing firing ok"
    assert states(ev, "worse", "RCX") == "ok ok firing ok ok"
    assert states(ev, "both", "RCX") == "ok ok firing ok ok"
    assert states(ev, "either", "RCX") == "ok firing firing firing ok"


def test_evidence_carries_england_region_and_the_last_12_values() -> None:
    points = [
        *series("RCX", A4, "2024-08", [59] * 13),
        *series("ENG", A4, "2025-08", [70.1]),
        *series("Y61", A4, "2025-08", [68.4]),
    ]
    f = run([rule(**BELOW_60)], points).get("r", "RCX")
    assert f is not None
    e = evidence_of(f)
    assert e.value == 59 and e.period_start == date(2025, 8, 1)
    assert e.threshold == 60 and e.direction == "higher" and e.comparison == "below"
    assert e.england == 70.1 and (e.region, e.region_name, e.region_value) == (
        "Y61",
        "East of England",
        68.4,
    )
    assert len(e.last12) == 12 and e.last12[0].period_start == date(2024, 9, 1)
    assert e.consecutive_periods == 13 and e.rule_version == "v-r"
    assert e.period_label == "August 2025" and e.rule_title == "test rule"
