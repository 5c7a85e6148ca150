"""The catalogue's targets (what SPC assurance is judged against) agree with the rule pack."""

from __future__ import annotations

import tomllib
from pathlib import Path

from monitor.metrics import METRICS, TARGETS, Direction

RULES = Path(__file__).resolve().parent.parent / "rules"


def _levels(rule: dict[str, object]) -> set[float]:
    levels = rule.get("levels", [])
    assert isinstance(levels, list)
    found = {float(lv["value"]) for lv in levels if "value" in lv}
    if isinstance(rule.get("value"), int | float):
        found.add(float(rule["value"]))  # type: ignore[arg-type]
    return found


def test_every_target_belongs_to_a_catalogue_metric_with_a_good_direction() -> None:
    assert set(TARGETS) <= set(METRICS)
    for metric_id, target in TARGETS.items():
        metric = METRICS[metric_id]
        assert metric.target is target
        assert metric.direction in (Direction.HIGHER, Direction.LOWER)
        assert target.standard, metric_id
    assert METRICS["nof_segment"].target is None  # no standard: no assurance


def test_the_rules_on_a_targeted_metric_use_or_cite_the_target() -> None:
    """Where rules/ has threshold rules on a metric, one alerts at the target's level or cites
    it (the 62-day rules alert at 85% and 70% and cite the 2025/26 ambition of 75%)."""
    levels: dict[str, set[float]] = {}
    texts: dict[str, str] = {}
    for path in RULES.glob("*.toml"):
        rule = tomllib.loads(path.read_text())
        if rule.get("kind") == "threshold":
            metric = str(rule["metric"])
            levels.setdefault(metric, set()).update(_levels(rule))
            texts[metric] = texts.get(metric, "") + str(rule.get("source")) + str(rule.get("why"))
    checked = 0
    for metric_id, target in TARGETS.items():
        if metric_id in levels:
            cited = f"{target.value:g}%" in texts[metric_id]
            assert target.value in levels[metric_id] or cited, (metric_id, target)
            checked += 1
    assert checked >= 8
