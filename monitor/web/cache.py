"""ETags and an in-process page cache keyed on the data version.

The data version is a fingerprint of everything the pages show (the newest alert event,
alert change, observation, publication, rating, organisation and source state). A rendered
page is kept under (path, query, data version[, minute]) and served until the data changes;
a request whose If-None-Match matches gets 304. A page of 1 kB or more is also kept gzipped
(compressed once, when it is rendered) for the clients that accept gzip, under its own ETag.
Pages that depend on the clock (the "late" banner, next poll times, silences ending) also key
on the current minute.

Each `monitor serve` process keeps its own cache and shares nothing but the database, so
several can run behind a load balancer. The data version itself is re-read at most once per
``ttl`` seconds per process: a page may lag the database by that much.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Response, current_app, make_response, request, session
from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine
from sqlmodel import col

from monitor.models import (
    Alert,
    AlertEvent,
    Observation,
    Organisation,
    Publication,
    Rating,
    SourceState,
)


def _version_query() -> Select[Any]:
    """One round trip: the newest row or change of every table the pages read."""

    def sub(expr: Any) -> Any:
        return select(expr).scalar_subquery()

    return select(
        sub(func.max(AlertEvent.id)),
        sub(func.max(Alert.updated_at)),
        sub(func.count(col(Alert.id))),
        sub(func.max(Observation.id)),
        sub(func.max(Publication.id)),
        sub(func.max(Rating.id)),
        sub(func.max(Organisation.updated_at)),
        sub(func.count(col(Organisation.code))),
        sub(func.max(SourceState.last_poll_at)),
        sub(func.max(SourceState.last_success_at)),
        sub(func.max(SourceState.failing_since)),
        sub(func.sum(SourceState.consecutive_failures)),
        sub(func.count(col(SourceState.failing_since))),
    )


_VERSION_QUERY = _version_query()


class DataVersion:
    """A short fingerprint of the data the pages show, re-read at most every ``ttl`` s."""

    def __init__(self, engine: Engine, ttl: float = 1.0) -> None:
        self.engine = engine
        self.ttl = ttl
        self._lock = threading.Lock()
        self._value = ""
        self._read_at = -1e9

    def current(self) -> str:
        now = time.monotonic()
        if now - self._read_at < self.ttl:
            return self._value
        with self._lock:
            if now - self._read_at < self.ttl:
                return self._value
            with self.engine.connect() as conn:
                row = conn.execute(_VERSION_QUERY).one()
            self._value = hashlib.blake2b(repr(tuple(row)).encode(), digest_size=8).hexdigest()
            self._read_at = time.monotonic()
            return self._value

    def invalidate(self) -> None:
        """Forget the cached version (after this process writes, e.g. an acknowledgement)."""
        with self._lock:
            self._read_at = -1e9


@dataclass(frozen=True)
class Page:
    body: bytes
    etag: str
    content_type: str
    headers: tuple[tuple[str, str], ...]
    # The body gzipped once, for clients that accept it (None when not worth it).
    gzipped: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")


GZIP_MIN_BYTES = 1024  # below this the headers cost as much as compression saves
_COMPRESSIBLE = ("text/", "application/json", "application/atom+xml", "application/xml")


def gzip_body(body: bytes, content_type: str) -> bytes | None:
    """``body`` gzipped (the same bytes each time: no timestamp), or None for a body too small
    or not text."""
    if len(body) < GZIP_MIN_BYTES or not content_type.startswith(_COMPRESSIBLE):
        return None
    packed = gzip.compress(body, compresslevel=6, mtime=0)
    return packed if len(packed) < len(body) else None


def accepts_gzip(accept_encoding: str) -> bool:
    """True when an Accept-Encoding header value admits gzip (RFC 9110 12.5.3): named, or
    ``*``, with a q-value above zero; ``gzip;q=0`` refuses it even beside ``*``."""
    star = False
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip()
        if coding not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if coding == "*":
            star = q > 0
        else:
            return q > 0
    return star


def gzip_etag(etag: str) -> str:
    """The ETag of a page's gzipped form: another representation, another validator."""
    return f"{etag}-gz"


class PageCache:
    """A thread-safe LRU of rendered pages, bounded in entries and bytes."""

    def __init__(self, max_entries: int = 2048, max_bytes: int = 128 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._pages: OrderedDict[tuple[Any, ...], Page] = OrderedDict()
        self._bytes = 0
        self._version = ""
        self._lock = threading.Lock()
        self._rendering: dict[tuple[Any, ...], threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...], version: str) -> Page | None:
        with self._lock:
            if version != self._version:
                # The data changed: every page rendered before is stale.
                self._pages.clear()
                self._rendering.clear()
                self._bytes = 0
                self._version = version
            page = self._pages.get(key)
            if page is None:
                self.misses += 1
                return None
            self._pages.move_to_end(key)
            self.hits += 1
            return page

    def peek(self, key: tuple[Any, ...], version: str) -> Page | None:
        """The page under ``key`` if it was rendered from ``version``, counting nothing."""
        with self._lock:
            return self._pages.get(key) if version == self._version else None

    def render_lock(self, key: tuple[Any, ...]) -> threading.Lock:
        """One lock per page, so that concurrent misses render it once, not once each."""
        with self._lock:
            if len(self._rendering) > 4 * self.max_entries:
                self._rendering.clear()
            return self._rendering.setdefault(key, threading.Lock())

    def put(self, key: tuple[Any, ...], version: str, page: Page) -> None:
        if len(page.body) > self.max_bytes // 8:
            return
        with self._lock:
            if version != self._version:
                return  # rendered from data that has changed since
            old = self._pages.pop(key, None)
            if old is not None:
                self._bytes -= old.size
            self._pages[key] = page
            self._bytes += page.size
            while len(self._pages) > self.max_entries or self._bytes > self.max_bytes:
                _, dropped = self._pages.popitem(last=False)
                self._bytes -= dropped.size

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._bytes = 0


