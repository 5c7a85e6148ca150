"""Run the test tables inside rule files (``monitor rules test``), like ``promtool test rules``.

Each case is a series of values in and the expected state per period out. The case is
evaluated for one organisation (``TEST``, with a kind, trust type and region that fit the rule's
scope). Stale rules get a second organisation that has a figure for every period, so that a
missing value is a period "published for other trusts". A failure prints the input, the
expected and the actual state side by side.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from functools import partial

from monitor import orgs as orgs_ref
from monitor.metrics import METRICS
from monitor.rules.conditions import period_months, shift_months
from monitor.rules.evaluate import evaluate
from monitor.rules.findings import Finding
from monitor.rules.inputs import History, OrgContext, Point, RatingRecord, SourceCalendar
from monitor.rules.load import RulePack
from monitor.rules.model import (
    CQC_RATINGS,
    DEFAULT_TEST_START,
    MISSING,
    PeerRule,
    RatingRule,
    Rule,
    StaleRule,
    TestCase,
    ThresholdRule,
)
from monitor.rules.run import LONDON, source_calendar
from monitor.sources import timetable

PEER = "PEER"  # the other organisation whose figures make a period "published"
FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True, kw_only=True)
class CaseResult:
    """The outcome of one test case, with everything needed to show a failure."""

    rule: str
    file: str
    case: str
    periods: list[str]
    inputs: list[str]
    expected: list[str]
    actual: list[str]
    expected_thresholds: list[str] = field(default_factory=list)
    actual_thresholds: list[str] = field(default_factory=list)
    error: str | None = None
    input_label: str = "input"

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.expected == self.actual
            and (not self.expected_thresholds or self.expected_thresholds == self.actual_thresholds)
        )

    def report(self) -> str:
        """A readable table of input, expected and actual; differing rows are marked."""
        head = f"{self.file}: test {self.case!r} {'passed' if self.passed else 'FAILED'}"
        if self.error:
            return f"{head}: {self.error}"
        thr = bool(self.expected_thresholds)
        wp = max([len("period"), *map(len, self.periods)])
        wi = max([len(self.input_label), *map(len, self.inputs)])
        rows = [f"  {'period':<{wp}}  {self.input_label:<{wi}}  {'expected':<9} {'actual':<9}"]
        if thr:
            rows[0] += " threshold expected / actual"
        rows[0] = rows[0].rstrip()
        for i, period in enumerate(self.periods):
            e, a = self.expected[i], self.actual[i] if i < len(self.actual) else "?"
            line = f"  {period:<{wp}}  {self.inputs[i]:<{wi}}  {e:<9} {a:<9}"
            wrong = e != a
            if thr:
                te, ta = self.expected_thresholds[i], self.actual_thresholds[i]
                line += f" {te} / {ta}"
                wrong = wrong or te != ta
            rows.append((line + ("  <-- differs" if wrong else "")).rstrip())
        return "\n".join([head, *rows])


def _fmt(v: object) -> str:
    if v is None or v == MISSING:
        return MISSING
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _step(metric_id: str) -> int:
    """Months between a test table's values: the metric's period, or a year for a metric of
    dated points (one DSPT status per yearly edition; CQC ratings have ``ratings`` rows)."""
    return period_months(METRICS[metric_id]) or 12


def _start(rule: Rule, case: TestCase) -> date:
    if case.start is not None:
        return case.start
    if isinstance(rule, ThresholdRule) and rule.levels:
        return rule.levels[0].from_
    return DEFAULT_TEST_START


def _org(rule: Rule, case: TestCase) -> OrgContext:
    scope, o = rule.scope, case.org
    code = o.code if o.code != "TEST" or not scope.orgs else scope.orgs[0]
    return OrgContext(
        code=code,
        kind=o.kind or (scope.kinds[0] if scope.kinds else "trust"),
        trust_type=o.trust_type
        or (scope.trust_types[0] if scope.trust_types else None)
        or ("acute" if isinstance(rule, PeerRule) else None),  # peers are of one type
        region=o.region or (scope.regions[0] if scope.regions else None),
    )


def _with_parts(rule: Rule, rules: Mapping[str, Rule]) -> list[Rule]:
    out: dict[str, Rule] = {}

    def add(r: Rule) -> None:
        for dep in r.depends_on():
            if dep in rules and dep not in out:
                add(rules[dep])
        out[r.id] = r

    add(rule)
    return list(out.values())


@dataclass(frozen=True, kw_only=True)
class _CaseInputs:
    """What a test case feeds the evaluator, and the table's columns of input values."""

    series: dict[str, Sequence[float | str]]
    points: list[Point]
    ratings: list[RatingRecord]
    calendars: list[SourceCalendar]
    as_of: date


