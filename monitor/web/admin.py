"""Operators' actions: acknowledge an alert with a note, silence it until a date, manage
subscriptions. Each action needs a signed-in operator and a CSRF token, and records who did it
(an ``acknowledged`` or ``silenced`` alert event with ``actor`` = the operator's name)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Outbox, Subscription, utcnow
from monitor.notify import subscriptions as subs
from monitor.notify.channels import TITLES as CHANNEL_TITLES
from monitor.notify.failures import recent_failures
from monitor.notify.tokens import describe_subscription
from monitor.vocab import LONDON, OPEN, SEVERITIES, EventKind
from monitor.web.auth import current_user, login_required
from monitor.web.present import day

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__)
# The subscription form's fields, which an error message can point at.
FORM_FIELDS = ("email", "scope", "code", "min_severity", "channel", "webhook_url")
WEB = "web"  # Subscription.origin of those added here
MAX_NOTE = 2000
MAX_SILENCE_DAYS = 366


def _latest_evidence(session: Any, alert_id: int) -> dict[str, Any]:
    ev = session.exec(
        select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(col(AlertEvent.id).desc())
        .limit(1)
    ).first()
    return dict(ev.evidence or {}) if ev else {}


def record(alert_id: int, kind: str, actor: str, note: str | None, **changes: Any) -> None:
    """Change an open alert and add the event that says who did it, in one transaction."""
    state = current_app.extensions["monitor"]
    with session_scope(state.ctx.engine, write=True) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            abort(404)
        if alert.state not in OPEN:
            abort(409, "This alert has ended; only open alerts can be acknowledged or silenced.")
        now = utcnow()
        for k, v in changes.items():
            setattr(alert, k, v)
        alert.updated_at = now
        s.add(alert)
        s.add(
            AlertEvent(
                alert_id=alert_id,
                kind=kind,
                at=now,
                period_start=alert.period_start,
                value=alert.value,
                threshold=alert.threshold,
                rule_version=alert.rule_version,
                # What was known when the operator acted (docs/evidence.md).
                evidence=_latest_evidence(s, alert_id),
                notify=False,
                actor=actor,
                note=note,
            )
        )
    state.data_version.invalidate()


def _alert_page_with_errors(alert_id: int, errors: list[dict[str, str]]) -> Any:
    from monitor.web.pages import render_alert

    return render_alert(alert_id, errors=errors, form=request.form), 400


@bp.post("/alerts/<int:alert_id>/acknowledge")
@login_required
def acknowledge(alert_id: int) -> Any:
    note = request.form.get("note", "").strip()
    if not note:
        return _alert_page_with_errors(
            alert_id, [{"text": "Write a note saying what is being done", "href": "#note"}]
        )
    if len(note) > MAX_NOTE:
        return _alert_page_with_errors(
            alert_id, [{"text": f"The note must be at most {MAX_NOTE} characters", "href": "#note"}]
        )
    user = current_user()
    assert user is not None
    record(
        alert_id,
        EventKind.ACKNOWLEDGED,
        user,
        note,
        acknowledged_at=utcnow(),
        acknowledged_by=user,
        ack_note=note,
    )
    flash(f"Acknowledged by {user}.")
    return redirect(url_for("pages.alert", alert_id=alert_id))


def parse_until(form: Any, today: date) -> tuple[date | None, str | None]:
    """The silence's last day from the date fields; (None, error) when unusable."""
    try:
        until = date(
            int(form.get("until-year", "")),
            int(form.get("until-month", "")),
            int(form.get("until-day", "")),
        )
    except (ValueError, OverflowError):  # OverflowError: a year too long for a C long
        return None, "Enter a real date, for example 31 12 2026"
    if until < today:
        return None, "The date must be today or in the future"
    if until > today + timedelta(days=MAX_SILENCE_DAYS):
        return None, "Silence for at most a year"
    return until, None


