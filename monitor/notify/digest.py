"""The weekly digest: per recipient, what changed first, then what is still open, what resolved.

A digest reports on one ISO week, Monday 00:00 to Sunday 24:00 in ``[digest] timezone``, and
goes out at ``[digest] day`` and ``time`` after it (default Monday 07:00 Europe/London). Its
outbox key is ``digest:<ISO week>:<recipient>``, so each recipient gets one digest per week
however often it is queued, across restarts too. Quiet alerts (back-fill, first ingest) are
in it like any other. Nothing to report means no digest.

It leads with change: "new" is an alert that fired in the week on a figure published in the
week (one fired on an older figure is listed as still open), new special-cause concerns and
consistent failures (``spc`` rules) first; a regional digest has one line per trust, ordered
by concern (most severe first, then league position); the standards most trusts miss are one
context paragraph with England's figure (monitor/rules/standing.py); and the subject names the
trust or region.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select as sa_select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from monitor import orgs as orgs_ref
from monitor import periods
from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import (
    Alert,
    AlertEvent,
    Observation,
    Organisation,
    Outbox,
    Subscription,
    utcnow,
)
from monitor.notify import channels, keys, mime, routing, subscriptions
from monitor.notify.contexts import DigestItem, TrustRow
from monitor.notify.enqueue import enqueue
from monitor.rules import standing
from monitor.rules.evidence import Evidence
from monitor.rules.load import load_rules
from monitor.urls import Urls
from monitor.vocab import ENDED, OutboxKind, Severity

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_week(week: str) -> date:
    """The Monday of an ISO week written ``YYYY-Www``; ValueError otherwise."""
    m = _WEEK.match(week.strip())
    if not m:
        raise ValueError(f"{week!r} is not an ISO week like 2025-W33")
    try:
        return date.fromisocalendar(int(m[1]), int(m[2]), 1)
    except ValueError:
        raise ValueError(f"{week!r} is not an ISO week: {m[1]} has no week {m[2]}") from None


def week_name(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def send_time(settings: Settings, monday: date) -> datetime:
    """When the digest of the week starting ``monday`` is due."""
    d = settings.digest
    day = monday + timedelta(days=7 + _DAYS.index(d.day))
    return datetime.combine(day, d.time.replace(tzinfo=None), ZoneInfo(d.timezone))


def due_week(settings: Settings, now: datetime) -> str:
    """The latest week whose digest is due at ``now`` (a restart catches up on it)."""
    local = now.astimezone(ZoneInfo(settings.digest.timezone)).date()
    monday = local - timedelta(days=local.weekday() + 7)
    while send_time(settings, monday) > now:
        monday -= timedelta(days=7)
    return week_name(monday)


def _bounds(settings: Settings, monday: date) -> tuple[datetime, datetime]:
    tz = ZoneInfo(settings.digest.timezone)
    start = datetime.combine(monday, time(0), tz)
    return start, datetime.combine(monday + timedelta(days=7), time(0), tz)


def _duration(start: datetime, end: datetime) -> str:
    days = max(0, round((end - start).total_seconds() / 86400))
    if days < 14:
        return f"{days} day{'s' if days != 1 else ''}"
    if days < 63:
        return f"{days // 7} weeks"
    return f"{round(days / 30.44)} months"


def _item(alert: Alert, ev: Evidence, org_name: str, urls: Urls, end: datetime) -> DigestItem:
    metric_id = ev.metric or alert.metric
    unit = ev.unit or periods.unit_of(metric_id)
    gran = periods.granularity_of(metric_id)
    fired = alert.fired_at or alert.opened_at
    ended = alert.ended_at if alert.state in ENDED else None
    open_for = _duration(_aware(fired), _aware(ended) if ended else end)
    if alert.first_period and alert.consecutive_periods > 1:
        open_for += f"; in breach since {periods.period_label(alert.first_period, gran)}"
    return DigestItem(
        alert_id=alert.id or 0,
        alert_url=urls.alert(alert.id),
        org_code=alert.org,
        org_name=ev.org_name or org_name,
        rule_title=ev.rule_title or alert.rule,
        severity=alert.severity,
        value_text=periods.figure(alert.value, unit, alert.label),
        threshold_text=periods.threshold(alert.threshold, unit),
        period_label=periods.period_label(alert.period_start, gran),
        open_for=open_for,
        ended_text=f"{alert.state} {periods.day(_aware(ended))}" if ended else None,
        change=_change(ev),
    )


def _change(ev: Evidence) -> str:
    """What a Making Data Count alert says changed: "special-cause concern", "consistently
    failing"; "" for other kinds."""
    if ev.kind != "spc":
        return ""
    if ev.spc_variation == "special_cause_concern":
        return "special-cause concern"
    return "consistently failing" if ev.spc_assurance == "consistent_fail" else ""


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _alerts(s: Session, start: datetime, end: datetime) -> list[tuple[Alert, Evidence]]:
    """Alerts that fired before ``end`` and were open at some point in the week, with the
    evidence of each one's latest event; alerts a superseding alert covers are left out."""
    q = select(Alert).where(
        col(Alert.fired_at).is_not(None),
        col(Alert.fired_at) < end,
        or_(col(Alert.ended_at).is_(None), col(Alert.ended_at) >= start),
    )
    alerts = list(s.exec(q.order_by(col(Alert.id))))
    latest: dict[int, Any] = {}  # alert id -> its latest event's stored evidence
    ids = [a.id for a in alerts]
    for i in range(0, len(ids), 500):
        evq = (
            select(AlertEvent)
            .where(col(AlertEvent.alert_id).in_(ids[i : i + 500]), col(AlertEvent.at) < end)
            .order_by(col(AlertEvent.at), col(AlertEvent.id))
        )
        for e in s.exec(evq):
            latest[e.alert_id] = e.evidence
    found = [(a, Evidence.from_json(latest.get(a.id or 0))) for a in alerts]
    return [(a, ev) for a, ev in found if not ev.superseded_by]


