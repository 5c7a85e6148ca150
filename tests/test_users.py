"""Named operators: `monitor users`, password hashes, the admin users variable, the secret."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.secret import SecretError, secret
from monitor.web import users

PASSWORD = "correct horse battery staple"
runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text("[paths]\nvar = 'var'\n")
    return p


def monitor(config_file: Path, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(config_file), *args], input=stdin)
    return r.exit_code, r.stdout, r.stderr


def test_users_add_list_remove(config_file: Path) -> None:
    monitor(config_file, "init")
    password = "correct horse battery staple\n"
    code, out, _ = monitor(config_file, "users", "add", "Alice", "--password-stdin", stdin=password)
    assert (code, out) == (0, "added operator alice\n")
    code, _, err = monitor(config_file, "users", "add", "alice", "--password-stdin", stdin=password)
    assert code == 2 and "already an operator called 'alice'" in err
    code, out, _ = monitor(config_file, "users", "list", "--json")
    assert [(u["username"], u["source"]) for u in json.loads(out)] == [("alice", "database")]
    assert monitor(config_file, "users", "remove", "alice")[0] == 0
    assert monitor(config_file, "users", "remove", "alice")[0] == 1


def test_users_add_print_gives_a_line_for_the_environment_variable(config_file: Path) -> None:
    code, out, _ = monitor(
        config_file, "users", "add", "bob", "--print", "--password-stdin", stdin="x" * 12
    )
    assert code == 0 and re.fullmatch(r"bob:scrypt:\S+\n", out)
    code, _, err = monitor(config_file, "users", "add", "bob", "--password-stdin", stdin="short")
    assert code == 2 and "at least 12 characters" in err


def test_users_are_hashed_and_checked(engine: Engine, config_file: Path) -> None:
    settings = config.load(config_file)
    with pytest.raises(users.UserError, match="at least 12"):
        users.add(engine, "carol", "short")
    with pytest.raises(users.UserError, match="not a usable name"):
        users.add(engine, "carol smith", PASSWORD)
    users.add(engine, "carol", PASSWORD)
    with pytest.raises(users.UserError, match="already"):
        users.add(engine, "Carol", PASSWORD)
    assert users.authenticate(engine, settings, "CAROL", PASSWORD) == "carol"
    assert users.authenticate(engine, settings, "carol", "wrong password!") is None
    assert [u["username"] for u in users.listing(engine, settings)] == ["carol"]
    assert users.remove(engine, "carol") and not users.remove(engine, "carol")


def test_the_admin_users_variable_must_be_name_colon_hash() -> None:
    pw_hash = users.hash_password(PASSWORD)
    assert users.parse_env(f"alice:{pw_hash}, bob:{pw_hash}\n") == {
        "alice": pw_hash,
        "bob": pw_hash,
    }
    with pytest.raises(users.UserError, match="entry 2 is not name:hash"):
        users.parse_env(f"alice:{pw_hash},bob", "MONITOR_ADMIN_USERS")
    assert pw_hash.startswith("scrypt:")  # the hash carries its own salt and parameters


def test_the_secret_comes_from_the_environment_or_is_made_once(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = Context(config.load(config_file))
    monkeypatch.delenv("MONITOR_SECRET", raising=False)
    first = secret(ctx)
    assert len(first) == 64 and secret(ctx) == first
    key = ctx.var / "secret.key"
    assert key.stat().st_mode & 0o777 == 0o600
    monkeypatch.setenv("MONITOR_SECRET", "s" * 32)
    assert secret(ctx) == b"s" * 32
    monkeypatch.setenv("MONITOR_SECRET", "short")
    with pytest.raises(SecretError, match="at least 16"):
        secret(ctx)
