"""Fetching publishers' pages and files: conditional GET, retries, a size limit, a hash.

``Fetcher.get`` streams a response to memory or to a file, hashing as it goes. It sends the
ETag / Last-Modified remembered for the URL (``remembered`` / ``remember`` keep them in the
``httpcache`` table), so an unchanged file answers 304 and transfers no body. Timeouts,
connection errors, 429 and 5xx answers are retried with exponential backoff (honouring
Retry-After); the sleep function is injectable so tests never wait.

Validators are remembered only after the caller has dealt with the content (ingested it, or
found it unchanged): a file that was rejected is fetched in full again on the next poll.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlmodel import Session

from monitor.config import Http
from monitor.models import HttpCache, utcnow

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0


class FetchError(Exception):
    """A URL that could not be fetched; the message says why in plain words."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        self.url = url
        self.reason = reason
        self.status = status
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True, kw_only=True)
class Fetched:
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200, or 304 when unchanged
    body: bytes | None  # None for 304, or when written to ``path``
    path: Path | None
    sha256: str | None
    size: int
    etag: str | None
    last_modified: str | None
    content_type: str | None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def modified_at(self) -> datetime | None:
        """The Last-Modified header as a datetime, when the server sent one."""
        if not self.last_modified:
            return None
        try:
            return email.utils.parsedate_to_datetime(self.last_modified).astimezone(UTC)
        except (TypeError, ValueError):
            return None

    def text(self) -> str:
        if self.body is None:
            raise ValueError(f"{self.url}: no body (status {self.status})")
        return self.body.decode("utf-8", errors="replace")


class Fetcher:
    """One requests session with the monitor's User-Agent, limits and retry policy."""

    def __init__(
        self,
        settings: Http,
        *,
        sleep: Callable[[float], None] = time.sleep,
        backoff: float = 2.0,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self.sleep = sleep
        self.backoff = backoff
        self.session = requests.Session()
        self.session.headers["User-Agent"] = settings.user_agent
        self.session.headers.update(headers or {})
        self.requests_made = 0

    def close(self) -> None:
        self.session.close()

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        to_path: Path | None = None,
        params: dict[str, str | int] | None = None,
    ) -> Fetched:
        """GET ``url``; a 304 comes back as ``not_modified``; anything else bad raises."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._once(url, headers, to_path, params)
            except _Retryable as e:
                if attempt == attempts:
                    raise FetchError(
                        url, f"{e.reason} (gave up after {attempts} attempts)", status=e.status
                    ) from None
                wait = (
                    e.retry_after
                    if e.retry_after is not None
                    else (self.backoff * 2 ** (attempt - 1))
                )
                log.info(
                    "%s: %s; retrying in %.0f s (attempt %d of %d)",
                    url,
                    e.reason,
                    wait,
                    attempt + 1,
                    attempts,
                )
                self.sleep(min(wait, MAX_RETRY_AFTER))
        raise AssertionError("unreachable")

    def _once(
        self,
        url: str,
        headers: dict[str, str],
        to_path: Path | None,
        params: dict[str, str | int] | None,
    ) -> Fetched:
        timeout = self.settings.timeout_seconds
        self.requests_made += 1
        try:
            r = self.session.get(
                url, headers=headers, stream=True, timeout=(10, timeout), params=params
            )
        except requests.Timeout:
            raise _Retryable(f"no answer within {timeout:g} s") from None
        except requests.ConnectionError as e:
            raise _Retryable(f"cannot connect ({_short(e)})") from None
        with r:
            if r.status_code in RETRY_STATUSES:
                raise _Retryable(
                    f"the server answered {r.status_code} {r.reason}",
                    status=r.status_code,
                    retry_after=_retry_after(r),
                )
            if r.status_code == 304:
                return Fetched(
                    url=url,
                    final_url=r.url,
                    status=304,
                    body=None,
                    path=None,
                    sha256=None,
                    size=0,
                    etag=r.headers.get("ETag"),
                    last_modified=r.headers.get("Last-Modified"),
                    content_type=r.headers.get("Content-Type"),
                )
            if r.status_code != 200:
                raise FetchError(
                    url, f"the server answered {r.status_code} {r.reason}", status=r.status_code
                )
            return self._body(url, r, to_path)

    def _body(self, url: str, r: requests.Response, to_path: Path | None) -> Fetched:
        limit = int(self.settings.max_mb * 1024 * 1024)
        expected = r.headers.get("Content-Length")
        if expected and expected.isdigit() and int(expected) > limit:
            raise FetchError(url, f"{int(expected)} bytes is more than the {limit}-byte limit")
        h = hashlib.sha256()
        size = 0
        chunks: list[bytes] = []
        out = None
        if to_path is not None:
            to_path.parent.mkdir(parents=True, exist_ok=True)
            out = to_path.open("wb")
        try:
            for chunk in r.iter_content(chunk_size=1 << 16):
                size += len(chunk)
                if size > limit:
                    raise FetchError(url, f"more than the {limit}-byte limit")
                h.update(chunk)
                if out is not None:
                    out.write(chunk)
                else:
                    chunks.append(chunk)
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
            raise _Retryable(
                f"the download broke off before it was complete ({_short(e)})"
            ) from None
        except requests.Timeout:
            raise _Retryable(f"the download stalled after {size} bytes") from None
        finally:
            if out is not None:
                out.close()
        if expected and expected.isdigit() and size != int(expected):
            raise _Retryable(f"truncated: {size} of {expected} bytes arrived")
        return Fetched(
            url=url,
            final_url=r.url,
            status=200,
            body=None if out else b"".join(chunks),
            path=to_path,
            sha256=h.hexdigest(),
            size=size,
            etag=r.headers.get("ETag"),
            last_modified=r.headers.get("Last-Modified"),
            content_type=r.headers.get("Content-Type"),
        )


class _Retryable(Exception):
    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        super().__init__(reason)


def _retry_after(r: requests.Response) -> float | None:
    value = r.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _short(e: Exception) -> str:
    text = str(e)
    return text if len(text) < 160 else text[:157] + "..."


def remembered(session: Session, url: str) -> HttpCache | None:
    return session.get(HttpCache, url)


def remember(session: Session, fetched: Fetched) -> None:
    """Keep a response's validators for the next conditional GET of the same URL."""
    row = session.get(HttpCache, fetched.url) or HttpCache(url=fetched.url)
    row.checked_at = utcnow()
    if not fetched.not_modified:
        if row.sha256 != fetched.sha256:
            row.changed_at = utcnow()
        row.etag = fetched.etag
        row.last_modified = fetched.last_modified
        row.sha256 = fetched.sha256
    session.add(row)
