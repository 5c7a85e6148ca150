"""Running it: the status page (serve), its operators (users), the service (run)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from monitor import config
from monitor.cli.common import Commands, JsonOpt, context_of, fail, print_rows

command = Commands()

users_app = typer.Typer(no_args_is_help=True, help="Named operators for admin actions.")


@users_app.command("add")
def users_add_cmd(
    tc: typer.Context,
    username: Annotated[str, typer.Argument(help="The operator's name, e.g. alice.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    print_only: Annotated[
        bool,
        typer.Option(
            "--print",
            help="Print NAME:HASH for the [web] admin_users_env variable; store nothing.",
        ),
    ] = False,
) -> None:
    """Add a named operator (asks for the password twice unless --password-stdin)."""
    from monitor.web import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        if print_only:
            print(f"{users.check_username(username)}:{users.hash_password(password)}")
            return
        name = users.add(context_of(tc).engine, username, password)
    except users.UserError as e:
        fail(str(e), 2)
    print(f"added operator {name}")


@users_app.command("list")
def users_list_cmd(tc: typer.Context, as_json: JsonOpt = False) -> None:
    """List named operators, from the environment variable and the database."""
    from monitor.web import users

    ctx = context_of(tc)
    try:
        rows = users.listing(ctx.engine, ctx.settings)
    except users.UserError as e:
        fail(str(e), 2)
    print_rows(
        rows,
        as_json=as_json,
        empty="no operators; add one with `monitor users add NAME`",
        line=lambda r: f"{r['username']:<24} {r['source']}{' (disabled)' if r['disabled'] else ''}",
    )


@users_app.command("remove")
def users_remove_cmd(tc: typer.Context, username: str) -> None:
    """Remove a named operator from the database."""
    from monitor.web import users

    ctx = context_of(tc)
    if users.remove(ctx.engine, username):
        print(f"removed operator {username.strip().lower()}")
        return
    env_name = ctx.settings.web.admin_users_env
    if username.strip().lower() in users.env_users(ctx.settings):
        fail(f"{username!r} comes from the environment variable {env_name}; edit it there")
    fail(f"no operator called {username!r}")


@command("serve")
def serve_cmd(
    tc: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on ([web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port ([web] port); 0 picks a free one.")] = None,
) -> None:
    """Serve the status page and JSON API only (run several behind a load balancer)."""
    from monitor import db
    from monitor.web.server import serve

    ctx = context_of(tc)
    current, head = db.current_revision(ctx.engine), db.head_revision()
    if current != head:
        fail(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `monitor init` first",
            2,
        )
    raise typer.Exit(serve(ctx, host, port))


@command("run")
def run_cmd(
    tc: typer.Context,
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the status page.")] = False,
) -> None:
    """Run the service: the scheduler (and the status page) until stopped.

    The process that leads brings the schema up, seeds the snapshot and evaluates it before its
    first job; on PostgreSQL a second runner waits as a standby.
    """
    from monitor.db import private_dir
    from monitor.service.runner import run

    ctx = context_of(tc)
    private_dir(ctx.var)  # before the lock file or the database is made there: owner-only (0700)
    try:
        code = run(ctx, web=not no_web)
    except config.ConfigError as e:
        fail(str(e), 2)
    raise typer.Exit(code)
