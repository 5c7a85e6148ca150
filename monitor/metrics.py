"""The metric catalogue: every figure the monitor stores, what it means and which way is good.

Everything that needs a metric's direction, unit or period length reads it from here; nothing
else hard-codes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Direction(StrEnum):
    """Which way is good for a metric."""

    HIGHER = "higher"  # higher is better (e.g. % seen within 4 hours)
    LOWER = "lower"  # lower is better (e.g. 12-hour waits, response times, segment)


class Granularity(StrEnum):
    """The length of one period of a metric."""

    MONTH = "month"
    QUARTER = "quarter"
    POINT = "point"  # a dated event, such as a CQC report


@dataclass(frozen=True, slots=True)
class Target:
    """The standard a metric is held to: SPC assurance asks whether a trust will meet it."""

    value: float
    standard: str  # the standard's name and source, for the evidence


@dataclass(frozen=True, slots=True)
class Range:
    """The values a metric can take; a figure outside it is a damaged file, never stored."""

    low: float
    high: float = float("inf")
    low_inclusive: bool = True

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_inclusive else value > self.low
        return above and value <= self.high

    def __str__(self) -> str:
        def num(v: float) -> str:
            return f"{v:,.0f}" if v == int(v) else f"{v:g}"

        low = num(self.low) if self.low_inclusive else f"more than {num(self.low)}"
        return f"{low} to {num(self.high)}"


# Every unit's valid values; a metric whose scale differs says so in its ``valid_range``.
# Counts are of people in England (under 100 million); a response time is more than 0 seconds
# and less than a day; a rank is within a league of NHS trusts (fewer than 1,000).
UNIT_RANGES: dict[str, Range] = {
    "%": Range(0, 100),
    "count": Range(0, 1e8),
    "seconds": Range(0, 86_400, low_inclusive=False),
    "segment": Range(1, 5),
    "rank": Range(1, 1_000),
    "score": Range(1, 4),
    "flag": Range(0, 1),
    "rating": Range(1, 4),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Metric:
    id: str
    title: str
    unit: str  # "%", "count", "seconds", "segment", "rank", "score", "flag", "rating"
    direction: Direction
    granularity: Granularity
    publisher: str  # the source name in config.toml ([sources.<name>])
    description: str = ""
    # What the figure's numerator and denominator count, for "3,678 of 7,060 attendances":
    # empty where the publisher gives no counts.
    counted: str = ""
    # The valid values where they differ from the unit's (UNIT_RANGES).
    valid_range: Range | None = None

    @property
    def valid(self) -> Range:
        """The values this metric can take: its own range, else its unit's."""
        return self.valid_range or UNIT_RANGES[self.unit]

    @property
    def higher_is_better(self) -> bool:
        return self.direction is Direction.HIGHER

    @property
    def target(self) -> Target | None:
        """The standard in TARGETS, or None where no standard exists."""
        return TARGETS.get(self.id)

    def is_worse(self, new: float, old: float) -> bool:
        """True when ``new`` is strictly worse than ``old`` for this metric."""
        return new < old if self.higher_is_better else new > old

    def worsening(self, new: float, old: float) -> float:
        """How much worse ``new`` is than ``old`` (positive = worse), in the metric's unit."""
        return old - new if self.higher_is_better else new - old


H, L = Direction.HIGHER, Direction.LOWER
M, Q, P = Granularity.MONTH, Granularity.QUARTER, Granularity.POINT

