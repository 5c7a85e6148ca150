"""The wrong alerts of the real data, each rebuilt from NHS England's published files.

Each case parses the real files with the project's own parsers (as ingest does), evaluates the
shipped rule pack and plans the alert lifecycle publication by publication, as the service
would, keeping the alerts in memory the way monitor/rules/store.py keeps them in the database.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import pytest

from monitor import orgs
from monitor.rules import evidence
from monitor.rules.evaluate import evaluate
from monitor.rules.findings import Finding
from monitor.rules.inputs import History, OrgContext, Point
from monitor.rules.lifecycle import plan_all
from monitor.rules.load import load_rules
from monitor.rules.model import Rule, parse_rule
from monitor.rules.plans import AlertChange, AlertView, PlannedEvent
from monitor.sources import registry, seed
from monitor.sources.base import ParseError
from monitor.sources.league import quarter_bounds, trust_code
from monitor.sources.oversight import DATA_METRICS, DATA_REQUIRED
from monitor.sources.oversight import parse as parse_oversight
from monitor.sources.tabular import csv_rows, number
from monitor.vocab import AlertState, Episode, EventKind

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "data" / "real"
EXCERPTS = ROOT / "tests" / "data"
PACK = load_rules(ROOT / "rules").rules
OVERSIGHT = REAL / "oversight"
DATA_CSV = OVERSIGHT / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"
LEAGUE_CSV = (
    OVERSIGHT / "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"
)
Q4_OF0081 = EXCERPTS / "oversight" / "nof-data-q4-2025-26-of0081-excerpt.csv"
Q1, Q2, Q3, Q4 = date(2025, 4, 1), date(2025, 7, 1), date(2025, 10, 1), date(2026, 1, 1)


def reference() -> dict[str, OrgContext]:
    """Every organisation of the bundled reference list, as rules/run.py reads them."""
    return {
        r["code"]: OrgContext(
            code=r["code"],
            kind=r["kind"],
            trust_type=r.get("trust_type"),
            region=r.get("region"),
            name=r["name"],
            closed=r.get("closed"),
        )
        for r in orgs.reference_rows()
    }


ORGS = reference()


def figures(path: Path, source: str, publication_id: int, published: date) -> list[Point]:
    """The figures of one real file, parsed by its publisher's parser, as Points."""
    parsed = registry.statistics(source).parse(path.read_bytes(), filename=path.name)
    return [
        Point(
            org=f.org,
            metric=f.metric,
            period_start=f.period_start,
            period_end=f.period_end,
            value=f.value,
            numerator=f.numerator,
            denominator=f.denominator,
            label=f.label,
            publication_id=publication_id,
            published_at=published,
        )
        for f in parsed.figures
        if f.value is not None
    ]


def excerpt_points(path: Path, publication_id: int, published: date) -> list[Point]:
    """The rows of an excerpt of a NOF data CSV as Points, read with the oversight parser's
    own pieces (its metric ids, required columns, quarter bounds and trust codes).

    The parser itself rightly refuses an excerpt: a quarter that lists trusts without their
    segmentation rows is an incomplete file (see
    test_the_oversight_parser_refuses_the_excerpt_as_an_incomplete_quarter). The whole
    published file is too big to ship, so its rows are read here as the excerpt they are."""
    points = []
    for row, rec in csv_rows(path.read_bytes(), filename=path.name, required=DATA_REQUIRED):
        start, end = quarter_bounds(rec["Quarter"], file=path.name, row=row)
        points.append(
            Point(
                org=trust_code(rec["Trust_code"], file=path.name, row=row),
                metric=DATA_METRICS[rec["Metric_ID"].upper()],
                period_start=start,
                period_end=end,
                value=number(rec["Value"], file=path.name, row=row, column="Value"),
                publication_id=publication_id,
                published_at=published,
            )
        )
    return points


