"""The `monitor` command: thin wrappers that parse arguments, call a function and print.

Every command takes the global ``--config PATH`` (default ./config.toml or $MONITOR_CONFIG);
``--json`` prints machine-readable output. A command whose part of the monitor is not built yet
says so and exits 2.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from monitor import config
from monitor.context import Context, init, setup_logging

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Watch NHS England and CQC publications and alert when an NHS trust falls short.",
)
rules_app = typer.Typer(no_args_is_help=True, help="Check and test the rule files.")
subscribers_app = typer.Typer(no_args_is_help=True, help="Manage email subscriptions.")
users_app = typer.Typer(no_args_is_help=True, help="Named operators for admin actions.")
app.add_typer(rules_app, name="rules")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(users_app, name="users")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _ctx(tc: typer.Context) -> Context:
    obj = tc.find_root().obj
    if isinstance(obj, Context):
        return obj
    try:
        ctx = Context.load(obj)
    except config.ConfigError as e:
        _fail(str(e), code=2)
    tc.find_root().obj = ctx
    tc.find_root().call_on_close(ctx.close)
    return ctx


def _fail(message: str, code: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    raise typer.Exit(code)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default, ensure_ascii=False))


def _json_default(o: object) -> object:
    if isinstance(o, datetime | date):
        return o.isoformat()
    if isinstance(o, set | frozenset | tuple):
        return sorted(o)
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot serialise {type(o).__name__}")


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


@app.command("init")
def init_cmd(tc: typer.Context, as_json: JsonOpt = False) -> None:
    """Create or upgrade the schema, load the reference organisations, seed the subscribers
    from config.toml and the snapshot of real publications."""
    from monitor.seed import seed_and_evaluate

    ctx = _ctx(tc)
    try:
        result = init(ctx)
    except config.ConfigError as e:
        _fail(str(e), 2)
    seeded = seed_and_evaluate(ctx)
    result["seeded"] = [r.as_json() for r in seeded if r.status != "unchanged"]
    if as_json:
        _print_json(result)
        return
    counts = result["organisations"]
    assert isinstance(counts, dict)
    schema = result["schema"]
    was = result["schema_before"]
    print(f"database: {result['database']}")
    print(f"schema:   {schema}" + ("" if was == schema else f" (was {was or 'empty'})"))
    print(
        f"organisations: {counts['added']} added, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged"
    )
    subscribers = result["subscribers"]
    assert isinstance(subscribers, dict)
    if subscribers["added"] or subscribers["unchanged"]:
        print(
            f"subscribers from config: {subscribers['added']} added, "
            f"{subscribers['unchanged']} unchanged"
        )
    if seeded:
        new = [r for r in seeded if r.status == "ingested"]
        bad = [r for r in seeded if r.status == "rejected"]
        print(
            f"snapshot: {len(new)} publications ingested, "
            f"{len(seeded) - len(new) - len(bad)} already held, {len(bad)} rejected"
        )
        for r in bad:
            print(f"  rejected {r.file}: {r.error}")


@app.command("orgs")
def orgs_cmd(
    tc: typer.Context,
    code: Annotated[str | None, typer.Argument(help="An ODS code, region code or ENG.")] = None,
    kind: Annotated[str | None, typer.Option(help="trust, other, icb, region, england")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region (Y56..Y63).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the reference organisations, or one of them."""
    from monitor import orgs as orgs_mod
    from monitor.queries import list_orgs

    ctx = _ctx(tc)
    if code:
        from monitor.db import session_scope

        with session_scope(ctx.engine) as s:
            org = orgs_mod.get(s, code)
            if org is None:
                _fail(f"no organisation {code.upper()!r}; see `monitor orgs` for the list")
            row = orgs_mod.as_dict(org)
        if as_json:
            _print_json(row)
        else:
            for k, v in row.items():
                print(f"{k:>14}: {'' if v is None else v}")
        return
    rows = list_orgs(ctx.engine, kind=kind, region=region)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        print(
            f"{r['code']:<7} {r['kind']:<6} {r['trust_type'] or '':<14} {r['region'] or '':<4}"
            f" {r['name']}"
        )


