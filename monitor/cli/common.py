"""What every command shares: the context from --config, errors, JSON output."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from monitor import config
from monitor.context import Context

F = TypeVar("F", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def context_of(tc: typer.Context) -> Context:
    """The Context of the --config file, loaded once per command; a bad file exits 2."""
    obj = tc.find_root().obj
    if isinstance(obj, Context):
        return obj
    try:
        ctx = Context.load(obj)
    except config.ConfigError as e:
        fail(str(e), code=2)
    tc.find_root().obj = ctx
    tc.find_root().call_on_close(ctx.close)
    return ctx


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    print(message, file=sys.stderr)
    raise typer.Exit(code)


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON (dates, sets and paths included)."""
    print(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def print_rows(
    rows: list[dict[str, Any]], *, as_json: bool, empty: str, line: Callable[[dict[str, Any]], str]
) -> None:
    """A listing: ``rows`` as JSON, else one ``line`` a row, or ``empty`` when there is none."""
    if as_json:
        print_json(rows)
        return
    if not rows:
        print(empty)
    for r in rows:
        print(line(r))


def _json_default(o: object) -> object:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, set | frozenset | tuple):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


class Commands:
    """Commands of one module, registered on the app by ``register`` (no import side effects)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Callable[..., Any]]] = []

    def __call__(self, name: str) -> Callable[[F], F]:
        def add(fn: F) -> F:
            self.items.append((name, fn))
            return fn

        return add

    def register(self, app: typer.Typer) -> None:
        for name, fn in self.items:
            app.command(name)(fn)
