"""/healthz (the process answers) and /readyz (the database answers, the scheduler is alive)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app
from sqlalchemy import text

from monitor.db import session_scope
from monitor.models import Meta

bp = Blueprint("health", __name__)
HEARTBEAT_KEY = "scheduler_heartbeat"
# `monitor run` beats every 30 s; three minutes allows a few missed beats before we complain.
HEARTBEAT_MAX_AGE = timedelta(minutes=3)


@bp.get("/healthz")
def healthz() -> Response:
    return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})


def readiness(now: datetime | None = None) -> tuple[bool, dict[str, Any]]:
    """(ready, details): the database answers and the scheduler's heartbeat is fresh."""
    now = now or datetime.now(UTC)
    engine = current_app.extensions["monitor"].ctx.engine
    details: dict[str, Any] = {"database": "ok", "scheduler": "ok"}
    try:
        with session_scope(engine) as s:
            s.connection().execute(text("SELECT 1"))
            beat = s.get(Meta, HEARTBEAT_KEY)
    except Exception as e:  # any failure to reach the database means not ready
        details["database"] = f"unreachable: {type(e).__name__}"
        details["scheduler"] = "unknown"
        return False, details
    if beat is None:
        details["scheduler"] = "no heartbeat yet: is `monitor run` running?"
        return False, details
    at = beat.updated_at if beat.updated_at.tzinfo else beat.updated_at.replace(tzinfo=UTC)
    age = now - at
    details["heartbeat_at"] = at.isoformat()
    if age > HEARTBEAT_MAX_AGE:
        minutes = int(age.total_seconds() // 60)
        details["scheduler"] = (
            f"heartbeat is {minutes} minutes old (more than "
            f"{int(HEARTBEAT_MAX_AGE.total_seconds() // 60)}): is `monitor run` running?"
        )
        return False, details
    return True, details


@bp.get("/readyz")
def readyz() -> Any:
    ready, details = readiness()
    details["ready"] = ready
    return details, (200 if ready else 503), {"Cache-Control": "no-store"}
