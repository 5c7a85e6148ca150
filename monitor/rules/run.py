"""The rules at the database's edge: read the inputs, evaluate, plan, write, route.

``evaluate_db`` is what `monitor evaluate`, the scheduler's evaluate job and the poll chain
call. It reads observations, ratings, organisations and publishers' calendars into the plain
values the pure evaluator takes, evaluates, plans the alert lifecycle and, unless it is a dry
run, writes the plans and routes their events in ONE transaction, so that alert events and the
emails they cause commit together or not at all.

``as_of`` replays what was known on a date (each figure's latest version published by then)
and never writes: it answers "what would have been open on that day?".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from monitor import orgs
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import (
    Alert,
    AlertEvent,
    Observation,
    Organisation,
    Publication,
    Rating,
    SourceState,
    utcnow,
)
from monitor.rules.evaluate import evaluate, metrics_needed
from monitor.rules.inputs import History, OrgContext, Point, RatingRecord, SourceCalendar
from monitor.rules.lifecycle import plan_all
from monitor.rules.load import RulePack, load_or_raise
from monitor.rules.model import Rule
from monitor.rules.plans import Plan
from monitor.rules.store import Directory, apply_all, latest_alerts
from monitor.sources import registry, timetable
from monitor.vocab import LONDON, STATE_FILTERS

log = logging.getLogger(__name__)

# Called once per evaluation, inside its transaction, with every event written.
Router = Callable[[Session, list[AlertEvent]], Any]


def today_in_london() -> date:
    return datetime.now(LONDON).date()


@dataclass(kw_only=True)
class EvaluationRun:
    """What one evaluation found and did."""

    as_of: date
    dry_run: bool
    findings: int = 0
    touched: set[tuple[str, str]] = field(default_factory=set)  # (metric, org) pairs read
    plans: list[Plan] = field(default_factory=list)
    events_written: int = 0
    routed: int = 0

    def counts(self) -> dict[str, int]:
        kinds: dict[str, int] = {}
        for p in self.plans:
            for e in p.events:
                kinds[e.kind] = kinds.get(e.kind, 0) + 1
        return {
            "findings": self.findings,
            "events": sum(kinds.values()),
            **kinds,
            "routed": self.routed,
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "counts": self.counts(),
            "events": [row for p in self.plans for row in p.as_json()],
        }


def read_points(
    session: Session, *, all_versions: bool, metrics: Collection[str] | None = None
) -> list[Point]:
    """Every figure as a Point (of ``metrics`` only, when given); with ``all_versions``
    superseded ones too (for ``as_of``)."""
    columns: list[Any] = [
        Observation.org,
        Observation.metric,
        Observation.period_start,
        Observation.period_end,
        Observation.value,
        Observation.numerator,
        Observation.denominator,
        Observation.label,
        Observation.publication_id,
        Publication.published_at,
    ]
    q = sa_select(*columns).join(
        Publication, col(Observation.publication_id) == col(Publication.id)
    )
    if not all_versions:
        q = q.where(col(Observation.superseded_by).is_(None))
    if metrics is not None:
        q = q.where(col(Observation.metric).in_(sorted(metrics)))
    q = q.order_by(col(Observation.metric), col(Observation.org), col(Observation.period_start))
    return [
        Point(
            org=org,
            metric=metric,
            period_start=start,
            period_end=end,
            value=value,
            numerator=num,
            denominator=den,
            label=label,
            publication_id=pub,
            published_at=published.astimezone(LONDON).date() if published else None,
        )
        for org, metric, start, end, value, num, den, label, pub, published in session.execute(q)
    ]


def read_ratings(session: Session) -> list[RatingRecord]:
    rows = session.exec(
        select(Rating, Publication.published_at)
        .join(Publication, col(Rating.publication_id) == col(Publication.id), isouter=True)
        .where(col(Rating.report_date).is_not(None))
    )
    return [
        RatingRecord(
            org=r.org,
            subject=r.subject_id,
            report_date=r.report_date,  # type: ignore[arg-type]
            rating=r.rating,
            ordinal=r.ordinal,
            subject_type=r.subject_type,
            service=r.service,
            domain=r.domain,
            inherited=r.inherited,
            published_at=published.astimezone(LONDON).date() if published else None,
            publication_id=r.publication_id,
        )
        for r, published in rows
    ]


def read_orgs(session: Session) -> dict[str, OrgContext]:
    return {
        o.code: OrgContext(
            code=o.code,
            kind=o.kind,
            trust_type=o.trust_type,
            region=o.region,
            name=o.name,
            closed=o.closed,
        )
        for o in session.exec(select(Organisation))
    }


def read_calendars(ctx: Context, session: Session, now: datetime) -> list[SourceCalendar]:
    """Where each publisher stands against its calendar at ``now``, for the late-publisher
    rules: monitor.sources.timetable decides, as for the sources page and operators' emails."""
    out = []
    for name in registry.NAMES:
        source = ctx.settings.source(name)
        state = session.get(SourceState, name)
        checked = state.last_success_at if state else None
        exp = timetable.expectation(
            name,
            source,
            now,
            timetable.last_published_at(session, name, until=now),
            last_success_at=checked if checked is not None and checked <= now else None,
        )
        period_q = (
            select(func.max(Observation.period_start))
            .join(Publication, col(Observation.publication_id) == col(Publication.id))
            .where(Publication.source == name, col(Publication.published_at) <= now)
        )
        latest_period = session.exec(period_q).one()
        out.append(source_calendar(exp, grace_days=source.grace_days, latest_period=latest_period))
    return out


