"""The HTML pages: home (open alerts), the trusts, a trust, an alert, the league tables, the
sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request, url_for

from monitor import orgs
from monitor.db import session_scope
from monitor.rules.standing import Picture
from monitor.web import (
    alerts_data,
    filters,
    league_data,
    orgs_data,
    present,
    queries,
    series,
    sources_status,
    spc_view,
)
from monitor.web import org_list as org_list_data
from monitor.web.cache import cached
from monitor.web.charts import alert_trend, spc_chart
from monitor.web.context_data import context_picture

bp = Blueprint("pages", __name__)


def _state() -> Any:
    return current_app.extensions["monitor"]


@bp.app_context_processor
def _notice() -> dict[str, Any]:
    """Every page says in one line when sources are failing or late, and how old their newest
    figures are, and a trust's page gives its league position (each computed only when a
    template asks)."""

    def source_notice() -> sources_status.Notice | None:
        st = _state()
        return sources_status.notice(sources_status.statuses(st.ctx.engine, st.ctx.settings))

    def league_position(code: str) -> league_data.TrustPosition | None:
        return league_data.position(_state().ctx.engine, code)

    return {
        "source_notice": source_notice,
        "league_position": league_position,
        "now": datetime.now(UTC),
    }


def pagination(endpoint: str, f: filters.AlertFilter, pages: int, **kw: Any) -> dict[str, Any]:
    """Parameters of the NHS.UK pagination macro (numbered, with gaps)."""
    if pages <= 1:
        return {}

    def href(n: int) -> str:
        return url_for(endpoint, **kw, **f.query_args(page=n))

    shown = sorted({1, pages, f.page - 1, f.page, f.page + 1} & set(range(1, pages + 1)))
    items: list[dict[str, Any]] = []
    for n in shown:
        if items and n - items[-1].get("number", n) > 1:
            items.append({"ellipsis": True})
        items.append({"number": n, "href": href(n), "current": n == f.page})
    params: dict[str, Any] = {"items": items}
    if f.page > 1:
        params["previous"] = {"href": href(f.page - 1)}
    if f.page < pages:
        params["next"] = {"href": href(f.page + 1)}
    return params


@bp.get("/")
@cached()
def home() -> Any:
    f = filters.parse(request.args, allow_state=False)
    engine = _state().ctx.engine
    listing = alerts_data.home(engine, f)
    if f.page > listing.pages:
        abort(404, "There is no such page of alerts.")
    return render_template(
        "home.jinja",
        f=f,
        listing=listing,
        groups=alerts_data.group(listing.rows),
        choices=alerts_data.choices(engine),
        states=present.STATE_HELP,
        pagination=pagination("pages.home", f, listing.pages),
        csv_url=url_for("feeds.alerts_csv", **f.query_args(page=1)),
        api_url=url_for("api.alerts", **f.query_args(page=1)),
    )


@bp.get("/orgs")
@cached()
def org_list() -> Any:
    rows = org_list_data.trusts(_state().ctx.engine)
    types = org_list_data.trust_types(rows)
    search = org_list_data.parse(request.args, types)
    return render_template(
        "orgs.jinja",
        search=search,
        rows=[r for r in rows if search.matches(r)],
        total=len(rows),
        types=types,
        regions=sorted(orgs.REGIONS.items(), key=lambda kv: kv[1]),
    )


@bp.get("/orgs/<code>")
@cached()
def org(code: str) -> Any:
    st = _state()
    code = code.strip().upper()
    facts = orgs_data.org_facts(st.ctx.engine, code)
    if facts is None:
        abort(404, f"There is no organisation with the code {code[:16]}.")
    name = facts["org"]["name"]
    views = [
        spc_view.view(s) for s in series.series(st.ctx.engine, code, st.ctx.settings.paths.rules)
    ]
    charts = [
        {"view": v, "series": v.series, "svg": spc_chart(v, name, f"chart-{v.series.metric}")}
        for v in views
    ]
    return render_template(
        "org.jinja",
        predecessors=_predecessors(code),
        facts=facts,
        icb_name=org_list_data.icb_names(st.ctx.engine).get(facts["org"]["icb"] or ""),
        alerts=alerts_data.org_alerts(st.ctx.engine, code),
        charts=charts,
        states=present.STATE_HELP,
        missed=_context(st).missed.get(code, []),
    )


def _context(st: Any) -> Picture:
    return context_picture(st.ctx.engine, st.ctx.settings.paths.rules, st.data_version.current())


def _predecessors(code: str) -> list[dict[str, Any]]:
    """Trusts that merged into ``code``: each with its own charts and alerts, shown on the
    successor's page as the predecessor's history."""
    st = _state()
    with session_scope(st.ctx.engine) as s:
        found = [orgs.as_dict(o) for o in orgs.predecessors(s, code)]
    out: list[dict[str, Any]] = []
    for p in found:
        views = [
            spc_view.view(x)
            for x in series.series(st.ctx.engine, p["code"], st.ctx.settings.paths.rules)
        ]
        charts = [
            {"view": v, "svg": spc_chart(v, p["name"], f"chart-{p['code']}-{v.series.metric}")}
            for v in views
        ]
        latest: dict[str, dict[str, Any]] = {}
        for row in queries.observations(st.ctx.engine, p["code"]):  # oldest first: last wins
            latest[row["metric"]] = row
        out.append(
            {
                "org": p,
                "charts": charts,
                "latest": [latest[m] for m in sorted(latest)],
                "alerts": alerts_data.org_alerts(st.ctx.engine, p["code"]),
            }
        )
    return out


def render_alert(
    alert_id: int, *, errors: list[dict[str, str]] | None = None, form: Any = None
) -> str:
    """The alert page (also re-shown with errors by the admin forms)."""
    found = alerts_data.detail(_state().ctx.engine, alert_id)
    if found is None:
        abort(404, f"There is no alert {alert_id}.")
    return render_template(
        "alert.jinja",
        **found,
        trend=alert_trend(found["evidence"], found["alert"]["metric"], "alert-trend"),
        states=present.STATE_HELP,
        silenced=alerts_data.is_silenced(found["alert"], datetime.now(UTC)),
        errors=errors or [],
        form=form or {},
    )


@bp.get("/alerts/<int:alert_id>")
@cached()
def alert(alert_id: int) -> Any:
    return render_alert(alert_id)


@bp.get("/league")
@cached()
def league() -> Any:
    f = league_data.parse_filter(request.args)
    st = _state()
    return render_template(
        "league.jinja",
        league=league_data.league(st.ctx.engine, f),
        widespread=_context(st).widespread(),
    )


@bp.get("/sources")
@cached()
def sources() -> Any:
    st = _state()
    return render_template(
        "sources.jinja", sources=sources_status.statuses(st.ctx.engine, st.ctx.settings)
    )
