"""The SPC engine on real series and on cases worked by hand, and its invariants.

The real series are read from the published files in data/real/ with the project's own
parsers; the expected limits are worked out here the way an analyst would in a spreadsheet
(column of moving ranges, their mean, the screening cut, mean ± 2.66 × mean moving range),
not by calling the engine.
"""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest

from monitor.metrics import Direction
from monitor.sources import ae, cancer
from monitor.spc import Assurance, PointType, SpecialCause, chart
from tests.conftest import REAL
from tests.test_spc import months

UP, DOWN = Direction.HIGHER, Direction.LOWER
C = SpecialCause


def rcx_series(folder: str, pattern: str, parser: object, metric: str) -> dict[date, float]:
    out: dict[date, float] = {}
    for path in sorted(Path(REAL, folder).glob(pattern)):
        for f in parser.parse(path.read_bytes(), filename=path.name).figures:  # type: ignore[attr-defined]
            if f.org == "RCX" and f.metric == metric and f.value is not None:
                out[f.period_start] = f.value
    return dict(sorted(out.items()))


def spreadsheet_limits(values: list[float]) -> tuple[float, float, float, int]:
    """Mean, lpl, upl and how many moving ranges the screening dropped, worked by hand."""
    mean = sum(values) / len(values)
    mrs = [abs(b - a) for a, b in zip(values, values[1:], strict=False)]
    cut = 3.267 * (sum(mrs) / len(mrs))
    kept = [m for m in mrs if m < cut]
    mr_bar = sum(kept) / len(kept)
    return mean, mean - 2.66 * mr_bar, mean + 2.66 * mr_bar, len(mrs) - len(kept)


def test_kings_lynn_type_1_ae_from_the_published_files() -> None:
    # The Queen Elizabeth Hospital King's Lynn (RCX), type 1 A&E, % within 4 hours, as the
    # files give it (over 4 hours / attendances, type 1 incl. booked):
    #   month    within/attended   value     moving range
    #   2023-09  3543/6347         55.8216   -
    #   2024-08  4332/6630         65.3394   9.5177
    #   2024-09  3862/6549         58.9708   6.3685
    #   2024-10  4097/6749         60.7053   1.7345
    #   2024-11  3901/6813         57.2582   3.4471
    #   2024-12  3602/7060         51.0198   6.2384
    #   2025-01  3417/6370         53.6421   2.6222
    #   2025-02  3108/6037         51.4825   2.1595
    #   2025-03  3561/6746         52.7868   1.3043
    #   2025-04  3625/6646         54.5441   1.7573
    #   2025-05  3753/6756         55.5506   1.0065
    #   2025-06  3668/6635         55.2826   0.2680
    #   2025-07  3678/7060         52.0963   3.1863
    #   2025-08  3557/6802         52.2934   0.1971
    # Σ values 776.7936 / 14 = mean 55.4853; Σ MR 39.8075 / 13 = 3.0621; cut 3.267 × 3.0621 =
    # 10.0039, so no range is screened out; limits 55.4853 ± 2.66 × 3.0621 = 47.3400 .. 63.6305.
    # August 2024 (65.34) is above the upper limit; nothing else signals. The latest month is
    # common cause, and 78% (or 95%) lies above the upper limit: consistently failing.
    series = rcx_series("ae", "*.csv", ae, "ae_4hr_type1_pct")
    periods, values = list(series), list(series.values())
    assert len(values) == 14
    assert values[1] == pytest.approx(100 * 4332 / 6630)
    mean, lpl, upl, screened = spreadsheet_limits(values)
    assert (round(mean, 4), round(lpl, 4), round(upl, 4), screened) == (
        55.4853,
        47.3400,
        63.6305,
        0,
    )

    c = chart(values, periods, improvement_direction=UP, target=78)
    for p in c.points:
        assert (p.mean, p.lpl, p.upl) == pytest.approx((mean, lpl, upl), abs=1e-9)
    flagged = {p.period_start: (p.special_cause, p.point_type) for p in c.points}
    assert flagged.pop(date(2024, 8, 1)) == (C.ABOVE_UCL, PointType.IMPROVEMENT)
    assert set(flagged.values()) == {(C.COMMON_CAUSE, PointType.COMMON_CAUSE)}
    assert (c.variation, c.assurance) == (PointType.COMMON_CAUSE, Assurance.FAIL)
    assert chart(values, periods, improvement_direction=UP, target=95).assurance is Assurance.FAIL


