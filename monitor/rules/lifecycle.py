"""The alert lifecycle as a pure planner: the current alert + a new finding -> the events to write.

At most one open alert per (rule, organisation); each episode is its own alert:

    (none) --breach--> pending --for_periods met--> firing --data that clears it--> resolved
                 \\______________ for_periods = 1 ____/         \\--revision removes it--> withdrawn

- An alert resolves only on a period whose figure clears it (honouring ``clear``), never because
  data is missing: no new figure, no finding, no event.
- A revised publication that removes the breach behind an open alert withdraws it; one that
  creates a breach opens an alert whose event says ``revised``.
- A breach after a recovery opens a new alert linked to the previous one (a re-breach).
- Evaluating the same data twice plans nothing the second time, and neither does a finding
  built from figures published before the ones the alert already saw for its latest period (an
  older file fetched after its revision changes no alert).
- Emails: an event is emailed (``notify``) only when the publication behind it was fetched live
  after its source's first complete ingest (the quiet first run), the alert is not silenced, an
  acknowledged alert's monthly updates stay quiet, pending is never emailed, and an event of a
  rule superseded by another firing alert of the same organisation is shown under that alert
  rather than emailed separately.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from datetime import date

from monitor.rules.findings import Finding
from monitor.rules.model import Rule
from monitor.rules.plans import AlertChange, AlertView, Plan, PlannedEvent
from monitor.rules.states import FIRING, OK
from monitor.vocab import OPEN, AlertState, Episode, EventKind

CONTEXT = "context"  # a rule's role that never opens an alert (rules/model.py)


def _muted(view: AlertView | None, today: date) -> bool:
    return view is not None and view.silenced_until is not None and today < view.silenced_until


def plan(current: AlertView | None, finding: Finding, *, live: bool, today: date) -> Plan:
    """The events that bring the alert of (rule, org) in line with ``finding``.

    ``current`` is the latest alert of the pair (open or closed) or None. ``live`` says whether
    the publication behind the finding was fetched live after its source's first complete
    ingest; ``today`` is for silences.
    """
    rule, org = finding.rule, finding.org
    latest = finding.states[-1]
    if _older_than_known(current, finding):
        return Plan(rule.id, org)
    if current is None or not current.is_open:
        if latest == OK:
            return Plan(rule.id, org)
        return Plan(rule.id, org, (_open(current, finding, live),))
    assert current.first_period is not None and current.period_start is not None
    # The alert's own periods as evaluated now: empty when the finding does not cover them
    # (a late publisher's finding is about the next due date only).
    span = [
        s
        for p, s in zip(finding.periods, finding.states, strict=True)
        if current.first_period <= p <= current.period_start
    ]
    withdrawn = bool(span) and all(s == OK for s in span)
    cleared = _cleared_at(current, finding)
    if latest != OK and not withdrawn and cleared is None:
        change = _update(current, finding, live, today)  # the same episode carries on
        return Plan(rule.id, org, (change,) if change else ())
    if latest == OK and not withdrawn and cleared is None:
        return Plan(rule.id, org)  # nothing after the alert's periods clears it
    closing = _close(current, finding, withdrawn, cleared, live, today)
    if latest == OK:
        return Plan(rule.id, org, (closing,))
    return Plan(rule.id, org, (closing, _open(current, finding, live)))


def _older_than_known(current: AlertView | None, finding: Finding) -> bool:
    """True when the finding's figure for the alert's latest period was published before the
    one the alert last saw: an older publication, not a revision, and no reason to act."""
    if current is None or current.published_on is None or current.period_start is None:
        return False
    k = finding.index(current.period_start)
    point = finding.points[k] if k is not None and finding.points else None
    return (
        point is not None
        and point.published_at is not None
        and (point.published_at < current.published_on)
    )


def _cleared_at(current: AlertView, finding: Finding) -> date | None:
    """The first ok period after the alert's last pending/firing period, as evaluated now."""
    assert current.first_period is not None and current.period_start is not None
    last_open = current.first_period
    for p, s in zip(finding.periods, finding.states, strict=True):
        if s != OK and current.first_period <= p <= current.period_start:
            last_open = p
    return finding.first_clear_after(last_open)


def _event(
    finding: Finding,
    kind: EventKind,
    episode: Episode,
    *,
    revised: bool,
    notify: bool,
    i: int = -1,
) -> PlannedEvent:
    i = i % len(finding.periods)
    persistence = finding.persistence(i)
    return PlannedEvent(
        kind=kind,
        period_start=finding.periods[i],
        value=finding.values[i],
        threshold=finding.threshold_at(i)[0],
        consecutive_periods=persistence.consecutive if persistence else 0,
        first_period=finding.first_period,
        episode=episode,
        revised=revised,
        notify=notify,
        rule_version=finding.rule.version,
        publication_id=finding.publication_at(i),
        finding=finding,
        persistence=persistence,
    )


def _change(
    finding: Finding,
    alert_id: int | None,
    previous: int | None,
    state: AlertState,
    *events: PlannedEvent,
) -> AlertChange:
    last = events[-1]
    return AlertChange(
        alert_id=alert_id,
        previous_alert_id=previous,
        rule=finding.rule.id,
        org=finding.org,
        metric=finding.rule.metric,
        severity=finding.rule.severity,
        state=state,
        first_period=finding.first_period if state in OPEN else last.first_period,
        period_start=last.period_start,
        value=last.value,
        threshold=last.threshold,
        consecutive_periods=last.consecutive_periods,
        rule_version=finding.rule.version,
        events=events,
    )