def source_calendar(
    standing: timetable.Expectation, *, grace_days: int, latest_period: date | None
) -> SourceCalendar:
    """The evaluator's view of where a publisher stands: the London date of the publication
    awaited, and the timetable's verdict."""
    awaited = standing.awaited_at
    return SourceCalendar(
        source=standing.source,
        expected_next=awaited.astimezone(LONDON).date() if awaited is not None else None,
        late=standing.late,
        days_late=standing.days_late,
        grace_days=grace_days,
        latest_period=latest_period,
    )


def load_pack(ctx: Context) -> RulePack:
    return load_or_raise(ctx.settings.paths.rules, today=today_in_london())


def evaluate_db(
    ctx: Context,
    *,
    as_of: date | None = None,
    dry_run: bool = False,
    changed: Collection[tuple[str, str]] | None = None,
    publications: Sequence[int] = (),
    live_run: bool = False,
    router: Router | None = None,
    rules: dict[str, Rule] | None = None,
    only_affected: bool = False,
) -> EvaluationRun:
    """Evaluate the rules against the database (see the module docstring).

    ``changed`` limits evaluation to the (metric, organisation) pairs a new publication
    touched; ``publications`` are the publications that caused this run: their events are
    emailed unless the publication was quiet (back-fill, seed, a source's first ingest).
    ``live_run`` makes events without a publication (late publishers, combined rules) live.
    ``only_affected`` limits the work to the (metric, organisation) pairs ``publications``
    brought (see ``affected_pairs``), as after a poll; the daily run evaluates everything.
    """
    replay = as_of is not None
    day = as_of or today_in_london()
    if changed is None and only_affected and publications:
        with session_scope(ctx.engine) as s:
            changed = affected_pairs(s, publications)
    run = EvaluationRun(as_of=day, dry_run=dry_run or replay)
    pack_rules = rules if rules is not None else load_pack(ctx).rules
    # After a poll, only the metrics the changed figures' rules read (rules/evaluate.py).
    metrics = None if changed is None else metrics_needed(pack_rules.values(), changed)
    with session_scope(ctx.engine, write=not run.dry_run) as s:
        history = History.from_points(
            read_points(s, all_versions=replay, metrics=metrics),
            read_ratings(s),
            as_of=day if replay else None,
        )
        found = evaluate(
            pack_rules.values(),
            history,
            read_orgs(s),
            as_of=day,
            # A replay looks at the calendars as they stood at the end of its day.
            calendars=read_calendars(
                ctx, s, datetime.combine(day, time.max, LONDON) if replay else utcnow()
            ),
            changed=changed,
        )
        run.findings = len(found)
        run.touched = set(found.touched)
        live = _live_publications(s, publications)
        pairs = {(f.rule.id, f.org) for f in found}
        # A replay starts from a blank slate: what would have been open on that day.
        alerts = {} if replay else latest_alerts(s, pairs)
        run.plans = plan_all(
            found, alerts, pack_rules, today=day, live_publications=live, live_run=live_run
        )
        merged = orgs.merged_codes(s, day)  # a merged trust's alerts ended with the merger
        run.plans = [p for p in run.plans if p.org not in merged]
        if run.dry_run:
            s.rollback()
            return run
        events = apply_all(s, run.plans, directory=Directory.load(s, run.plans))
        run.events_written = len(events)
        if router is not None and events:
            routed = router(s, events)
            run.routed = len(routed) if isinstance(routed, Collection) else 0
        if publications:
            # In the same transaction as their events: evaluated, and emailed, exactly once.
            s.execute(
                update(Publication)
                .where(
                    col(Publication.id).in_(list(publications)),
                    col(Publication.evaluated_at).is_(None),
                )
                .values(evaluated_at=utcnow())
            )
    if run.events_written:
        log.info(
            "evaluated %d findings: %s",
            run.findings,
            ", ".join(f"{k} {v}" for k, v in run.counts().items() if v),
        )
    return run