def test_kings_lynn_cancer_62_day_from_the_published_extracts() -> None:
    # RCX, 62-day combined standard, 19 months (April-October 2023, April 2024-March 2025):
    # Σ 1155.0421 / 19 = mean 60.7917; Σ MR 74.1557 / 18 = 4.1198, cut 13.4593, none screened;
    # limits 60.7917 ± 2.66 × 4.1198 = 49.8331 .. 71.7502. January 2025 (51.32) comes close to
    # the lower limit but alone, so every month is common cause; 75% (the 2025/26 ambition) and
    # 85% (the standard) both lie above the upper limit: consistently failing.
    series = rcx_series("cancer", "*Provider*.xlsx", cancer, "cancer_62d_pct")
    periods, values = list(series), list(series.values())
    assert len(values) == 19 and periods[0] == date(2023, 4, 1)
    mean, lpl, upl, screened = spreadsheet_limits(values)
    assert (round(mean, 4), round(lpl, 4), round(upl, 4), screened) == (
        60.7917,
        49.8331,
        71.7502,
        0,
    )
    c = chart(values, periods, improvement_direction=UP, target=75)
    assert c.points[0].lpl == pytest.approx(lpl, abs=1e-9)
    assert c.points[0].upl == pytest.approx(upl, abs=1e-9)
    assert {p.special_cause for p in c.points} == {C.COMMON_CAUSE}
    assert (c.variation, c.assurance) == (PointType.COMMON_CAUSE, Assurance.FAIL)


# Worked by hand: ten points alternating 4, 6, then seven falling steps.
# falling to 4: mean 88.5 / 17 = 5.2059, mean MR 22 / 16 = 1.375, limits 1.548 .. 8.863,
#   band 2.768 .. 7.644: no point outside or close; the last 7 a falling trend that starts
#   above the mean and ends below it (NHSRplotthedots #171: coloured by the trend's direction).
# falling to -10: mean 4.3824; MR 14.5 >= 3.267 × 2.25 is screened, mean MR 21.5 / 15 = 1.4333,
#   limits 0.570 .. 8.195; -10 is below the lower limit (that beats the trend); 6, 7, 6.5, 6,
#   5.5, 5, 4.5 are 7 points above the mean, which names only the 6 (the trend beats the shift).
FALLING = [4.0, 6.0] * 5 + [7.0, 6.5, 6.0, 5.5, 5.0, 4.5, 4.0]
PLUNGING = [*FALLING[:-1], -10.0]
TREND_DOWN = C.TREND_DECREASING


@pytest.mark.parametrize(
    ("values", "causes"),
    [
        (FALLING, [C.COMMON_CAUSE] * 10 + [TREND_DOWN] * 7),
        (PLUNGING, [C.COMMON_CAUSE] * 9 + [C.SHIFT_ABOVE] + [TREND_DOWN] * 6 + [C.BELOW_LCL]),
    ],
    ids=["trend crossing the mean", "precedence: limit, trend, shift"],
)
def test_hand_worked_special_causes(values: list[float], causes: list[SpecialCause]) -> None:
    c = chart(values, months(len(values)), improvement_direction=UP)
    assert [p.special_cause for p in c.points] == causes


def test_a_falling_trend_is_concern_when_higher_is_better_and_improvement_when_lower() -> None:
    periods = months(len(FALLING))
    up = chart(FALLING, periods, improvement_direction=UP)
    down = chart(FALLING, periods, improvement_direction=DOWN)
    neutral = chart(FALLING, periods, improvement_direction=None)
    assert [p.point_type for p in up.points[-7:]] == [PointType.CONCERN] * 7
    assert [p.point_type for p in down.points[-7:]] == [PointType.IMPROVEMENT] * 7
    assert [p.point_type for p in neutral.points[-7:]] == [PointType.NEUTRAL_LOW] * 7
    assert (up.variation, down.variation) == (PointType.CONCERN, PointType.IMPROVEMENT)


def test_assurance_reads_the_latest_segment_after_a_rebase() -> None:
    # 15 months alternating 49, 51 then 15 alternating 89, 91: one chart over all 30 has
    # limits about 70 ± 5.3 (the jump's moving range is screened out), below 80: consistently
    # failing; rebased at the jump, the latest segment's limits are 89.9 ± 5.3: passing.
    values = [50.0 + (1 if i % 2 else -1) for i in range(15)] + [
        90.0 + (1 if i % 2 else -1) for i in range(15)
    ]
    periods = months(30)
    plain = chart(values, periods, improvement_direction=UP, target=80)
    rebased = chart(values, periods, improvement_direction=UP, target=80, rebase_at=[periods[15]])
    assert plain.assurance is Assurance.FAIL
    assert rebased.assurance is Assurance.PASS
    assert [s.mean for s in rebased.segments] == pytest.approx([50 - 1 / 15, 90 - 1 / 15])
    assert [s.mean_moving_range for s in rebased.segments] == [2.0, 2.0]
    assert {p.special_cause for p in rebased.points} == {C.COMMON_CAUSE}


def test_a_target_exactly_on_a_limit_is_inconsistent() -> None:
    values = [10.0, 12.0] * 6  # mean 11, mean MR 2, limits 5.68 .. 16.32
    c = chart(values, months(12), improvement_direction=UP)
    upl, lpl = c.points[0].upl, c.points[0].lpl
    for target in (upl, lpl):
        assert chart(values, months(12), improvement_direction=UP, target=target).assurance == (
            Assurance.INCONSISTENT
        )


