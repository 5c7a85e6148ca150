"""The metric catalogue holds every id DESIGN.md fixes, with a direction and granularity."""

from __future__ import annotations

import pytest

from monitor import metrics
from monitor.metrics import Direction, Granularity

FIXED_IDS = [
    "ae_4hr_pct",
    "ae_4hr_type1_pct",
    "ae_12hr_dta_count",
    "cancer_28d_fds_pct",
    "cancer_31d_pct",
    "cancer_62d_pct",
    "rtt_18wk_pct",
    "rtt_52wk_count",
    "rtt_52wk_pct",
    "rtt_waiting_list",
    "amb_c1_mean_s",
    "amb_c1_p90_s",
    "amb_c2_mean_s",
    "amb_c2_p90_s",
    "nof_segment",
    "nof_rank",
    "nof_average_score",
    "nof_deficit_flag",
    "nof_rsp_flag",
    "fin_planned_deficit_pct",
    "fin_variance_to_plan_pct",
    "cqc_overall",
    "dspt_status",
]
# Added beside the fixed ids: the data CSV's segment before the financial override (OF5003)
# and the override flag (OF5004), which explain a capped segment.
ADDED_IDS = ["nof_unadjusted_segment", "nof_financial_override_flag"]


def test_every_fixed_metric_id_is_in_the_catalogue() -> None:
    assert sorted(metrics.METRICS) == sorted(FIXED_IDS + ADDED_IDS)


@pytest.mark.parametrize(
    ("metric", "direction", "granularity"),
    [
        ("ae_4hr_type1_pct", Direction.HIGHER, Granularity.MONTH),
        ("ae_12hr_dta_count", Direction.LOWER, Granularity.MONTH),
        ("amb_c2_mean_s", Direction.LOWER, Granularity.MONTH),
        ("nof_segment", Direction.LOWER, Granularity.QUARTER),
        ("fin_variance_to_plan_pct", Direction.HIGHER, Granularity.QUARTER),
        ("cqc_overall", Direction.LOWER, Granularity.POINT),
        ("dspt_status", Direction.LOWER, Granularity.POINT),
    ],
)
def test_direction_and_granularity(metric: str, direction: Direction, granularity: Granularity):
    m = metrics.get(metric)
    assert (m.direction, m.granularity) == (direction, granularity)


def test_worse_follows_the_direction() -> None:
    assert metrics.get("ae_4hr_pct").is_worse(55.0, 60.0)
    assert not metrics.get("ae_4hr_pct").is_worse(65.0, 60.0)
    assert metrics.get("amb_c1_mean_s").is_worse(500, 420)
    assert metrics.get("amb_c1_mean_s").worsening(500, 420) == 80


def test_an_unknown_metric_names_the_known_ones() -> None:
    with pytest.raises(metrics.UnknownMetric, match="unknown metric 'ae_4h_pct'.*ae_4hr_pct"):
        metrics.get("ae_4h_pct")
