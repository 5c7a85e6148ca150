"""What a command or a job needs: the settings, and an engine made from them once."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine

from monitor import config, db


@dataclass
class Context:
    """The settings of one config file, and the database engine made from them on first use."""

    settings: config.Settings
    _engine: Engine | None = field(default=None, repr=False)

    @classmethod
    def load(cls, path: Path | str | None = None) -> Context:
        """The context of the config file at ``path`` (see config.load for the default)."""
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


def setup_logging(verbose: bool = False) -> None:
    """Log to stderr at INFO ($MONITOR_LOG_LEVEL), or DEBUG when ``verbose``."""
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