def build(
    session: Session, settings: Settings, week: str, *, now: datetime | None = None
) -> dict[str, dict[str, Any]]:
    """Recipient -> digest payload for ``week`` (recipients with nothing to report omitted)."""
    monday = parse_week(week)
    start, end = _bounds(settings, monday)
    end_or_now = min(end, now or utcnow())
    urls = Urls(settings.web.base_url)
    alerts = _alerts(session, start, end)
    codes = {a.org for a, _ in alerts}
    orgs = {
        o.code: o
        for o in session.exec(select(Organisation).where(col(Organisation.code).in_(codes)))
    }
    by_email: dict[str, list[Subscription]] = defaultdict(list)
    for sub in subscriptions.active(session):
        if sub.channel == channels.EMAIL:  # chat channels receive alerts, not the digest
            by_email[sub.email].append(sub)
    league = _league(session)
    context = _context(session, settings, end_or_now.date()) if by_email else ""
    out: dict[str, dict[str, Any]] = {}
    for email, subs in sorted(by_email.items()):
        new: list[DigestItem] = []
        still: list[DigestItem] = []
        resolved: list[DigestItem] = []
        for alert, ev in alerts:
            org = orgs.get(alert.org)
            rule = ev.rule or alert.rule
            if not any(
                routing.matches(
                    sub, org_code=alert.org, org=org, rule=rule, severity=alert.severity
                )
                for sub in subs
            ):
                continue
            item = _item(alert, ev, org.name if org else alert.org, urls, end_or_now)
            fired = _aware(alert.fired_at or alert.opened_at)
            ended = _aware(alert.ended_at) if alert.ended_at else None
            published = _aware(ev.published_at) if ev.published_at else None
            fresh = fired >= start and (published is None or published >= start)
            if ended is not None and start <= ended < end:
                resolved.append(item)
            elif ended is None or ended >= end:
                (new if fresh else still).append(item)
        if not (new or still or resolved):
            continue
        out[email] = {
            "week": week_name(monday),
            "week_label": periods.week_label(monday),
            "new": [asdict(i) for i in sorted(new, key=_change_first)],
            "still_open": [asdict(i) for i in sorted(still, key=_worst_first)],
            "resolved": [asdict(i) for i in sorted(resolved, key=_worst_first)],
            "trusts": [asdict(t) for t in _trusts(new + still, subs, urls, league)],
            "subscriptions": [s.id for s in subs],
            "scope_name": _scope_name(session, subs),
            "context_text": context,
        }
    return out