def affected_pairs(session: Session, publications: Sequence[int]) -> set[tuple[str, str]]:
    """The (metric, organisation) pairs whose figures or ratings these publications wrote."""
    pubs = list(publications)
    q = (
        select(Observation.metric, Observation.org)
        .where(col(Observation.publication_id).in_(pubs))
        .distinct()
    )
    pairs = {(m, o) for m, o in session.exec(q)}
    rated = select(Rating.org).where(col(Rating.publication_id).in_(pubs)).distinct()
    pairs |= {("cqc_overall", org) for org in session.exec(rated)}
    return pairs


def _live_publications(session: Session, publications: Sequence[int]) -> set[int]:
    if not publications:
        return set()
    q = select(Publication.id).where(
        col(Publication.id).in_(publications), col(Publication.quiet).is_(False)
    )
    return {i for i in session.exec(q) if i is not None}


def alert_row(a: Alert) -> dict[str, Any]:
    """The fields `monitor alerts --json` and the API print for an alert."""
    return {
        "id": a.id,
        "rule": a.rule,
        "org": a.org,
        "metric": a.metric,
        "state": a.state,
        "severity": a.severity,
        "opened_at": a.opened_at.isoformat(),
        "fired_at": a.fired_at.isoformat() if a.fired_at else None,
        "ended_at": a.ended_at.isoformat() if a.ended_at else None,
        "value": a.value,
        "threshold": a.threshold,
        "period_start": a.period_start.isoformat() if a.period_start else None,
        "first_period": a.first_period.isoformat() if a.first_period else None,
        "consecutive_periods": a.consecutive_periods,
        "acknowledged_by": a.acknowledged_by,
        "silenced_until": a.silenced_until.isoformat() if a.silenced_until else None,
        "rule_version": a.rule_version,
        "previous_alert_id": a.previous_alert_id,
    }


def list_alerts(
    ctx: Context, *, state: str = "open", org: str | None = None, rule: str | None = None
) -> list[dict[str, Any]]:
    """Alerts in the state filter ``state`` (open, resolved or all; vocab.STATE_FILTERS)."""
    q = select(Alert).where(col(Alert.state).in_(STATE_FILTERS[state]))
    if org:
        q = q.where(Alert.org == org.upper())
    if rule:
        q = q.where(Alert.rule == rule)
    q = q.order_by(col(Alert.org), col(Alert.rule), col(Alert.id))
    with session_scope(ctx.engine) as s:
        return [alert_row(a) for a in s.exec(q)]
