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
class Metric:
    id: str
    title: str
    unit: str  # "%", "count", "seconds", "segment", "rank", "score", "flag", "rating"
    direction: Direction
    granularity: Granularity
    publisher: str  # the source name in config.toml ([sources.<name>])
    description: str = ""

    @property
    def higher_is_better(self) -> bool:
        return self.direction is Direction.HIGHER

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
        "ae_4hr_pct",
        "A&E: seen within 4 hours (all types)",
        "%",
        H,
        M,
        "ae",
        "All A&E types including booked appointments: NHS England's headline figure.",
    ),
    Metric(
        "ae_4hr_type1_pct",
        "A&E: seen within 4 hours (type 1)",
        "%",
        H,
        M,
        "ae",
        "Major emergency departments only: the figure the league tables and the press quote.",
    ),
    Metric(
        "ae_12hr_dta_count",
        "A&E: 12-hour waits from decision to admit",
        "count",
        L,
        M,
        "ae",
        "Patients waiting over 12 hours from the decision to admit to admission.",
    ),
    Metric(
        "cancer_28d_fds_pct",
        "Cancer: Faster Diagnosis Standard (28 days)",
        "%",
        H,
        M,
        "cancer",
        "Told cancer diagnosed or ruled out within 28 days of referral.",
    ),
    Metric(
        "cancer_31d_pct",
        "Cancer: treated within 31 days of decision",
        "%",
        H,
        M,
        "cancer",
        "31-day combined standard: decision to treat to treatment.",
    ),
    Metric(
        "cancer_62d_pct",
        "Cancer: treated within 62 days of referral",
        "%",
        H,
        M,
        "cancer",
        "62-day combined standard: urgent referral, screening or upgrade to first treatment.",
    ),
    Metric(
        "rtt_18wk_pct",
        "Elective: waiting under 18 weeks",
        "%",
        H,
        M,
        "rtt",
        "Incomplete referral-to-treatment pathways waiting 18 weeks or less.",
    ),
    Metric(
        "rtt_52wk_count",
        "Elective: waiting over 52 weeks",
        "count",
        L,
        M,
        "rtt",
        "Incomplete pathways waiting more than 52 weeks.",
    ),
    Metric(
        "rtt_52wk_pct",
        "Elective: waiting over 52 weeks (% of list)",
        "%",
        L,
        M,
        "rtt",
        "52-week waits as a percentage of the waiting list.",
    ),
    Metric(
        "rtt_waiting_list",
        "Elective: waiting list size",
        "count",
        L,
        M,
        "rtt",
        "Incomplete referral-to-treatment pathways.",
    ),
    Metric(
        "amb_c1_mean_s",
        "Ambulance: Category 1 mean response",
        "seconds",
        L,
        M,
        "ambulance",
        "Life-threatening calls; standard 7 minutes.",
    ),
    Metric(
        "amb_c1_p90_s",
        "Ambulance: Category 1 90th centile response",
        "seconds",
        L,
        M,
        "ambulance",
        "Standard 15 minutes.",
    ),
    Metric(
        "amb_c2_mean_s",
        "Ambulance: Category 2 mean response",
        "seconds",
        L,
        M,
        "ambulance",
        "Emergency calls; standard 18 minutes, 30 minutes in the 2025/26 plan.",
    ),
    Metric(
        "amb_c2_p90_s",
        "Ambulance: Category 2 90th centile response",
        "seconds",
        L,
        M,
        "ambulance",
        "Standard 40 minutes.",
    ),
    Metric(
        "nof_segment",
        "Oversight Framework segment",
        "segment",
        L,
        Q,
        "oversight",
        "OF5000 adjusted segment: 1 best, 4 most support needed (5 = Recovery Support).",
    ),
    Metric(
        "nof_rank",
        "Oversight Framework league rank",
        "rank",
        L,
        Q,
        "oversight",
        "Rank within the peer group; the denominator is the size of the peer group.",
    ),
    Metric(
        "nof_average_score",
        "Oversight Framework average metric score",
        "score",
        L,
        Q,
        "oversight",
        "OF5002: 1.00 best to 4.00 worst.",
    ),
    Metric(
        "nof_deficit_flag",
        "In financial deficit",
        "flag",
        L,
        Q,
        "oversight",
        "1 when the league table flags the trust as in financial deficit.",
    ),
    Metric(
        "nof_rsp_flag",
        "In the Recovery Support Programme",
        "flag",
        L,
        Q,
        "oversight",
        "OF5007: 1 when the trust is in the Recovery Support Programme.",
    ),
    Metric(
        "fin_planned_deficit_pct",
        "Planned surplus/deficit (% of income)",
        "%",
        H,
        Q,
        "oversight",
        "OF0079, sign as published: negative is a planned deficit.",
    ),
    Metric(
        "fin_variance_to_plan_pct",
        "Variance to financial plan, year to date (%)",
        "%",
        H,
        Q,
        "oversight",
        "OF0081: negative is worse than plan.",
    ),
    Metric(
        "cqc_overall",
        "CQC overall rating",
        "rating",
        L,
        P,
        "cqc",
        "1 Outstanding, 2 Good, 3 Requires improvement, 4 Inadequate.",
    ),
    Metric(
        "dspt_status",
        "Data Security and Protection Toolkit status",
        "rating",
        L,
        P,
        "dspt",
        "One point per edition, at its 30 June deadline: 1 Standards Exceeded, 2 Standards Met, "
        "3 Approaching Standards, 4 Standards Not Met or Not Published.",
    ),
)

METRICS: dict[str, Metric] = {m.id: m for m in _CATALOGUE}


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


def for_publisher(publisher: str) -> list[Metric]:
    return [m for m in _CATALOGUE if m.publisher == publisher]


PUBLISHERS: tuple[str, ...] = ("ae", "cancer", "rtt", "ambulance", "oversight", "cqc", "dspt")
