"""config.toml -> frozen, typed settings; loud on unknown keys and bad values.

The file is read once at start-up. Every problem stops start-up with the file, the dotted key
and the reason. Relative paths resolve against the folder holding the config file. Secrets are
never in the file: it names the environment variables that hold them (``*_env`` keys).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from monitor import vocab
from monitor.sources import registry
from monitor.vocab import LONDON, Severity

DEFAULT_CONFIG = Path("config.toml")
PROJECT = Path(__file__).resolve().parent.parent  # holds rules/, templates/, data/
ENV_CONFIG = "MONITOR_CONFIG"

CRON_FIELDS = {"year", "month", "day", "week", "day_of_week", "hour", "minute", "second"}
REGION_CODES = ("Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63")
SEVERITIES = vocab.SEVERITIES  # info < low < medium < high < critical
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ConfigError(Exception):
    """A config file that cannot be used; the message names the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_name(value: str | None) -> str | None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(
            f"must be the NAME of an environment variable (like MONITOR_SMTP_PASSWORD), "
            f"not {value!r}: secrets never go in config.toml"
        )
    return value


class Database(_Section):
    url: str = Field("", description="SQLAlchemy URL; empty means SQLite at <var>/monitor.db")
    url_env: str | None = Field(
        None, description="environment variable holding the URL (wins when set)"
    )

    _check_env = field_validator("url_env")(_env_name)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if v and not v.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite:/// or postgresql+psycopg://")
        return v


class Paths(_Section):
    rules: Path = Path("rules")
    templates: Path = Path("templates")
    templates_override: Path | None = None
    var: Path = Path("var")
    snapshot: Path | None = Field(
        None, description="real publications to seed an empty database from (the embedded default)"
    )
    node_modules: Path | None = Field(
        None, description="where `make assets` installed nhsuk-frontend (default: searched)"
    )


class Http(_Section):
    user_agent: str = "nhs-trust-monitor/0.1 (+https://github.com/nhs-trust-monitor)"
    timeout_seconds: float = Field(60, gt=0)
    max_mb: float = Field(200, gt=0, description="largest download accepted, in MB")
    retries: int = Field(4, ge=0, le=10)


