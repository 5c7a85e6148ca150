"""Fixtures for the status page tests: an app over the `engine` fixture's database, seeded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import Engine
from web_seed import seed

from monitor import config
from monitor.context import Context
from monitor.web import create_app

ROOT = Path(__file__).resolve().parent.parent

CONFIG = """
[paths]
var = "var"
templates = "{templates}"

[web]
base_url = "https://alerts.example.nhs.uk"
admin_users_env = "MONITOR_TEST_ADMIN_USERS"

[security]
secret_env = "MONITOR_TEST_SECRET"

[sources.ae]
schedule = { day = "2nd thu", hour = 9, minute = 30 }

[sources.cqc]
every_minutes = 30
"""


def make_ctx(tmp_path: Path, engine: Engine, extra: str = "") -> Context:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG.replace("{templates}", str(ROOT / "templates")) + extra)
    return Context(config.parse(path.read_text(), path), engine)


@pytest.fixture
def ctx(tmp_path: Path, engine: Engine) -> Context:
    return make_ctx(tmp_path, engine)


@pytest.fixture
def ids(engine: Engine) -> dict[str, int]:
    return seed(engine)


@pytest.fixture
def app(ctx: Context, ids: dict[str, int]) -> Iterator[Flask]:
    app = create_app(ctx)
    app.config["TESTING"] = True
    # Re-read the data version on every request, so a test sees its own writes at once.
    app.extensions["monitor"].data_version.ttl = 0
    yield app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
