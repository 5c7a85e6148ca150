"""Builders for the rule tests: rules from a few keys, series of figures, text tables."""

from __future__ import annotations

from datetime import date
from typing import Any

from monitor.rules.checks import semantic_problems
from monitor.rules.conditions import shift_months
from monitor.rules.evaluate import Evaluation, evaluate
from monitor.rules.evidence import Evidence, build
from monitor.rules.findings import Finding
from monitor.rules.inputs import History, OrgContext, Point, RatingRecord
from monitor.rules.model import CQC_RATINGS, Rule, parse_rule
from monitor.rules.plans import PlannedEvent
from monitor.vocab import Episode, EventKind

FAR = date(2030, 1, 1)
GOVERNANCE: dict[str, Any] = {
    "title": "test rule",
    "why": "a rule made for a test",
    "severity": "medium",
    "authored_by": "tests",
    "checked_by": "tests",
    "next_review": FAR,
    "source": "tests",
}
ORGS = {
    "RCX": OrgContext(code="RCX", trust_type="acute", region="Y61", name="King's Lynn"),
    "RGT": OrgContext(code="RGT", trust_type="acute", region="Y61", name="Cambridge"),
    "RRU": OrgContext(code="RRU", trust_type="ambulance", region="Y56", name="London Ambulance"),
    "NLO": OrgContext(code="NLO", kind="other", region="Y61", name="an independent provider"),
}


def rows(text: str) -> list[tuple[str, ...]]:
    """The rows of a table written as text: a header line, then cells separated by "|"."""
    lines = [line.strip() for line in text.strip().splitlines()]
    return [tuple(cell.strip() for cell in line.split("|")) for line in lines[1:] if line]


def keys(text: str) -> dict[str, Any]:
    """``"for_periods=2 clear=62"`` -> {"for_periods": 2, "clear": 62.0}; "-" -> {}."""
    out: dict[str, Any] = {}
    for item in text.split():
        if item == "-":
            continue
        k, v = item.split("=")
        out[k] = {"true": True, "false": False}.get(v, v)
        if isinstance(out[k], str) and v.lstrip("-").replace(".", "", 1).isdigit():
            out[k] = float(v) if "." in v else int(v)
    return out


def figures(text: str) -> list[float | str]:
    """``"59 _ 58"`` -> [59.0, "_", 58.0]."""
    return [v if v == "_" else float(v) for v in text.split()]


def rule(rule_id: str = "r", **keys: Any) -> Rule:
    """A valid rule from the keys a test cares about (the governance keys are filled in)."""
    r = parse_rule({**GOVERNANCE, "id": rule_id, "version": f"v-{rule_id}", **keys})
    problems = semantic_problems(r)
    assert not problems, problems
    return r


def month(label: str) -> date:
    """``"2025-07"`` -> 1 July 2025."""
    y, m = label.split("-")
    return date(int(y), int(m), 1)


def series(
    org: str,
    metric: str,
    start: str,
    values: list[float | str],
    *,
    step: int = 1,
    publication_id: int = 1,
    published_at: date | None = None,
    denominators: list[float] | None = None,
) -> list[Point]:
    """Points for consecutive periods from ``start`` ("_" = no figure)."""
    out = []
    for i, v in enumerate(values):
        p0 = shift_months(month(start), i * step)
        p1 = date.fromordinal(shift_months(p0, step).toordinal() - 1)
        if isinstance(v, str):
            continue
        den = denominators[i] if denominators else None
        out.append(
            Point(
                org=org,
                metric=metric,
                period_start=p0,
                period_end=p1,
                value=float(v),
                denominator=den,
                publication_id=publication_id,
                published_at=published_at,
            )
        )
    return out


def rating(org: str, when: str, word: str, **kw: Any) -> RatingRecord:
    ordinal = CQC_RATINGS.index(word) + 1 if word in CQC_RATINGS else None
    return RatingRecord(
        org=org,
        subject=kw.pop("subject", org),
        report_date=date.fromisoformat(when),
        rating=word,
        ordinal=ordinal,
        **kw,
    )


def run(
    rules: list[Rule],
    points: list[Point],
    ratings: list[RatingRecord] | None = None,
    *,
    as_of: date = FAR,
    **kw: Any,
) -> Evaluation:
    return evaluate(rules, History.from_points(points, ratings or ()), ORGS, as_of=as_of, **kw)


def evidence_of(f: Finding) -> Evidence:
    """The evidence an event about ``f``'s latest period records."""
    event = PlannedEvent(
        kind=EventKind.UPDATED,
        period_start=f.period_start,
        value=f.value,
        threshold=f.threshold,
        consecutive_periods=f.consecutive,
        first_period=f.first_period,
        episode=Episode.FIRST,
        revised=f.revised,
        notify=False,
        rule_version=f.rule.version,
        publication_id=f.publication_id,
        finding=f,
    )
    return build(event)


def states(ev: Evaluation, rule_id: str, org: str) -> str:
    """The states of one finding as words, e.g. "ok pending firing"."""
    f = ev.get(rule_id, org)
    assert f is not None, f"no finding for {rule_id} / {org}"
    return " ".join(f.state_names())