def _worst_first(i: DigestItem) -> tuple[int, str, str]:
    return (-Severity.rank_of(i.severity), i.org_name, i.rule_title)


def _change_first(i: DigestItem) -> tuple[bool, int, str, str]:
    """New special-cause concerns and consistent failures first, then by severity."""
    return (not i.change, *_worst_first(i))


def _league(session: Session) -> dict[str, tuple[float, str]]:
    """Each trust's latest league position: (rank / peers, "league 133 of 134"), by ODS code."""
    o = Observation.__table__.c  # type: ignore[attr-defined]
    q = (
        sa_select(o.org, o.value, o.denominator)
        .where(o.metric == "nof_rank", o.superseded_by.is_(None))
        .order_by(o.period_start)
    )
    out: dict[str, tuple[float, str]] = {}
    for org, rank, peers in session.execute(q):
        if rank is not None and peers:
            out[org] = (rank / peers, f"league {round(rank)} of {round(peers)}")
    return out


def _context(session: Session, settings: Settings, day: date) -> str:
    """The paragraph on the standards most trusts miss ("" without context rules)."""
    pack = load_rules(settings.paths.rules, today=day)
    return standing.paragraph(standing.standings(session, pack.rules, as_of=day))


def _scope_name(session: Session, subs: list[Subscription]) -> str:
    """What the digest is about, for its subject: "East of England", a trust's name."""
    names = []
    for sub in subs:
        if sub.scope == "region":
            names.append(orgs_ref.REGIONS.get(sub.code, sub.code))
        else:
            org = session.get(Organisation, sub.code)
            names.append(org.name if org else sub.code)
    names = list(dict.fromkeys(names))
    if len(names) <= 2:
        return " and ".join(names)
    return f"{names[0]} and {len(names) - 1} more"


def _trusts(
    items: list[DigestItem],
    subs: list[Subscription],
    urls: Urls,
    league: dict[str, tuple[float, str]],
) -> list[TrustRow]:
    """One line per trust, for region and ICB subscribers only, ordered by concern: the most
    severe open alert first, then the league position (worst first), then the number open."""
    if not any(s.scope in ("region", "icb") for s in subs):
        return []
    by_org: dict[str, list[DigestItem]] = defaultdict(list)
    for i in items:
        by_org[i.org_code].append(i)
    rows = [
        TrustRow(
            org_code=code,
            org_name=its[0].org_name,
            org_url=urls.org(code),
            worst_severity=max((i.severity for i in its), key=Severity.rank_of),
            open_count=len(its),
            rule_titles="; ".join(sorted({i.rule_title for i in its})),
            league_text=league[code][1] if code in league else "",
        )
        for code, its in by_org.items()
    ]
    return sorted(
        rows,
        key=lambda r: (
            -Severity.rank_of(r.worst_severity),
            -league.get(r.org_code, (-1.0, ""))[0],
            -r.open_count,
            r.org_name,
        ),
    )


def rows(session: Session, settings: Settings, week: str, *, now: datetime) -> list[Outbox]:
    """The outbox rows of ``week``'s digests, one per recipient with something to report."""
    return [
        Outbox(
            key=keys.digest(week, email),
            recipient=email,
            kind=OutboxKind.DIGEST,
            payload=payload,
            message_id=mime.new_message_id(settings, OutboxKind.DIGEST),
            created_at=now,
            next_attempt_at=now,
        )
        for email, payload in build(session, settings, week, now=now).items()
    ]


def queue(
    engine: Engine, settings: Settings, *, week: str | None = None, now: datetime | None = None
) -> list[str]:
    """Queue the digest of ``week`` (default: the latest one due) for every recipient with
    something to report; returns the keys queued (none when already queued)."""
    now = now or utcnow()
    week = week or due_week(settings, now)
    with session_scope(engine, write=True) as s:
        return enqueue(s, rows(s, settings, week, now=now))
