"""Atom feeds of alert events (per region, per trust) and the CSV export of open alerts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from flask import Blueprint, Response, abort, current_app, request

from monitor import orgs
from monitor.config import REGION_CODES
from monitor.db import session_scope
from monitor.models import Organisation
from monitor.periods import metric_period
from monitor.urls import Urls
from monitor.web import alerts_data, filters
from monitor.web.cache import cached
from monitor.web.present import figure, threshold

bp = Blueprint("feeds", __name__)
ATOM = "http://www.w3.org/2005/Atom"
CSV_COLUMNS = (
    "id",
    "rule",
    "rule_title",
    "org",
    "org_name",
    "region",
    "icb",
    "metric",
    "state",
    "severity",
    "opened_at",
    "value",
    "label",
    "period_start",
    "threshold",
    "acknowledged_by",
    "silenced_until",
    "url",
)


def _state() -> Any:
    return current_app.extensions["monitor"]


def _urls() -> Urls:
    return Urls(_state().ctx.settings.web.base_url)


def _tag(urls: Urls, path: str) -> str:
    """A stable Atom id: tag:<host>,2025:<path>."""
    host = urlsplit(urls.base).hostname or "localhost"
    return f"tag:{host},2025:{path}"


def atom(title: str, url: str, events: list[dict[str, Any]]) -> bytes:
    """An Atom 1.0 document of alert events, newest first; ``url`` is the feed's own."""
    urls = _urls()
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM}}}{name}", attrs)
        if text is not None:
            el.text = text
        return el

    sub(feed, "id", _tag(urls, url.removeprefix(urls.base)))
    sub(feed, "title", title)
    updated = events[0]["at"] if events else datetime(2025, 1, 1, tzinfo=UTC).isoformat()
    sub(feed, "updated", updated)
    sub(feed, "link", rel="self", href=url)
    sub(feed, "author").append(_name("NHS trust risk-alert monitor"))
    for e in events:
        a = e["alert"]
        entry = sub(feed, "entry")
        sub(entry, "id", _tag(urls, f"/alert-events/{e['id']}"))
        verb = e["kind"].capitalize()
        sub(entry, "title", f"{verb}: {a['rule_title']} — {a['org_name']} ({a['org']})")
        sub(entry, "updated", e["at"])
        sub(entry, "link", rel="alternate", href=urls.alert(a["id"]))
        sub(entry, "category", term=a["severity"])
        sub(entry, "summary", _summary(e, a))
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True)


def _name(text: str) -> ET.Element:
    el = ET.Element(f"{{{ATOM}}}name")
    el.text = text
    return el


def _summary(e: dict[str, Any], a: dict[str, Any]) -> str:
    words = [f"Severity {a['severity']}."]
    if e.get("value") is not None:
        when = metric_period(e.get("period_start"), a["metric"]) or "the latest period"
        words.append(f"{figure(e['value'], a['metric'])} in {when}.")
    if e.get("threshold") is not None:
        words.append(f"Threshold {threshold(e['threshold'], a['metric'])}.")
    if e.get("actor"):
        words.append(f"By {e['actor']}.")
    if e.get("note"):
        words.append(str(e["note"]))
    return " ".join(words)


def _atom_response(body: bytes) -> Response:
    return Response(body, mimetype="application/atom+xml")


@bp.get("/feeds/regions/<code>.atom")
@cached(clock=False)
def region_feed(code: str) -> Response:
    code = code.upper()
    if code not in REGION_CODES:
        abort(404, f"There is no region {code[:8]}; use {', '.join(REGION_CODES)}.")
    events = alerts_data.feed_events(_state().ctx.engine, region=code)
    title = f"Alerts in {orgs.REGIONS[code]}"
    return _atom_response(atom(title, _urls().region_feed(code), events))


@bp.get("/feeds/orgs/<code>.atom")
@cached(clock=False)
def org_feed(code: str) -> Response:
    code = code.upper()
    with session_scope(_state().ctx.engine) as s:
        org = s.get(Organisation, code)
        if org is None:
            abort(404, f"There is no organisation with the code {code[:16]}.")
        name = org.name
    events = alerts_data.feed_events(_state().ctx.engine, org=code)
    return _atom_response(atom(f"Alerts for {name}", _urls().org_feed(code), events))


def _cell(v: Any) -> Any:
    """Defuse spreadsheet formulas: text starting with = + - @ is prefixed with '."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


@bp.get("/alerts.csv")
@cached(clock=False)
def alerts_csv() -> Response:
    f = filters.parse(request.args, allow_state=False)
    listing = alerts_data.listing(_state().ctx.engine, f, paged=False)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    urls = _urls()
    for r in listing.rows:
        r = {**r, "url": urls.alert(r["id"])}
        w.writerow([_cell(r.get(c)) for c in CSV_COLUMNS])
    resp = Response(out.getvalue().encode("utf-8"), mimetype="text/csv")
    resp.headers["Content-Disposition"] = 'attachment; filename="open-alerts.csv"'
    return resp
