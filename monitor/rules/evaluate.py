"""The pure evaluator: rules + history + as-of date in, findings out. No database, clock or network.

For every rule and every organisation in its scope with data for the rule's metric, one
``Finding`` with the state per period: each kind turns figures into a code per period
(conditions.py), and the state machine (states.py) turns codes into ok / pending / firing.
Missing data never resolves, and a missing period neither counts nor breaks a run.

``history`` must be built with ``History.from_points(..., as_of=as_of)`` (or without ``as_of``
from current figures only): the evaluator trusts it to hold what was known on ``as_of``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monitor import metrics
from monitor import orgs as orgs_ref
from monitor.rules import conditions as cond
from monitor.rules.findings import Finding, KindFacts
from monitor.rules.inputs import History, OrgContext, Point, Series, SourceCalendar, context_for
from monitor.rules.model import (
    AllOfRule,
    AnyOfRule,
    ChangeRule,
    RankRule,
    RatingRule,
    Rule,
    Scope,
    StaleRule,
    ThresholdRule,
    TrendRule,
)
from monitor.rules.states import FIRING, run_states
from monitor.vocab import AlertState

Pair = tuple[str, str]  # (metric, organisation)


@dataclass(slots=True)
class Evaluation:
    """Findings by rule id and organisation, and which series were read to make them."""

    by_rule: dict[str, dict[str, Finding]] = field(default_factory=dict)
    touched: set[Pair] = field(default_factory=set)

    def add(self, finding: Finding) -> None:
        self.by_rule.setdefault(finding.rule.id, {})[finding.org] = finding

    def get(self, rule_id: str, org: str) -> Finding | None:
        return self.by_rule.get(rule_id, {}).get(org)

    def __iter__(self) -> Iterator[Finding]:
        for findings in self.by_rule.values():
            yield from findings.values()

    def __len__(self) -> int:
        return sum(len(f) for f in self.by_rule.values())

    def firing(self) -> list[Finding]:
        """Findings firing at their latest period."""
        return [f for f in self if f.states[-1] == FIRING]


class _Scopes:
    """Scope checks, memoised per scope and organisation for one evaluation."""

    def __init__(self, orgs: Mapping[str, OrgContext]) -> None:
        self.orgs = dict(orgs)
        self.memo: dict[int, tuple[Scope, dict[str, OrgContext | None]]] = {}

    def context(self, scope: Scope, org: str) -> OrgContext | None:
        """The organisation's context when it is in ``scope``, else None."""
        # Keyed by identity: hashing a pydantic model for every organisation costs too much.
        entry = self.memo.get(id(scope))
        if entry is None:
            entry = self.memo[id(scope)] = (scope, {})
        known = entry[1]
        if org not in known:
            ctx = context_for(org, self.orgs)
            ok = scope.matches(ctx.kind, ctx.trust_type, ctx.region, org)
            known[org] = ctx if ok else None
        return known[org]


def _order(rules: Iterable[Rule]) -> list[Rule]:
    """Rules with every combined rule after the rules it combines."""
    by_id = {r.id: r for r in rules}
    done: dict[str, Rule] = {}

    def visit(rule: Rule, path: tuple[str, ...]) -> None:
        if rule.id in done:
            return
        if rule.id in path:
            raise ValueError(f"rules combine each other in a cycle: {' -> '.join(path)}")
        for dep in rule.depends_on():
            if dep not in by_id:
                raise ValueError(f"rule {rule.id!r} combines {dep!r}, which is not loaded")
            visit(by_id[dep], (*path, rule.id))
        done[rule.id] = rule

    for r in by_id.values():
        visit(r, ())
    return list(done.values())