def _inputs(rule: Rule, case: TestCase, org: OrgContext) -> _CaseInputs:
    """The figures, ratings and calendar a case describes, as the evaluator takes them."""
    start = _start(rule, case)
    series: dict[str, Sequence[float | str]] = dict(case.series)
    if case.values and rule.metric:
        series[rule.metric] = case.values
    points: list[Point] = []
    for metric_id, values in series.items():
        step = _step(metric_id)
        for i, v in enumerate(values):
            p0 = shift_months(start, i * step)
            p1 = date.fromordinal(shift_months(p0, step).toordinal() - 1)
            if period_months(METRICS[metric_id]) == 0:
                p1 = p0  # a dated point starts and ends on its day
            if isinstance(rule, StaleRule) and metric_id == rule.metric:
                points.append(
                    Point(org=PEER, metric=metric_id, period_start=p0, period_end=p1, value=0.0)
                )
            if not isinstance(v, str):
                den = case.denominators[i] if i < len(case.denominators) else None
                points.append(
                    Point(
                        org=org.code,
                        metric=metric_id,
                        period_start=p0,
                        period_end=p1,
                        value=v,
                        denominator=den,
                    )
                )
    if case.peers and rule.metric:
        step = _step(rule.metric)
        for k, values in enumerate(case.peers):
            for i, v in enumerate(values):
                if isinstance(v, str):
                    continue
                p0 = shift_months(start, i * step)
                p1 = date.fromordinal(shift_months(p0, step).toordinal() - 1)
                points.append(
                    Point(org=f"{PEER}{k + 1}", metric=rule.metric, period_start=p0,
                          period_end=p1, value=v)
                )  # fmt: skip
    ratings = [
        RatingRecord(
            org=org.code,
            subject=r.subject,
            report_date=r.date,
            rating=r.rating,
            ordinal=CQC_RATINGS.index(r.rating) + 1 if r.rating in CQC_RATINGS else None,
            subject_type=r.subject_type,
            service=r.service,
            domain=r.domain,
            inherited=r.inherited,
        )
        for r in case.ratings
    ]
    calendars = _calendar(rule, case)
    as_of = case.calendar.as_of if calendars and case.calendar else FAR_FUTURE
    return _CaseInputs(
        series=series, points=points, ratings=ratings, calendars=calendars, as_of=as_of
    )


def _calendar(rule: Rule, case: TestCase) -> list[SourceCalendar]:
    """A late-publisher case's calendar, judged as monitor.sources.timetable judges a source;
    the table's dates stand for the start of that day in London."""
    c = case.calendar
    if c is None or rule.catalogue is None:
        return []
    publisher = rule.catalogue.publisher
    awaited = datetime.combine(c.expected_next, time(0), LONDON)
    now = datetime.combine(c.as_of, time(0), LONDON)
    standing = timetable.awaiting(publisher, awaited, c.grace_days, now)
    return [source_calendar(standing, grace_days=c.grace_days, latest_period=c.latest_period)]


def _rows(rule: Rule, case: TestCase, series: Mapping[str, Sequence[float | str]]) -> _Rows:
    """The periods the table talks about, and what was fed in for each."""
    if isinstance(rule, RatingRule):
        dates = sorted({r.date for r in case.ratings})
        inputs = [
            "; ".join(
                f"{r.rating}{' (inherited)' if r.inherited else ''}"
                for r in case.ratings
                if r.date == d
            )
            for d in dates
        ]
        return _Rows(dates, inputs, whole_dates=True)
    if case.calendar is not None:
        return _Rows([case.calendar.expected_next], [f"as of {case.calendar.as_of}"], True)
    n = max((len(v) for v in series.values()), default=0)
    step = _step(rule.metric or next(iter(series)))
    periods = [shift_months(_start(rule, case), i * step) for i in range(n)]
    inputs = [
        ", ".join(_fmt(vs[i] if i < len(vs) else MISSING) for vs in series.values())
        for i in range(n)
    ]
    # A metric of dated points (one DSPT status per edition) is labelled by the day.
    points_only = rule.catalogue is not None and period_months(rule.catalogue) == 0
    return _Rows(periods, inputs, whole_dates=points_only)


