"""Operators' actions: acknowledge an alert with a note, silence it until a date, manage
subscriptions. Each action needs a signed-in operator and a CSRF token, and records who did it
(an ``acknowledged`` or ``silenced`` alert event with ``actor`` = the operator's name)."""

from __future__ import annotations

import importlib
from datetime import UTC, date, datetime, time, timedelta
from types import ModuleType
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlmodel import col, select

from monitor.db import session_scope
from monitor.models import Alert, AlertEvent, Subscription, utcnow
from monitor.vocab import OPEN, EventKind
from monitor.web.auth import current_user, login_required
from monitor.web.present import LONDON, day

bp = Blueprint("admin", __name__)
MAX_NOTE = 2000
MAX_SILENCE_DAYS = 366


def _latest_evidence(session: Any, alert_id: int) -> dict[str, Any]:
    ev = session.exec(
        select(AlertEvent)
        .where(AlertEvent.alert_id == alert_id)
        .order_by(col(AlertEvent.id).desc())
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
    except ValueError:
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


def notify_subscriptions() -> ModuleType | None:
    """The notifications part's subscription functions, when that part is installed."""
    try:
        module = importlib.import_module("monitor.notify.subscriptions")
    except ImportError:
        return None
    return module if hasattr(module, "add") and hasattr(module, "remove") else None


@bp.route("/admin/subscriptions", methods=["GET", "POST"])
@login_required
def subscriptions() -> Any:
    state = current_app.extensions["monitor"]
    api = notify_subscriptions()
    user = current_user()
    errors: list[dict[str, str]] = []
    if request.method == "POST":
        if api is None:
            abort(501, "Managing subscriptions needs the notifications part, not installed here.")
        try:
            if request.form.get("action") == "remove":
                api.remove(state.ctx.engine, int(request.form["id"]), actor=user)
                flash("Subscription removed.")
            else:
                api.add(
                    state.ctx.engine,
                    email=request.form.get("email", "").strip(),
                    scope=request.form.get("scope", ""),
                    code=request.form.get("code", "").strip().upper(),
                    min_severity=request.form.get("min_severity", "info"),
                    actor=user,
                )
                flash("Subscription added.")
            state.data_version.invalidate()
            return redirect(url_for("admin.subscriptions"))
        except (ValueError, KeyError, LookupError) as e:
            errors.append(
                {"text": str(e) or "That subscription could not be saved", "href": "#email"}
            )
    with session_scope(state.ctx.engine) as s:
        rows = list(
            s.exec(
                select(Subscription)
                .where(col(Subscription.unsubscribed_at).is_(None))
                .order_by(col(Subscription.email), col(Subscription.id))
            )
        )
    return render_template(
        "subscriptions.jinja", rows=rows, available=api is not None, errors=errors
    ), (400 if errors else 200)
