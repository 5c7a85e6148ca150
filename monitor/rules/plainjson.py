"""Frozen dataclasses as JSON and back: dates as ISO strings, tuples of dataclasses as lists.

What the database's JSON columns hold (alert evidence): a row written by an older version reads
back with defaults for the keys it lacks, and keys the type no longer has are ignored.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

T = TypeVar("T")
_KINDS: dict[type, dict[str, str | type]] = {}


def to_json(v: Any) -> Any:
    """``v`` as JSON-ready values: dataclasses as dicts, dates as ISO strings."""
    if isinstance(v, date):  # datetimes too
        return v.isoformat()
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {f.name: to_json(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, tuple):
        return [to_json(x) for x in v]
    return v


def read(cls: type[T], data: Mapping[str, Any], *, nested: tuple[type, ...] = ()) -> T:
    """An instance of the dataclass ``cls`` from JSON; ``nested`` are the dataclasses its
    tuple fields hold."""
    kinds = _field_kinds(cls, nested)
    return cls(**{k: _value(kinds[k], v, nested) for k, v in data.items() if k in kinds})


def _field_kinds(cls: type, nested: tuple[type, ...]) -> dict[str, str | type]:
    """Field name -> "date", "datetime", "plain", or the class of the values a tuple holds."""
    kinds = _KINDS.get(cls)
    if kinds is None:
        kinds = {}
        for name, hint in typing.get_type_hints(cls).items():
            args = set(typing.get_args(hint)) | {hint}
            inner = next((n for n in nested if n in args), None)
            if inner is not None:
                kinds[name] = inner
            elif datetime in args:
                kinds[name] = "datetime"
            elif date in args:
                kinds[name] = "date"
            else:
                kinds[name] = "plain"
        _KINDS[cls] = kinds
    return kinds


def _value(kind: str | type, v: Any, nested: tuple[type, ...]) -> Any:
    if isinstance(kind, type):
        out: list[Any] = []
        for item in v or ():
            if not isinstance(item, Mapping):
                continue
            try:
                out.append(read(kind, item, nested=nested))
            except TypeError:  # an older row without a required key: left out
                continue
        return tuple(out)
    if not isinstance(v, str) or kind == "plain":
        return v
    return datetime.fromisoformat(v) if kind == "datetime" else date.fromisoformat(v[:10])
