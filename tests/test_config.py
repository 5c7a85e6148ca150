"""config.toml: the embedded default loads; every mistake names the file and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor import config

ROOT = Path(__file__).resolve().parent.parent


def load_text(tmp_path: Path, text: str) -> config.Settings:
    p = tmp_path / "config.toml"
    p.write_text(text)
    return config.load(p)


def test_the_embedded_default_loads_with_paths_next_to_it() -> None:
    s = config.load(ROOT / "config.toml")
    assert s.database_url == f"sqlite:///{ROOT / 'var' / 'monitor.db'}"
    assert s.paths.rules == ROOT / "rules"
    assert s.mail.transport == "maildir"
    assert s.mail.maildir == ROOT / "var" / "outbox"
    assert s.source("ae").schedule == {"day": "2nd thu", "hour": 9, "minute": 30}
    assert s.source("cqc").every_minutes == 30
    assert s.digest.day == "mon" and s.digest.time.hour == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[databse]\nurl = 'sqlite:///x.db'\n", "databse: unknown key"),
        ("[sources.ae]\nshedule = { hour = 9 }\n", "sources.ae.shedule: unknown key"),
        ("[sources.nhs111]\nenabled = true\n", "unknown source(s) nhs111"),
        ("[web]\nport = 'eighty'\n", "web.port: Input should be a valid integer"),
        ("[mail]\ntransport = 'pigeon'\n", "mail.transport: Input should be 'smtp' or 'maildir'"),
        ("[mail]\npassword_env = 'hunter2 secret'\n", "mail.password_env: must be the NAME"),
        (
            "[sources.ae]\nschedule = { day = '2nd thu', hour = 1, minute = 30 }\n",
            "sources.ae.schedule: calendar jobs must avoid 01:00-02:59",
        ),
        ("[sources.ae]\nschedule = { day = 'someday' }\n", "sources.ae.schedule: not a valid"),
        ("[sources.cqc]\nregions = ['Y99']\n", "unknown region code(s) ['Y99']"),
        ("[digest]\ntimezone = 'Mars/Olympus'\n", "digest.timezone: unknown time zone"),
        ("[database]\nurl = 'mysql://x'\n", "database.url: must start with sqlite:///"),
        ("[[subscribers]]\nemail = 'a@example.org'\n", "give exactly one of region, icb or org"),
        (
            "[[subscribers]]\nemail = 'not an address'\nregion = 'Y61'\n",
            "subscribers.0.email: value is not a valid email address",
        ),
        ("[web\n", "not valid TOML"),
    ],
)
def test_a_mistake_stops_start_up_naming_the_file_and_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(config.ConfigError) as e:
        load_text(tmp_path, text)
    assert str(tmp_path / "config.toml") in str(e.value)
    assert expected in str(e.value)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    s = load_text(tmp_path, "[paths]\nvar = 'state'\nrules = '../shared-rules'\n")
    assert s.paths.var == tmp_path / "state"
    assert s.paths.rules == (tmp_path.parent / "shared-rules").resolve()
    assert s.database_url == f"sqlite:///{tmp_path / 'state' / 'monitor.db'}"
    assert s.mail.maildir == tmp_path / "state" / "outbox"


def test_the_database_url_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = load_text(tmp_path, "[database]\nurl_env = 'MY_DB'\n")
    monkeypatch.setenv("MY_DB", "postgresql+psycopg://u:secret@db/monitor")
    assert s.database_url == "postgresql+psycopg://u:secret@db/monitor"


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load_text(tmp_path, "")
    with pytest.raises(ValueError):
        s.web.port = 1  # type: ignore[misc]


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = []
    for section, model in config.Settings.model_fields.items():
        if section == "config_path":
            continue
        inner = model.annotation
        fields = getattr(inner, "model_fields", None)
        if section == "sources":
            fields = config.Source.model_fields
        if section == "subscribers":
            fields = config.SubscriberSeed.model_fields
        for name, f in (fields or {}).items():
            key = f.alias or name
            if not re.search(rf"`{re.escape(key)}`", readme):
                missing.append(f"{section}.{key}")
    assert missing == [], f"settings missing from README.md's Configuration section: {missing}"