_CATALOGUE: tuple[Metric, ...] = (
    Metric(
        id="ae_4hr_pct",
        title="A&E: seen within 4 hours (all types)",
        unit="%",
        direction=H,
        granularity=M,
        publisher="ae",
        description="All A&E types including booked appointments: NHS England's headline figure.",
        counted="attendances",
    ),
    Metric(
        id="ae_4hr_type1_pct",
        title="A&E: seen within 4 hours (type 1)",
        unit="%",
        direction=H,
        granularity=M,
        publisher="ae",
        description=(
            "Major emergency departments only: the figure the league tables and the press quote."
        ),
        counted="attendances",
    ),
    Metric(
        id="ae_12hr_dta_count",
        title="A&E: 12-hour waits from decision to admit",
        unit="count",
        direction=L,
        granularity=M,
        publisher="ae",
        description="Patients waiting over 12 hours from the decision to admit to admission.",
    ),
    Metric(
        id="cancer_28d_fds_pct",
        title="Cancer: Faster Diagnosis Standard (28 days)",
        unit="%",
        direction=H,
        granularity=M,
        publisher="cancer",
        description="Told cancer diagnosed or ruled out within 28 days of referral.",
        counted="patients",
    ),
    Metric(
        id="cancer_31d_pct",
        title="Cancer: treated within 31 days of decision",
        unit="%",
        direction=H,
        granularity=M,
        publisher="cancer",
        description="31-day combined standard: decision to treat to treatment.",
        counted="patients",
    ),
    Metric(
        id="cancer_62d_pct",
        title="Cancer: treated within 62 days of referral",
        unit="%",
        direction=H,
        granularity=M,
        publisher="cancer",
        description=(
            "62-day combined standard: urgent referral, screening or upgrade to first treatment."
        ),
        counted="patients",
    ),
    Metric(
        id="rtt_18wk_pct",
        title="Elective: waiting under 18 weeks",
        unit="%",
        direction=H,
        granularity=M,
        publisher="rtt",
        description="Incomplete referral-to-treatment pathways waiting 18 weeks or less.",
        counted="patients waiting",
    ),
    Metric(
        id="rtt_52wk_count",
        title="Elective: waiting over 52 weeks",
        unit="count",
        direction=L,
        granularity=M,
        publisher="rtt",
        description="Incomplete pathways waiting more than 52 weeks.",
    ),
    Metric(
        id="rtt_52wk_pct",
        title="Elective: waiting over 52 weeks (% of list)",
        unit="%",
        direction=L,
        granularity=M,
        publisher="rtt",
        description="52-week waits as a percentage of the waiting list.",
        counted="patients waiting",
    ),
    Metric(
        id="rtt_waiting_list",
        title="Elective: waiting list size",
        unit="count",
        direction=L,
        granularity=M,
        publisher="rtt",
        description="Incomplete referral-to-treatment pathways.",
    ),
    Metric(
        id="amb_c1_mean_s",
        title="Ambulance: Category 1 mean response",
        unit="seconds",
        direction=L,
        granularity=M,
        publisher="ambulance",
        description="Life-threatening calls; standard 7 minutes.",
        counted="incidents",
    ),
    Metric(
        id="amb_c1_p90_s",
        title="Ambulance: Category 1 90th centile response",
        unit="seconds",
        direction=L,
        granularity=M,
        publisher="ambulance",
        description="Standard 15 minutes.",
    ),
    Metric(
        id="amb_c2_mean_s",
        title="Ambulance: Category 2 mean response",
        unit="seconds",
        direction=L,
        granularity=M,
        publisher="ambulance",
        description="Emergency calls; standard 18 minutes, 30 minutes in the 2025/26 plan.",
        counted="incidents",
    ),
    Metric(
        id="amb_c2_p90_s",
        title="Ambulance: Category 2 90th centile response",
        unit="seconds",
        direction=L,
        granularity=M,
        publisher="ambulance",
        description="Standard 40 minutes.",
    ),
    Metric(
        id="nof_segment",
        title="Oversight Framework segment",
        unit="segment",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description=(
            "OF5000 adjusted segment: 1 best, 4 most support needed (5 = Recovery Support)."
        ),
    ),
    Metric(
        id="nof_rank",
        title="Oversight Framework league rank",
        unit="rank",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description="Rank within the peer group; the denominator is the size of the peer group.",
        counted="trusts",
    ),
    Metric(
        id="nof_average_score",
        title="Oversight Framework average metric score",
        unit="score",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description="OF5002: 1.00 best to 4.00 worst.",
    ),
    Metric(
        id="nof_unadjusted_segment",
        title="Oversight Framework segment before adjustment",
        unit="segment",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description=(
            "OF5003: the segment the average metric score alone gives, before the financial "
            "override (OF5004) caps a trust in financial deficit at segment 3."
        ),
    ),
    Metric(
        id="nof_financial_override_flag",
        title="Financial override applied to the segment",
        unit="flag",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description=(
            "OF5004: 1 when the trust's finances cap its segment (a trust in financial deficit "
            "is placed no higher than segment 3)."
        ),
    ),
    Metric(
        id="nof_deficit_flag",
        title="In financial deficit",
        unit="flag",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description="1 when the league table flags the trust as in financial deficit.",
    ),
    Metric(
        id="nof_rsp_flag",
        title="In the Recovery Support Programme",
        unit="flag",
        direction=L,
        granularity=Q,
        publisher="oversight",
        description="OF5007: 1 when the trust is in the Recovery Support Programme.",
    ),
    Metric(
        id="fin_planned_deficit_pct",
        title="Planned surplus/deficit (% of income)",
        unit="%",
        direction=H,
        granularity=Q,
        publisher="oversight",
        description="OF0079, sign as published: negative is a planned deficit.",
        valid_range=Range(-100, 100),
    ),
    Metric(
        id="fin_variance_to_plan_pct",
        title="Variance to financial plan, year to date (%)",
        unit="%",
        direction=H,
        granularity=Q,
        publisher="oversight",
        description="OF0081: negative is worse than plan.",
        valid_range=Range(-100, 100),
    ),
    Metric(
        id="cqc_overall",
        title="CQC overall rating",
        unit="rating",
        direction=L,
        granularity=P,
        publisher="cqc",
        description="1 Outstanding, 2 Good, 3 Requires improvement, 4 Inadequate.",
    ),
    Metric(
        id="dspt_status",
        title="Data Security and Protection Toolkit status",
        unit="rating",
        direction=L,
        granularity=P,
        publisher="dspt",
        description=(
            "One point per edition, at its 30 June deadline: 1 Standards Exceeded, 2 Standards "
            "Met, 3 Approaching Standards, 4 Standards Not Met or Not Published."
        ),
    ),
)

