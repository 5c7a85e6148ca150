"""Run the test tables inside rule files (``monitor rules test``), like ``promtool test rules``.

Each case is a series of values in and the expected state per period out. The case is
evaluated for one organisation (``TEST``, with a kind, trust type and region that fit the rule's
scope). Stale rules get a second organisation that has a figure for every period, so that a
missing value is a period "published for other trusts". A failure prints the input, the
expected and the actual state side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from monitor.metrics import METRICS
from monitor.rules.conditions import period_months, shift_months
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext, Point, RatingRecord, SourceCalendar
from monitor.rules.load import RulePack
from monitor.rules.model import (
    CQC_RATINGS,
    DEFAULT_TEST_START,
    MISSING,
    RatingRule,
    Rule,
    StaleRule,
    TestCase,
    ThresholdRule,
)

PEER = "PEER"  # the other organisation whose figures make a period "published"
FAR_FUTURE = date(9999, 12, 31)


@dataclass(frozen=True)
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
        code,
        kind=o.kind or (scope.kinds[0] if scope.kinds else "trust"),
        trust_type=o.trust_type or (scope.trust_types[0] if scope.trust_types else None),
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


def run_case(rule: Rule, case: TestCase, rules: Mapping[str, Rule], file: str = "") -> CaseResult:
    """Evaluate one test case of ``rule`` (``rules`` supplies the parts of combined rules)."""
    file = file or f"{rule.id}.toml"
    org = _org(rule, case)
    start = _start(rule, case)
    series = dict(case.series)
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
                points.append(Point(PEER, metric_id, p0, p1, 0.0))
            if not isinstance(v, str):
                den = case.denominators[i] if i < len(case.denominators) else None
                points.append(Point(org.code, metric_id, p0, p1, v, denominator=den))
    ratings = [
        RatingRecord(
            org.code,
            r.subject,
            r.date,
            r.rating,
            CQC_RATINGS.index(r.rating) + 1 if r.rating in CQC_RATINGS else None,
            r.subject_type,
            r.service,
            r.domain,
            r.inherited,
        )
        for r in case.ratings
    ]
    calendars, as_of = [], FAR_FUTURE
    if case.calendar is not None and rule.catalogue is not None:
        c = case.calendar
        calendars.append(
            SourceCalendar(rule.catalogue.publisher, c.expected_next, c.grace_days, c.latest_period)
        )
        as_of = c.as_of
    try:
        ev = evaluate(
            _with_parts(rule, rules),
            History.from_points(points, ratings),
            {org.code: org},
            as_of=as_of,
            calendars=calendars,
        )
    except ValueError as e:
        return CaseResult(rule.id, file, case.name, [], [], list(case.expect), [], error=str(e))
    finding = ev.get(rule.id, "ENG" if case.calendar is not None else org.code)
    # The periods the table talks about, and what was fed in for each.
    if isinstance(rule, RatingRule):
        dates = sorted({r.date for r in case.ratings})
        periods = dates
        inputs = [
            "; ".join(
                f"{r.rating}{' (inherited)' if r.inherited else ''}"
                for r in case.ratings
                if r.date == d
            )
            for d in dates
        ]
    elif case.calendar is not None:
        periods = [case.calendar.expected_next]
        inputs = [f"as of {case.calendar.as_of}"]
    else:
        n = max((len(v) for v in series.values()), default=0)
        step = _step(rule.metric or next(iter(series)))
        periods = [shift_months(start, i * step) for i in range(n)]
        inputs = [
            ", ".join(_fmt(vs[i] if i < len(vs) else MISSING) for vs in series.values())
            for i in range(n)
        ]
    whole_dates = (
        isinstance(rule, RatingRule)
        or case.calendar is not None
        or (rule.catalogue is not None and period_months(rule.catalogue) == 0)
    )
    actual, thresholds, state = [], [], "ok"
    names = finding.state_names() if finding else []
    for p in periods:
        k = finding.index(p) if finding else None
        if finding is not None and k is not None:
            state = names[k]
            thresholds.append(_fmt(finding.threshold_at(k)[0]))
        else:
            thresholds.append(MISSING)  # no figure: the state carries on
        actual.append(state)
    expected_thr = [_fmt(t) for t in case.thresholds]
    return CaseResult(
        rule.id,
        file,
        case.name,
        [p.isoformat() if whole_dates else p.isoformat()[:7] for p in periods],
        inputs,
        list(case.expect),
        actual,
        expected_thr,
        thresholds if expected_thr else [],
        input_label=", ".join(series) if len(series) > 1 else "input",
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