def evaluate(
    rules: Iterable[Rule],
    history: History,
    orgs: Mapping[str, OrgContext],
    *,
    as_of: date,
    calendars: Iterable[SourceCalendar] = (),
    changed: Collection[Pair] | None = None,
) -> Evaluation:
    """Evaluate ``rules`` over ``history`` as known on ``as_of``.

    ``orgs`` gives each organisation's kind, trust type and region for rule scopes (an
    organisation missing from it counts as kind ``other``, England and the regions as such:
    outside the default scope of trusts). ``calendars`` feed the late-publisher
    rules. ``changed`` limits the work to what a new publication affects: the (metric,
    organisation) pairs it brought, the rules combining them, and the stale checks of
    organisations now missing a period. None evaluates everything.
    """
    if history.as_of is not None and history.as_of > as_of:
        raise ValueError(f"history known on {history.as_of} is later than as_of {as_of}")
    ordered = _order(rules)
    targets = _targets(ordered, history, changed)
    ev = Evaluation()
    scopes = _Scopes(orgs)
    cal = {c.source: c for c in calendars}
    for rule in ordered:
        metric = rule.catalogue
        if isinstance(rule, AllOfRule | AnyOfRule):
            _combined(rule, ev, scopes, targets.get(rule.id))
        elif metric is None:
            raise ValueError(f"rule {rule.id!r}: unknown metric {rule.metric!r}")
        elif isinstance(rule, StaleRule):
            if rule.mode == "late":
                _late(rule, metric, cal.get(metric.publisher), ev)
            else:
                _missing(rule, history, ev, scopes, targets.get(rule.id))
        elif isinstance(rule, RatingRule):
            _ratings(rule, metric, history, ev, scopes, targets.get(rule.id))
        else:
            _series_rule(rule, metric, history, ev, scopes, targets.get(rule.id))
    return ev


def _targets(
    ordered: list[Rule], history: History, changed: Collection[Pair] | None
) -> dict[str, set[str] | None]:
    """Per rule, the organisations to evaluate (None: all)."""
    if changed is None:
        return {r.id: None for r in ordered}
    by_metric: dict[str, set[str]] = {}
    for metric, org in changed:
        by_metric.setdefault(metric, set()).add(org)
    out: dict[str, set[str] | None] = {}
    for rule in ordered:  # leaves first, then the rules combining them
        if rule.depends_on():
            out[rule.id] = set().union(*(out[d] or set() for d in rule.depends_on()))
        elif isinstance(rule, StaleRule) and rule.mode == "missing" and rule.metric in by_metric:
            out[rule.id] = by_metric[rule.metric] | _behind(history, rule.metric)
        else:
            out[rule.id] = set(by_metric.get(rule.metric or "", ()))
    for rule in reversed(ordered):  # a combined rule needs its parts for the same orgs
        for dep in rule.depends_on():
            mine, theirs = out[rule.id], out[dep]
            if mine and theirs is not None:
                theirs |= mine
    return out


def _behind(history: History, metric: str) -> set[str]:
    """Organisations whose latest figure is older than the latest period published for any."""
    series = history.by_metric.get(metric, {})
    latest = max((s.starts[-1] for s in series.values()), default=None)
    return {org for org, s in series.items() if s.starts[-1] != latest}


def _found(
    rule: Rule,
    org: str,
    periods: Sequence[date],
    codes: str,
    values: Sequence[float | None],
    **context: Any,
) -> Finding:
    """The finding of ``rule`` for ``org`` from one condition code per period; ``context``
    holds the finding's other fields (points, series, history, region, extra, ratings)."""
    states, run, first = run_states(codes, rule.for_periods)
    return Finding(
        rule=rule,
        org=org,
        periods=periods,
        states=states,
        consecutive=run,
        first=first,
        values=values,
        **context,
    )


def _finding(
    rule: Rule,
    ctx: OrgContext,
    history: History,
    series: Series,
    codes: str,
) -> Finding:
    return _found(
        rule,
        ctx.code,
        series.starts,
        codes,
        series.values,
        points=series.points,
        series=series,
        history=history,
        region=ctx.region,
    )


def _series_rule(
    rule: Rule,
    metric: metrics.Metric,
    history: History,
    ev: Evaluation,
    scopes: _Scopes,
    target: set[str] | None,
) -> None:
    by_org = history.by_metric.get(metric.id, {})
    orgs = by_org if target is None else [o for o in target if o in by_org]
    levels = rule.effective_levels() if isinstance(rule, ThresholdRule) else None
    for org in orgs:
        ctx = scopes.context(rule.scope, org)
        if ctx is None:
            continue
        series = by_org[org]
        ev.touched.add((metric.id, org))
        if isinstance(rule, ThresholdRule):
            codes = cond.threshold_codes(rule, series, levels)
        elif isinstance(rule, TrendRule):
            codes = cond.trend_codes(rule, metric, series)
        elif isinstance(rule, ChangeRule):
            codes = cond.change_codes(rule, metric, series)
        elif isinstance(rule, RankRule):
            codes = cond.rank_codes(rule, metric, series)
        else:  # pragma: no cover - every kind is dispatched in evaluate()
            raise TypeError(rule.kind)
        ev.add(_finding(rule, ctx, history, series, codes))