@app.command("ingest")
def ingest_cmd(
    tc: typer.Context,
    source: Annotated[str, typer.Argument(help="ae | cancer | rtt | ambulance | oversight | cqc")],
    files: Annotated[
        list[Path], typer.Argument(help="Files to ingest.", exists=True, dir_okay=False)
    ],
    published: Annotated[
        str | None,
        typer.Option(help="The publisher's date (YYYY-MM-DD); default: the file's date."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest publications from disk, exactly as polling would."""
    from monitor.ingest_cli import ingest_paths

    ctx = _ctx(tc)
    published_at = None
    if published:
        try:
            published_at = datetime.combine(date.fromisoformat(published), datetime.min.time(), UTC)
        except ValueError:
            _fail(f"--published: {published!r} is not a date (YYYY-MM-DD)", 2)
    try:
        reports = ingest_paths(ctx, source, files, published_at=published_at)
    except LookupError as e:
        _fail(f"`monitor ingest {source}` is not available yet: {e}.", 2)
    except ValueError as e:
        _fail(str(e), 2)
    if as_json:
        _print_json([r.as_json() for r in reports])
    else:
        for r in reports:
            print(f"{r.file}: {r.status}")
            if r.error:
                print(f"  error: {r.error}")
                continue
            if r.status == "unchanged":
                print(f"  the same bytes were already ingested as publication {r.publication_id}")
                continue
            print(f"  periods: {', '.join(r.periods) or 'none'}")
            print(
                f"  rows read: {r.rows_read}; observations written: {r.observations_written}"
                f" ({r.revisions} revisions); organisations: {r.orgs}"
            )
            if r.new_orgs:
                print(f"  organisations added as 'other': {', '.join(r.new_orgs)}")
            for sk in r.skipped[:20]:
                print(f"  skipped row {sk['row']}: {sk['reason']}")
            if len(r.skipped) > 20:
                print(f"  ... and {len(r.skipped) - 20} more skipped rows (see --json)")
    if any(r.status == "rejected" for r in reports):
        raise typer.Exit(1)


@app.command("observations")
def observations_cmd(
    tc: typer.Context,
    org: Annotated[str, typer.Argument(help="ODS code, region code or ENG.")],
    metric: Annotated[str | None, typer.Option(help="Only this metric id.")] = None,
    all_versions: Annotated[
        bool, typer.Option("--all-versions", help="Include superseded (revised) figures.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Print an organisation's figures with the publication each came from."""
    from monitor import metrics
    from monitor.queries import observations

    if metric:
        try:
            metrics.get(metric)
        except metrics.UnknownMetric as e:
            _fail(str(e.args[0]), 2)
    rows = observations(_ctx(tc).engine, org.upper(), metric=metric, all_versions=all_versions)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        print(f"no observations for {org.upper()}" + (f" of {metric}" if metric else ""))
    for r in rows:
        flag = " (superseded)" if r["superseded_by"] else ""
        print(
            f"{r['metric']:<26} {r['period_start']} {r['value']:>12g} {r['label'] or '':<10}"
            f" {r['source']} {r['published_at'][:10]} {r['publication_url']}{flag}"
        )


@app.command("backfill")
def backfill_cmd(
    tc: typer.Context,
    source: Annotated[str, typer.Argument(help="ae | cancer | rtt | ambulance | oversight")],
    since: Annotated[
        str | None, typer.Option(help="Only periods from this month (YYYY-MM).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discover and ingest every earlier publication of a source, oldest first, quietly."""
    from rich.progress import Progress

    from monitor.poll import backfill

    start = None
    if since:
        try:
            start = date.fromisoformat(f"{since}-01")
        except ValueError:
            _fail(f"--since: {since!r} is not a month (YYYY-MM)", 2)
    ctx = _ctx(tc)
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{source}: discovering", total=None)

        def step(i: int, n: int, text: str) -> None:
            bar.update(task, total=n, completed=i - 1, description=f"{source}: {text}")

        report = backfill(ctx, source, since=start, progress=step)
    if as_json:
        _print_json(report.as_json())
    else:
        done = [r for r in report.ingested if r.status == "ingested"]
        print(
            f"{source}: {report.pages} pages read, {len(done)} publications ingested, "
            f"{report.files_unchanged} unchanged"
        )
        for r in report.ingested:
            print(
                f"  {r.file}: {r.status} {', '.join(r.periods)}"
                + (f" ({r.error})" if r.error else "")
            )
        for e in report.errors:
            print(f"  error: {e}", file=sys.stderr)
    if not report.ok:
        raise typer.Exit(1)


@app.command("poll")
def poll_cmd(
    tc: typer.Context,
    sources: Annotated[list[str] | None, typer.Argument()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discover, fetch, ingest, evaluate and notify, once (each step recorded as a job run).

    Polls the named sources (default: every enabled one in config.toml); if anything new
    arrived, evaluates the rules and sends what that queued. Exits 1 when a step failed, 2 when
    no named source is built in this version.
    """
    from monitor import jobs

    ctx = _ctx(tc)
    names = list(sources or jobs.default_sources(ctx.settings))
    unknown = [n for n in names if n not in config.SOURCE_NAMES]
    if unknown:
        _fail(f"unknown source(s) {', '.join(unknown)}; use {', '.join(config.SOURCE_NAMES)}", 2)
    if not names:
        _fail("no source is enabled in the config ([sources.<name>])", 2)
    report = jobs.poll_and_notify(ctx, names, trigger="cli")
    steps = [*report.polls, *(r for r in (report.evaluate, report.send) if r is not None)]
    if as_json:
        _print_json(report.as_json())
    else:
        for r in steps:
            counts = ", ".join(f"{k} {v}" for k, v in r.counts.items() if k != "trigger")
            print(f"{r.job:<16} {r.outcome:<8} {r.error or counts}")
        if not report.found_new and any(p.outcome == "ok" for p in report.polls):
            print("nothing new: no evaluation needed")
    if any(r.outcome == "failed" for r in steps):
        raise typer.Exit(1)
    if all(p.outcome == "skipped" for p in report.polls):
        raise typer.Exit(2)


@app.command("evaluate")
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
            _fail(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)", 2)
    ctx = _ctx(tc)
    try:
        run = evaluate_db(ctx, as_of=day, dry_run=dry_run, router=_router(ctx))
    except RuleFileError as e:
        _fail(f"the rules have errors; see `monitor rules check`:\n{e}", 2)
    if as_json:
        _print_json(run.as_json())
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


@app.command("alerts")
def alerts_cmd(
    tc: typer.Context,
    state: Annotated[str, typer.Option(help="open | resolved | all")] = "open",
    org: Annotated[str | None, typer.Option(help="Only this organisation.")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule id.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts: open means pending or firing (acknowledged and silenced included)."""
    from monitor.rules.run import list_alerts

    if state not in ("open", "resolved", "all"):
        _fail(f"--state: {state!r}: use open, resolved or all", 2)
    rows = list_alerts(_ctx(tc), state=state, org=org, rule=rule)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        print(f"no {state} alerts" + (f" for {org.upper()}" if org else ""))
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:g}"
        print(
            f"#{r['id']:<5} {r['state']:<9} {r['severity']:<8} {r['org']:<6} {r['rule']:<32}"
            f" {r['period_start'] or '':<10} {value}"
        )


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

    folder = directory or _ctx(tc).settings.paths.rules
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

    folder = directory or _ctx(tc).settings.paths.rules
    pack = load_rules(folder, today=today_in_london())
    if pack.errors:
        text, _ = check_report(pack)
        _fail(f"the rule files have errors:\n{text}", 1)
    text, code = report_results(run_tests(pack), verbose=verbose)
    print(text)
    raise typer.Exit(code)


ScopeOpt = Annotated[str | None, typer.Option(help="A region code, e.g. Y61.")]


def _scope(region: str | None, icb: str | None, org: str | None) -> tuple[str, str] | None:
    given = [(k, v) for k, v in (("region", region), ("icb", icb), ("org", org)) if v]
    if len(given) > 1:
        _fail("give one of --region, --icb or --org", 2)
    return given[0] if given else None


@subscribers_app.command("add")
def subscribers_add_cmd(
    tc: typer.Context,
    email: Annotated[str, typer.Argument(help="The address to send to.")],
    region: ScopeOpt = None,
    icb: Annotated[str | None, typer.Option(help="An ICB code, e.g. QMM.")] = None,
    org: Annotated[str | None, typer.Option(help="An organisation's ODS code, e.g. RCX.")] = None,
    trust_type: Annotated[
        str | None, typer.Option(help="Only trusts of this type, e.g. acute.")
    ] = None,
    min_severity: Annotated[
        str, typer.Option(help="info, low, medium, high or critical.")
    ] = "info",
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Only these rules (repeatable).")
    ] = None,
    digest_only: Annotated[
        bool, typer.Option("--digest-only", help="The weekly digest only, no alert emails.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe an address to a region, an ICB or one organisation."""
    from monitor.db import session_scope
    from monitor.notify import subscriptions as subs

    scope = _scope(region, icb, org)
    if scope is None:
        _fail("give one of --region, --icb or --org", 2)
    ctx = _ctx(tc)
    req = subs.Request(
        email, scope[0], scope[1], trust_type, min_severity, tuple(rule or ()), digest_only
    )
    try:
        with session_scope(ctx.engine, write=True) as s:
            sub, created = subs.add(s, ctx.settings, req)
            row = subs.as_dict(sub)
    except subs.InvalidSubscription as e:
        _fail(str(e), 2)
    if as_json:
        _print_json({**row, "created": created})
        return
    from monitor.notify.tokens import describe_subscription

    what = describe_subscription(sub)
    if not created:
        print(f"{row['email']} already has this subscription (#{row['id']}): {what}")
    elif not row["confirmed"]:
        print(f"added #{row['id']} {row['email']}: {what}; awaiting confirmation by email")
    else:
        print(f"added #{row['id']} {row['email']}: {what}")


@subscribers_app.command("list")
def subscribers_list_cmd(
    tc: typer.Context,
    email: Annotated[str | None, typer.Option(help="Only this address.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include ended subscriptions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List subscriptions."""
    from monitor.db import session_scope
    from monitor.notify import subscriptions as subs
    from monitor.notify.tokens import describe_subscription

    ctx = _ctx(tc)
    try:
        with session_scope(ctx.engine) as s:
            found = subs.list_subscriptions(s, email=email, include_ended=all_)
    except subs.InvalidSubscription as e:
        _fail(str(e), 2)
    if as_json:
        _print_json([subs.as_dict(x) for x in found])
        return
    if not found:
        print("no subscriptions")
    for x in found:
        state = (
            "ended"
            if x.unsubscribed_at
            else "awaiting confirmation"
            if x.confirmed_at is None
            else "active"
        )
        print(f"#{x.id:<5} {x.email:<40} {describe_subscription(x)} [{state}; {x.origin}]")


@subscribers_app.command("remove")
def subscribers_remove_cmd(
    tc: typer.Context,
    email: Annotated[str, typer.Argument(help="The address whose subscriptions end.")],
    region: ScopeOpt = None,
    icb: Annotated[str | None, typer.Option(help="Only the subscription to this ICB.")] = None,
    org: Annotated[str | None, typer.Option(help="Only the subscription to this org.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """End an address's subscriptions (all of them, or the one to a region, ICB or org)."""
    from monitor.db import session_scope
    from monitor.notify import subscriptions as subs
    from monitor.notify.tokens import describe_subscription

    scope = _scope(region, icb, org)
    ctx = _ctx(tc)
    try:
        with session_scope(ctx.engine, write=True) as s:
            ended = subs.remove(
                s, email, scope=scope[0] if scope else None, code=scope[1] if scope else None
            )
    except subs.InvalidSubscription as e:
        _fail(str(e), 2)
    if as_json:
        _print_json([subs.as_dict(x) for x in ended])
        return
    if not ended:
        _fail(f"no active subscription of {email} matches", 1)
    for x in ended:
        print(f"ended #{x.id} {x.email}: {describe_subscription(x)}")


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
    from monitor import users

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        if print_only:
            print(f"{users.check_username(username)}:{users.hash_password(password)}")
            return
        name = users.add(_ctx(tc).engine, username, password)
    except users.UserError as e:
        _fail(str(e), 2)
    print(f"added operator {name}")


@users_app.command("list")
def users_list_cmd(tc: typer.Context, as_json: JsonOpt = False) -> None:
    """List named operators, from the environment variable and the database."""
    from monitor import users

    ctx = _ctx(tc)
    try:
        rows = users.listing(ctx.engine, ctx.settings)
    except users.UserError as e:
        _fail(str(e), 2)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        print("no operators; add one with `monitor users add NAME`")
    for r in rows:
        print(f"{r['username']:<24} {r['source']}{' (disabled)' if r['disabled'] else ''}")


@users_app.command("remove")
def users_remove_cmd(tc: typer.Context, username: str) -> None:
    """Remove a named operator from the database."""
    from monitor import users

    ctx = _ctx(tc)
    if users.remove(ctx.engine, username):
        print(f"removed operator {username.strip().lower()}")
        return
    env_name = ctx.settings.web.admin_users_env
    if username.strip().lower() in users.env_users(ctx.settings):
        _fail(f"{username!r} comes from the environment variable {env_name}; edit it there")
    _fail(f"no operator called {username!r}")


PreviewOpt = Annotated[
    Path | None,
    typer.Option(help="Write .eml and .html files here instead of sending.", file_okay=False),
]


@app.command("send")
def send_cmd(tc: typer.Context, preview: PreviewOpt = None, as_json: JsonOpt = False) -> None:
    """Deliver what waits in the outbox (or write it as .eml/.html to look at)."""
    ctx = _ctx(tc)
    if preview is not None:
        from monitor.notify import preview as previews

        paths = previews.outbox(ctx.engine, ctx.settings, preview)
        _print_written(paths, preview, as_json)
        return
    from monitor.notify.outbox import deliver

    report = deliver(ctx.engine, ctx.settings)
    _print_delivery(report.as_json(), as_json)


def _print_written(paths: list[Path], directory: Path, as_json: bool) -> None:
    if as_json:
        _print_json([str(p) for p in paths])
        return
    emails = [p for p in paths if p.suffix == ".eml"]
    print(f"{len(emails)} message(s) written to {directory} (.eml and .html); nothing was sent")
    for p in emails:
        print(f"  {p.name}")


def _print_delivery(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(report)
    else:
        print(
            f"sent {report['sent']}, failed {report['failed']}, retrying later "
            f"{report['retrying']}, cancelled {report['cancelled']}"
        )
        for err in report["errors"][:20]:
            print(f"  {err}")
    if report["failed"] or (report["retrying"] and not report["sent"]):
        raise typer.Exit(1)


@app.command("digest")
def digest_cmd(
    tc: typer.Context,
    week: Annotated[
        str | None, typer.Option(help="The ISO week to report on, e.g. 2025-W33.")
    ] = None,
    preview: PreviewOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue and send the weekly digest (default: the latest week due), or preview it."""
    from monitor.notify import digest

    ctx = _ctx(tc)
    if week is not None:
        try:
            digest.parse_week(week)
        except ValueError as e:
            _fail(f"--week: {e}", 2)
    if preview is not None:
        from monitor.notify import preview as previews

        paths = previews.digests(ctx.engine, ctx.settings, preview, week=week)
        _print_written(paths, preview, as_json)
        return
    from monitor.notify.outbox import deliver

    queued = digest.queue(ctx.engine, ctx.settings, week=week)
    report = deliver(ctx.engine, ctx.settings).as_json()
    if not as_json:
        print(f"digests queued: {len(queued)} (a recipient's digest is queued once a week)")
    _print_delivery({**report, "queued": queued} if as_json else report, as_json)


@app.command("serve")
def serve_cmd(
    tc: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on ([web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port ([web] port); 0 picks a free one.")] = None,
) -> None:
    """Serve the status page and JSON API only (run several behind a load balancer)."""
    from monitor import db
    from monitor.web.server import serve

    ctx = _ctx(tc)
    current, head = db.current_revision(ctx.engine), db.head_revision()
    if current != head:
        _fail(
            f"the database schema is at {current or 'nothing'}, not {head}: "
            "run `monitor init` first",
            2,
        )
    raise typer.Exit(serve(ctx, host, port))


@app.command("run")
def run_cmd(
    tc: typer.Context,
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the status page.")] = False,
) -> None:
    """Run the service: the scheduler (and the status page) until stopped.

    The process that leads brings the schema up, seeds the snapshot and evaluates it before its
    first job; on PostgreSQL a second runner waits as a standby.
    """
    from monitor.service import run

    ctx = _ctx(tc)
    try:
        code = run(ctx, web=not no_web)
    except config.ConfigError as e:
        _fail(str(e), 2)
    raise typer.Exit(code)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
