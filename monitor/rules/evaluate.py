"""The pure evaluator: rules + history + as-of date in, findings out. No database, clock or network.

For every rule and every organisation in its scope with data for the rule's metric, one
``Finding`` with the state per period: each kind turns figures into a code per period
(conditions.py), and the state machine (states.py) turns codes into ok / pending / firing.
Missing data never resolves, and a missing period neither counts nor breaks a run. Stale rules
live in stale.py and combined rules in combined.py.

``history`` must be built with ``History.from_points(..., as_of=as_of)`` (or without ``as_of``
from current figures only): the evaluator trusts it to hold what was known on ``as_of``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from itertools import repeat

from monitor import metrics
from monitor.rules import combined, stale
from monitor.rules import conditions as cond
from monitor.rules.findings import Finding
from monitor.rules.inputs import (
    History,
    OrgContext,
    Point,
    RatingRecord,
    Series,
    SourceCalendar,
    context_for,
    no_cycle_collection,
)
from monitor.rules.model import (
    AllOfRule,
    AnyOfRule,
    ChangeRule,
    PeerRule,
    RankRule,
    RatingRule,
    Rule,
    Scope,
    SpcRule,
    StaleRule,
    ThresholdRule,
    TrendRule,
)
from monitor.rules.peers import Peers, peer_codes, peer_codes_many
from monitor.rules.spcrule import SCREEN_MIN, Charts, spc_codes
from monitor.rules.states import FIRING, run_states

Pair = tuple[str, str]  # (metric, organisation)
_KNOWN_CODES = 4096  # code strings whose states one rule's evaluation remembers


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

    def _known(self, scope: Scope) -> dict[str, OrgContext | None]:
        # Keyed by identity: hashing a pydantic model for every organisation costs too much.
        entry = self.memo.get(id(scope))
        if entry is None:
            entry = self.memo[id(scope)] = (scope, {})
        return entry[1]

    def _judge(self, scope: Scope, org: str, known: dict[str, OrgContext | None]) -> None:
        ctx = context_for(org, self.orgs)
        ok = scope.matches(ctx.kind, ctx.trust_type, ctx.region, org)
        known[org] = ctx if ok else None

    def context(self, scope: Scope, org: str) -> OrgContext | None:
        """The organisation's context when it is in ``scope``, else None."""
        known = self._known(scope)
        if org not in known:
            self._judge(scope, org, known)
        return known[org]

    def each(
        self,
        scope: Scope,
        by_org: Mapping[str, Series],
        target: set[str] | None,
        ev: Evaluation,
        metric: str,
    ) -> list[tuple[str, OrgContext, Series]]:
        """(code, context, series) of each organisation of ``by_org`` in ``scope`` (and in
        ``target`` when one is given), each marked as looked at in ``ev``."""
        orgs = by_org.keys() if target is None else [o for o in target if o in by_org]
        known = self._known(scope)
        for org in orgs - known.keys() if target is None else orgs:
            if org not in known:
                self._judge(scope, org, known)
        inside = [org for org in orgs if known[org] is not None]
        ev.touched.update(zip(repeat(metric), inside))
        return [(org, known[org], by_org[org]) for org in inside]  # type: ignore[misc]


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
    with no_cycle_collection():
        return _evaluate(rules, history, orgs, as_of, calendars, changed)


def _evaluate(
    rules: Iterable[Rule],
    history: History,
    orgs: Mapping[str, OrgContext],
    as_of: date,
    calendars: Iterable[SourceCalendar],
    changed: Collection[Pair] | None,
) -> Evaluation:
    ordered = _order(rules)
    targets = _targets(ordered, history, changed)
    ev = Evaluation()
    scopes = _Scopes(orgs)
    kit = _Kit(Peers(history, orgs), Charts())
    cal = {c.source: c for c in calendars}
    for rule in ordered:
        metric = rule.catalogue
        if isinstance(rule, AllOfRule | AnyOfRule):
            combined.combine(rule, ev, scopes, targets.get(rule.id))
        elif metric is None:
            raise ValueError(f"rule {rule.id!r}: unknown metric {rule.metric!r}")
        elif isinstance(rule, StaleRule):
            if rule.mode == "late":
                stale.late(rule, metric, cal.get(metric.publisher), ev)
            else:
                stale.missing(rule, history, ev, scopes, targets.get(rule.id))
        elif isinstance(rule, RatingRule):
            _ratings(rule, metric, history, ev, scopes, targets.get(rule.id), kit)
        else:
            _series_rule(rule, metric, history, ev, scopes, targets.get(rule.id), kit)
    return ev


