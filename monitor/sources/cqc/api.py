"""Client of CQC's Syndication API: key and User-Agent headers, a request rate, paging, retries.

The API (``https://api.service.cqc.org.uk/public/v1``) sits behind an Azure API Management
gateway: it wants the subscription key in ``Ocp-Apim-Subscription-Key`` and answers 403 to a
request without a User-Agent. It publishes a limit of 2,000 requests a minute and answers 429
with Retry-After beyond it. Some ids listed by the changes feed answer 404 when fetched.

The clock and sleep are injectable so that tests exercise waiting and backoff without waiting.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from monitor.sources.cqc.ratings import BodyError, load_body

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.service.cqc.org.uk/public/v1"
KEY_HEADER = "Ocp-Apim-Subscription-Key"
PER_PAGE = 1000  # the largest page the API serves
MAX_PAGES = 10_000  # a runaway guard; England has ~120 pages of locations at 1,000 a page
MAX_RETRY_AFTER = 300.0  # seconds; a longer Retry-After is capped rather than stalling a poll
KINDS = ("provider", "location")


class ApiError(Exception):
    """A request the API did not answer usefully. ``status`` is None for network failures."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        self.url = url
        self.status = status
        super().__init__(f"{message} ({url})")


class NotFound(ApiError):
    """404: the id is listed somewhere (the changes feed) but has no body."""


class RateLimiter:
    """Spaces requests evenly so that no minute sees more than ``per_minute`` of them."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.interval = 60.0 / per_minute
        self.clock = clock
        self.sleep = sleep
        self._next = float("-inf")

    def wait(self) -> None:
        """Block until the next request may start."""
        now = self.clock()
        if now < self._next:
            self.sleep(self._next - now)
            now = self._next
        self._next = now + self.interval


def timestamp(when: datetime) -> str:
    """The feed's timestamp format: ``YYYY-MM-DDTHH:MM:SSZ`` in UTC."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _retry_after(value: str | None, default: float) -> float:
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return min(max((when - datetime.now(UTC)).total_seconds(), 0.0), MAX_RETRY_AFTER)


def _describe(resp: requests.Response) -> str:
    kind = resp.headers.get("Content-Type", "")
    text = resp.text[:300]
    if "html" in kind or text.lstrip().lower().startswith(("<!doctype", "<html")):
        return "an HTML page"
    return " ".join(text.split())[:200] or "an empty body"


class CqcApi:
    """One configured connection to the API. ``requests_made`` counts every HTTP request."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        user_agent: str,
        timeout: float = 60.0,
        retries: int = 4,
        requests_per_minute: int = 600,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.sleep = sleep
        self.limiter = RateLimiter(requests_per_minute, clock=clock, sleep=sleep)
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.session.headers["Accept"] = "application/json"
        if api_key:
            self.session.headers[KEY_HEADER] = api_key
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    def get(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """The body of a successful GET of ``path`` (relative to the base URL).

        429 waits for Retry-After; 5xx, timeouts and connection failures are retried with
        exponential backoff, ``retries`` times. Raises NotFound for 404 and ApiError otherwise.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"
        attempts = self.retries + 1
        for attempt in range(1, attempts + 1):
            self.limiter.wait()
            self.requests_made += 1
            backoff = min(2.0 ** (attempt - 1), 60.0)
            try:
                resp = self.session.get(url, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as e:
                if attempt == attempts:
                    raise ApiError(f"no answer after {attempts} attempts: {e}", url=url) from None
                log.warning("cqc: %s: %s; retrying in %.0f s", url, e, backoff)
                self.sleep(backoff)
                continue
            status = resp.status_code
            if status == 200:
                return resp.content
            if status == 404:
                raise NotFound("404 not found", url=url, status=404)
            if status == 429 or status >= 500:
                if attempt == attempts:
                    raise ApiError(
                        f"HTTP {status} after {attempts} attempts", url=url, status=status
                    )
                wait = (
                    _retry_after(resp.headers.get("Retry-After"), default=backoff)
                    if status == 429
                    else backoff
                )
                log.warning("cqc: %s answered %s; retrying in %.0f s", url, status, wait)
                self.sleep(wait)
                continue
            if status == 401:
                reason = f"refused: subscription key missing or not valid (the {KEY_HEADER} header)"
            elif status == 403:
                reason = (
                    "forbidden by the gateway (it answers 403 to a request without a User-Agent, "
                    "or with a key that lacks access)"
                )
            else:
                reason = f"HTTP {status}"
            raise ApiError(f"{reason}; it answered {_describe(resp)}", url=url, status=status)
        raise AssertionError("unreachable")  # the loop returns or raises

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """``get`` parsed as a JSON object; ApiError for an HTML page or malformed JSON."""
        raw = self.get(path, params)
        try:
            return load_body(raw)
        except BodyError as e:
            raise ApiError(str(e), url=f"{self.base_url}/{path.lstrip('/')}", status=200) from None

    def body(self, kind: str, org_id: str) -> bytes:
        """The raw body of ``GET /providers/{id}`` or ``/locations/{id}`` (id in upper case)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be provider or location, not {kind!r}")
        return self.get(f"{kind}s/{quote(org_id.strip().upper(), safe='-')}")

    def pages(
        self, path: str, key: str, params: dict[str, Any] | None = None, *, per_page: int = PER_PAGE
    ) -> Iterator[list[Any]]:
        """The ``key`` list of every page of a paged listing, page by page."""
        page = 1
        while page <= MAX_PAGES:
            data = self.get_json(path, {**(params or {}), "page": page, "perPage": per_page})
            items = data.get(key)
            if not isinstance(items, list):
                raise ApiError(f"page {page} has no {key!r} list", url=path, status=200)
            yield items
            total_pages = data.get("totalPages")
            if not items or not isinstance(total_pages, int) or page >= total_pages:
                return
            page += 1
        raise ApiError(f"more than {MAX_PAGES} pages", url=path)

    def changes(self, kind: str, start: datetime, end: datetime) -> list[str]:
        """Ids the changes feed lists for ``kind`` between ``start`` and ``end`` (upper case,
        first listing order, no repeats)."""
        params = {"startTimestamp": timestamp(start), "endTimestamp": timestamp(end)}
        seen: dict[str, None] = {}
        for items in self.pages(f"changes/{kind}", "changes", params):
            for item in items:
                if isinstance(item, str) and item.strip():
                    seen.setdefault(item.strip().upper(), None)
        return list(seen)

    def listing(self, kind: str, **filters: str) -> Iterator[str]:
        """Every id of ``GET /providers`` or ``/locations`` (optionally filtered), upper case."""
        field = f"{kind}Id"
        for items in self.pages(f"{kind}s", f"{kind}s", dict(filters)):
            for item in items:
                if isinstance(item, dict) and isinstance(item.get(field), str):
                    yield item[field].strip().upper()
