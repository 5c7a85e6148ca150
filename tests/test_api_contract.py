"""The JSON API keeps to its OpenAPI document: schemathesis against the real app on 127.0.0.1
over a seeded database (a short run here; `make chaos` runs a long one), and the answers a
fuzzer found wrong once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from sqlalchemy.engine import Engine
from web_fixtures import make_ctx, serving
from web_seed import seed

from monitor.context import Context

# How many cases per operation: a short run by default; `make chaos` asks for more.
EXAMPLES_ENV = "MONITOR_SCHEMATHESIS_EXAMPLES"


@pytest.fixture
def seeded(tmp_path: Path, engine: Engine) -> Context:
    seed(engine)
    return make_ctx(tmp_path, engine)


def test_the_api_keeps_to_its_document_under_schemathesis(seeded: Context, tmp_path: Path) -> None:
    examples = os.environ.get(EXAMPLES_ENV, "25")
    st = Path(sys.executable).with_name("st")
    with serving(seeded) as base:
        result = subprocess.run(
            [
                str(st),
                "run",
                f"{base}/api/v1/openapi.json",
                "--url",
                f"{base}/api/v1",
                "--checks",
                "all",
                "--max-examples",
                examples,
                "--seed",
                "20261207",
                "--generation-deterministic",
                "--workers",
                "1",
                "--report",
                "junit",
                "--report-dir",
                str(tmp_path / "report"),
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,  # its cache folder goes there
            env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""},
        )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout or " passed" in result.stdout, result.stdout


def test_an_alert_id_beyond_64_bits_is_not_found(seeded: Context) -> None:
    with serving(seeded) as base:
        for id_ in (2**63, 2**64 + 1, 10**30):
            r = requests.get(f"{base}/api/v1/alerts/{id_}", timeout=30)
            assert (r.status_code, r.json()["status"]) == (404, 404)
            assert requests.get(f"{base}/alerts/{id_}", timeout=30).status_code == 404


def test_a_wrong_method_answers_405_with_allow(seeded: Context) -> None:
    with serving(seeded) as base:
        r = requests.delete(f"{base}/api/v1/alerts", timeout=30)
        assert r.status_code == 405 and r.json()["status"] == 405
        assert {m.strip() for m in r.headers["Allow"].split(",")} >= {"GET", "HEAD", "OPTIONS"}
        r = requests.put(f"{base}/login", timeout=30)
        assert r.status_code == 405 and "POST" in r.headers["Allow"]


def test_hsts_when_the_base_url_is_https(tmp_path: Path, engine: Engine) -> None:
    for base_url, expected in (
        ("https://alerts.example.nhs.uk", "max-age=31536000"),
        ("http://127.0.0.1:8080", None),
    ):
        with serving(make_ctx(tmp_path, engine, base_url=base_url)) as base:
            r = requests.get(f"{base}/healthz", timeout=30)
            assert r.headers.get("Strict-Transport-Security") == expected


def test_every_status_an_operation_answers_is_in_the_document(seeded: Context) -> None:
    with serving(seeded) as base:
        doc = requests.get(f"{base}/api/v1/openapi.json", timeout=30).json()
        alert_id = requests.get(f"{base}/api/v1/alerts", timeout=30).json()["alerts"][0]["id"]
        cases = {
            "/alerts": ["?page=1", "?page=9999", "?metric=null", "?page=0"],
            "/alerts/{id}": [f"/{alert_id}", "/999999"],
            "/orgs/{code}": ["/RCX", "/NOPE"],
            "/orgs/{code}/observations": ["/RCX", "/NOPE", "/RCX?metric=nope"],
            "/sources": [""],
        }
        for template, suffixes in cases.items():
            documented = set(doc["paths"][template]["get"]["responses"])
            prefix = template.split("/{")[0]
            for suffix in suffixes:
                path = f"{base}/api/v1{prefix}{suffix}"
                if template.endswith("observations"):
                    code, _, query = suffix.partition("?")
                    path = f"{base}/api/v1/orgs{code}/observations" + (f"?{query}" if query else "")
                r = requests.get(path, timeout=30)
                assert str(r.status_code) in documented, (path, r.status_code, documented)
                if r.status_code == 200:
                    again = requests.get(
                        path, headers={"If-None-Match": r.headers["ETag"]}, timeout=30
                    )
                    assert again.status_code == 304 and "304" in documented, path