@dataclass
class Service:
    """Publications arrive one by one; after each, the rules are evaluated and the plans
    applied to alerts kept in memory, as the database keeps them."""

    rules: dict[str, Rule]
    points: list[Point] = field(default_factory=list)
    alerts: dict[tuple[str, str], AlertView] = field(default_factory=dict)
    published: dict[int, date] = field(default_factory=dict)
    ids: int = 0

    def publish(self, points: Iterable[Point], *, current_only: bool = False) -> list[PlannedEvent]:
        """Add a publication's figures, evaluate and plan; return the events written.

        ``current_only`` keeps one figure per period, the last one added, whatever its
        publisher's date: what the database holds when supersession follows the order in
        which files are ingested."""
        new = list(points)
        for p in new:
            if p.publication_id is not None and p.published_at is not None:
                self.published[p.publication_id] = p.published_at
        if current_only:
            keys = {(p.org, p.metric, p.period_start) for p in new}
            self.points = [p for p in self.points if (p.org, p.metric, p.period_start) not in keys]
        self.points += new
        history = History.from_points(self.points)
        found = evaluate(self.rules.values(), history, ORGS, as_of=date(2030, 1, 1))
        plans = plan_all(
            found, self.alerts, self.rules, today=date(2026, 12, 7), live_publications=()
        )
        events = []
        for plan in plans:
            for change in plan.changes:
                self._apply(change)
                events += change.events
        return events

    def _apply(self, c: AlertChange) -> None:
        if c.alert_id is None:
            self.ids += 1
        last = c.events[-1]
        self.alerts[(c.rule, c.org)] = AlertView(
            id=c.alert_id or self.ids,
            rule=c.rule,
            org=c.org,
            state=c.state,
            period_start=c.period_start,
            first_period=c.first_period,
            consecutive_periods=c.consecutive_periods,
            value=c.value,
            threshold=c.threshold,
            rule_version=c.rule_version,
            previous_alert_id=c.previous_alert_id,
            published_on=self.published.get(last.publication_id or 0),
        )


def of(events: list[PlannedEvent], rule: str, org: str) -> list[PlannedEvent]:
    return [e for e in events if e.finding.rule.id == rule and e.finding.org == org]


# --- a later figure resolves a rule whose condition no longer holds -------------------------


def test_rw1_leaves_the_recovery_support_programme_on_a_quarter_with_a_segment_and_no_flag() -> (
    None
):
    """RW1 is flagged in the Recovery Support Programme (OF5007) for Q1 and Q2 2025/26. NHS
    England's file gives the flag only for those quarters; Q3 gives RW1's segment (2) and no
    flag, and the Q4 league table puts it in segment 1. The critical alert opened on Q1 must
    resolve on Q3, not stay open beside segment 1."""
    data = figures(DATA_CSV, "oversight", 1, date(2026, 6, 11))
    svc = Service(PACK)
    quarters: dict[date, list[PlannedEvent]] = {}
    for q in sorted({p.period_start for p in data}):  # the file's quarters, one at a time
        quarters[q] = svc.publish(p for p in data if p.period_start == q)
    rsp = {
        q: [e.kind for e in of(evs, "nof_recovery_support", "RW1")] for q, evs in quarters.items()
    }
    assert rsp == {Q1: [EventKind.FIRED], Q2: [EventKind.UPDATED], Q3: [EventKind.RESOLVED]}
    [resolved] = of(quarters[Q3], "nof_recovery_support", "RW1")
    assert (resolved.period_start, resolved.value) == (Q3, 0)
    ev = evidence.build(resolved)
    assert (ev.inferred_from, ev.period_label, ev.publication_id) == (
        "nof_segment",
        "Q3 2025/26",
        1,
    )
    words = ev.explain(EventKind.RESOLVED)
    assert words.persistence == "Resolved after 2 quarters in breach (Q1 2025/26 to Q2 2025/26)"
    assert words.inferred == (
        "Q3 2025/26: no figure for \u201cIn the Recovery Support Programme\u201d was published, "
        "but one for \u201cOversight Framework segment\u201d was, so it counts as no"
    )
    # A trust the file itself gives 0 for (RXV: 1 in Q1, 0 in Q2) resolves on Q2 as before.
    rxv = {
        q: [e.kind for e in of(evs, "nof_recovery_support", "RXV")] for q, evs in quarters.items()
    }
    assert rxv == {Q1: [EventKind.FIRED], Q2: [EventKind.RESOLVED], Q3: []}
    # The Q4 league table (segment 1, no flag) changes nothing more.
    league = figures(LEAGUE_CSV, "oversight", 2, date(2026, 6, 11))
    assert of(svc.publish(league), "nof_recovery_support", "RW1") == []
    assert svc.alerts[("nof_recovery_support", "RW1")].state == AlertState.RESOLVED


# --- combined rules evaluate their parts period by period -----------------------------------


