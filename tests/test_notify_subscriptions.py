"""Subscriptions as data: add, list, remove, seeds, double opt-in, and signed link tokens."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.db import session_scope
from monitor.models import Outbox, Subscription
from monitor.notify import subscriptions as subs
from monitor.notify import tokens
from tests import alert_fixtures as af

runner = CliRunner()


def add(engine: Engine, settings: object, email: str, scope: str, code: str, **kw: object):
    with session_scope(engine, write=True) as s:
        return subs.add(s, settings, subs.Request(email, scope, code, **kw))  # type: ignore[arg-type]


# --- the CLI ---------------------------------------------------------------------------


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(
        "[paths]\nvar = 'var'\n\n"
        "[[subscribers]]\nemail = 'east.oversight@example.nhs.uk'\nregion = 'Y61'\n"
        "min_severity = 'high'\n"
    )
    return p


def monitor(config_file: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(config_file), *args])
    return r.exit_code, r.stdout, r.stderr


def test_init_seeds_subscribers_from_config_once(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONITOR_SECRET", raising=False)
    code, out, _ = monitor(config_file, "init")
    assert code == 0 and "subscribers from config: 1 added, 0 unchanged" in out
    assert (config_file.parent / "var" / "secret.key").exists()  # made on the first run
    code, out, _ = monitor(config_file, "init", "--json")
    assert json.loads(out)["subscribers"] == {"added": 0, "unchanged": 1}
    code, out, _ = monitor(config_file, "subscribers", "list", "--json")
    (row,) = json.loads(out)
    assert (row["email"], row["scope"], row["code"], row["min_severity"], row["origin"]) == (
        "east.oversight@example.nhs.uk",
        "region",
        "Y61",
        "high",
        "config",
    )
    assert "token" not in row


def test_a_seed_someone_unsubscribed_from_stays_unsubscribed(config_file: Path) -> None:
    monitor(config_file, "init")
    code, out, _ = monitor(config_file, "subscribers", "remove", "east.oversight@example.nhs.uk")
    assert code == 0 and "ended #1" in out
    monitor(config_file, "init")
    code, out, _ = monitor(config_file, "subscribers", "list", "--json")
    assert json.loads(out) == []


def test_subscribers_add_list_and_remove(config_file: Path) -> None:
    monitor(config_file, "init")
    code, out, err = monitor(
        config_file,
        "subscribers",
        "add",
        "Board@QEHKL.nhs.uk",
        "--org",
        "rcx",
        "--min-severity",
        "medium",
        "--rule",
        "ae_type1_below_60",
        "--rule",
        "cancer_62d_below_85",
    )
    assert code == 0, err
    assert "added #2 Board@qehkl.nhs.uk: org RCX, medium and above" in out
    code, out, _ = monitor(
        config_file,
        "subscribers",
        "add",
        "Board@qehkl.nhs.uk",
        "--org",
        "RCX",
        "--min-severity",
        "medium",
        "--rule",
        "cancer_62d_below_85",
        "--rule",
        "ae_type1_below_60",
    )
    assert code == 0 and "already has this subscription (#2)" in out
    code, out, _ = monitor(
        config_file,
        "subscribers",
        "add",
        "icb@example.nhs.uk",
        "--icb",
        "QMM",
        "--trust-type",
        "acute",
        "--digest-only",
        "--json",
    )
    row = json.loads(out)
    assert (row["scope"], row["code"], row["trust_type"], row["digest_only"]) == (
        "icb",
        "QMM",
        "acute",
        True,
    )
    code, out, _ = monitor(config_file, "subscribers", "list")
    assert out.count("[active;") == 3
    code, out, _ = monitor(
        config_file, "subscribers", "remove", "icb@example.nhs.uk", "--icb", "QMM"
    )
    assert code == 0
    code, out, _ = monitor(config_file, "subscribers", "list", "--all")
    assert "[ended; cli]" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-an-address", "--region", "Y61"], "'not-an-address' is not a valid email address"),
        (["a@@example.nhs.uk", "--org", "RCX"], "is not a valid email address"),
        (["a@example.nhs.uk"], "give one of --region, --icb or --org"),
        (["a@example.nhs.uk", "--region", "Y61", "--org", "RCX"], "give one of"),
        (["a@example.nhs.uk", "--region", "Y99"], "unknown region 'Y99'"),
        (["a@example.nhs.uk", "--org", "XYZ"], "unknown organisation 'XYZ'"),
        (["a@example.nhs.uk", "--icb", "RCX"], "unknown ICB 'RCX'"),
        (["a@example.nhs.uk", "--org", "RCX", "--trust-type", "acoot"], "unknown trust type"),
        (["a@example.nhs.uk", "--org", "RCX", "--min-severity", "dire"], "unknown severity"),
        (["a@example.nhs.uk", "--org", "RCX", "--rule", "../etc"], "not a rule id"),
    ],
)
def test_a_bad_subscription_is_refused_at_add(
    config_file: Path, args: list[str], message: str
) -> None:
    monitor(config_file, "init")
    code, out, err = monitor(config_file, "subscribers", "add", *args)
    assert code == 2 and message in err and out == ""
    code, out, _ = monitor(config_file, "subscribers", "list", "--json")
    assert len(json.loads(out)) == 1  # only the seed


def test_an_unknown_rule_is_refused_once_rule_files_exist(tmp_path: Path, engine: Engine) -> None:
    settings = af.settings(tmp_path)
    settings.paths.rules.mkdir()
    (settings.paths.rules / "ae_type1_below_60.toml").write_text("")
    add(engine, settings, "a@example.nhs.uk", "org", "RCX", rules=("ae_type1_below_60",))
    with pytest.raises(subs.InvalidSubscription, match="no rule file for ae_typo"):
        add(engine, settings, "a@example.nhs.uk", "org", "RCX", rules=("ae_typo",))


# --- double opt-in and tokens -----------------------------------------------------------


def test_double_opt_in_queues_a_confirmation_and_waits(tmp_path: Path, engine: Engine) -> None:
    settings = af.settings(tmp_path, subscriptions={"double_opt_in": True})
    sub, created = add(engine, settings, "new@example.nhs.uk", "region", "East of England")
    assert created and sub.code == "Y61" and sub.confirmed_at is None
    with session_scope(engine) as s:
        (row,) = s.exec(select(Outbox)).all()
        assert (row.kind, row.key) == ("confirm", f"confirm:{sub.id}:new@example.nhs.uk")
        assert subs.active(s) == []
    secret = tokens.load_secret(settings)
    forged = tokens.sign(b"another secret", tokens.CONFIRM, [sub.token])
    assert tokens.confirm(engine, forged, settings=settings).status == "invalid"
    # A token signed for unsubscribing does not confirm, and vice versa.
    wrong_purpose = tokens.sign(secret, tokens.UNSUBSCRIBE, [sub.token])
    assert tokens.confirm(engine, wrong_purpose, settings=settings).status == "invalid"
    result = tokens.confirm(
        engine, tokens.sign(secret, tokens.CONFIRM, [sub.token]), settings=settings
    )
    assert (result.ok, result.status) == (True, "confirmed")
    with session_scope(engine) as s:
        assert [x.id for x in subs.active(s)] == [sub.id]


def test_one_click_unsubscribe_ends_the_subscriptions_the_token_names(
    tmp_path: Path, engine: Engine
) -> None:
    settings = af.settings(tmp_path)
    region, _ = add(engine, settings, "east@example.nhs.uk", "region", "Y61")
    org, _ = add(engine, settings, "east@example.nhs.uk", "org", "RCX")
    token = tokens.sign(tokens.load_secret(settings), tokens.UNSUBSCRIBE, [region.token])

    shown = tokens.describe_unsubscribe(engine, token, settings=settings)
    assert (shown.status, shown.subscriptions) == ("preview", ["region Y61"])
    done = tokens.unsubscribe(engine, token, settings=settings)
    assert (done.ok, done.status, done.email) == (True, "unsubscribed", "east@example.nhs.uk")
    assert "region Y61" in done.message
    again = tokens.unsubscribe(engine, token, settings=settings)
    assert (again.ok, again.status) == (True, "already")
    with session_scope(engine) as s:
        assert [x.id for x in subs.active(s)] == [org.id]  # the other subscription stays


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: "forged-token.AAAAAAAAAAAAAAAAAAAAAA",
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.split(".")[0],  # signature cut off
        lambda t: "",
    ],
)
def test_a_forged_or_tampered_token_does_nothing_and_says_so(
    tmp_path: Path, engine: Engine, tamper: object
) -> None:
    settings = af.settings(tmp_path)
    sub, _ = add(engine, settings, "east@example.nhs.uk", "region", "Y61")
    good = tokens.sign(tokens.load_secret(settings), tokens.UNSUBSCRIBE, [sub.token])
    result = tokens.unsubscribe(engine, tamper(good), settings=settings)  # type: ignore[operator]
    assert (result.ok, result.status) == (False, "invalid")
    assert "not valid" in result.message and "Nothing was changed" in result.message
    with session_scope(engine) as s:
        assert s.get_one(Subscription, sub.id).unsubscribed_at is None


def test_the_secret_comes_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = af.settings(tmp_path)
    monkeypatch.delenv("MONITOR_SECRET", raising=False)
    first = tokens.load_secret(settings)
    path = settings.paths.var / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 64
    assert tokens.load_secret(settings) == first  # kept across restarts
    monkeypatch.setenv("MONITOR_SECRET", "from-the-environment")
    assert tokens.load_secret(settings) == b"from-the-environment"
    signed = tokens.sign(b"from-the-environment", tokens.UNSUBSCRIBE, ["abc"])
    assert tokens.verify(first, tokens.UNSUBSCRIBE, signed) is None