def test_a_flat_series_has_limits_on_its_mean_and_no_signal() -> None:
    # NHSRplotthedots' limits are NaN here (every moving range is screened out); ours sit on
    # the mean (docs/spc.md).
    c = chart([100.0] * 12, months(12), improvement_direction=UP, target=95)
    assert {(p.mean, p.lpl, p.upl) for p in c.points} == {(100.0, 100.0, 100.0)}
    assert {p.special_cause for p in c.points} == {C.COMMON_CAUSE}
    assert c.assurance is Assurance.PASS


@pytest.mark.parametrize(
    ("values", "periods", "rebase", "message"),
    [
        ([1.0] * 12, months(11), [], "12 values for 11 periods"),
        ([1.0] * 11 + [float("nan")], months(12), [], r"value 12 \(2020-12-01\) is nan"),
        ([1.0] * 12, months(11) + [date(2020, 1, 1)], [], "2020-01-01 follows 2020-11-01"),
        ([1.0] * 12, months(12), [date(2030, 1, 1)], "rebase date 2030-01-01 is not one"),
    ],
    ids=["lengths", "not a number", "out of order", "unknown rebase"],
)
def test_bad_input_is_refused_with_a_reason(
    values: list[float], periods: list[date], rebase: list[date], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        chart(values, periods, improvement_direction=UP, rebase_at=rebase)


# --- invariants over random series (a fixed seed: the same series every run) -------------------

MIRROR = {
    C.ABOVE_UCL: C.BELOW_LCL,
    C.TREND_INCREASING: C.TREND_DECREASING,
    C.TWO_IN_THREE_ABOVE: C.TWO_IN_THREE_BELOW,
    C.SHIFT_ABOVE: C.SHIFT_BELOW,
    C.COMMON_CAUSE: C.COMMON_CAUSE,
}
MIRROR.update({v: k for k, v in MIRROR.items()})
SWAP = {PointType.IMPROVEMENT: PointType.CONCERN, PointType.CONCERN: PointType.IMPROVEMENT}


def random_series(rng: random.Random) -> list[float]:
    """Whole numbers (so sums and negation are exact), with shifts, trends and spikes."""
    n = rng.randint(12, 48)
    level, out = rng.randint(-20, 20), []
    for i in range(n):
        step = rng.choice([0, 0, 0, 1, -1, 5]) if i else 0
        level += step
        out.append(float(level + rng.randint(-3, 3) + (15 if rng.random() < 0.05 else 0)))
    return out


@pytest.fixture(scope="module")
def many_series() -> list[list[float]]:
    rng = random.Random(20250911)
    return [random_series(rng) for _ in range(300)]


def test_limits_are_symmetric_about_the_mean(many_series: list[list[float]]) -> None:
    for values in many_series:
        for p in chart(values, months(len(values)), improvement_direction=UP).points:
            assert p.lpl <= p.mean <= p.upl
            assert p.upl - p.mean == pytest.approx(p.mean - p.lpl, rel=1e-12, abs=1e-9)


def test_reversing_the_good_direction_swaps_improvement_and_concern(
    many_series: list[list[float]],
) -> None:
    signals = 0
    for values in many_series:
        periods = months(len(values))
        up = chart(values, periods, improvement_direction=UP).points
        down = chart(values, periods, improvement_direction=DOWN).points
        for a, b in zip(up, down, strict=True):
            assert a.special_cause == b.special_cause
            assert b.point_type == SWAP.get(a.point_type, a.point_type)
            signals += a.point_type is not PointType.COMMON_CAUSE
    assert signals > 300  # the series do signal, so the swap was exercised


def test_without_a_direction_signals_are_neutral_high_or_low(
    many_series: list[list[float]],
) -> None:
    for values in many_series:
        for p in chart(values, months(len(values)), improvement_direction=None).points:
            side = p.special_cause.side
            assert (
                p.point_type
                == {
                    1: PointType.NEUTRAL_HIGH,
                    -1: PointType.NEUTRAL_LOW,
                    0: PointType.COMMON_CAUSE,
                }[side]
            )


def test_turning_the_series_upside_down_mirrors_every_signal(
    many_series: list[list[float]],
) -> None:
    for values in many_series:
        periods = months(len(values))
        a = chart(values, periods, improvement_direction=UP).points
        b = chart([-v for v in values], periods, improvement_direction=DOWN).points
        assert [MIRROR[p.special_cause] for p in a] == [p.special_cause for p in b]
        assert [p.point_type for p in a] == [p.point_type for p in b]


def test_moving_the_series_moves_the_limits_and_keeps_the_signals(
    many_series: list[list[float]],
) -> None:
    for values in many_series:
        periods = months(len(values))
        a = chart(values, periods, improvement_direction=UP).points
        b = chart([v + 1000 for v in values], periods, improvement_direction=UP).points
        assert [p.special_cause for p in a] == [p.special_cause for p in b]
        assert b[0].mean - a[0].mean == pytest.approx(1000)
        assert b[0].upl - a[0].upl == pytest.approx(1000)