class Source(_Section):
    enabled: bool = True
    index_url: str | None = None
    base_url: str | None = None
    schedule: dict[str, int | str] | None = None
    every_minutes: int | None = Field(None, ge=1)
    retry_every_minutes: int = Field(15, ge=1)
    retry_for_hours: float = Field(6, ge=0)
    grace_days: int = Field(
        3, ge=0, description="days after the expected publication before a source counts as late"
    )
    # cqc only
    api_key_env: str | None = None
    requests_per_minute: int = Field(600, ge=1, le=2000)
    overlap_days: int = Field(30, ge=0)
    regions: tuple[str, ...] = ()

    _check_env = field_validator("api_key_env")(_env_name)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: dict[str, int | str] | None) -> dict[str, int | str] | None:
        if v is None:
            return v
        unknown = set(v) - CRON_FIELDS
        if unknown:
            raise ValueError(
                f"unknown cron field(s) {', '.join(sorted(unknown))}; "
                f"use {', '.join(sorted(CRON_FIELDS))}"
            )
        from apscheduler.triggers.cron import CronTrigger

        try:
            CronTrigger(**v, timezone=LONDON)
        except (ValueError, TypeError) as e:
            raise ValueError(f"not a valid schedule: {e}") from None
        hour = v.get("hour")
        if isinstance(hour, int) and 1 <= hour <= 2:
            raise ValueError(
                "calendar jobs must avoid 01:00-02:59 Europe/London, when clock changes "
                "make them fire twice or not at all"
            )
        return v

    @field_validator("regions")
    @classmethod
    def _regions(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [r for r in v if r not in REGION_CODES]
        if bad:
            raise ValueError(f"unknown region code(s) {bad}; use {', '.join(REGION_CODES)}")
        return v

    @model_validator(mode="after")
    def _one_timing(self) -> Source:
        if self.schedule is not None and self.every_minutes is not None:
            raise ValueError("give either schedule or every_minutes, not both")
        return self


class Mail(_Section):
    transport: Literal["smtp", "maildir"] = "maildir"
    from_: str = Field("NHS trust monitor <monitor@localhost>", alias="from")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    ssl: bool = False
    username_env: str | None = None
    password_env: str | None = None
    maildir: Path = Path("var/outbox")
    operators: tuple[EmailStr, ...] = ()
    batch_size: int = Field(200, ge=1)
    list_id: str = "NHS trust alerts <alerts.nhs-trust-monitor.local>"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    _check_env = field_validator("username_env", "password_env")(_env_name)

    @model_validator(mode="after")
    def _tls(self) -> Mail:
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl are exclusive: ssl is TLS from the first byte")
        return self


class Web(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    base_url: str = "http://127.0.0.1:8000"
    admin_users_env: str | None = "MONITOR_ADMIN_USERS"
    threads: int = Field(8, ge=1)
    trusted_proxies: int = Field(
        0, ge=0, le=5, description="reverse proxies in front that set X-Forwarded-For"
    )

    _check_env = field_validator("admin_users_env")(_env_name)

    @field_validator("base_url")
    @classmethod
    def _strip(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class Chat(_Section):
    """Chat channels (Teams, Slack, signed webhooks): docs/notifications.md."""

    webhook_secret_env: str = "MONITOR_WEBHOOK_SECRET"
    timeout_seconds: float = Field(10, gt=0, le=120)

    _check_env = field_validator("webhook_secret_env")(_env_name)


class Metrics(_Section):
    """/metrics (docs/service.md): open, or only with a bearer token from the environment."""

    token_env: str | None = None

    _check_env = field_validator("token_env")(_env_name)


class Security(_Section):
    secret_env: str = "MONITOR_SECRET"

    _check_env = field_validator("secret_env")(_env_name)


class Digest(_Section):
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] = "mon"
    time: dt.time = Field(default_factory=lambda: dt.time(7, 0))
    timezone: str = "Europe/London"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


# A domain of an email address: labels of letters, digits and hyphens, at least two labels.
_DOMAIN = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")


class Subscriptions(_Section):
    double_opt_in: bool = False
    # Self-service sign-ups (/subscribe); operators and the CLI are not limited.
    allowed_domains: tuple[str, ...] = Field(
        (), description="email domains that may sign up (and their subdomains); empty: any"
    )
    pending_per_address: int = Field(
        3, ge=1, description="sign-ups an address may have awaiting confirmation at once"
    )
    signups_per_address_per_day: int = Field(5, ge=1)
    signups_per_client_per_hour: int = Field(20, ge=1)

    @field_validator("allowed_domains", mode="before")
    @classmethod
    def _domains(cls, v: Any) -> Any:
        if not isinstance(v, list | tuple):
            return v
        out = []
        for d in v:
            name = str(d).strip().lower()
            if not _DOMAIN.match(name):
                raise ValueError(
                    f'{d!r} is not an email domain; write it like "nhs.net" (no @, no dots '
                    "at either end)"
                )
            out.append(name)
        return tuple(out)


class SubscriberSeed(_Section):
    email: EmailStr
    region: str | None = None
    icb: str | None = None
    org: str | None = None
    trust_type: str | None = None
    min_severity: Severity = Severity.INFO
    rules: tuple[str, ...] = ()
    digest_only: bool = False
    board_pack: str | None = None  # "link" or "attachment": the trust's monthly board pack

    @model_validator(mode="after")
    def _one_scope(self) -> SubscriberSeed:
        given = [k for k in ("region", "icb", "org") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("give exactly one of region, icb or org")
        if self.region and self.region not in REGION_CODES:
            raise ValueError(f"unknown region {self.region!r}; use {', '.join(REGION_CODES)}")
        return self


class Settings(_Section):
    """Everything config.toml says, with paths made absolute."""

    database: Database = Database()
    paths: Paths = Paths()
    http: Http = Http()
    sources: dict[str, Source] = Field(default_factory=dict)
    mail: Mail = Mail()
    chat: Chat = Chat()
    metrics: Metrics = Metrics()
    web: Web = Web()
    security: Security = Security()
    digest: Digest = Digest()
    subscriptions: Subscriptions = Subscriptions()
    subscribers: tuple[SubscriberSeed, ...] = ()
    config_path: Path | None = Field(None, exclude=True)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, v: dict[str, Source]) -> dict[str, Source]:
        unknown = set(v) - set(registry.NAMES)
        if unknown:
            raise ValueError(
                f"unknown source(s) {', '.join(sorted(unknown))}; use {', '.join(registry.NAMES)}"
            )
        return v

    @property
    def database_url(self) -> str:
        if self.database.url_env and os.environ.get(self.database.url_env):
            return os.environ[self.database.url_env]
        if self.database.url:
            return self.database.url
        return f"sqlite:///{self.paths.var / 'monitor.db'}"

    def source(self, name: str) -> Source:
        """The ``[sources.<name>]`` settings (the defaults when the file has no such table)."""
        return self.sources.get(name, Source())

    def enabled_sources(self) -> list[str]:
        """The sources with an enabled ``[sources.<name>]`` table, in the registry's order."""
        return [n for n in registry.NAMES if n in self.sources and self.sources[n].enabled]

    def env(self, name: str | None) -> str | None:
        """The value of the environment variable a ``*_env`` key names (None when unset)."""
        return os.environ.get(name) if name else None


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = p.expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _absolutise(raw: dict[str, Any], base: Path) -> None:
    """Resolve relative paths (and a relative SQLite URL) against the config file's folder."""
    paths = raw.get("paths")
    if isinstance(paths, dict):
        for k, v in list(paths.items()):
            if isinstance(v, str):
                paths[k] = str(_resolve(base, Path(v)))
    mail = raw.get("mail")
    if isinstance(mail, dict) and isinstance(mail.get("maildir"), str):
        mail["maildir"] = str(_resolve(base, Path(mail["maildir"])))
    db = raw.get("database")
    if isinstance(db, dict) and isinstance(db.get("url"), str):
        url = db["url"]
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
            rel = url.removeprefix("sqlite:///")
            if rel and rel != ":memory:":
                db["url"] = f"sqlite:///{_resolve(base, Path(rel))}"


def _describe(err: ValidationError, path: Path) -> str:
    lines = [f"{path}: {err.error_count()} problem(s):"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-after"))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (misspelt, or not a setting of this section)"
        lines.append(f"  {key or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse(text: str, path: Path) -> Settings:
    """Settings from the text of a config file at ``path`` (used for resolving paths)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML: {e}") from None
    base = path.resolve().parent
    _absolutise(raw, base)
    raw.setdefault("paths", {})
    # The project's own rule pack and templates unless the file names others; state next to it.
    raw["paths"].setdefault("rules", str(PROJECT / "rules"))
    raw["paths"].setdefault("templates", str(PROJECT / "templates"))
    raw["paths"].setdefault("var", str(base / "var"))
    raw.setdefault("mail", {}).setdefault("maildir", str(Path(raw["paths"]["var"]) / "outbox"))
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_describe(e, path)) from None
    return settings.model_copy(update={"config_path": path.resolve()})


def load(path: Path | str | None = None) -> Settings:
    """Read and validate a config file (default: $MONITOR_CONFIG or ./config.toml)."""
    p = Path(path or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    return parse(text, p)
