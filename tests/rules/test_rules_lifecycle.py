"""The alert lifecycle: publications arrive one at a time; each row lists the events they cause.

Events read ``rule: kind episode period (periods in the episode) [revised] email|quiet``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from rulekit import FAR, ORGS, month, rule, run, series

from monitor.rules import evidence
from monitor.rules.conditions import shift_months
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, Point
from monitor.rules.lifecycle import plan, plan_all
from monitor.rules.model import Rule
from monitor.rules.plans import AlertChange, AlertView
from monitor.vocab import AlertState

A4 = "ae_4hr_type1_pct"


class Simulator:
    """Publications arrive one by one; each is evaluated and its plans applied in memory.

    The in-memory store does what monitor/rules/store.py does with Alert rows, so that a table
    of publications in and events out reads like the alert history of one trust.
    """

    def __init__(self, rules: list[Rule], metric: str, org: str = "RCX") -> None:
        self.rules = {r.id: r for r in rules}
        self.metric, self.org = metric, org
        self.points: list[Point] = []
        self.alerts: dict[tuple[str, str], AlertView] = {}
        self.all_alerts: dict[int, AlertView] = {}
        self.links: dict[int, int | None] = {}  # alert -> the episode before it
        self.publications = 0
        self.today = date(2025, 1, 1)

    def publish(
        self, values: dict[str, float], *, live: bool = True, metric: str | None = None
    ) -> list[str]:
        """Ingest one publication of ``values`` by month; return its events as short text."""
        self.publications += 1
        pub = self.publications
        for label, v in values.items():
            p0 = month(label)
            p1 = date.fromordinal(shift_months(p0, 1).toordinal() - 1)
            published = date.fromordinal(date(2020, 1, 1).toordinal() + pub)
            self.points.append(
                Point(
                    org=self.org,
                    metric=metric or self.metric,
                    period_start=p0,
                    period_end=p1,
                    value=v,
                    publication_id=pub,
                    published_at=published,
                )
            )
        ev = evaluate(self.rules.values(), History.from_points(self.points), ORGS, as_of=FAR)
        plans = plan_all(
            ev, self.alerts, self.rules, today=self.today, live_publications={pub} if live else ()
        )
        out = []
        for p in plans:
            for change in p.changes:
                self._apply(change)
                for e in change.events:
                    out.append(_describe(change.rule, e))
        return out

    def _apply(self, c: AlertChange) -> None:
        if c.alert_id is None:
            alert_id = len(self.all_alerts) + 1
            self.links[alert_id] = c.previous_alert_id
        else:
            alert_id = c.alert_id
        old = self.all_alerts.get(alert_id)
        view = AlertView(
            id=alert_id,
            rule=c.rule,
            org=c.org,
            state=c.state,
            period_start=c.period_start,
            first_period=c.first_period,
            consecutive_periods=c.consecutive_periods,
            value=c.value,
            threshold=c.threshold,
            acknowledged=old.acknowledged if old else False,
            silenced_until=old.silenced_until if old else None,
            rule_version=c.rule_version,
            previous_alert_id=self.links[alert_id],
        )
        self.all_alerts[alert_id] = view
        self.alerts[(c.rule, c.org)] = view

    def acknowledge(self, rule_id: str) -> None:
        key = (rule_id, self.org)
        self.alerts[key] = replace(self.alerts[key], acknowledged=True)
        self.all_alerts[self.alerts[key].id] = self.alerts[key]

    def silence(self, rule_id: str, until: date) -> None:
        key = (rule_id, self.org)
        self.alerts[key] = replace(self.alerts[key], silenced_until=until)
        self.all_alerts[self.alerts[key].id] = self.alerts[key]


def _describe(rule_id: str, e: Any) -> str:
    """``"r: fired first 2025-05 (1) email"``: rule, kind, episode, period, count, emailed."""
    bits = [f"{rule_id}: {e.kind}"]
    if e.kind in ("pending", "fired", "updated"):
        bits.append(e.episode)
    bits.append(e.period_start.isoformat()[:7])
    if e.kind in ("pending", "fired", "updated"):
        bits.append(f"({e.consecutive_periods})")
    if e.revised:
        bits.append("revised")
    if e.superseded_by:
        bits.append(f"under {e.superseded_by}")
    bits.append("email" if e.notify else "quiet")
    return " ".join(bits)


def below(value: float, rule_id: str = "r", **keys: object) -> object:
    return rule(rule_id, metric=A4, kind="threshold", when="below", value=value, **keys)


def play(sim: Simulator, table: list[tuple[dict[str, float], list[str]]]) -> None:
    for i, (publication, expected) in enumerate(table):
        assert sim.publish(publication) == expected, f"publication {i + 1}: {publication}"


def test_first_breach_persistent_resolved() -> None:
    play(Simulator([below(60)], A4), [
        ({"2025-04": 65}, []),
        ({"2025-05": 59}, ["r: fired first 2025-05 (1) email"]),
        ({"2025-06": 57}, ["r: updated persistent 2025-06 (2) email"]),
        ({"2025-07": 63}, ["r: resolved 2025-07 email"]),
        ({"2025-08": 64}, []),
    ])  # fmt: skip


def test_for_periods_pending_then_fired() -> None:
    play(Simulator([below(60, for_periods=3)], A4), [
        ({"2025-04": 59}, ["r: pending first 2025-04 (1) quiet"]),
        ({"2025-05": 58}, ["r: updated persistent 2025-05 (2) quiet"]),
        ({"2025-06": 57}, ["r: fired first 2025-06 (3) email"]),
    ])  # fmt: skip


def test_a_re_breach_that_needs_for_periods_fires_as_a_re_breach() -> None:
    play(Simulator([below(60, for_periods=2)], A4), [
        ({"2025-04": 59, "2025-05": 58}, ["r: fired first 2025-05 (2) email"]),
        ({"2025-06": 65}, ["r: resolved 2025-06 email"]),
        ({"2025-07": 59}, ["r: pending re-breach 2025-07 (1) quiet"]),
        ({"2025-08": 59}, ["r: fired re-breach 2025-08 (2) email"]),
    ])  # fmt: skip


def test_a_pending_alert_that_clears_resolves_quietly() -> None:
    play(Simulator([below(60, for_periods=2)], A4), [
        ({"2025-04": 59}, ["r: pending first 2025-04 (1) quiet"]),
        ({"2025-05": 61}, ["r: resolved 2025-05 quiet"]),
    ])  # fmt: skip


def test_hysteresis_resolves_only_past_the_clear_level() -> None:
    play(Simulator([below(60, clear=62)], A4), [
        ({"2025-04": 59}, ["r: fired first 2025-04 (1) email"]),
        ({"2025-05": 61}, ["r: updated persistent 2025-05 (2) email"]),
        ({"2025-06": 62}, ["r: resolved 2025-06 email"]),
    ])  # fmt: skip


def test_evaluating_the_same_data_twice_changes_nothing() -> None:
    sim = Simulator([below(60)], A4)
    assert sim.publish({"2025-04": 59}) == ["r: fired first 2025-04 (1) email"]
    assert sim.publish({}) == []  # a publication with nothing new
    assert sim.publish({"2025-04": 59}) == []  # the same figure again


def test_missing_data_never_resolves() -> None:
    sim = Simulator([below(60)], A4)
    sim.publish({"2025-04": 59})
    # Another trust's figures arrive; this trust has nothing for May and June.
    assert sim.publish({"2025-05": 70}, metric="ae_4hr_pct") == []
    assert sim.alerts[("r", "RCX")].state == "firing"


def test_a_re_breach_opens_a_new_alert_linked_to_the_last() -> None:
    sim = Simulator([below(60)], A4)
    play(sim, [
        ({"2025-04": 59}, ["r: fired first 2025-04 (1) email"]),
        ({"2025-05": 61}, ["r: resolved 2025-05 email"]),
        ({"2025-06": 58}, ["r: fired re-breach 2025-06 (1) email"]),
    ])  # fmt: skip
    assert sim.links == {1: None, 2: 1}
    assert sim.all_alerts[1].state == "resolved" and sim.all_alerts[2].state == "firing"


def test_a_revision_that_removes_the_breach_withdraws_the_alert() -> None:
    play(Simulator([below(60)], A4), [
        ({"2025-04": 59}, ["r: fired first 2025-04 (1) email"]),
        ({"2025-04": 61}, ["r: withdrawn 2025-04 revised email"]),
    ])  # fmt: skip


def test_a_revision_that_creates_a_breach_says_so() -> None:
    play(Simulator([below(60)], A4), [
        ({"2025-04": 61}, []),
        ({"2025-04": 58}, ["r: fired first 2025-04 (1) revised email"]),
    ])  # fmt: skip


def test_a_revision_of_the_last_month_of_an_episode_resolves_it() -> None:
    play(Simulator([below(60)], A4), [
        ({"2025-04": 59, "2025-05": 58}, ["r: fired first 2025-05 (2) email"]),
        ({"2025-05": 65}, ["r: resolved 2025-05 revised email"]),
    ])  # fmt: skip


def test_several_months_at_once_close_the_old_episode_and_open_the_new() -> None:
    play(Simulator([below(60)], A4), [
        ({"2025-04": 59}, ["r: fired first 2025-04 (1) email"]),
        ({"2025-05": 65, "2025-06": 58}, [
            "r: resolved 2025-05 email",
            "r: fired re-breach 2025-06 (1) email",
        ]),
    ])  # fmt: skip


def test_quiet_first_run_records_but_does_not_email() -> None:
    sim = Simulator([below(60)], A4)
    # Back-fill: a year of history arrives at once, not from a live poll.
    history = {f"2024-{m:02d}": 58.0 for m in range(4, 13)}
    assert sim.publish(history, live=False) == ["r: fired first 2024-12 (9) quiet"]
    assert sim.publish({"2025-01": 57}) == ["r: updated persistent 2025-01 (10) email"]


def test_the_first_run_knows_an_episode_is_a_re_breach() -> None:
    sim = Simulator([below(60)], A4)
    events = sim.publish({"2025-01": 58, "2025-02": 65, "2025-03": 57}, live=False)
    assert events == ["r: fired re-breach 2025-03 (1) quiet"]


def test_acknowledged_alerts_stop_update_emails_but_not_the_resolution() -> None:
    sim = Simulator([below(60)], A4)
    sim.publish({"2025-04": 59})
    sim.acknowledge("r")
    assert sim.publish({"2025-05": 58}) == ["r: updated persistent 2025-05 (2) quiet"]
    assert sim.publish({"2025-06": 65}) == ["r: resolved 2025-06 email"]


def test_silenced_alerts_stay_quiet_until_the_date() -> None:
    sim = Simulator([below(60)], A4)
    sim.publish({"2025-04": 59})
    sim.silence("r", until=date(2025, 3, 1))
    sim.today = date(2025, 2, 1)
    assert sim.publish({"2025-05": 58}) == ["r: updated persistent 2025-05 (2) quiet"]
    sim.today = date(2025, 3, 1)
    assert sim.publish({"2025-06": 57}) == ["r: updated persistent 2025-06 (3) email"]


def test_supersedes_keeps_the_lesser_alert_but_shows_it_under_the_greater() -> None:
    below_78 = below(78, "below_78", severity="medium")
    below_60 = below(60, "below_60", severity="high", supersedes=["below_78"])
    play(Simulator([below_78, below_60], A4), [
        ({"2025-04": 70}, ["below_78: fired first 2025-04 (1) email"]),
        ({"2025-05": 55}, [
            "below_78: updated persistent 2025-05 (2) under below_60 quiet",
            "below_60: fired first 2025-05 (1) email",
        ]),
        ({"2025-06": 65}, [
            "below_78: updated persistent 2025-06 (3) email",
            "below_60: resolved 2025-06 email",
        ]),
    ])  # fmt: skip


def test_each_event_records_the_rule_version_and_threshold_in_force() -> None:
    old = below(60)
    f = run([old], series("RCX", A4, "2025-04", [59])).get("r", "RCX")
    assert f is not None
    p = plan(None, f, live=True, today=date(2025, 5, 1))
    (event,) = p.events
    assert (event.rule_version, event.threshold, event.value) == ("v-r", 60, 59)
    recorded = evidence.build(event)
    assert recorded.threshold == 60 and recorded.direction == "higher"
    # The rule file changes (a new version, a higher level): the same month is re-evaluated.
    new = below(58).model_copy(update={"version": "v-new"})
    f2 = run([new], series("RCX", A4, "2025-04", [59])).get("r", "RCX")
    assert f2 is not None and f2.state == "ok"
    current = AlertView(
        id=1,
        rule="r",
        org="RCX",
        state=AlertState.FIRING,
        period_start=date(2025, 4, 1),
        first_period=date(2025, 4, 1),
        consecutive_periods=1,
        value=59,
        threshold=60,
        rule_version="v-r",
    )
    (closing,) = plan(current, f2, live=True, today=date(2025, 5, 1)).changes
    (event,) = closing.events
    assert closing.state == "withdrawn" and not event.revised
    assert (event.rule_version, event.threshold) == ("v-new", 58)
    assert event.note is not None and event.note.startswith("the rule changed")


def test_a_dry_run_describes_the_plan() -> None:
    f = run([below(60)], series("RCX", A4, "2025-07", [52.1], publication_id=7)).get("r", "RCX")
    assert f is not None
    p = plan(None, f, live=True, today=date(2025, 9, 1))
    (row,) = p.as_json()
    assert row["event"] == "fired" and row["value"] == 52.1 and row["threshold"] == 60
    (line,) = p.lines()
    assert " ".join(line.split()) == "fired r RCX 2025-07 value 52.1 threshold 60.0 (email)"


def test_a_late_publisher_resolves_when_the_publication_arrives() -> None:
    from monitor.rules.inputs import SourceCalendar

    late = rule("late", metric="ae_4hr_pct", kind="stale", mode="late")
    rules = {"late": late}

    def step(alerts: dict, due: date, on: date) -> list:
        # As monitor.sources.timetable judges it: late once the grace days have passed.
        overdue = on > due + timedelta(days=3)
        cal = [SourceCalendar(source="ae", expected_next=due, late=overdue, grace_days=3)]
        ev = evaluate([late], History.from_points([]), ORGS, as_of=on, calendars=cal)
        return plan_all(ev, alerts, rules, today=on, live_run=True)

    (opened,) = step({}, date(2025, 9, 11), date(2025, 9, 20))
    (change,) = opened.changes
    assert (change.state, change.org, change.events[0].notify) == ("firing", "ENG", True)
    view = AlertView(
        id=1,
        rule="late",
        org="ENG",
        state=AlertState.FIRING,
        period_start=date(2025, 9, 11),
        first_period=date(2025, 9, 11),
        consecutive_periods=1,
    )
    assert step({("late", "ENG"): view}, date(2025, 9, 11), date(2025, 9, 25)) == []
    # September's file arrives: the next one is due in October, and nothing is late.
    (closed,) = step({("late", "ENG"): view}, date(2025, 10, 9), date(2025, 9, 26))
    assert [c.state for c in closed.changes] == ["resolved"]


def test_a_context_rule_opens_no_alert_and_quietly_withdraws_one_opened_before() -> None:
    keys = {"metric": A4, "kind": "threshold", "when": "below", "value": 78}
    alerting, context = rule("r", **keys), rule("r", role="context", **keys)
    points = series("RCX", A4, "2025-06", [55.3, 52.1])
    # As an alert: it opens.
    (opened,) = plan_all(run([alerting], points), {}, {"r": alerting}, today=FAR, live_run=True)
    assert [c.state for c in opened.changes] == ["firing"]
    # As context: the same breach opens nothing ...
    assert plan_all(run([context], points), {}, {"r": context}, today=FAR, live_run=True) == []
    # ... and the alert it opened before it became context is withdrawn, without an email.
    view = AlertView(
        id=1,
        rule="r",
        org="RCX",
        state=AlertState.FIRING,
        period_start=month("2025-07"),
        first_period=month("2025-06"),
        consecutive_periods=2,
    )
    (closed,) = plan_all(
        run([context], points), {("r", "RCX"): view}, {"r": context}, today=FAR, live_run=True
    )
    assert [c.state for c in closed.changes] == ["withdrawn"]
    assert not any(e.notify for c in closed.changes for e in c.events)
