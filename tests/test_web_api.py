"""The JSON API against its OpenAPI document, the Atom feeds, the CSV export and health checks."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy.engine import Engine

from monitor.db import session_scope
from monitor.models import Meta

ATOM = "{http://www.w3.org/2005/Atom}"


def schema_of(doc: dict[str, Any], path: str, status: str = "200") -> dict[str, Any]:
    response = doc["paths"][path]["get"]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    # The document is the root, so its #/components/... references resolve.
    return {**schema, "components": doc["components"]}


def check(doc: dict[str, Any], path: str, body: Any, status: str = "200") -> None:
    validator = Draft202012Validator(schema_of(doc, path, status), format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_the_openapi_document_is_valid_and_lists_every_api_route(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema), name
    routes = {
        r.rule.removeprefix("/api/v1").replace("<int:alert_id>", "{id}").replace("<code>", "{code}")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1/") and r.rule != "/api/v1/openapi.json"
    }
    assert routes == set(doc["paths"])
    assert doc["servers"] == [{"url": "https://alerts.example.nhs.uk/api/v1"}]


def test_real_responses_match_the_document(client: FlaskClient, ids: dict) -> None:
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, url in [
        ("/alerts", "/api/v1/alerts"),
        ("/alerts", "/api/v1/alerts?state=all"),
        ("/alerts", "/api/v1/alerts?region=Y61&severity=high"),
        ("/alerts/{id}", f"/api/v1/alerts/{ids['alert']}"),
        ("/alerts/{id}", f"/api/v1/alerts/{ids['other']}"),
        ("/orgs/{code}", "/api/v1/orgs/RCX"),
        ("/orgs/{code}", "/api/v1/orgs/ENG"),
        ("/orgs/{code}/observations", "/api/v1/orgs/RCX/observations"),
        ("/orgs/{code}/observations", "/api/v1/orgs/RCX/observations?metric=nof_rank"),
        ("/sources", "/api/v1/sources"),
    ]:
        r = client.get(url)
        assert r.status_code == 200, url
        check(doc, path, r.get_json())
    for path, url, status in [
        ("/alerts", "/api/v1/alerts?severity=urgent", "400"),
        ("/alerts", "/api/v1/alerts?page=", "400"),  # the document says a page is an integer
        ("/alerts/{id}", "/api/v1/alerts/999999", "404"),
        ("/orgs/{code}", "/api/v1/orgs/NOPE", "404"),
        ("/orgs/{code}/observations", "/api/v1/orgs/RCX/observations?metric=x", "400"),
    ]:
        r = client.get(url)
        assert r.status_code == int(status), url
        check(doc, path, r.get_json(), status)


def test_alerts_api_rows_and_filters(client: FlaskClient, ids: dict) -> None:
    body = client.get("/api/v1/alerts").get_json()
    assert body["total"] == 2 and body["next"] is None
    # Most severe first.
    assert [a["id"] for a in body["alerts"]] == [ids["other"], ids["alert"]]
    rcx = body["alerts"][1]
    assert {k: rcx[k] for k in ("rule", "org", "state", "severity", "value", "period_start")} == {
        "rule": "ae-type1-below-60",
        "org": "RCX",
        "state": "firing",
        "severity": "high",
        "value": 52.1,
        "period_start": "2025-07-01",
    }
    assert rcx["opened_at"].startswith("2025-01-09T08:30:00")
    resolved = client.get("/api/v1/alerts?state=resolved").get_json()
    assert [a["id"] for a in resolved["alerts"]] == [ids["resolved"]]
    assert client.get("/api/v1/alerts?icb=QMM").get_json()["total"] == 1
    assert (
        client.get("/api/v1/alerts?rule=ae-type1-below-60,cancer-62d-below-85").get_json()["total"]
        == 2
    )
    assert client.get("/api/v1/alerts?trust=RCX&trust=RWE").get_json()["total"] == 2


def test_observations_api_gives_the_figures_with_provenance(client: FlaskClient) -> None:
    rows = client.get("/api/v1/orgs/RCX/observations?metric=ae_4hr_type1_pct").get_json()
    july = [o for o in rows["observations"] if o["period_start"] == "2025-07-01"]
    assert july[0]["value"] == 52.1 and july[0]["numerator"] == 3678
    assert july[0]["publication_url"].endswith("July-2025-CSV-9jfy4.csv")


def test_org_api_gives_segment_rank_and_ratings(client: FlaskClient) -> None:
    body = client.get("/api/v1/orgs/rcx").get_json()
    assert body["org"]["name"].startswith("The Queen Elizabeth Hospital")
    assert body["oversight"]["segment"]["value"] == 4
    assert body["oversight"]["rank"] == {
        "value": 133.0,
        "label": None,
        "denominator": 134.0,
        "period_start": "2025-04-01",
        "period_end": "2025-06-30",
    }
    assert body["ratings"][0]["rating"] == "Requires improvement"


def test_sources_api_names_the_failing_source(client: FlaskClient) -> None:
    sources = {s["source"]: s for s in client.get("/api/v1/sources").get_json()["sources"]}
    assert set(sources) == {"ae", "cancer", "rtt", "ambulance", "oversight", "cqc", "dspt"}
    assert (
        sources["cancer"]["level"] == "failing" and sources["cancer"]["consecutive_failures"] == 4
    )
    assert sources["ae"]["last_publication"]["url"].endswith("July-2025-CSV-9jfy4.csv")
    assert sources["cqc"]["schedule"] == "every 30 minutes"


@pytest.mark.parametrize(
    ("url", "title"),
    [
        ("/feeds/regions/Y61.atom", "Alerts in East of England"),
        ("/feeds/orgs/RCX.atom", "Alerts for The Queen Elizabeth Hospital"),
    ],
)
def test_atom_feeds_list_alert_events_newest_first(
    client: FlaskClient, url: str, title: str
) -> None:
    r = client.get(url)
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    feed = ET.fromstring(r.data)
    assert feed.findtext(f"{ATOM}title", "").startswith(title)
    entries = feed.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title", "").split(":")[0] for e in entries] == ["Updated", "Fired"]
    first = entries[0]
    assert "52.1% in July 2025. Threshold 60%." in first.findtext(f"{ATOM}summary", "")
    link = first.find(f"{ATOM}link")
    assert link is not None and link.get("href", "").startswith("https://alerts.example.nhs.uk/")
    assert feed.findtext(f"{ATOM}updated") == entries[0].findtext(f"{ATOM}updated")


def test_feeds_of_unknown_places_are_404(client: FlaskClient) -> None:
    assert client.get("/feeds/regions/Y99.atom").status_code == 404
    assert client.get("/feeds/orgs/NOPE.atom").status_code == 404


def test_csv_export_of_open_alerts(client: FlaskClient, ids: dict) -> None:
    r = client.get("/alerts.csv")
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [int(x["id"]) for x in rows] == [ids["other"], ids["alert"]]
    assert rows[1]["org_name"].startswith("The Queen Elizabeth Hospital")
    assert rows[1]["url"] == f"https://alerts.example.nhs.uk/alerts/{ids['alert']}"
    only_east = list(csv.DictReader(io.StringIO(client.get("/alerts.csv?region=Y61").text)))
    assert [x["org"] for x in only_east] == ["RCX"]


def test_healthz_and_readyz_follow_the_scheduler_heartbeat(
    client: FlaskClient, engine: Engine
) -> None:
    assert client.get("/healthz").data == b"ok\n"
    r = client.get("/readyz")
    assert r.status_code == 503 and "no heartbeat" in r.get_json()["scheduler"]
    with session_scope(engine, write=True) as s:
        s.add(Meta(key="scheduler_heartbeat", value="x", updated_at=datetime.now(UTC)))
    r = client.get("/readyz")
    assert r.status_code == 200 and r.get_json()["ready"] is True
    with session_scope(engine, write=True) as s:
        beat = s.get(Meta, "scheduler_heartbeat")
        assert beat is not None
        beat.updated_at = datetime.now(UTC) - timedelta(minutes=10)
        s.add(beat)
    r = client.get("/readyz")
    assert r.status_code == 503 and "10 minutes old" in r.get_json()["scheduler"]
