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


def _not_yet(command: str, what: str) -> NoReturn:
    _fail(f"`monitor {command}` is not available yet: {what} is not built in this version.", 2)


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
    """Create or upgrade the schema, load the reference organisations, seed subscribers."""
    try:
        result = init(_ctx(tc))
    except config.ConfigError as e:
        _fail(str(e), 2)
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
    seeded = result["subscribers"]
    assert isinstance(seeded, dict)
    if seeded["added"] or seeded["unchanged"]:
        print(f"subscribers from config: {seeded['added']} added, {seeded['unchanged']} unchanged")


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
def backfill_cmd(tc: typer.Context, source: str, since: str | None = None) -> None:
    """Discover and ingest every earlier publication of a source."""
    _not_yet("backfill", "publisher discovery (the NHS England statistics sources)")


@app.command("poll")
def poll_cmd(
    tc: typer.Context,
    sources: Annotated[list[str] | None, typer.Argument()] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discover, fetch, ingest, evaluate and notify, once."""
    _not_yet("poll", "publisher discovery and fetching")


@app.command("evaluate")
def evaluate_cmd(
    tc: typer.Context,
    as_of: Annotated[str | None, typer.Option("--as-of")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate the rules against the stored figures."""
    _not_yet("evaluate", "the rules engine")


@app.command("alerts")
def alerts_cmd(
    tc: typer.Context,
    state: Annotated[str, typer.Option(help="open | resolved | all")] = "open",
    org: str | None = None,
    rule: str | None = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts."""
    _not_yet("alerts", "the rules engine")


@rules_app.command("check")
def rules_check_cmd(
    tc: typer.Context,
    directory: Annotated[Path | None, typer.Argument()] = None,
    strict: bool = False,
) -> None:
    """Validate every rule file; report every problem with file and key."""
    _not_yet("rules check", "the rules engine")


@rules_app.command("test")
def rules_test_cmd(
    tc: typer.Context, directory: Annotated[Path | None, typer.Argument()] = None
) -> None:
    """Run the test cases inside the rule files."""
    _not_yet("rules test", "the rules engine")


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
def users_add_cmd(tc: typer.Context, username: str) -> None:
    """Add a named operator."""
    _not_yet("users add", "the status page's admin actions")


@users_app.command("list")
def users_list_cmd(tc: typer.Context) -> None:
    """List named operators."""
    _not_yet("users list", "the status page's admin actions")


@users_app.command("remove")
def users_remove_cmd(tc: typer.Context, username: str) -> None:
    """Remove a named operator."""
    _not_yet("users remove", "the status page's admin actions")


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
def serve_cmd(tc: typer.Context, host: str | None = None, port: int | None = None) -> None:
    """Serve the status page and JSON API only."""
    _not_yet("serve", "the status page")


@app.command("run")
def run_cmd(
    tc: typer.Context,
    no_web: Annotated[bool, typer.Option("--no-web", help="Do not serve the status page.")] = False,
) -> None:
    """Run the service: the scheduler (and the status page) until stopped."""
    from monitor.service import run

    ctx = _ctx(tc)
    init(ctx)
    raise typer.Exit(run(ctx, web=not no_web))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
