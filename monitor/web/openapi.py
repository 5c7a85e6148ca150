"""The OpenAPI 3.1 document of /api/v1, written by hand; tests check it against real answers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from monitor import metrics
from monitor.config import REGION_CODES
from monitor.metrics import Granularity
from monitor.sources import registry
from monitor.urls import Urls
from monitor.vocab import SEVERITIES, STATE_FILTERS, AlertState
from monitor.web.filters import CODE_PATTERN, MAX_PAGE


def _n(kind: str, **kw: Any) -> dict[str, Any]:
    """A nullable value of JSON type ``kind``."""
    return {"type": [kind, "null"], **kw}


STR, INT, NUM, BOOL = (
    {"type": "string"},
    {"type": "integer"},
    {"type": "number"},
    {"type": "boolean"},
)
DATE = {"type": "string", "format": "date"}
TIME = {"type": "string", "format": "date-time"}
N_DATE = _n("string", format="date")
N_TIME = _n("string", format="date-time")


def _object(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ALERT = _object(
    {
        "id": INT,
        "rule": STR,
        "rule_title": STR,
        "why": _n("string"),
        "org": STR,
        "org_name": STR,
        "region": _n("string", enum=[*REGION_CODES, None]),
        "region_name": _n("string"),
        "icb": _n("string"),
        "metric": _n("string"),
        "metric_title": _n("string"),
        "state": {"type": "string", "enum": list(AlertState)},
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "opened_at": TIME,
        "fired_at": N_TIME,
        "ended_at": N_TIME,
        "value": _n("number"),
        "label": _n("string"),
        "period_start": N_DATE,
        "period_end": N_DATE,
        "period_label": _n("string"),
        "threshold": _n("number"),
        "consecutive_periods": INT,
        "acknowledged_at": N_TIME,
        "acknowledged_by": _n("string"),
        "ack_note": _n("string"),
        "silenced_until": N_TIME,
        "silenced_by": _n("string"),
        "superseded_by": {
            "type": ["string", "null"],
            "description": "the rule of a firing alert for the same trust this one is shown "
            "under (it is not emailed separately)",
        },
    }
)
EVENT = _object(
    {
        "id": INT,
        "alert_id": INT,
        "kind": {"type": "string", "description": "fired, updated, resolved, acknowledged ..."},
        "at": TIME,
        "period_start": N_DATE,
        "value": _n("number"),
        "threshold": _n("number"),
        "rule_version": STR,
        "actor": _n("string"),
        "note": _n("string"),
        "publication_url": _n("string"),
        "publication_title": _n("string"),
    }
)
OBSERVATION = _object(
    {
        "org": STR,
        "metric": {"type": "string", "enum": sorted(metrics.METRICS)},
        "period_start": DATE,
        "period_end": DATE,
        "granularity": {"type": "string", "enum": list(Granularity)},
        "value": NUM,
        "label": _n("string"),
        "numerator": _n("number"),
        "denominator": _n("number"),
        "derived": BOOL,
        "source": STR,
        "publication_id": INT,
        "publication_url": STR,
        "publication_title": _n("string"),
        "published_at": TIME,
        "superseded_by": _n("integer"),
    }
)
ORG = _object(
    {
        "code": STR,
        "name": STR,
        "kind": {"type": "string", "enum": ["trust", "other", "icb", "region", "england"]},
        "trust_type": _n("string"),
        "trust_subtype": _n("string"),
        "region": _n("string"),
        "region_name": _n("string"),
        "icb": _n("string"),
        "opened": N_DATE,
        "closed": N_DATE,
        "successor": _n("string"),
        "source": STR,
    }
)
FIGURE = {
    "oneOf": [
        {"type": "null"},
        _object(
            {
                "value": NUM,
                "label": _n("string"),
                "denominator": _n("number", description="for rank: the size of the peer group"),
                "period_start": DATE,
                "period_end": DATE,
            }
        ),
    ]
}
POSITION = {
    "oneOf": [
        {"type": "null"},
        _object(
            {
                "period_start": DATE,
                "quarter": STR,
                "league": _n(
                    "string", enum=["acute", "mental-health-and-community", "ambulance", None]
                ),
                "league_title": _n("string"),
                "segment": _n("number"),
                "rank": _n("number"),
                "peers": _n("number", description="the number of trusts the league ranks"),
                "rank_likely_range": _n("array", items=NUM, minItems=2, maxItems=2),
                "average_score": _n("number"),
                "score_likely_range": _n("array", items=NUM, minItems=2, maxItems=2),
                "in_financial_deficit": _n("boolean"),
                "override": _n("string", description="why the segment is capped, in words"),
                "movement": _object(
                    {
                        "previous_period_start": DATE,
                        "previous_rank": _n("number"),
                        "previous_peers": _n("number"),
                        "previous_segment": _n("number"),
                        "places": _n("integer", description="positive: up (a better rank)"),
                        "words": STR,
                    }
                ),
                "derived": BOOL,
                "source": {
                    "oneOf": [
                        {"type": "null"},
                        _object(
                            {
                                "publication_id": INT,
                                "title": STR,
                                "url": STR,
                                "published_at": TIME,
                                "derived": BOOL,
                                "words": STR,
                            }
                        ),
                    ]
                },
            }
        ),
    ]
}
RATING = _object(
    {
        "domain": STR,
        "rating": STR,
        "report_date": N_DATE,
        "report_link": _n("string"),
        "subject_type": {"type": "string", "enum": ["provider", "location"]},
        "subject_id": STR,
    }
)
SOURCE = _object(
    {
        "source": {"type": "string", "enum": list(registry.NAMES)},
        "title": STR,
        "enabled": BOOL,
        "schedule": STR,
        "level": {
            "type": "string",
            "enum": ["ok", "failing", "late", "disabled", "waiting", "unconfigured"],
        },
        "message": {"type": "string", "description": "the status in plain words"},
        "failing": BOOL,
        "late": BOOL,
        "last_publication": {
            "oneOf": [
                {"type": "null"},
                _object(
                    {
                        "id": INT,
                        "title": _n("string"),
                        "url": STR,
                        "published_at": TIME,
                        "fetched_at": TIME,
                    }
                ),
            ]
        },
        "last_poll_at": N_TIME,
        "last_success_at": N_TIME,
        "next_poll_at": N_TIME,
        "expected_at": N_TIME,
        "failing_since": N_TIME,
        "consecutive_failures": INT,
        "last_error": _n("string"),
    }
)


def _list_of(alternatives: str) -> dict[str, Any]:
    """A query argument holding values separated by commas, each one of ``alternatives`` (a
    regular expression), with spaces or tabs around them; empty values mean "any"."""
    one = f"[ \\t]*(?:{alternatives})?[ \\t]*"
    return {"type": "string", "pattern": f"^{one}(?:,{one})*$"}


def _any_case(words: Iterable[str]) -> str:
    """An alternation matching each of ``words`` in any letter case."""
    return "|".join(
        "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in w)
        for w in words
    )


FILTER_PARAMS = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "description": desc + " Repeat the argument (or separate with commas) to match any.",
        "schema": schema,
    }
    for name, desc, schema in (
        ("region", "Region code.", _list_of(_any_case(REGION_CODES))),
        ("icb", "ICB code, e.g. QMM.", _list_of(CODE_PATTERN)),
        ("trust", "Organisation (ODS) code, e.g. RCX.", _list_of(CODE_PATTERN)),
        ("severity", "Severity.", _list_of(_any_case(SEVERITIES))),
        ("rule", "Rule id.", _list_of(CODE_PATTERN)),
        ("metric", "Metric id.", _list_of("|".join(map(re.escape, sorted(metrics.METRICS))))),
    )
]


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ERRORS = {
    "400": _json(_ref("Error"), "A query argument cannot be used"),
    "404": _json(_ref("Error"), "Not found"),
}
# Every answer carries an ETag; If-None-Match with it gets 304 and no body.
NOT_MODIFIED = {"304": {"description": "Not modified since the ETag sent in If-None-Match"}}
CODE = {"name": "code", "in": "path", "required": True, "schema": STR}


def document(base_url: str) -> dict[str, Any]:
    """The OpenAPI document, with the server's public address."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "NHS trust risk-alert monitor API",
            "version": "1",
            "description": "Open alerts, organisations, their published figures and the health "
            "of each publisher. Responses carry ETags; send If-None-Match to get 304.",
        },
        "servers": [{"url": Urls(base_url).api()}],
        "paths": {
            "/alerts": {
                "get": {
                    "summary": "Alerts, most severe first, then the oldest; 100 a page",
                    "parameters": [
                        *FILTER_PARAMS,
                        {
                            "name": "state",
                            "in": "query",
                            "schema": {"type": "string", "enum": list(STATE_FILTERS)},
                            "description": "open (default: pending or firing), resolved "
                            "(resolved or withdrawn) or all.",
                        },
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                        },
                    ],
                    "responses": {"200": _json(_ref("AlertList")), **NOT_MODIFIED, **ERRORS},
                }
            },
            "/alerts/{id}": {
                "get": {
                    "summary": "One alert with its evidence and its events, oldest first",
                    "parameters": [{"name": "id", "in": "path", "required": True, "schema": INT}],
                    "responses": {
                        "200": _json(_ref("AlertDetail")),
                        **NOT_MODIFIED,
                        "404": ERRORS["404"],
                    },
                }
            },
            "/orgs/{code}": {
                "get": {
                    "summary": "An organisation, its open alerts, Oversight Framework position "
                    "and latest CQC ratings",
                    "parameters": [CODE],
                    "responses": {
                        "200": _json(_ref("OrgDetail")),
                        **NOT_MODIFIED,
                        "404": ERRORS["404"],
                    },
                }
            },
            "/orgs/{code}/observations": {
                "get": {
                    "summary": "An organisation's current figures, oldest period first",
                    "parameters": [
                        CODE,
                        {
                            "name": "metric",
                            "in": "query",
                            "schema": {"type": "string", "enum": sorted(metrics.METRICS)},
                        },
                    ],
                    "responses": {"200": _json(_ref("ObservationList")), **NOT_MODIFIED, **ERRORS},
                }
            },
            "/sources": {
                "get": {
                    "summary": "Each publisher: last publication, last and next poll, failures",
                    "responses": {"200": _json(_ref("SourceList")), **NOT_MODIFIED},
                }
            },
        },
        "components": {
            "schemas": {
                "Alert": ALERT,
                "Event": EVENT,
                "Observation": OBSERVATION,
                "Organisation": ORG,
                "Rating": RATING,
                "Figure": FIGURE,
                "Position": POSITION,
                "Source": SOURCE,
                "Error": _object({"error": STR, "status": INT}),
                "AlertList": _object(
                    {
                        "alerts": {"type": "array", "items": _ref("Alert")},
                        "total": INT,
                        "page": INT,
                        "pages": INT,
                        "per_page": INT,
                        "next": _n("string"),
                        "previous": _n("string"),
                    }
                ),
                "AlertDetail": _object(
                    {
                        "alert": _ref("Alert"),
                        "evidence": {
                            "type": "object",
                            "description": "what was known at the latest evaluation "
                            "(docs/evidence.md)",
                        },
                        "events": {"type": "array", "items": _ref("Event")},
                        "previous": {
                            "oneOf": [
                                {"type": "null"},
                                _object({"id": INT, "opened_at": N_TIME}),
                            ]
                        },
                    }
                ),
                "OrgDetail": _object(
                    {
                        "org": _ref("Organisation"),
                        "open_alerts": {"type": "array", "items": _ref("Alert")},
                        "oversight": _object(
                            {
                                "segment": _ref("Figure"),
                                "rank": _ref("Figure"),
                                "average_score": _ref("Figure"),
                            }
                        ),
                        "position": _ref("Position"),
                        "ratings": {"type": "array", "items": _ref("Rating")},
                    }
                ),
                "ObservationList": _object(
                    {"org": STR, "observations": {"type": "array", "items": _ref("Observation")}}
                ),
                "SourceList": _object({"sources": {"type": "array", "items": _ref("Source")}}),
            }
        },
    }
