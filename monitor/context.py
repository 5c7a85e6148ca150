"""What a command or a job needs: the settings, and an engine made from them once."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor import config, db, orgs
from monitor.models import Meta, utcnow


@dataclass
class Context:
    settings: config.Settings
    _engine: Engine | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Context:
        return cls(config.load(path))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = db.make_engine(self.settings.database_url)
        return self._engine

    @property
    def var(self) -> Path:
        return self.settings.paths.var

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def init(ctx: Context) -> dict[str, object]:
    """Create or upgrade the schema, load the reference organisations and add the
    ``[[subscribers]]`` seeds of config.toml (idempotent)."""
    from monitor.notify import subscriptions, tokens

    ctx.var.mkdir(parents=True, exist_ok=True)
    # Made now, on the first run, so every process that signs links later finds the same one.
    tokens.load_secret(ctx.settings)
    before, after = db.upgrade(ctx.engine)
    with db.session_scope(ctx.engine, write=True) as s:
        counts = orgs.load_reference(s)
        if counts["added"] or counts["updated"]:
            meta = s.get(Meta, "reference_loaded_at") or Meta(key="reference_loaded_at", value="")
            meta.value = utcnow().isoformat()
            meta.updated_at = utcnow()
            s.add(meta)
        try:
            seeded = subscriptions.seed(s, ctx.settings)
        except subscriptions.InvalidSubscription as e:
            raise config.ConfigError(f"{ctx.settings.config_path}: {e}") from None
    return {
        "database": ctx.engine.url.render_as_string(hide_password=True),
        "schema_before": before,
        "schema": after,
        "organisations": counts,
        "subscribers": seeded,
    }


def setup_logging(verbose: bool = False) -> None:
    level = (
        logging.DEBUG
        if verbose
        else getattr(logging, os.environ.get("MONITOR_LOG_LEVEL", "INFO").upper(), logging.INFO)
    )
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # requests/urllib3 are chatty at DEBUG about every connection.
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))