def _missing(
    rule: StaleRule, history: History, ev: Evaluation, scopes: _Scopes, target: set[str] | None
) -> None:
    """No figure for a period that was published for other organisations of the same trust
    type (a publisher may release one type's figures without another's, as the Oversight
    Framework's league tables are)."""
    assert rule.metric is not None
    by_org = history.by_metric.get(rule.metric, {})
    by_type: dict[str | None, set[date]] = {}
    for code, s in by_org.items():
        by_type.setdefault(context_for(code, scopes.orgs).trust_type, set()).update(s.starts)
    orgs = by_org if target is None else [o for o in target if o in by_org]
    for org in orgs:
        ctx = scopes.context(rule.scope, org)
        if ctx is None:
            continue
        series = by_org[org]
        ev.touched.add((rule.metric, org))
        published = sorted(by_type[ctx.trust_type])
        expected = published[bisect_left(published, series.starts[0]) :]
        if len(expected) == len(series.starts):  # a figure for every period
            ev.add(_finding(rule, ctx, history, series, "C" * len(expected)))
            continue
        have = set(series.starts)
        codes = "".join(cond.CLEAR if p in have else cond.BREACH for p in expected)
        idx = {s: i for i, s in enumerate(series.starts)}
        points: list[Point | None] = [series.points[idx[p]] if p in idx else None for p in expected]
        values = [p.value if p else None for p in points]
        facts = KindFacts(last_figure_period=series.starts[-1], missing_periods=codes.count("B"))
        ev.add(
            _found(
                rule, org, expected, codes, values, points=points, series=series,
                history=history, region=ctx.region, extra=facts,
            )
        )  # fmt: skip


def _late(
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
    ev.add(_found(rule, orgs_ref.ENGLAND, [due], code, [None], extra=extra))


def _ratings(
    rule: RatingRule,
    metric: metrics.Metric,
    history: History,
    ev: Evaluation,
    scopes: _Scopes,
    target: set[str] | None,
) -> None:
    orgs = history.ratings if target is None else [o for o in target if o in history.ratings]
    check = cond.RatingCheck(rule, metric)
    for org in orgs:
        ctx = scopes.context(rule.scope, org)
        if ctx is None:
            continue
        dates, codes, deciding = check.codes(history.ratings[org])
        if not dates:
            continue
        ev.touched.add((metric.id, org))
        values = [None if d.ordinal is None else float(d.ordinal) for d in deciding]
        found = _found(
            rule, org, dates, codes, values, history=history, region=ctx.region, ratings=deciding
        )
        ev.add(found)


def _combined(
    rule: AllOfRule | AnyOfRule, ev: Evaluation, scopes: _Scopes, target: set[str] | None
) -> None:
    """Firing while all (or any) of the named rules are firing, period by period."""
    parts_by_org: dict[str, list[Finding]] = {}
    for part in rule.rules:
        for org, f in ev.by_rule.get(part, {}).items():
            if target is None or org in target:
                parts_by_org.setdefault(org, []).append(f)
    for org, parts in parts_by_org.items():
        ctx = scopes.context(rule.scope, org)
        if ctx is None:
            continue
        periods = sorted(set().union(*(f.periods for f in parts)))
        codes = []
        for p in periods:
            firing = [_firing_as_of(f, p) for f in parts]
            if rule.kind == "all_of":
                hit = len(firing) == len(rule.rules) and all(firing)
            else:
                hit = any(firing)
            codes.append(cond.BREACH if hit else cond.CLEAR)
        extra = KindFacts(components={f.rule.id: _latest_state(f, periods[-1]) for f in parts})
        values = [None] * len(periods)
        ev.add(_found(rule, org, periods, "".join(codes), values, region=ctx.region, extra=extra))


def _firing_as_of(f: Finding, start: date) -> bool:
    i = bisect_left(f.periods, start)
    if i < len(f.periods) and f.periods[i] == start:
        return f.states[i] == FIRING
    return i > 0 and f.states[i - 1] == FIRING


def _latest_state(f: Finding, start: date) -> str:
    return AlertState.FIRING if _firing_as_of(f, start) else "not firing"