@bp.post("/alerts/<int:alert_id>/silence")
@login_required
def silence(alert_id: int) -> Any:
    today = datetime.now(LONDON).date()
    until, error = parse_until(request.form, today)
    if until is None:
        return _alert_page_with_errors(alert_id, [{"text": error or "", "href": "#until-day"}])
    note = request.form.get("note", "").strip()[:MAX_NOTE] or None
    # Silenced through the whole of that day in London.
    ends = datetime.combine(until + timedelta(days=1), time(0), LONDON).astimezone(UTC)
    user = current_user()
    assert user is not None
    record(
        alert_id,
        EventKind.SILENCED,
        user,
        f"until {until.isoformat()}" + (f": {note}" if note else ""),
        silenced_until=ends,
        silenced_by=user,
    )
    flash(f"Silenced until the end of {day(until)} by {user}.")
    return redirect(url_for("pages.alert", alert_id=alert_id))


def _add(form: Any, user: str) -> str:
    """Add the subscription the form describes; the flash message, or InvalidSubscription."""
    state = current_app.extensions["monitor"]
    req = subs.Request(
        email=form.get("email", "").strip(),
        scope=form.get("scope", ""),
        code=form.get("code", ""),
        min_severity=form.get("min_severity", "info"),
        channel=form.get("channel", "email"),
        webhook_url=form.get("webhook_url", "").strip() or None,
    )
    with session_scope(state.ctx.engine, write=True) as s:
        sub, created = subs.add(s, state.ctx.settings, req, origin=WEB)
        what, sub_id, email = describe_subscription(sub), sub.id, sub.email
        waiting = sub.confirmed_at is None
    if not created:
        return f"{email} already has this subscription (#{sub_id}): {what}."
    log.info("operator %s added subscription #%s: %s, %s", user, sub_id, email, what)
    if waiting:
        return f"Subscription #{sub_id} added: {email}, {what}. It starts once {email} confirms."
    return f"Subscription #{sub_id} added: {email}, {what}."


def _remove(form: Any, user: str) -> str:
    """End the subscription the form names; the flash message, or InvalidSubscription."""
    raw = form.get("id", "")
    if not (raw.isascii() and raw.isdigit()):
        raise subs.InvalidSubscription(f"there is no subscription {raw!r}", "id")
    state = current_app.extensions["monitor"]
    with session_scope(state.ctx.engine, write=True) as s:
        sub = subs.remove_one(s, int(raw))
        if sub is None:
            return f"Subscription #{raw} had already ended."
        what, email = describe_subscription(sub), sub.email
    log.info("operator %s removed subscription #%s: %s, %s", user, raw, email, what)
    return f"Subscription #{raw} removed: {email}, {what}."


def _failures() -> list[Outbox]:
    with session_scope(current_app.extensions["monitor"].ctx.engine) as s:
        return recent_failures(s)


def _active_subscriptions() -> list[Subscription]:
    with session_scope(current_app.extensions["monitor"].ctx.engine) as s:
        return subs.list_subscriptions(s)


@bp.route("/admin/subscriptions", methods=["GET", "POST"])
@login_required
def subscriptions() -> Any:
    """Operators list, add and remove subscriptions through monitor.notify.subscriptions; a
    subscription it refuses (a bad address, an unknown or closed organisation) comes back as
    the form with the reason (400)."""
    errors: list[dict[str, str]] = []
    error_field: str | None = None
    if request.method == "POST":
        user = current_user()
        assert user is not None
        act = _remove if request.form.get("action") == "remove" else _add
        try:
            message = act(request.form, user)
        except subs.InvalidSubscription as e:
            error_field = e.field if e.field in FORM_FIELDS else None
            target = error_field or ("subscriptions-table" if act is _remove else "email")
            errors.append({"text": str(e), "href": f"#{target}"})
        else:
            flash(message)
            return redirect(url_for("admin.subscriptions"))
    return render_template(
        "subscriptions.jinja",
        rows=_active_subscriptions(),
        errors=errors,
        error_field=error_field,
        form=request.form if errors and request.form.get("action") != "remove" else {},
        describe=describe_subscription,
        state=subs.state_of,
        severities=SEVERITIES,
        channels=CHANNEL_TITLES,
        failures=_failures(),
    ), (400 if errors else 200)