@dataclass(slots=True)
class _Kit:
    """What one evaluation shares between rules: peer tables, SPC charts, and the lists of an
    organisation's one rating (every rating rule's findings about it can share them)."""

    peers: Peers
    charts: Charts
    one_rating: dict[int, tuple[list[date], list[RatingRecord], list[float | None]]] = field(
        default_factory=dict
    )


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
        elif isinstance(rule, PeerRule) and rule.metric in by_metric:
            # One trust's new figure moves its peers' ranks too: every trust of the metric.
            out[rule.id] = set(history.by_metric.get(rule.metric, {}))
        else:
            orgs = set(by_metric.get(rule.metric or "", ()))
            if isinstance(rule, ThresholdRule) and rule.absent is not None:
                # A companion's figure without one of the rule's own is a figure too.
                orgs |= by_metric.get(rule.absent.metric, set())
            out[rule.id] = orgs
    for rule in reversed(ordered):  # a combined rule needs its parts for the same orgs
        for dep in rule.depends_on():
            mine, theirs = out[rule.id], out[dep]
            if mine and theirs is not None:
                theirs |= mine
    return out


def metrics_needed(rules: Iterable[Rule], changed: Collection[Pair]) -> set[str]:
    """The metrics whose figures an evaluation limited to ``changed`` reads: those of the
    rules it evaluates for some organisation, their companions (``absent``), and the changed
    metrics themselves. A caller reads only these from the database; the rest of the history
    plays no part (every kind reads only its own metric's figures: a trust's series, its
    peers', England's and its region's)."""
    ordered = _order(rules)
    needed = {metric for metric, _ in changed}
    targets = _targets(ordered, History(), changed)
    for rule in ordered:
        if targets.get(rule.id) and rule.metric is not None:
            needed.add(rule.metric)
            if isinstance(rule, ThresholdRule) and rule.absent is not None:
                needed.add(rule.absent.metric)
    return needed


def _behind(history: History, metric: str) -> set[str]:
    """Organisations whose latest figure is older than the latest period published for any."""
    series = history.by_metric.get(metric, {})
    latest = max((s.starts[-1] for s in series.values()), default=None)
    return {org for org, s in series.items() if s.starts[-1] != latest}


def _series_rule(
    rule: Rule,
    metric: metrics.Metric,
    history: History,
    ev: Evaluation,
    scopes: _Scopes,
    target: set[str] | None,
    kit: _Kit,
) -> None:
    by_org = history.by_metric.get(metric.id, {})
    codes_of = _codes_of(rule, metric, history, kit)
    findings = ev.by_rule.setdefault(rule.id, {})
    for_periods, peers = rule.for_periods, kit.peers
    judged = scopes.each(rule.scope, by_org, target, ev, metric.id)
    batch: dict[str, str] = {}
    if len(judged) >= SCREEN_MIN:  # many series: what can be judged as arrays is, first
        if isinstance(rule, SpcRule):
            batch = kit.charts.clear_codes(rule, metric, [s for _o, _c, s in judged])
        elif isinstance(rule, PeerRule):
            batch = peer_codes_many(rule, metric, [(c, s) for _o, c, s in judged], peers)
        elif isinstance(rule, ThresholdRule) and rule.absent is None:
            batch = cond.ThresholdCheck(rule).codes_many([s for _o, _c, s in judged])
    coded = batch.get
    # Most series share their codes (clear throughout, or not assessed until the 12th point):
    # their states are worked out once per rule.
    known: dict[str, tuple[str, int, int]] = {}
    # series_finding(), unrolled: this loop runs once per organisation and rule.
    for _org, ctx, series in judged:
        codes = coded(ctx.code)
        if codes is None:
            series, codes = codes_of(ctx, series)
        got = known.get(codes)
        if got is None:
            got = run_states(codes, for_periods)
            if len(known) < _KNOWN_CODES:
                known[codes] = got
        states, run, first = got
        findings[ctx.code] = Finding(
            rule=rule,
            org=ctx.code,
            periods=series.starts,
            states=states,
            consecutive=run,
            first=first,
            values=series.values,
            points=series.points,
            series=series,
            history=history,
            region=ctx.region,
            peers=peers,
            trust_type=ctx.trust_type,
        )