@dataclass(frozen=True)
class _Rows:
    periods: list[date]
    inputs: list[str]
    whole_dates: bool  # ratings and calendars are dated to the day, series to the month

    def labels(self) -> list[str]:
        return [p.isoformat() if self.whole_dates else p.isoformat()[:7] for p in self.periods]


def _states_at(finding: Finding | None, periods: list[date]) -> tuple[list[str], list[str]]:
    """The finding's state and threshold at each period; with no figure the state carries on."""
    actual, thresholds, state = [], [], "ok"
    names = finding.state_names() if finding else []
    for p in periods:
        k = finding.index(p) if finding else None
        if finding is not None and k is not None:
            state = names[k]
            thresholds.append(_fmt(finding.threshold_at(k)[0]))
        else:
            thresholds.append(MISSING)
        actual.append(state)
    return actual, thresholds


def run_case(rule: Rule, case: TestCase, rules: Mapping[str, Rule], file: str = "") -> CaseResult:
    """Evaluate one test case of ``rule`` (``rules`` supplies the parts of combined rules).

    1. Turn the table into the evaluator's inputs: the organisation, its figures, ratings and,
       for a late-publisher case, the publisher's calendar.
    2. Evaluate the rule, with the parts of a combined rule, as the service would.
    3. Read the finding's state (and threshold) at each period the table lists.
    """
    file = file or f"{rule.id}.toml"
    org = _org(rule, case)
    given = _inputs(rule, case, org)
    rows = _rows(rule, case, given.series)
    result = partial(
        CaseResult,
        rule=rule.id,
        file=file,
        case=case.name,
        periods=rows.labels(),
        inputs=rows.inputs,
        expected=list(case.expect),
        input_label=", ".join(given.series) if len(given.series) > 1 else "input",
    )
    try:
        ev = evaluate(
            _with_parts(rule, rules),
            History.from_points(given.points, given.ratings),
            # The peer that publishes the periods is of the same kind and trust type.
            {
                org.code: org,
                PEER: replace(org, code=PEER),
                **{
                    f"{PEER}{k + 1}": replace(org, code=f"{PEER}{k + 1}")
                    for k in range(len(case.peers))
                },
            },
            as_of=given.as_of,
            calendars=given.calendars,
        )
    except ValueError as e:
        return result(periods=[], inputs=[], actual=[], error=str(e))
    finding = ev.get(rule.id, orgs_ref.ENGLAND if case.calendar is not None else org.code)
    actual, thresholds = _states_at(finding, rows.periods)
    expected_thr = [_fmt(t) for t in case.thresholds]
    return result(
        actual=actual,
        expected_thresholds=expected_thr,
        actual_thresholds=thresholds if expected_thr else [],
    )


def run_tests(pack: RulePack) -> list[CaseResult]:
    """Every test case of every rule in ``pack``, in file order."""
    out = []
    for rule_id in sorted(pack.rules):
        rule = pack.rules[rule_id]
        for case in rule.tests:
            out.append(run_case(rule, case, pack.rules, pack.file_of(rule_id)))
    return out


def untested(pack: RulePack) -> list[str]:
    """Ids of rules without a single test case."""
    return sorted(rid for rid, r in pack.rules.items() if not r.tests)


def report_results(results: list[CaseResult], *, verbose: bool = False) -> tuple[str, int]:
    """What ``monitor rules test`` prints (failures in full), and its exit status."""
    failed = [r for r in results if not r.passed]
    shown = results if verbose else failed
    lines = [r.report() for r in shown]
    lines.append(f"{len(results)} test case(s), {len(failed)} failed")
    return "\n\n".join(lines) if shown else lines[-1], 1 if failed else 0