METRICS: dict[str, Metric] = {m.id: m for m in _CATALOGUE}

_PLAN = "2025/26 priorities and operational planning guidance"
_ARP = "Ambulance Response Programme standards (2017)"
TARGETS: dict[str, Target] = {
    "ae_4hr_pct": Target(78, f"{_PLAN}: 78% within 4 hours by March 2026 (Constitution: 95%)"),
    "ae_4hr_type1_pct": Target(
        78, f"{_PLAN}: 78% within 4 hours by March 2026 (Constitution: 95%)"
    ),
    "ae_12hr_dta_count": Target(
        0, "NHS Standard Contract 2025/26: no wait over 12 hours from decision to admit"
    ),
    "cancer_28d_fds_pct": Target(
        80, f"{_PLAN}: 80% told within 28 days by March 2026 (Faster Diagnosis Standard)"
    ),
    "cancer_31d_pct": Target(
        96, "Cancer Waiting Times standards (October 2023): 96% treated within 31 days"
    ),
    "cancer_62d_pct": Target(
        75, f"{_PLAN}: 75% treated within 62 days by March 2026 (standard: 85%)"
    ),
    "rtt_18wk_pct": Target(
        92,
        "NHS Constitution: 92% of waiting patients within 18 weeks (no 2025/26 level "
        "common to every trust: each is asked for 5 points more, 65% nationally)",
    ),
    "rtt_52wk_pct": Target(1, f"{_PLAN}: under 1% of the waiting list over 52 weeks"),
    "amb_c1_mean_s": Target(420, f"{_ARP}: Category 1 mean response 7 minutes"),
    "amb_c1_p90_s": Target(900, f"{_ARP}: Category 1 90th centile 15 minutes"),
    "amb_c2_mean_s": Target(1800, f"{_PLAN}: Category 2 mean 30 minutes (ARP: 18 minutes)"),
    "amb_c2_p90_s": Target(2400, f"{_ARP}: Category 2 90th centile 40 minutes"),
}
"""What SPC assurance is judged against. The level each trust is held to in 2025/26: the
planning guidance's where it sets one for every trust (A&E 78%, Faster Diagnosis 80%, 62-day
75%, Category 2 mean 30 minutes, 52-week waits under 1%), else the constitutional or national
standard. Not the constitutional level throughout: against 95% nearly every trust "consistently
fails", which describes the NHS rather than the trust; against the level it is asked to reach
this year, assurance separates the trusts that will reliably get there from those that will
not. The rules in rules/ alert at the same levels and cite the same documents."""


class UnknownMetric(KeyError):
    pass


def get(metric_id: str) -> Metric:
    """The catalogue entry for ``metric_id``; raises UnknownMetric naming the known ids."""
    try:
        return METRICS[metric_id]
    except KeyError:
        raise UnknownMetric(
            f"unknown metric {metric_id!r}; known metrics: {', '.join(sorted(METRICS))}"
        ) from None
