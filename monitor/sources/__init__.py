"""The publishers: one module per source, each reading discover -> fetch -> parse -> ingest."""

from __future__ import annotations

import importlib
from types import ModuleType

from monitor.metrics import PUBLISHERS

SOURCES: tuple[str, ...] = PUBLISHERS


class SourceNotAvailable(LookupError):
    """A source name the monitor knows but whose module is not part of this build."""


def module(source: str) -> ModuleType:
    """The module implementing ``source``; raises SourceNotAvailable or ValueError."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
    try:
        return importlib.import_module(f"monitor.sources.{source}")
    except ModuleNotFoundError as e:
        if e.name == f"monitor.sources.{source}":
            raise SourceNotAvailable(f"the {source} publisher is not implemented yet") from None
        raise
