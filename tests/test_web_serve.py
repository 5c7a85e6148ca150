"""`monitor serve` as production runs it: a real waitress process on 127.0.0.1."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner
from web_seed import seed

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.web import cache

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(f"[paths]\nvar = 'var'\ntemplates = '{ROOT / 'templates'}'\n")
    return p


def monitor(config_file: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(config_file), *args], input=stdin)
    return r.exit_code, r.stdout, r.stderr


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


@pytest.fixture
def served(config_file: Path) -> Iterator[int]:
    """A `monitor serve --port 0` process on a seeded database; yields its port."""
    assert monitor(config_file, "init")[0] == 0
    ctx = Context(config.load(config_file))
    seed(ctx.engine)
    ctx.close()
    cmd = [
        sys.executable,
        "-m",
        "monitor.cli",
        "--config",
        str(config_file),
        "serve",
        "--port",
        "0",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stderr is not None
    port = None
    log = []
    for line in proc.stderr:  # wait for the line naming the port, not for a fixed time
        log.append(line)
        found = re.search(r"status page on http://127\.0\.0\.1:(\d+)/", line)
        if found:
            port = int(found.group(1))
            break
    assert port, "".join(log)
    try:
        # Poll until it answers (the socket is bound before the log line, so this is quick).
        for _ in range(100):
            try:
                if get(port, "/healthz")[0] == 200:
                    break
            except ConnectionError:
                continue
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        proc.stderr.close()
    assert proc.returncode == 0, "".join(log)


def test_serve_answers_pages_and_api_over_http(served: int) -> None:
    status, headers, body = get(served, "/")
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"The Queen Elizabeth Hospital, King&#39;s Lynn, NHS Foundation Trust" in body
    assert get(served, "/", {"If-None-Match": headers["etag"]})[0] == 304
    status, headers, body = get(served, "/api/v1/alerts?region=Y61")
    assert status == 200 and json.loads(body)["alerts"][0]["org"] == "RCX"
    assert get(served, "/readyz")[0] == 503  # no scheduler is running


def test_serve_refuses_a_database_that_is_not_initialised(config_file: Path) -> None:
    code, _, err = monitor(config_file, "serve", "--port", "0")
    assert code == 2 and "run `monitor init` first" in err


def test_a_cached_page_goes_out_again_byte_for_byte_with_the_same_headers(served: int) -> None:
    for path in ("/", "/api/v1/alerts?region=Y61", "/orgs/RCX"):
        first = get(served, path)  # rendered by the app
        again = [get(served, path) for _ in range(3)]  # then from the page cache
        assert first[0] == 200 and all(a[0] == 200 for a in again)
        assert all(a[2] == first[2] for a in again)
        drop = {"date"}  # set by the server at each response
        want = {k: v for k, v in first[1].items() if k not in drop}
        assert all({k: v for k, v in a[1].items() if k not in drop} == want for a in again)
        assert "content-security-policy" in want and want["cache-control"] == "no-cache"
        assert get(served, path, {"If-None-Match": want["etag"]})[0] == 304
        # A request with a session cookie goes to the app, which checks who is signed in.
        status, headers, _ = get(served, path, {"Cookie": "monitor_session=x"})
        assert status == 200 and headers.get("etag") == want["etag"]


def test_a_client_that_accepts_gzip_gets_the_cached_page_gzipped(served: int) -> None:
    gz = {"Accept-Encoding": "gzip, deflate, br"}
    for path in ("/", "/api/v1/alerts", "/orgs/RCX"):
        plain = get(served, path)
        packed = [get(served, path, gz) for _ in range(3)]  # by the app, then from the cache
        assert plain[0] == 200 and "content-encoding" not in plain[1], path
        assert all(p[0] == 200 and p[1]["content-encoding"] == "gzip" for p in packed)
        assert all(gzip.decompress(p[2]) == plain[2] for p in packed)
        assert all(len(p[2]) < len(plain[2]) / 2 for p in packed)
        assert all(p[1] == {**packed[0][1], "date": p[1]["date"]} for p in packed)
        assert all(
            "Accept-Encoding" in h["vary"] and "Cookie" in h["vary"]
            for h in (plain[1], *[p[1] for p in packed])
        )
        # Each form has its own validator, and answers 304 to it.
        assert packed[0][1]["etag"] != plain[1]["etag"]
        status, headers, body = get(served, path, {**gz, "If-None-Match": packed[0][1]["etag"]})
        assert (status, body, "content-encoding" in headers) == (304, b"", False)
        assert get(served, path, {**gz, "If-None-Match": plain[1]["etag"]})[0] == 200
        # Refused with q=0: the plain page.
        refused = get(served, path, {"Accept-Encoding": "gzip;q=0, *"})
        assert refused[2] == plain[2] and "content-encoding" not in refused[1]
    # A small body goes as it is: compressing it would save next to nothing.
    small = get(served, "/api/v1/alerts?region=Y61", gz)
    assert len(small[2]) < cache.GZIP_MIN_BYTES and "content-encoding" not in small[1]


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("br;q=1.0, *;q=0.1", True),
        ("", False),
        ("identity", False),
        ("deflate, br", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, *", False),
        ("*;q=0", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_as_rfc_9110_says(header: str, accepted: bool) -> None:
    assert cache.accepts_gzip(header) is accepted