def etag_for(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=12).hexdigest()


def signed_in() -> bool:
    """True when an operator is signed in: their pages differ and are never shared."""
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return False
    return bool(session.get("user"))


_KEPT_HEADERS = ("Content-Disposition", "Link")


def cached(clock: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Response]]:
    """Serve a GET view from the page cache with an ETag; 304 when the client has it.

    ``clock``: the page also depends on the time (key on the minute as well as the data).
    Signed-in operators get a fresh, uncached page.
    """

    def decorate(view: Callable[..., Any]) -> Callable[..., Response]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Response:
            if signed_in():
                resp = make_response(view(*args, **kwargs))
                resp.headers["Cache-Control"] = "private, no-store"
                resp.vary.add("Cookie")
                return resp
            state = current_app.extensions["monitor"]
            version = state.data_version.current()
            key = (request.path, request.query_string, int(time.time() // 60) if clock else 0)
            page = state.pages.get(key, version)
            if page is None:
                with state.pages.render_lock(key):
                    # Another thread may have rendered it while this one waited (its miss
                    # is already counted).
                    page = state.pages.peek(key, version)
                    if page is None:
                        resp = make_response(view(*args, **kwargs))
                        if resp.status_code != 200 or resp.direct_passthrough:
                            return resp
                        page = _page(resp)
                        state.pages.put(key, version, page)
            return respond(page)

        return wrapper

    return decorate


def _page(resp: Response) -> Page:
    body = resp.get_data()
    content_type = resp.content_type or "text/html; charset=utf-8"
    return Page(
        body,
        etag_for(body),
        content_type,
        tuple((h, resp.headers[h]) for h in _KEPT_HEADERS if h in resp.headers),
        gzip_body(body, content_type),
    )


def respond(page: Page) -> Response:
    """The page (gzipped for a client that accepts it), or 304 Not Modified when the
    client's If-None-Match names the ETag of the form it would get."""
    headers = {"Cache-Control": "no-cache", "Vary": "Cookie", **dict(page.headers)}
    body, etag = page.body, page.etag
    if page.gzipped is not None:
        headers["Vary"] = "Cookie, Accept-Encoding"
        if accepts_gzip(request.headers.get("Accept-Encoding", "")):
            body, etag = page.gzipped, gzip_etag(page.etag)
            headers["Content-Encoding"] = "gzip"
    if request.if_none_match.contains(etag):
        resp = Response(status=304, headers=headers)
        resp.headers.pop("Content-Encoding", None)
    else:
        resp = Response(body, content_type=page.content_type, headers=headers)
    resp.set_etag(etag)
    return resp


Headers = list[tuple[str, str]]
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


class CachedPages:
    """WSGI middleware: a page already in the cache goes out without the framework.

    A GET from a client that is not signed in (no session cookie) and holds no copy (no
    If-None-Match) for a page the cache holds is answered with its body and exactly the
    headers the app sent with it the first time (kept by ETag), skipping routing, the request
    context and the response object, which cost several times what sending the bytes does
    (bench/bench_web.py). A client that accepts gzip gets the page's gzipped form, with the
    headers the app sent with that form. Everything else, and any page not yet sent once (in
    that form), goes to the app.
    """

    MAX_HEADERS = 4096

    def __init__(self, app: WsgiApp, state: Any, cookie_name: str) -> None:
        self.app, self.state, self.cookie = app, state, cookie_name
        self._headers: dict[tuple[Any, ...], Headers] = {}  # (key, ETag) -> the app's headers

    def _key_page(self, environ: dict[str, Any]) -> tuple[tuple[Any, ...], Page | None]:
        path = "/" + environ.get("PATH_INFO", "").lstrip("/")
        query = environ.get("QUERY_STRING", "").encode("latin-1")
        version = self.state.data_version.current()
        for minute in (int(time.time() // 60), 0):  # a page that keys on the clock, or not
            key = (path, query, minute)
            page = self.state.pages.peek(key, version)
            if page is not None:
                return key, page
        return key, None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (
            environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_IF_NONE_MATCH" in environ
            or self.cookie in environ.get("HTTP_COOKIE", "")
            or not environ.get("PATH_INFO", "").isascii()
        ):
            return self.app(environ, start_response)
        key, page = self._key_page(environ)
        gz = page is not None and page.gzipped is not None and self._gzip(environ)
        if page is not None and (headers := self._headers.get((key, page.etag, gz))) is not None:
            self.state.pages.hits += 1
            start_response("200 OK", headers)
            return [page.gzipped if gz and page.gzipped is not None else page.body]
        sent: list[Any] = []

        def remember(status: str, headers: Headers, *exc: Any) -> Any:
            sent[:] = [status, headers]
            return start_response(status, headers, *exc)

        result = self.app(environ, remember)
        if sent and sent[0].startswith("200 "):
            names = {h.lower(): v for h, v in sent[1]}
            etag = names.get("etag", "").strip('"')
            key, page = self._key_page(environ)
            if page is not None and "set-cookie" not in names:
                gz = page.gzipped is not None and self._gzip(environ)
                if etag == (gzip_etag(page.etag) if gz else page.etag):
                    if len(self._headers) >= self.MAX_HEADERS:
                        self._headers.clear()
                    self._headers[(key, page.etag, gz)] = list(sent[1])
        return result

    @staticmethod
    def _gzip(environ: dict[str, Any]) -> bool:
        return accepts_gzip(environ.get("HTTP_ACCEPT_ENCODING", ""))
