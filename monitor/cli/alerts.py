"""Rules and alerts: evaluate, alerts, rules check, rules test."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import Commands, JsonOpt, context_of, fail, print_json, print_rows
from monitor.context import Context

command = Commands()

rules_app = typer.Typer(no_args_is_help=True, help="Check and test the rule files.")


@command("evaluate")
def evaluate_cmd(
    tc: typer.Context,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Replay the history as known on this date (never writes)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would fire, update and resolve.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the rules against the stored figures and update the alerts."""
    from monitor.rules.load import RuleFileError
    from monitor.rules.run import evaluate_db

    day = None
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)", 2)
    ctx = context_of(tc)
    try:
        run = evaluate_db(ctx, as_of=day, dry_run=dry_run, router=_router(ctx))
    except RuleFileError as e:
        fail(f"the rules have errors; see `monitor rules check`:\n{e}", 2)
    if as_json:
        print_json(run.as_json())
        return
    what = "would be written (dry run)" if run.dry_run else "written"
    print(f"as of {run.as_of}: {run.findings} findings; events {what}:")
    for p in run.plans:
        for line in p.lines():
            print(f"  {line}")
    counts = run.counts()
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


def _router(ctx: Context) -> Any:
    """The notifications routing hook: alert events -> outbox rows, in the same transaction."""
    from monitor.notify.routing import route

    return lambda session, events: route(session, events, settings=ctx.settings)


@command("alerts")
def alerts_cmd(
    tc: typer.Context,
    state: Annotated[str, typer.Option(help="open | resolved | all")] = "open",
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts: open means pending or firing (acknowledged and silenced included)."""
    from monitor.rules.run import list_alerts
    from monitor.vocab import STATE_FILTERS

    if state not in STATE_FILTERS:
        fail(f"--state: {state!r}: use {', '.join(STATE_FILTERS)}", 2)
    rows = list_alerts(context_of(tc), state=state, org=org, rule=rule)

    def line(r: dict[str, Any]) -> str:
        value = "" if r["value"] is None else f"{r['value']:g}"
        return (
            f"#{r['id']:<5} {r['state']:<9} {r['severity']:<8} {r['org']:<6} {r['rule']:<32}"
            f" {r['period_start'] or '':<10} {value}"
        )

    empty = f"no {state} alerts" + (f" for {org.upper()}" if org else "")
    print_rows(rows, as_json=as_json, empty=empty, line=line)


@rules_app.command("check")
def rules_check_cmd(
    tc: typer.Context,
    directory: Annotated[Path | None, typer.Argument(help="Default: [paths] rules.")] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="A past next_review date is an error.")
    ] = False,
) -> None:
    """Validate every rule file; report every problem with file and key."""
    from monitor.rules.load import check_report, load_rules
    from monitor.rules.run import today_in_london

    folder = directory or context_of(tc).settings.paths.rules
    text, code = check_report(load_rules(folder, today=today_in_london(), strict=strict))
    print(text)
    raise typer.Exit(code)


@rules_app.command("test")
def rules_test_cmd(
    tc: typer.Context,
    directory: Annotated[Path | None, typer.Argument(help="Default: [paths] rules.")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Show passing cases.")] = False,
) -> None:
    """Run the test cases inside the rule files."""
    from monitor.rules.load import check_report, load_rules
    from monitor.rules.run import today_in_london
    from monitor.rules.testcases import report_results, run_tests

    folder = directory or context_of(tc).settings.paths.rules
    pack = load_rules(folder, today=today_in_london())
    if pack.errors:
        text, _ = check_report(pack)
        fail(f"the rule files have errors:\n{text}", 1)
    text, code = report_results(run_tests(pack), verbose=verbose)
    print(text)
    raise typer.Exit(code)
