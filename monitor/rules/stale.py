"""Stale rules: no figure for a period published for others, and publishers running late.

An organisation is watched for missing figures only once it has reported the metric for
``reported_for`` published periods in a row, and only until it closed: a trust that appears in
a publication now and then (a shared cancer patient, counted as half a patient) is never
"missing". A late publisher's finding belongs to England, at the date of the publication awaited.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING

from monitor import metrics
from monitor import orgs as orgs_ref
from monitor.rules import conditions as cond
from monitor.rules.findings import KindFacts, found, series_finding
from monitor.rules.inputs import History, Point, Series, SourceCalendar, context_for
from monitor.rules.model import StaleRule

if TYPE_CHECKING:
    from monitor.rules.evaluate import Evaluation, _Scopes


def missing(
    rule: StaleRule, history: History, ev: Evaluation, scopes: _Scopes, target: set[str] | None
) -> None:
    """No figure for a period that was published for other organisations of the same trust
    type, from an organisation that had been reporting (``reported_for`` periods in a row) and
    was still open. A publisher may release one type's figures without another's (the Oversight
    Framework's league tables come per trust type), so an acute trust is not missing a quarter
    no acute trust has."""
    assert rule.metric is not None
    by_org = history.by_metric.get(rule.metric, {})
    by_type: dict[str | None, set[date]] = {}
    for code, s in by_org.items():
        by_type.setdefault(context_for(code, scopes.orgs).trust_type, set()).update(s.starts)
    starts_of = {kind: sorted(periods) for kind, periods in by_type.items()}
    publications: dict[date, int | None] = {}  # period -> a publication that published it
    for org, ctx, series in scopes.each(rule.scope, by_org, target, ev, rule.metric):
        starts = starts_of[ctx.trust_type]
        expected = starts[bisect_left(starts, series.starts[0]) :]
        if ctx.closed is not None:  # nothing is expected of it after it closed
            closed = ctx.closed
            expected = [p for p in expected if p <= closed or series.index(p) is not None]
        if len(expected) == len(series.starts):  # a figure for every period
            ev.add(series_finding(rule, ctx, history, series, cond.CLEAR * len(expected)))
            continue
        codes = _missing_codes(expected, set(series.starts), rule.reported_for)
        idx = {s: i for i, s in enumerate(series.starts)}
        points: list[Point | None] = [series.points[idx[p]] if p in idx else None for p in expected]
        values = [p.value if p else None for p in points]
        facts = KindFacts(
            last_figure_period=series.starts[-1],
            missing_periods=codes.count(cond.BREACH),
        )
        latest = _publication_of(expected[-1], by_org.values(), publications)
        if latest is not None:
            facts["publication_id"] = latest
        ev.add(
            found(
                rule, org, expected, codes, values, points=points, series=series,
                history=history, region=ctx.region, extra=facts,
            )
        )  # fmt: skip


def _publication_of(
    start: date, series: Iterable[Series], known: dict[date, int | None]
) -> int | None:
    """A publication that published the period starting ``start`` for some organisation."""
    if start not in known:
        found_in = (s.points[i] for s in series if (i := s.index(start)) is not None)
        known[start] = next((p.publication_id for p in found_in), None)
    return known[start]


def _missing_codes(expected: Sequence[date], have: Collection[date], reported_for: int) -> str:
    """Clear where there is a figure; a breach where there is none once the organisation has
    reported ``reported_for`` periods in a row; not assessed before that."""
    codes, run, watched = [], 0, False
    for p in expected:
        if p in have:
            run += 1
            watched = watched or run >= reported_for
            codes.append(cond.CLEAR)
        else:
            run = 0
            codes.append(cond.BREACH if watched else cond.SKIP)
    return "".join(codes)


def late(
    rule: StaleRule,
    metric: metrics.Metric,
    calendar: SourceCalendar | None,
    ev: Evaluation,
) -> None:
    """A publisher late against its calendar (as the caller's ``calendar`` says): one finding
    for England, at the date of the publication awaited."""
    if calendar is None or calendar.expected_next is None:
        return
    due = calendar.expected_next
    extra = KindFacts(
        publisher=metric.publisher,
        expected_next=due,
        grace_days=calendar.grace_days,
        latest_period=calendar.latest_period,
        days_late=calendar.days_late,
    )
    code = cond.BREACH if calendar.late else cond.CLEAR
    ev.add(found(rule, orgs_ref.ENGLAND, [due], code, [None], extra=extra))
