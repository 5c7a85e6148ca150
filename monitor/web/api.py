"""The JSON API under /api/v1, described by /api/v1/openapi.json (monitor/web/openapi.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, request, url_for

from monitor import metrics
from monitor.web import alerts_data, filters, league_data, orgs_data, sources_status
from monitor.web.cache import cached
from monitor.web.openapi import document
from monitor.web.queries import observations

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def _state() -> Any:
    return current_app.extensions["monitor"]


def _obs(o: Any) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "value": o.value,
        "label": o.label,
        "denominator": o.denominator,
        "period_start": o.period_start.isoformat(),
        "period_end": o.period_end.isoformat(),
    }


@bp.get("/alerts")
@cached(clock=False)
def alerts() -> Any:
    f = filters.parse(request.args, blank_page=False)
    listing = alerts_data.listing(_state().ctx.engine, f)
    if f.page > listing.pages:
        abort(404, "There is no such page of alerts.")

    def page_url(n: int) -> str | None:
        if not 1 <= n <= listing.pages:
            return None
        return url_for("api.alerts", **f.query_args(page=n))

    return {
        "alerts": listing.rows,
        "total": listing.total,
        "page": listing.page,
        "pages": listing.pages,
        "per_page": filters.PER_PAGE,
        "next": page_url(f.page + 1),
        "previous": page_url(f.page - 1),
    }


@bp.get("/alerts/<int:alert_id>")
@cached(clock=False)
def alert(alert_id: int) -> Any:
    found = alerts_data.detail(_state().ctx.engine, alert_id)
    if found is None:
        abort(404, f"There is no alert {alert_id}.")
    evidence = found["evidence"]
    return {**found, "evidence": evidence.as_json() if evidence else {}}


@bp.get("/orgs/<code>")
@cached(clock=False)
def org(code: str) -> Any:
    engine = _state().ctx.engine
    code = code.strip().upper()
    facts = orgs_data.org_facts(engine, code)
    if facts is None:
        abort(404, f"There is no organisation with the code {code[:16]}.")
    open_alerts = alerts_data.org_alerts(engine, code, past_limit=0)["open"]
    position = league_data.position(engine, code)
    return {
        "org": facts["org"],
        "open_alerts": open_alerts,
        "oversight": {
            "segment": _obs(facts["segment"]),
            "rank": _obs(facts["rank"]),
            "average_score": _obs(facts["score"]),
        },
        "position": position.as_json() if position else None,
        "ratings": [
            {
                "domain": r.domain,
                "rating": r.rating,
                "report_date": r.report_date.isoformat() if r.report_date else None,
                "report_link": r.report_link,
                "subject_type": r.subject_type,
                "subject_id": r.subject_id,
            }
            for r in facts["ratings"]
        ],
    }


@bp.get("/orgs/<code>/observations")
@cached(clock=False)
def org_observations(code: str) -> Any:
    engine = _state().ctx.engine
    code = code.strip().upper()
    metric = request.args.get("metric") or None
    if metric is not None and metric not in metrics.METRICS:
        abort(400, f"metric: unknown {metric[:40]!r}; see the metric ids in the API document")
    if orgs_data.org_facts(engine, code) is None:
        abort(404, f"There is no organisation with the code {code[:16]}.")
    return {"org": code, "observations": observations(engine, code, metric=metric)}


@bp.get("/sources")
@cached(clock=True)
def sources() -> Any:
    st = _state()
    return {
        "sources": [s.as_json() for s in sources_status.statuses(st.ctx.engine, st.ctx.settings)]
    }


@bp.get("/openapi.json")
@cached(clock=False)
def openapi() -> Any:
    return document(_state().ctx.settings.web.base_url)