CodesOf = Callable[[OrgContext, Series], tuple[Series, str]]


def _codes_of(rule: Rule, metric: metrics.Metric, history: History, kit: _Kit) -> CodesOf:
    """The rule's condition, as (the series judged, a code per period) of one organisation."""
    if isinstance(rule, ThresholdRule):
        check = cond.ThresholdCheck(rule)
        if rule.absent is not None:

            def with_absent(_c: OrgContext, s: Series) -> tuple[Series, str]:
                s = _with_absent(rule, s, history)
                return s, check.codes(s)

            return with_absent
        codes = check.codes
        return lambda _c, s: (s, codes(s))
    if isinstance(rule, TrendRule):
        return lambda _c, s: (s, cond.trend_codes(rule, metric, s))
    if isinstance(rule, ChangeRule):
        return lambda _c, s: (s, cond.change_codes(rule, metric, s))
    if isinstance(rule, RankRule):
        return lambda _c, s: (s, cond.rank_codes(rule, metric, s))
    if isinstance(rule, SpcRule):
        charts = kit.charts
        return lambda _c, s: (s, spc_codes(rule, metric, s, charts))
    if isinstance(rule, PeerRule):
        peers = kit.peers
        return lambda c, s: (s, peer_codes(rule, metric, s, c.trust_type, peers))
    raise TypeError(rule.kind)  # pragma: no cover - every kind is dispatched in evaluate()


def _with_absent(rule: ThresholdRule, series: Series, history: History) -> Series:
    """``series`` with the rule's ``absent.value`` for every period after its first figure in
    which the organisation has a figure for the companion metric and none of its own."""
    assert rule.absent is not None
    companion = history.series(rule.absent.metric, series.org)
    if companion is None:
        return series
    have = set(series.starts)
    inferred = [
        Point(
            org=series.org,
            metric=series.metric,
            period_start=p.period_start,
            period_end=p.period_end,
            value=rule.absent.value,
            publication_id=p.publication_id,
            published_at=p.published_at,
            inferred_from=p.metric,
        )
        for p in companion.points
        if p.period_start > series.starts[0] and p.period_start not in have
    ]
    if not inferred:
        return series
    points = sorted([*series.points, *inferred], key=lambda p: p.period_start)
    revised = {series.starts[i] for i in series.revised}
    return Series.of(
        points, frozenset(i for i, p in enumerate(points) if p.period_start in revised)
    )


def _ratings(
    rule: RatingRule,
    metric: metrics.Metric,
    history: History,
    ev: Evaluation,
    scopes: _Scopes,
    target: set[str] | None,
    kit: _Kit,
) -> None:
    rated = history.ratings
    orgs = rated if target is None else [o for o in target if o in rated]
    check = cond.RatingCheck(rule, metric)
    findings = ev.by_rule.setdefault(rule.id, {})
    touched = ev.touched
    context = scopes.context
    scope, for_periods = rule.scope, rule.for_periods
    one = kit.one_rating
    # found(), unrolled: this loop runs once per organisation and rule.
    for org in orgs:
        ctx = context(scope, org)
        if ctx is None:
            continue
        records = rated[org]
        dates, codes, deciding = check.codes(records)
        if not dates:
            continue
        touched.add((metric.id, org))
        states, run, first = run_states(codes, for_periods)
        if len(records) == 1:  # the same three lists for every rule's finding about it
            shared = one.get(id(records[0]))
            if shared is None:
                shared = one[id(records[0])] = (dates, deciding, _ordinals(deciding))
            dates, deciding, values = shared
        else:
            values = _ordinals(deciding)
        findings[org] = Finding(
            rule=rule,
            org=org,
            periods=dates,
            states=states,
            consecutive=run,
            first=first,
            values=values,
            history=history,
            region=ctx.region,
            ratings=deciding,
        )


def _ordinals(deciding: list[RatingRecord]) -> list[float | None]:
    return [None if d.ordinal is None else float(d.ordinal) for d in deciding]