def test_a_combined_rule_judges_each_quarter_on_that_quarters_figures() -> None:
    """R1L is flagged in deficit in the Q4 league table; its variance to plan worsened in Q2
    and Q3, and improved in Q4 (0.01%, NHS England's Q4 data file). Nothing ever says both for
    the same quarter: fin_deficit_deteriorating must not fire on Q4's flag and Q3's variance,
    nor be "withdrawn after a revision" when Q4's variance arrives. RHA (worse again in Q4,
    -7.43%) and RT1 (-1.06%) are deteriorating in Q4 on Q4's own figures."""
    svc = Service(PACK)
    svc.publish(figures(DATA_CSV, "oversight", 1, date(2026, 6, 11)))
    first = svc.publish(figures(LEAGUE_CSV, "oversight", 2, date(2026, 6, 11)))
    for org in ("R1L", "RHA", "RT1"):
        assert of(first, "fin_deficit_deteriorating", org) == [], org
    q4 = svc.publish(excerpt_points(Q4_OF0081, 3, date(2026, 6, 11)))
    assert [e for e in q4 if e.finding.org == "R1L" and e.kind == EventKind.WITHDRAWN] == []
    assert of(q4, "fin_deficit_deteriorating", "R1L") == []
    for org, variance in (("RHA", -7.43), ("RT1", -1.06)):
        [fired] = of(q4, "fin_deficit_deteriorating", org)
        assert (fired.kind, fired.period_start) == (EventKind.FIRED, Q4), org
        ev = evidence.build(fired)
        assert (ev.period_label, ev.granularity, ev.publication_id) == ("Q4 2025/26", "quarter", 3)
        flag, trend = ev.parts
        assert (flag.rule, flag.state, flag.label, flag.period_start) == (
            "fin_deficit_flagged",
            "firing",
            "Yes",
            Q4,
        )
        assert (trend.rule, trend.state, trend.value, trend.period_start) == (
            "fin_variance_worsening",
            "firing",
            variance,
            Q4,
        )
        assert ev.explain().figure == "both conditions met"


def test_the_oversight_parser_refuses_the_excerpt_as_an_incomplete_quarter() -> None:
    """The excerpt lists Q4 2025/26 for four trusts with none of their segmentation rows: as a
    file, it is one cut short, and the parser says which rows are missing."""
    with pytest.raises(ParseError) as err:
        parse_oversight(Q4_OF0081.read_bytes(), filename=Q4_OF0081.name)
    message = str(err.value)
    assert Q4_OF0081.name in message
    assert "Q4 2025/26: 4 of 4 trusts have no OF5000 row (first R1L" in message
    assert "incomplete" in message


def test_a_part_without_a_figure_for_the_quarter_is_not_carried_over() -> None:
    """For R1L, Q1 and Q2 have the variance (not worsening) and no flag; Q3 the variance
    (worsening, firing) and no flag; Q4 the flag and no variance. all_of is clear where a part
    is known clear and not judged where a part has no figure and none is clear; any_of fires
    where a part fires and is not judged where a part has no figure and none fires."""
    parts = ["fin_deficit_flagged", "fin_variance_worsening"]
    both = parse_rule({**_governance("both"), "kind": "all_of", "rules": parts})
    either = parse_rule({**_governance("either"), "kind": "any_of", "rules": parts})
    rules = [PACK[r] for r in parts] + [both, either]
    points = figures(DATA_CSV, "oversight", 1, date(2026, 6, 11))
    points += figures(LEAGUE_CSV, "oversight", 2, date(2026, 6, 11))
    found = evaluate(rules, History.from_points(points), ORGS, as_of=date(2030, 1, 1))
    r1l_both, r1l_either = found.get("both", "R1L"), found.get("either", "R1L")
    assert r1l_both is not None and r1l_either is not None
    assert (list(r1l_both.periods), r1l_both.states) == ([Q1, Q2], "oo")
    # any_of: Q1 and Q2 are not judged (no flag, and the variance alone is not clear of it).
    assert (list(r1l_either.periods), r1l_either.states) == ([Q3, Q4], "ff")
    assert r1l_either.extra is not None
    assert r1l_either.extra["components"] == {
        "fin_deficit_flagged": "firing",
        "fin_variance_worsening": "no figure",
    }


def _governance(rule_id: str) -> dict[str, object]:
    return {
        "id": rule_id,
        "title": rule_id,
        "why": "a rule made for a test",
        "severity": "low",
        "authored_by": "tests",
        "checked_by": "tests",
        "next_review": date(2030, 1, 1),
        "source": "tests",
    }


