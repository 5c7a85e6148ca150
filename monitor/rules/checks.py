"""Meaning checks on one validated rule: each problem as (key, message), keys as in the file.

These run after pydantic has accepted the shape of the file. They need no other file: checks
across files (rule ids that must exist, cycles) live in monitor/rules/load.py.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from monitor import metrics
from monitor.config import REGION_CODES
from monitor.metrics import Direction, Metric
from monitor.rules.model import (
    ANY,
    CQC_DOMAINS,
    CQC_OTHER,
    CQC_RATINGS,
    AllOfRule,
    AnyOfRule,
    PeerRule,
    RankRule,
    RatingRule,
    Rule,
    SpcRule,
    StaleRule,
    TestCase,
    ThresholdRule,
)

Problem = tuple[str, str]  # (key, message)
ORG_KINDS = ("trust", "other", "icb", "region", "england")
_WORSE_WHEN = {
    "below": Direction.HIGHER,
    "at_or_below": Direction.HIGHER,
    "above": Direction.LOWER,
    "at_or_above": Direction.LOWER,
}


def unknown_metric(metric_id: str) -> str:
    """The message for a metric id that is not in the catalogue, with the nearest ids."""
    close = difflib.get_close_matches(metric_id, list(metrics.METRICS), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown metric {metric_id!r}{hint} (the catalogue is monitor/metrics.py)"


def semantic_problems(rule: Rule) -> list[Problem]:
    """Every meaning problem in ``rule``, as (key, message) pairs."""
    out = list(_common(rule))
    if isinstance(rule, ThresholdRule):
        out += _threshold(rule)
    elif isinstance(rule, RatingRule):
        out += _rating(rule)
    elif isinstance(rule, RankRule):
        out += _rank(rule)
    elif isinstance(rule, SpcRule):
        out += _spc(rule)
    elif isinstance(rule, PeerRule):
        out += _peer(rule)
    elif (
        isinstance(rule, StaleRule)
        and rule.mode == "late"
        and "reported_for" in rule.model_fields_set
    ):
        out.append(("reported_for", 'only used with mode = "missing"'))
    elif isinstance(rule, AllOfRule | AnyOfRule):
        if rule.id in rule.rules:
            out.append(("rules", "a rule cannot combine itself"))
        if len(set(rule.rules)) != len(rule.rules):
            out.append(("rules", "names a rule more than once"))
    for i, case in enumerate(rule.tests):
        out += [(f"tests[{i}].{k}" if k else f"tests[{i}]", m) for k, m in _case(rule, case)]
    return out


def _common(rule: Rule) -> Iterator[Problem]:
    composite = isinstance(rule, AllOfRule | AnyOfRule)
    if composite and rule.metric is not None:
        yield "metric", f"kind {rule.kind!r} combines rules by id and takes no metric"
    elif not composite and rule.metric is None:
        yield "metric", f"kind {rule.kind!r} needs a metric"
    elif rule.metric is not None and rule.metric not in metrics.METRICS:
        yield "metric", unknown_metric(rule.metric)
    uses_clear = isinstance(rule, ThresholdRule) or (
        isinstance(rule, RankRule) and rule.at_or_beyond is not None
    )
    if rule.clear is not None and not uses_clear:
        yield "clear", f"not used by kind {rule.kind!r} (only threshold and rank at_or_beyond)"
    if rule.min_denominator is not None and (composite or isinstance(rule, RatingRule | StaleRule)):
        yield "min_denominator", f"not used by kind {rule.kind!r}"
    if rule.id in rule.supersedes:
        yield "supersedes", "a rule cannot supersede itself"
    for i, kind in enumerate(rule.scope.kinds):
        if kind not in ORG_KINDS:
            yield (
                f"scope.kinds[{i}]",
                f"unknown organisation kind {kind!r}; use {', '.join(ORG_KINDS)}",
            )
    for i, region in enumerate(rule.scope.regions):
        if region not in REGION_CODES:
            yield f"scope.regions[{i}]", f"unknown region {region!r}; use {', '.join(REGION_CODES)}"


def _unit_range(metric: Metric, value: float, key: str) -> Iterator[Problem]:
    if metric.unit == "%":
        if not 0 <= value <= 100:
            yield key, f"{value} is not a percentage: {metric.id} is 0-100"
        elif 0 < value < 1:
            yield key, f"{value} looks like a fraction: {metric.id} is 0-100 (78 means 78%)"
    elif metric.unit == "flag" and value not in (0, 1):
        yield key, f"{metric.id} is a 1/0 flag; use 1 (flagged) or 0"
    elif value < 0:
        yield key, f"{metric.id} cannot be negative"


def _spc(rule: SpcRule) -> Iterator[Problem]:
    if not rule.special_causes and not rule.failing_assurance:
        yield "special_causes", "fires on nothing: name a special cause or set failing_assurance"
    if len(set(rule.special_causes)) != len(rule.special_causes):
        yield "special_causes", "names a special cause more than once"
    m = rule.catalogue
    if m is None:
        return
    if m.id == "cqc_overall":
        yield "metric", "kind 'spc' charts a series of figures, not CQC ratings"
    if rule.failing_assurance and m.target is None:
        yield "failing_assurance", f"{m.id} has no target in the catalogue to assure against"
    if rule.worse_than is not None:
        yield from _unit_range(m, rule.worse_than, "worse_than")


def _peer(rule: PeerRule) -> Iterator[Problem]:
    if rule.clear_percent is not None and rule.clear_percent < rule.worst_percent:
        yield "clear_percent", "must be at least worst_percent (the share that resolves is wider)"
    m = rule.catalogue
    if m is not None and m.id == "cqc_overall":
        yield "metric", "kind 'peer' ranks a series of figures, not CQC ratings"


def _threshold(rule: ThresholdRule) -> Iterator[Problem]:
    if (rule.value is None) == (not rule.levels):
        yield "value", "give either value (one level) or [[levels]] (effective-dated), not both"
        return
    m = rule.catalogue
    if m is None:
        return
    wrong_way = m.direction is not _WORSE_WHEN[rule.when]
    if wrong_way:
        better = "higher" if m.higher_is_better else "lower"
        yield (
            "when",
            f"{rule.when!r} alerts when {m.id} is better, but {better} is better for this metric "
            f"(monitor/metrics.py)",
        )
    if rule.levels:
        for i in range(1, len(rule.levels)):
            if rule.levels[i].from_ <= rule.levels[i - 1].from_:
                yield f"levels[{i}].from", "levels must be in date order, each from a later date"
        pairs = [(f"levels[{i}]", lv.value, lv.clear) for i, lv in enumerate(rule.levels)]
    else:
        assert rule.value is not None
        pairs = [("value", rule.value, None)]
    yield from _absent(rule, m)
    for key, value, own_clear in pairs:
        yield from _unit_range(m, value, key if key == "value" else f"{key}.value")
        clear = own_clear if own_clear is not None else rule.clear
        where = f"{key}.clear" if own_clear is not None else "clear"
        if clear is not None and not wrong_way and m.is_worse(clear, value):
            side = "above" if m.higher_is_better else "below"
            yield where, f"hysteresis level {clear:g} must be at or {side} the threshold {value:g}"


def _absent(rule: ThresholdRule, m: Metric) -> Iterator[Problem]:
    if rule.absent is None:
        return
    other = metrics.METRICS.get(rule.absent.metric)
    if other is None:
        yield "absent.metric", unknown_metric(rule.absent.metric)
    elif other.id == m.id:
        yield "absent.metric", "must be another metric than the rule's own"
    elif other.granularity != m.granularity:
        yield (
            "absent.metric",
            f"{other.id} is published by {other.granularity} and {m.id} by {m.granularity}: "
            "their periods must be the same",
        )
    yield from _unit_range(m, rule.absent.value, "absent.value")


def _rating(rule: RatingRule) -> Iterator[Problem]:
    m = rule.catalogue
    if m is not None and m.unit != "rating":
        yield "metric", f"kind 'rating' needs a rating metric (such as cqc_overall), not {m.id}"
    if bool(rule.in_) == rule.downgrade:
        yield "in", "give either in = [ratings...] or downgrade = true, not both"
    known = CQC_RATINGS + CQC_OTHER
    for i, word in enumerate(rule.in_):
        if word not in known:
            close = difflib.get_close_matches(word, known, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else f"; use {', '.join(known)}"
            yield f"in[{i}]", f"unknown CQC rating {word!r}{hint}"
    if rule.domain not in (*CQC_DOMAINS, ANY):
        yield "domain", f"unknown key question {rule.domain!r}; use {', '.join(CQC_DOMAINS)} or any"


def _rank(rule: RankRule) -> Iterator[Problem]:
    modes = [rule.at_or_beyond is not None, rule.bottom is not None, rule.fallen]
    if sum(modes) != 1:
        yield "at_or_beyond", "give exactly one of at_or_beyond = N, bottom = N or fallen = true"
        return
    m = rule.catalogue
    if m is None:
        return
    # Segments and ratings with numbered levels (a DSPT status) can be at a level or fall.
    want = ("rank",) if rule.bottom is not None else ("segment", "rating")
    if m.unit not in want:
        mode = "bottom" if rule.bottom is not None else "at_or_beyond/fallen"
        yield "metric", f"{mode} needs a {' or '.join(want)} metric, and {m.id} is a {m.unit}"
    n, clear = rule.at_or_beyond, rule.clear
    if n is not None and clear is not None and not m.is_worse(n, clear):
        yield "clear", f"hysteresis level {clear} must be better than {n}"


def _case(rule: Rule, case: TestCase) -> Iterator[Problem]:
    for metric_id in case.series:
        if metric_id not in metrics.METRICS:
            yield f"series.{metric_id}", unknown_metric(metric_id)
    n = len(case.expect)
    if isinstance(rule, RatingRule):
        if not case.ratings:
            yield "ratings", "a rating rule's test needs [[tests.ratings]] rows"
        dates = len({r.date for r in case.ratings})
        if case.ratings and dates != n:
            yield "expect", f"{n} expected states for {dates} rating dates"
        return
    if isinstance(rule, StaleRule) and rule.mode == "late":
        if case.calendar is None:
            yield "calendar", "a late-publisher test needs calendar = {as_of, expected_next}"
        if n != 1:
            yield "expect", "a late-publisher test expects one state (at as_of)"
        return
    if isinstance(rule, AllOfRule | AnyOfRule):
        if case.values:
            yield "values", "a combined rule's test gives series = { metric = [...] }"
        longest = max((len(v) for v in case.series.values()), default=0)
        if longest != n:
            yield "expect", f"{n} expected states for {longest} periods"
        return
    values = case.values or case.series.get(rule.metric or "", ())
    if not values:
        yield "values", "give values = [...] for the rule's metric"
    elif len(values) != n:
        yield "expect", f"{n} expected states for {len(values)} values"
    if case.denominators and len(case.denominators) != len(values):
        yield "denominators", f"{len(case.denominators)} denominators for {len(values)} values"
    if isinstance(rule, RankRule) and rule.bottom is not None and not case.denominators:
        yield "denominators", "bottom = N needs denominators (the size of the peer group)"
    if case.thresholds and len(case.thresholds) != n:
        yield "thresholds", f"{len(case.thresholds)} thresholds for {n} expected states"
