"""A CQC Syndication API on 127.0.0.1 (pytest-httpserver) replaying the real Oldham bodies.

It behaves as the gateway does where the tests need it: 401 without the subscription key, an
HTML 403 page without a User-Agent, paging with page/perPage in the documented envelope, the
changes feed answering the ids whose change time falls in [startTimestamp, endTimestamp), 404
for ids it has no body for, and scripted failures (429 with Retry-After, 5xx, a body replaced
by malformed JSON or an HTML page). Every request is logged for counting.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from monitor import config
from monitor.config import Settings

SNAPSHOT = Path(__file__).resolve().parent.parent / "data/real/cqc/oldham_api_snapshot"
KEY = "test-subscription-key"
PREFIX = "/public/v1"
HTML_403 = (
    "<!DOCTYPE html><html><head><title>403 Forbidden</title></head>"
    "<body><h1>Forbidden</h1><p>Request blocked by the API gateway.</p></body></html>"
)


def real_body(kind: str, org_id: str) -> bytes:
    """A real body from the snapshot (``location_RM317.json`` ...)."""
    folder = "location_details" if kind == "location" else "provider_details"
    return (SNAPSHOT / folder / f"{kind}_{org_id}.json").read_bytes()


def trust_provider_body(code: str = "RM3") -> bytes:
    """A provider body for an NHS trust, which the snapshot lacks.

    Assembled, and said so: the envelope of a real provider body (provider_1-101612188.json),
    RM3's real location ids from the snapshot, and as the trust's ratings the real current
    ratings block of its Royal Oldham Hospital (RM317) with its own organisationIds dropped.
    """
    body = json.loads(real_body("provider", "1-101612188"))
    rm317 = json.loads(real_body("location", "RM317"))
    current = json.loads(json.dumps(rm317["currentRatings"]))
    overall = current["overall"]
    for kq in overall["keyQuestionRatings"]:
        kq.pop("organisationId", None)
    body.update(
        providerId=code,
        locationIds=["RM317", "RM3Y3", "G7F7V"],
        type="NHS Healthcare Organisation",
        name="Northern Care Alliance NHS Foundation Trust",
        odsCode=code,
        brandId=None,
        brandName=None,
        currentRatings={"overall": overall, "reportDate": overall["reportDate"]},
        relationships=[],
        inspectionAreas=[],
    )
    return json.dumps(body).encode()


@dataclass
class FakeCqc:
    server: HTTPServer
    bodies: dict[tuple[str, str], bytes] = field(default_factory=dict)
    changes: dict[str, list[tuple[datetime, str]]] = field(
        default_factory=lambda: {"provider": [], "location": []}
    )
    listings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # path -> list of scripted responses served (and consumed) before the normal one
    script: dict[str, list[Callable[[], Response]]] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.server.url_for(PREFIX)

    def install(self) -> FakeCqc:
        self.server.expect_request(re.compile(f"^{PREFIX}/.*")).respond_with_handler(self.handle)
        return self

    def add_body(self, kind: str, org_id: str, raw: bytes | None = None) -> None:
        self.bodies[(kind, org_id.upper())] = raw if raw is not None else real_body(kind, org_id)

    def list_change(self, kind: str, when: datetime, *ids: str) -> None:
        self.changes[kind].extend((when, i) for i in ids)

    def paths(self, prefix: str = "") -> list[str]:
        return [r.path for r in self.log if r.path.startswith(PREFIX + prefix)]

    def handle(self, request: Request) -> Response:
        self.log.append(request)
        if request.headers.get("Ocp-Apim-Subscription-Key") != KEY:
            return _json(
                {
                    "statusCode": 401,
                    "message": "Access denied due to missing subscription key. Make sure to "
                    "include subscription key when making requests to an API.",
                },
                401,
            )
        if not request.headers.get("User-Agent"):
            return Response(HTML_403, 403, content_type="text/html")
        path = request.path.removeprefix(PREFIX)
        scripted = self.script.get(path)
        if scripted:
            return scripted.pop(0)()
        args = request.args
        page, per_page = int(args.get("page", 1)), int(args.get("perPage", 1000))
        if m := re.fullmatch(r"/changes/(provider|location)", path):
            start, end = _ts(args["startTimestamp"]), _ts(args["endTimestamp"])
            ids = list(dict.fromkeys(i for t, i in self.changes[m[1]] if start <= t < end))
            return _json(_envelope(path, "changes", ids, page, per_page))
        if m := re.fullmatch(r"/(providers|locations)", path):
            return _json(_envelope(path, m[1], self.listings.get(m[1], []), page, per_page))
        if m := re.fullmatch(r"/(provider|location)s/([^/]+)", path):
            raw = self.bodies.get((m[1], m[2]))
            if raw is None:
                return _json({"statusCode": 404, "message": "Resource not found"}, 404)
            return Response(raw, 200, content_type="application/json")
        return _json({"statusCode": 404, "message": "Resource not found"}, 404)


def _ts(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _json(obj: Any, status: int = 200) -> Response:
    return Response(json.dumps(obj), status, content_type="application/json")


def _envelope(path: str, key: str, items: list[Any], page: int, per_page: int) -> dict[str, Any]:
    pages = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]

    def uri(n: int) -> str:
        return f"{path}?page={n}&perPage={per_page}"

    return {
        "total": len(items),
        "page": page,
        "perPage": per_page,
        "totalPages": pages,
        "firstPageUri": uri(1),
        "previousPageUri": uri(page - 1) if page > 1 else None,
        "nextPageUri": uri(page + 1) if page < pages else None,
        "lastPageUri": uri(pages),
        key: chunk,
    }


def respond(
    status: int, body: str = "", headers: dict[str, str] | None = None
) -> Callable[[], Response]:
    """A scripted response for FakeCqc.script."""
    kind = "text/html" if body.lstrip().startswith("<") else "application/json"
    return lambda: Response(body, status, headers=headers or {}, content_type=kind)


def real_locations_listing() -> list[dict[str, Any]]:
    """The real Oldham locations list page's 451 entries."""
    return json.loads((SNAPSHOT / "locations.json").read_text())["locations"]


def real_providers_listing() -> list[dict[str, Any]]:
    return json.loads((SNAPSHOT / "providers.json").read_text())["providers"]


class FakeClock:
    """A monotonic clock whose sleep only moves time on, recording each wait."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.t += seconds


def settings_for(base_url: str, tmp: Path, extra: str = "") -> Settings:
    """Settings pointing [sources.cqc] at the fake server, the key in TEST_CQC_KEY."""
    text = f"""
[sources.cqc]
base_url = "{base_url}"
api_key_env = "TEST_CQC_KEY"
overlap_days = 30
{extra}
"""
    path = Path(tmp) / "config.toml"
    path.write_text(text)
    return config.parse(text, path)
