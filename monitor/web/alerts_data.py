"""Read alerts for the status page, the JSON API, the feeds and the CSV export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor import orgs, periods
from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Organisation, Publication
from monitor.rules.evidence import Evidence
from monitor.vocab import ENDED, EVALUATION_KINDS, OPEN, SEVERITIES_WORST_FIRST, Severity
from monitor.web.filters import PER_PAGE, AlertFilter

_SEVERITY_ORDER = case({s: s.rank for s in Severity}, value=col(Alert.severity), else_=-1)


def _iso(v: Any) -> str | None:
    return v.isoformat() if v is not None else None


def alert_row(a: Alert, o: Organisation | None, ev: Evidence) -> dict[str, Any]:
    """One alert as the API, the CSV and the templates see it."""
    region = o.region if o else None
    return {
        "id": a.id,
        "rule": a.rule,
        # Readers see a rule by its title; an alert without recorded evidence by its measure.
        "rule_title": ev.rule_title
        or (f"Alert on {periods.metric_title(a.metric)}" if a.metric else "Alert"),
        "why": ev.why or None,
        "org": a.org,
        "org_name": o.name if o else a.org,
        "region": region,
        "region_name": orgs.REGIONS.get(region or ""),
        "icb": o.icb if o else None,
        "metric": a.metric,
        "metric_title": periods.metric_title(a.metric) or None,
        "state": a.state,
        "severity": a.severity,
        "opened_at": _iso(a.opened_at),
        "fired_at": _iso(a.fired_at),
        "ended_at": _iso(a.ended_at),
        "value": a.value,
        "label": a.label,
        "period_start": _iso(a.period_start),
        "period_end": _iso(a.period_end),
        "period_label": ev.period_label or periods.metric_period(a.period_start, a.metric) or None,
        "threshold": a.threshold,
        "consecutive_periods": a.consecutive_periods,
        "acknowledged_at": _iso(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "ack_note": a.ack_note,
        "silenced_until": _iso(a.silenced_until),
        "silenced_by": a.silenced_by,
        # The rule of a firing alert for the same trust that this one is shown under.
        "superseded_by": ev.superseded_by,
    }


def nest(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with each superseded alert moved to just under the alert that supersedes it.

    A superseded alert ("A&E below 78%" while "A&E below 60%" fires for the same trust) stays
    listed, marked ``under`` its superseding alert's title, but is not a headline of its own.
    """
    by_key = {(r["org"], r["rule"]): r for r in rows}
    children: dict[int, list[dict[str, Any]]] = {}
    top: list[dict[str, Any]] = []
    for r in rows:
        boss = by_key.get((r["org"], r.get("superseded_by")))
        if boss is not None and boss is not r and not boss.get("superseded_by"):
            children.setdefault(id(boss), []).append({**r, "under": boss["rule_title"]})
        else:
            top.append(r)
    out: list[dict[str, Any]] = []
    for r in top:
        out.append(r)
        out += children.get(id(r), [])
    return out


def latest_evidence(session: Any, alert_ids: list[int]) -> dict[int, Evidence]:
    """alert id -> the evidence of its latest evaluation event."""
    if not alert_ids:
        return {}
    latest = (
        select(col(AlertEvent.alert_id), func.max(AlertEvent.id).label("id"))
        .where(col(AlertEvent.alert_id).in_(alert_ids))
        .where(col(AlertEvent.kind).in_(EVALUATION_KINDS))
        .group_by(col(AlertEvent.alert_id))
        .subquery()
    )
    q = select(col(AlertEvent.alert_id), col(AlertEvent.evidence)).join(
        latest, col(AlertEvent.id) == latest.c.id
    )
    return {alert_id: Evidence.from_json(evidence) for alert_id, evidence in session.execute(q)}


def rows_for(engine: Engine, ids: list[int]) -> list[dict[str, Any]]:
    """Full rows for these alert ids, in the order given."""
    if not ids:
        return []
    with session_scope(engine) as s:
        q = (
            select(Alert, Organisation)
            .outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
            .where(col(Alert.id).in_(ids))
        )
        found = {a.id: (a, o) for a, o in s.execute(q)}
        evidence = latest_evidence(s, ids)
    return [alert_row(*found[i], evidence.get(i) or Evidence()) for i in ids if i in found]


@dataclass(kw_only=True)
class Listing:
    """One page of alerts and the counts around it."""

    rows: list[dict[str, Any]]
    total: int
    page: int
    pages: int
    region_counts: list[dict[str, Any]] = field(default_factory=list)


