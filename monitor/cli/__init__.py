"""The `monitor` command: thin wrappers that parse arguments, call a function and print.

Every command takes the global ``--config PATH`` (default ./config.toml or $MONITOR_CONFIG);
``--json`` prints machine-readable output. The commands live beside this file, one module per
part of the monitor, and are registered here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from monitor.cli import alerts, board, data, notify, service, spc
from monitor.context import setup_logging

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Watch NHS England and CQC publications and alert when an NHS trust falls short.",
)


@app.callback()
def main_options(
    tc: typer.Context,
    config_path: Annotated[
        Path | None,
        typer.Option("--config", help="config.toml to use (default ./config.toml)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Debug logging.")] = False,
) -> None:
    setup_logging(verbose)
    tc.obj = config_path


for module in (data, alerts, notify, service, spc, board):
    module.command.register(app)
app.add_typer(alerts.rules_app, name="rules")
app.add_typer(notify.subscribers_app, name="subscribers")
app.add_typer(service.users_app, name="users")


def main() -> None:
    app()