# --- stale rules watch only organisations that report the source ---------------------------


@pytest.fixture(scope="module")
def cancer() -> list[Point]:
    out: list[Point] = []
    for i, f in enumerate(seed.manifest(REAL), start=1):
        if f.source == "cancer":
            out += figures(f.path, "cancer", i, f.published)
    return out


def test_stale_cancer_missing_fires_only_for_trusts_that_reported_cancer(
    cancer: list[Point],
) -> None:
    """Mental-health, community and ambulance trusts appear in the cancer extracts now and
    then (half a patient treated jointly: R1L in April and May 2024, RRU once in June 2023);
    they never report cancer and must not be "missing". Southport and Ormskirk (RVY, closed
    30 June 2023) is not missing after it closed. North Middlesex (RAP), reporting every month
    to December 2024 and absent since, is."""
    rule = PACK["stale_cancer_missing"]
    found = evaluate([rule], History.from_points(cancer), ORGS, as_of=date(2030, 1, 1))
    firing = {f.org for f in found if f.state == "firing"}
    for org in ("R1L", "RRU", "RVN", "RHA", "RT1", "RX3", "RYK", "R1C", "RVY"):
        assert org not in firing, org
    assert "RAP" in firing
    assert {ORGS[o].trust_type for o in firing} == {"acute"}
    rap = found.get("stale_cancer_missing", "RAP")
    assert rap is not None
    ev = evidence.build(_event(rap))
    assert ev.last_figure_period == date(2024, 12, 1) and ev.missing_periods == 3
    assert ev.explain().status == (
        "No figure for 3 months published for others; its latest is for December 2024"
    )
    assert ev.publication_id is not None  # the extract that published March 2025 for others


def _event(f: Finding) -> PlannedEvent:
    p = f.persistence()
    return PlannedEvent(
        kind=EventKind.FIRED,
        period_start=f.period_start,
        value=f.value,
        threshold=f.threshold,
        consecutive_periods=p.consecutive if p else 0,
        first_period=f.first_period,
        episode=Episode.FIRST,
        revised=False,
        notify=False,
        rule_version=f.rule.version,
        publication_id=f.publication_id,
        finding=f,
        persistence=p,
    )


# --- an older publication ingested after its revision changes no alert ---------------------


FEBRUARY = date(2025, 2, 1)


def test_an_older_file_fetched_after_its_revision_changes_no_alert() -> None:
    """NHS England revised February 2025's A&E file on 10 April 2025: Kent Community Health
    (RYY) had 2,368 type-3 attendances (15 over 4 hours, 99.37%) in the file of 13 March and
    8,561 (43, 99.50%) in the revision. A rule between the two (below 99.45%) fires on the
    first file and is withdrawn by the revision. When the first file is fetched again later,
    nothing may change: whether the figures resolve by publisher's date (the revision stays
    current) or the older file's figure is current again (supersession by ingest order)."""
    rule = parse_rule(
        {
            **_governance("ae_all_below_99_45"),
            "metric": "ae_4hr_pct",
            "kind": "threshold",
            "when": "below",
            "value": 99.45,
        }
    )
    original = [
        p
        for p in figures(
            EXCERPTS / "ae_revisions" / "Monthly-AE-February-2025.csv",
            "ae",
            1,
            date(2025, 3, 13),
        )
        if p.org == "RYY" and p.metric == "ae_4hr_pct"
    ]
    revised = [
        p
        for p in figures(
            REAL / "ae" / "Monthly-AE-February-2025-revised.csv", "ae", 2, date(2025, 4, 10)
        )
        if p.org == "RYY" and p.metric == "ae_4hr_pct"
    ]
    assert [round(p.value, 2) for p in original + revised] == [99.37, 99.5]
    svc = Service({rule.id: rule})
    [fired] = svc.publish(original)
    assert (fired.kind, fired.period_start) == (EventKind.FIRED, FEBRUARY)
    [withdrawn] = svc.publish(revised)
    assert withdrawn.kind == EventKind.WITHDRAWN and withdrawn.revised
    late = [replace(p, publication_id=3) for p in original]  # the same file, fetched again
    # The figure current by publisher's date is still the revision's: nothing happens.
    assert svc.publish(late) == []
    # Even if the older file's figure were current again, the withdrawn alert stays withdrawn.
    assert svc.publish(late, current_only=True) == []
    assert svc.alerts[(rule.id, "RYY")].state == AlertState.WITHDRAWN