def _pages(total: int) -> int:
    return max(1, -(-total // PER_PAGE))


def listing(engine: Engine, f: AlertFilter, *, paged: bool = True) -> Listing:
    """Alerts for the API and CSV: most severe first, then the oldest, then by id."""
    base = select(col(Alert.id)).outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
    q = f.apply(base).order_by(_SEVERITY_ORDER.desc(), col(Alert.opened_at), col(Alert.id))
    count_q = f.apply(
        select(func.count())
        .select_from(Alert)
        .outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
    )
    if paged:
        q = q.limit(PER_PAGE).offset((f.page - 1) * PER_PAGE)
    with session_scope(engine) as s:
        total = s.execute(count_q).scalar_one()
        ids = list(s.execute(q).scalars())
    return Listing(rows=rows_for(engine, ids), total=total, page=f.page, pages=_pages(total))


def home(engine: Engine, f: AlertFilter) -> Listing:
    """The home page: alerts grouped by region and trust, counts per region.

    Regions come in name order; inside a region, trusts with the most severe alert first;
    inside a trust, the most severe alert first, then the oldest. The region counts ignore the
    region filter, so they work as a way to choose one.
    """
    q = f.without_region().apply(
        select(
            col(Alert.id),
            col(Alert.org),
            col(Alert.severity),
            col(Alert.opened_at),
            col(Organisation.region),
            col(Organisation.name),
        ).outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
    )
    with session_scope(engine) as s:
        light = list(s.execute(q))
    counts: dict[str | None, int] = {}
    for r in light:
        counts[r.region] = counts.get(r.region, 0) + 1
    region_counts = [
        {"code": code, "name": name, "count": counts.get(code, 0)}
        for code, name in sorted(orgs.REGIONS.items(), key=lambda kv: kv[1])
    ]
    if counts.get(None):
        region_counts.append({"code": "", "name": "No region", "count": counts[None]})
    if f.region:
        light = [r for r in light if r.region in f.region]
    worst: dict[str, int] = {}
    for r in light:
        worst[r.org] = max(worst.get(r.org, -1), Severity.rank_of(r.severity))

    def order(r: Any) -> tuple[Any, ...]:
        region_name = orgs.REGIONS.get(r.region or "", "\uffff")  # no region: last
        return (
            region_name,
            -worst[r.org],
            r.name or r.org,
            r.org,
            -Severity.rank_of(r.severity),
            r.opened_at,
            r.id,
        )

    light.sort(key=order)
    start = (f.page - 1) * PER_PAGE
    ids = [r.id for r in light[start : start + PER_PAGE]]
    return Listing(
        rows=rows_for(engine, ids),
        total=len(light),
        page=f.page,
        pages=_pages(len(light)),
        region_counts=region_counts,
    )


def group(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in home-page order -> [{region, region_name, trusts: [{org, org_name, alerts}]}]."""
    out: list[dict[str, Any]] = []
    for r in nest(rows):
        if not out or out[-1]["region"] != r["region"]:
            out.append(
                {
                    "region": r["region"],
                    "region_name": r["region_name"] or "No region",
                    "trusts": [],
                }
            )
        trusts = out[-1]["trusts"]
        if not trusts or trusts[-1]["org"] != r["org"]:
            trusts.append({"org": r["org"], "org_name": r["org_name"], "alerts": []})
        trusts[-1]["alerts"].append(r)
    return out


def choices(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """Values the home page's filter form offers, from the open alerts."""
    open_q = (
        select(col(Alert.org), col(Alert.rule), col(Alert.metric), col(Organisation.name))
        .outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
        .where(col(Alert.state).in_(OPEN))
        .distinct()
    )
    with session_scope(engine) as s:
        rows = list(s.execute(open_q))
        icbs = list(
            s.execute(
                select(col(Organisation.code), col(Organisation.name))
                .where(col(Organisation.kind) == "icb")
                .order_by(col(Organisation.name))
            )
        )
        # Each rule by its title (readers never see rule ids), as its newest alert recorded it.
        newest = dict(
            s.execute(
                select(col(Alert.rule), func.max(Alert.id))
                .where(col(Alert.state).in_(OPEN))
                .group_by(col(Alert.rule))
            ).all()
        )
        found = latest_evidence(s, list(newest.values()))
        titles = {rule: found.get(i, Evidence()).rule_title for rule, i in newest.items()}
    trusts = sorted({(r.org, r.name or r.org) for r in rows}, key=lambda t: t[1])
    rules = sorted(
        {(r.rule, titles.get(r.rule) or "A rule no longer in the rule pack") for r in rows},
        key=lambda t: (t[1], t[0]),
    )
    metric_ids = sorted({r.metric for r in rows if r.metric})
    return {
        "region": sorted(orgs.REGIONS.items(), key=lambda kv: kv[1]),
        "icb": [(c, n) for c, n in icbs],
        "trust": trusts,
        "rule": rules,
        "metric": [(m, periods.metric_title(m)) for m in metric_ids],
        "severity": [(s, s.capitalize()) for s in SEVERITIES_WORST_FIRST],
    }


def detail(engine: Engine, alert_id: int) -> dict[str, Any] | None:
    """One alert with its events (oldest first), evidence and the publication it cites."""
    with session_scope(engine) as s:
        found = s.execute(
            select(Alert, Organisation)
            .outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
            .where(col(Alert.id) == alert_id)
        ).first()
        if found is None:
            return None
        alert, org = found
        events = list(
            s.execute(
                select(AlertEvent)
                .where(col(AlertEvent.alert_id) == alert_id)
                .order_by(col(AlertEvent.at), col(AlertEvent.id))
            ).scalars()
        )
        evaluated = [e for e in events if e.kind in EVALUATION_KINDS and e.evidence]
        latest = (evaluated or [e for e in events if e.evidence] or [None])[-1]
        pub_ids = {e.publication_id for e in events if e.publication_id}
        pubs = {
            p.id: p
            for p in s.execute(
                select(Publication).where(col(Publication.id).in_(pub_ids))
            ).scalars()
        }
        previous = s.get(Alert, alert.previous_alert_id) if alert.previous_alert_id else None
    evidence = Evidence.from_json(latest.evidence) if latest else None
    return {
        "alert": alert_row(alert, org, evidence or Evidence()),
        "evidence": evidence,
        "events": [event_row(e, pubs.get(e.publication_id)) for e in events],
        "previous": {"id": previous.id, "opened_at": _iso(previous.opened_at)}
        if previous
        else None,
    }


def event_row(e: AlertEvent, p: Publication | None, ev: Evidence | None = None) -> dict[str, Any]:
    """One event of an alert's timeline (the publication it cites, else its evidence's)."""
    ev = ev or Evidence.from_json(e.evidence)
    return {
        "id": e.id,
        "alert_id": e.alert_id,
        "kind": e.kind,
        "at": _iso(e.at),
        "period_start": _iso(e.period_start),
        "value": e.value,
        "threshold": e.threshold,
        "rule_version": e.rule_version,
        "actor": e.actor,
        "note": e.note,
        "publication_url": p.url if p else ev.publication_url,
        "publication_title": p.title if p else ev.publication_title,
    }


def feed_events(
    engine: Engine, *, region: str | None = None, org: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest alert events of a region's or a trust's alerts, newest first."""
    q = (
        select(AlertEvent, Alert, Organisation)
        .join(Alert, col(Alert.id) == col(AlertEvent.alert_id))
        .outerjoin(Organisation, col(Organisation.code) == col(Alert.org))
        .order_by(col(AlertEvent.at).desc(), col(AlertEvent.id).desc())
        .limit(limit)
    )
    if region:
        q = q.where(col(Organisation.region) == region)
    if org:
        q = q.where(col(Alert.org) == org)
    with session_scope(engine) as s:
        out = []
        for e, a, o in s.execute(q):
            ev = Evidence.from_json(e.evidence)
            row = event_row(e, None, ev)
            row["alert"] = alert_row(a, o, ev)
            out.append(row)
    return out


def org_alerts(engine: Engine, org: str, *, past_limit: int = 50) -> dict[str, list[Any]]:
    """A trust's open alerts (most severe first) and its latest past ones."""
    sev = _SEVERITY_ORDER.desc()
    with session_scope(engine) as s:
        open_ids = list(
            s.execute(
                select(col(Alert.id))
                .where(col(Alert.org) == org, col(Alert.state).in_(OPEN))
                .order_by(sev, col(Alert.opened_at))
            ).scalars()
        )
        past_ids = list(
            s.execute(
                select(col(Alert.id))
                .where(col(Alert.org) == org, col(Alert.state).in_(ENDED))
                .order_by(col(Alert.ended_at).desc(), col(Alert.id).desc())
                .limit(past_limit)
            ).scalars()
        )
    return {"open": nest(rows_for(engine, open_ids)), "past": rows_for(engine, past_ids)}


def is_silenced(row: dict[str, Any], now: datetime) -> bool:
    until = row.get("silenced_until")
    return isinstance(until, str) and datetime.fromisoformat(until) > now
