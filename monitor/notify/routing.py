"""The routing hook: alert events x subscriptions -> outbox rows, in the lifecycle's transaction.

The alert lifecycle calls :func:`route` with the events it has just written, inside the same
transaction, so an alert event and the emails it causes are committed together or not at all.
Nothing is rendered here: a row records which events and subscriptions it carries, and the
sender renders it (docs/notifications.md says why).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.models import Alert, AlertEvent, Organisation, Outbox, Subscription, utcnow
from monitor.notify import keys, mime, subscriptions
from monitor.rules.evidence import Evidence
from monitor.vocab import EMAILED_KINDS, OutboxKind, OutboxStatus, Severity

log = logging.getLogger(__name__)

_CHUNK = 500  # keys per IN (...) list, well inside every database's parameter limit


def severity_at_least(severity: str, minimum: str) -> bool:
    """True when ``severity`` is ``minimum`` or worse (unknown severities count as info)."""
    return max(Severity.rank_of(severity), 0) >= max(Severity.rank_of(minimum), 0)


def matches(
    sub: Subscription, *, org_code: str, org: Organisation | None, rule: str, severity: str
) -> bool:
    """Whether an alert of ``rule`` and ``severity`` for ``org_code`` concerns ``sub``.

    A regional subscription covers every organisation in its region, an ICB one every
    organisation in that ICB, an organisation one only that organisation.
    """
    if sub.scope == "org":
        in_scope = org_code == sub.code
    elif sub.scope == "region":
        in_scope = org is not None and org.region == sub.code
    else:
        in_scope = org is not None and org.icb == sub.code
    if not in_scope:
        return False
    if sub.trust_type and (org is None or org.trust_type != sub.trust_type):
        return False
    if sub.rules and rule not in sub.rules:
        return False
    return severity_at_least(severity, sub.min_severity)


def emailed(event: AlertEvent) -> bool:
    """Whether an event is emailed on its own: notify set (not quiet, acknowledged or
    silenced), a kind worth an email, and not superseded by another open alert.

    Pending, updated, acknowledged and silenced events are recorded only: the weekly digest
    reports on alerts that stay open."""
    if not (event.notify and event.kind in EMAILED_KINDS):
        return False
    return not Evidence.from_json(event.evidence).superseded_by


def route(session: Session, events: Sequence[AlertEvent], *, settings: Settings) -> list[Outbox]:
    """Write the outbox rows these events cause, in the caller's transaction.

    1. Keep the events that are emailed (see :func:`emailed`).
    2. Match each against the active, confirmed, not digest-only subscriptions.
    3. Per (publication, recipient): one ``group:<publication>:<recipient>`` row when more
       than one event, else one ``event:<event>:<recipient>`` row.
    4. Skip (event, recipient) pairs an existing row already carries, so routing the same
       events again writes nothing. Events from a publication already queued for a recipient
       join that row while it is still waiting to be sent.

    Returns the rows added. Call it once per evaluation with all the events it wrote.
    """
    todo = [e for e in events if emailed(e)]
    if not todo:
        return []
    if any(e.id is None for e in todo):
        session.flush()
    alerts = _by_id(session, Alert, {e.alert_id for e in todo})
    codes = {a.org for a in alerts.values()}
    orgs = {
        o.code: o
        for o in session.exec(select(Organisation).where(col(Organisation.code).in_(codes)))
    }
    subs = [s for s in subscriptions.active(session) if not s.digest_only]
    # recipient -> publication (None: no publication) -> event id -> subscription ids
    wanted: dict[str, dict[int | None, dict[int, set[int]]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    for e in todo:
        alert = alerts.get(e.alert_id)
        if alert is None:
            log.warning("alert event %s names alert %s, which does not exist", e.id, e.alert_id)
            continue
        evidence = Evidence.from_json(e.evidence)
        rule = evidence.rule or alert.rule
        severity = evidence.severity or alert.severity
        for sub in subs:
            if matches(
                sub, org_code=alert.org, org=orgs.get(alert.org), rule=rule, severity=severity
            ):
                assert e.id is not None and sub.id is not None
                wanted[sub.email][e.publication_id].setdefault(e.id, set()).add(sub.id)
    if not wanted:
        return []
    existing = _existing(session, wanted)
    added: list[Outbox] = []
    for recipient, by_pub in sorted(wanted.items()):
        for pub, evs in sorted(by_pub.items(), key=lambda kv: kv[0] or 0):
            added += _rows_for(session, settings, recipient, pub, evs, existing)
    session.add_all(added)
    return added


def _by_id(session: Session, model: Any, ids: Iterable[int]) -> dict[int, Any]:
    return {r.id: r for r in session.exec(select(model).where(col(model.id).in_(ids)))}


def _keys(wanted: dict[str, dict[int | None, dict[int, set[int]]]]) -> list[str]:
    out = []
    for recipient, by_pub in wanted.items():
        for pub, evs in by_pub.items():
            if pub is not None:
                out.append(keys.group(pub, recipient))
            out += [keys.event(e, recipient) for e in evs]
    return out


def _existing(
    session: Session, wanted: dict[str, dict[int | None, dict[int, set[int]]]]
) -> dict[str, Outbox]:
    """Rows already written for these keys, and rows still waiting for these recipients
    (a waiting single-event row may be folded into a group)."""
    found: dict[str, Outbox] = {}
    wanted_keys = _keys(wanted)
    for i in range(0, len(wanted_keys), _CHUNK):
        q = select(Outbox).where(col(Outbox.key).in_(wanted_keys[i : i + _CHUNK]))
        found.update({r.key: r for r in session.exec(q)})
    recipients = list(wanted)
    for i in range(0, len(recipients), _CHUNK):
        q = select(Outbox).where(
            col(Outbox.recipient).in_(recipients[i : i + _CHUNK]),
            Outbox.kind == OutboxKind.EVENT,
            Outbox.status == OutboxStatus.PENDING,
        )
        found.update({r.key: r for r in session.exec(q)})
    return found


def _payload(pub: int | None, evs: dict[int, set[int]]) -> dict[str, Any]:
    return {
        "publication_id": pub,
        "events": sorted(evs),
        "subscriptions": sorted(set().union(*evs.values())),
    }


def _row(
    settings: Settings, key: str, recipient: str, kind: OutboxKind, payload: dict[str, Any]
) -> Outbox:
    now = utcnow()
    return Outbox(
        key=key,
        recipient=recipient,
        kind=kind,
        payload=payload,
        message_id=mime.new_message_id(settings, kind),
        created_at=now,
        next_attempt_at=now,
    )


def _event_row(
    settings: Settings, recipient: str, pub: int | None, event: int, subs: set[int]
) -> Outbox:
    """The row of one event for one recipient."""
    payload = _payload(pub, {event: subs})
    return _row(settings, keys.event(event, recipient), recipient, OutboxKind.EVENT, payload)


def _claim_if_waiting(session: Session, row: Outbox, payload: dict[str, Any] | None) -> bool:
    """Change (payload) or delete (None) a row only while no sender has claimed it."""
    where = (col(Outbox.id) == row.id, col(Outbox.status) == OutboxStatus.PENDING)
    if payload is None:
        stmt: Any = delete(Outbox).where(*where)
    else:
        stmt = update(Outbox).where(*where).values(payload=payload)
    result: Any = session.execute(stmt, execution_options={"synchronize_session": False})
    done = bool(result.rowcount)
    if done and payload is None:
        session.expunge(row)
    elif done:
        session.expire(row)
    return done


def _rows_for(
    session: Session,
    settings: Settings,
    recipient: str,
    pub: int | None,
    evs: dict[int, set[int]],
    existing: dict[str, Outbox],
) -> list[Outbox]:
    group = existing.get(keys.group(pub, recipient)) if pub is not None else None
    carried = {int(e) for e in (group.payload or {}).get("events", [])} if group else set()
    new = {
        e: s
        for e, s in evs.items()
        if e not in carried and keys.event(e, recipient) not in existing
    }
    if not new:
        return []
    if pub is None:
        return [_event_row(settings, recipient, None, e, s) for e, s in sorted(new.items())]
    if group is not None:
        # A later batch from the same publication joins the waiting group email; once that
        # is on its way, the late events go out one by one.
        merged: dict[int, set[int]] = {e: set() for e in carried} | new
        payload = _payload(pub, merged)
        payload["subscriptions"] = sorted(
            set(payload["subscriptions"]) | set(group.payload["subscriptions"])
        )
        if _claim_if_waiting(session, group, payload):
            return []
        return [_event_row(settings, recipient, pub, e, s) for e, s in sorted(new.items())]
    # Single-event rows of this publication still waiting for the recipient are folded in.
    waiting = [
        r
        for r in existing.values()
        if r.kind == OutboxKind.EVENT
        and r.recipient == recipient
        and r.status == OutboxStatus.PENDING
        and (r.payload or {}).get("publication_id") == pub
    ]
    for row in waiting:
        p = dict(row.payload or {})
        if _claim_if_waiting(session, row, None):
            for e in p.get("events", []):
                new[int(e)] = set(p.get("subscriptions", []))
    if len(new) == 1:
        ((e, s),) = new.items()
        return [_event_row(settings, recipient, pub, e, s)]
    return [
        _row(settings, keys.group(pub, recipient), recipient, OutboxKind.GROUP, _payload(pub, new))
    ]