def _open(previous: AlertView | None, finding: Finding, live: bool) -> AlertChange:
    firing = finding.states[-1] == FIRING
    earlier = previous is not None or any(e.fired for e in finding.episodes()[:-1])
    revised = finding.revised
    if previous is not None and previous.period_start is not None:
        # A breach in a period the previous alert had already seen cleared: a revision.
        revised = revised or finding.period_start <= previous.period_start
    event = _event(
        finding,
        EventKind.FIRED if firing else EventKind.PENDING,
        Episode.REBREACH if earlier else Episode.FIRST,
        revised=revised,
        notify=live and firing,
    )
    state = AlertState.FIRING if firing else AlertState.PENDING
    return _change(finding, None, previous.id if previous else None, state, event)


def _update(current: AlertView, finding: Finding, live: bool, today: date) -> AlertChange | None:
    state = AlertState.FIRING if finding.states[-1] == FIRING else AlertState.PENDING
    persistence = finding.persistence()
    same = (
        finding.period_start == current.period_start
        and state == current.state
        and finding.value == current.value
        and finding.threshold == current.threshold
        and (persistence.consecutive if persistence else 0) == current.consecutive_periods
        and finding.first_period == current.first_period
    )
    if same:
        return None  # evaluating the same data again changes nothing
    fired = current.state == AlertState.PENDING and state == AlertState.FIRING
    assert current.period_start is not None
    revised = finding.revised or (
        finding.period_start == current.period_start and finding.value != current.value
    )
    quiet = _muted(current, today) or (current.acknowledged and not fired)
    episode = (
        Episode.PERSISTENT
        if not fired
        else Episode.REBREACH
        if current.previous_alert_id
        else Episode.FIRST
    )
    event = _event(
        finding,
        EventKind.FIRED if fired else EventKind.UPDATED,
        episode,
        revised=revised,
        notify=live and state == AlertState.FIRING and not quiet,
    )
    return _change(finding, current.id, None, state, event)


def _close(
    current: AlertView,
    finding: Finding,
    withdrawn: bool,
    cleared: date | None,
    live: bool,
    today: date,
) -> AlertChange:
    assert current.first_period is not None and current.period_start is not None
    told = current.state == AlertState.FIRING and live and not _muted(current, today)
    if withdrawn:
        # Re-evaluated, the episode never happened: its figures were revised, or the rule changed.
        k = finding.index(current.period_start)
        revised = k is None or finding.values[k] != current.value
        note: str | None
        if revised:
            note = "a revised publication removed the breach"
        elif current.rule_version and current.rule_version != finding.rule.version:
            note = f"the rule changed (version {finding.rule.version[:12]}): no longer a breach"
        else:
            note = "no longer a breach when re-evaluated"
        event = _event(finding, EventKind.WITHDRAWN, Episode.FIRST, revised=revised, notify=told)
        event = replace(
            event,
            first_period=current.first_period,
            consecutive_periods=0,
            note=note,
            persistence=None,
        )
        return _change(finding, current.id, None, AlertState.WITHDRAWN, event)
    assert cleared is not None  # plan() closes an episode only on a period that clears it
    i = list(finding.periods).index(cleared)
    revised = cleared <= current.period_start
    event = _event(finding, EventKind.RESOLVED, Episode.FIRST, revised=revised, notify=told, i=i)
    note = "a revised publication cleared the breach" if revised else None
    # The episode that ended, counted at its last breaching period (the resolving period is
    # ok and counts nothing).
    ended = finding.persistence(i - 1) if i > 0 else None
    event = replace(
        event,
        first_period=current.first_period,
        note=note,
        persistence=ended,
        consecutive_periods=ended.consecutive if ended else current.consecutive_periods,
    )
    return _change(finding, current.id, None, AlertState.RESOLVED, event)


def plan_all(
    findings: Iterable[Finding],
    alerts: Mapping[tuple[str, str], AlertView],
    rules: Mapping[str, Rule],
    *,
    today: date,
    live_publications: Collection[int] = (),
    live_run: bool = False,
) -> list[Plan]:
    """Plans for every finding, with superseded events marked and kept quiet.

    ``alerts`` holds the latest alert per (rule, org). An event is live when the publication
    behind its finding is in ``live_publications``; findings without one (combined rules,
    late publishers) are live when ``live_run`` is. Returns only non-empty plans.
    """
    plans = []
    for f in findings:
        pub = f.publication_id
        live = pub in live_publications if pub is not None else live_run
        current = alerts.get((f.rule.id, f.org))
        if f.rule.role == CONTEXT:
            # Context never opens an alert; one opened before the rule became context is
            # withdrawn, quietly.
            if current is None or not current.is_open:
                continue
            f, live = replace(f, states=OK * len(f.states), consecutive=0, first=-1), False
        p = plan(current, f, live=live, today=today)
        if not p.empty:
            plans.append(p)
    return supersede(plans, alerts, rules)


def supersede(
    plans: list[Plan], alerts: Mapping[tuple[str, str], AlertView], rules: Mapping[str, Rule]
) -> list[Plan]:
    """Mark the changes of rules superseded by another rule firing for the same organisation."""
    state = {key: a.state for key, a in alerts.items()}
    for p in plans:
        state[(p.rule, p.org)] = p.changes[-1].state
    by: dict[str, list[str]] = {}
    for r in rules.values():
        for target in r.supersedes:
            by.setdefault(target, []).append(r.id)
    out = []
    for p in plans:
        over = [a for a in by.get(p.rule, ()) if state.get((a, p.org)) == AlertState.FIRING]
        if not over:
            out.append(p)
            continue
        boss = max(over, key=lambda a: rules[a].severity)
        changes = tuple(
            replace(
                c,
                superseded_by=boss,
                events=tuple(replace(e, notify=False, superseded_by=boss) for e in c.events),
            )
            for c in p.changes
        )
        out.append(replace(p, changes=changes))
    return out
