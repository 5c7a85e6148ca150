"""A fresh install's var/ is the owner's only (0700), whichever command makes it first."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from monitor import config
from monitor.context import Context
from monitor.db import is_sqlite
from monitor.secret import SECRET_FILE
from monitor.service.setup import init
from tests.test_ingest_hardening import mode, umask_022  # noqa: F401  (fixture)

URL_ENV = "MONITOR_TEST_RUN_DATABASE_URL"


@pytest.mark.usefixtures("umask_022")
def test_monitor_run_without_init_makes_var_the_owners_only(tmp_path: Path, engine: Engine) -> None:
    """`monitor run` as the first command of an install: on SQLite it makes var/ for the lock
    file and the database; on PostgreSQL the leader's set-up makes it for the secret."""
    cfg = tmp_path / "config.toml"
    env = {k: v for k, v in os.environ.items() if k != "MONITOR_SECRET"}  # made in var/
    env["PYTHONUNBUFFERED"] = "1"
    text = '[paths]\nvar = "var"\n'
    if not is_sqlite(engine):
        text += f'[database]\nurl_env = "{URL_ENV}"\n'
        env[URL_ENV] = engine.url.render_as_string(hide_password=False)
    cfg.write_text(text)
    var = tmp_path / "var"
    assert not var.exists()
    cmd = [sys.executable, "-m", "monitor.cli", "--config", str(cfg), "run", "--no-web"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # wait by reading its log: set-up is done before this line
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, "".join(lines) + err
    assert mode(var) == 0o700
    made = {p.name: mode(p) for p in var.iterdir()}
    assert made, "the run wrote nothing under var/"
    if is_sqlite(engine):
        assert made["monitor.db"] == 0o600
    assert made[SECRET_FILE] == 0o600


@pytest.mark.usefixtures("umask_022")
def test_the_set_up_makes_var_the_owners_only(tmp_path: Path, engine: Engine) -> None:
    """The set-up `monitor run` does before its first job, called on an install with no var/."""
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    ctx = Context(config.load(cfg), engine)
    var = tmp_path / "var"
    assert not var.exists()
    init(ctx)
    assert mode(var) == 0o700
    init(ctx)  # again: nothing changes
    assert mode(var) == 0o700
