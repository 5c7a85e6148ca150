"""Fetching against a real HTTP server on 127.0.0.1: 200, 304, 503 then 200, timeouts,
redirects, truncated bodies and the size limit. No test sleeps: the retry pause is injected."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from werkzeug import Request, Response

from monitor.config import Http
from monitor.db import session_scope
from monitor.sources.fetch import Fetcher, FetchError, remember, remembered

BODY = b"Period,Org Code\nMSitAE-JULY-2025,RCX\n"
pauses: list[float] = []


@pytest.fixture
def fetcher() -> Iterator[Fetcher]:
    pauses.clear()
    f = Fetcher(
        Http(user_agent="monitor-test/1", timeout_seconds=2, retries=2, max_mb=1),
        sleep=pauses.append,
        backoff=1.0,
    )
    yield f
    f.close()


def test_a_200_brings_the_body_its_hash_and_validators(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/f.csv", headers={"User-Agent": "monitor-test/1"}).respond_with_data(
        BODY, headers={"ETag": '"v1"', "Last-Modified": "Thu, 14 Aug 2025 08:30:00 GMT"}
    )
    got = fetcher.get(httpserver.url_for("/f.csv"))
    assert (got.status, got.body, got.size) == (200, BODY, len(BODY))
    assert got.sha256 == hashlib.sha256(BODY).hexdigest()
    assert got.etag == '"v1"' and got.modified_at is not None
    assert got.modified_at.isoformat() == "2025-08-14T08:30:00+00:00"


def test_an_unchanged_file_answers_304_and_transfers_no_body(
    httpserver: HTTPServer, fetcher: Fetcher, engine: Engine
) -> None:
    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(BODY, headers={"ETag": '"v1"'})

    httpserver.expect_request("/f.csv").respond_with_handler(handler)
    url = httpserver.url_for("/f.csv")
    first = fetcher.get(url)
    with session_scope(engine, write=True) as s:
        remember(s, first)
    with session_scope(engine) as s:
        cached = remembered(s, url)
        assert cached is not None
        second = fetcher.get(url, etag=cached.etag, last_modified=cached.last_modified)
    assert second.not_modified and second.body is None and second.size == 0


def test_a_503_is_retried_with_backoff_then_succeeds(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_ordered_request("/f.csv").respond_with_data("busy", status=503)
    httpserver.expect_ordered_request("/f.csv").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/f.csv").respond_with_data(BODY)
    got = fetcher.get(httpserver.url_for("/f.csv"))
    assert got.body == BODY
    assert pauses == [1.0, 7.0]  # backoff, then the server's Retry-After
    assert fetcher.requests_made == 3


def test_a_server_that_keeps_failing_gives_a_plain_reason(
    httpserver: HTTPServer, fetcher: Fetcher
) -> None:
    httpserver.expect_request("/f.csv").respond_with_data("down", status=502)
    with pytest.raises(FetchError, match=r"answered 502 BAD GATEWAY \(gave up after 3 attempts"):
        fetcher.get(httpserver.url_for("/f.csv"))


def test_a_404_is_not_retried(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/gone.csv").respond_with_data("no", status=404)
    with pytest.raises(FetchError, match="answered 404") as e:
        fetcher.get(httpserver.url_for("/gone.csv"))
    assert e.value.status == 404 and fetcher.requests_made == 1


def test_a_redirect_is_followed(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/old.csv").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/new.csv")}
    )
    httpserver.expect_request("/new.csv").respond_with_data(BODY)
    got = fetcher.get(httpserver.url_for("/old.csv"))
    assert got.body == BODY and got.final_url.endswith("/new.csv")


def test_a_timeout_is_retried_then_reported(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response(BODY)

    httpserver.expect_request("/slow.csv").respond_with_handler(stall)
    f = Fetcher(Http(timeout_seconds=0.2, retries=1), sleep=pauses.append)
    try:
        with pytest.raises(FetchError, match=r"no answer within 0.2 s \(gave up after 2"):
            f.get(httpserver.url_for("/slow.csv"))
    finally:
        release.set()
        f.close()


@pytest.fixture
def truncating_server() -> Iterator[str]:
    """A server that promises 1,000 bytes and hangs up after 10."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/f.csv"
    stop.set()
    t.join()
    srv.close()


def test_a_truncated_body_is_an_error_not_a_file(truncating_server: str, fetcher: Fetcher):
    with pytest.raises(FetchError, match=r"broke off before it was complete.*990 more expected"):
        fetcher.get(truncating_server)
    assert fetcher.requests_made == 3  # retried, as a broken download usually is transient


def test_the_size_limit_stops_a_huge_download(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/big.zip").respond_with_data(b"x" * (1024 * 1024 + 1))
    with pytest.raises(FetchError, match="1048576-byte limit"):
        fetcher.get(httpserver.url_for("/big.zip"))


def test_a_large_file_streams_to_disk(
    httpserver: HTTPServer, fetcher: Fetcher, tmp_path: Path
) -> None:
    httpserver.expect_request("/f.zip").respond_with_data(BODY * 1000)
    got = fetcher.get(httpserver.url_for("/f.zip"), to_path=tmp_path / "f.zip")
    assert got.body is None and got.path == tmp_path / "f.zip"
    assert (tmp_path / "f.zip").read_bytes() == BODY * 1000
