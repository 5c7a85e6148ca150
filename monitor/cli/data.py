"""Publications and figures: init, orgs, ingest, observations, backfill, poll."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer

from monitor import config
from monitor.cli.common import Commands, JsonOpt, context_of, fail, print_json, print_rows
from monitor.service.setup import init
from monitor.sources import registry

command = Commands()


def _source(name: str) -> str:
    """A source the registry knows (the argument's check)."""
    try:
        return registry.get(name).name
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _statistics_source(name: str) -> str:
    """A publisher of statistics pages (the argument's check)."""
    try:
        return registry.statistics(name).name
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def _sources(names: list[str] | None) -> list[str] | None:
    return None if names is None else [_source(n) for n in names]


@command("init")
def init_cmd(tc: typer.Context, as_json: JsonOpt = False) -> None:
    """Create or upgrade the schema; load organisations, seed subscribers and the snapshot."""
    from monitor.db import private_dir
    from monitor.sources.seed import seed_and_evaluate

    ctx = context_of(tc)
    private_dir(ctx.var)  # before anything writes there: owner-only (0700)
    try:
        result = init(ctx)
    except config.ConfigError as e:
        fail(str(e), 2)
    seeded = seed_and_evaluate(ctx)
    result["seeded"] = [r.as_json() for r in seeded if r.status != "unchanged"]
    if as_json:
        print_json(result)
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
    merged = result["mergers"]
    assert isinstance(merged, dict)
    if merged["mergers"]:
        print(
            f"mergers: {', '.join(merged['mergers'])}: {merged['alerts_ended']} alerts ended, "
            f"{merged['subscriptions_moved']} subscriptions moved"
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


@command("orgs")
def orgs_cmd(
    tc: typer.Context,
    code: Annotated[str | None, typer.Argument(help="An ODS code, region code or ENG.")] = None,
    kind: Annotated[str | None, typer.Option(help="trust, other, icb, region, england")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region (Y56..Y63).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the reference organisations, or one of them."""
    from monitor import orgs as orgs_mod
    from monitor.web.queries import list_orgs

    ctx = context_of(tc)
    if code:
        from monitor.db import session_scope

        with session_scope(ctx.engine) as s:
            org = orgs_mod.get(s, code)
            if org is None:
                fail(f"no organisation {code.upper()!r}; see `monitor orgs` for the list")
            row = orgs_mod.as_dict(org)
        if as_json:
            print_json(row)
        else:
            for k, v in row.items():
                print(f"{k:>14}: {'' if v is None else v}")
        return
    rows = list_orgs(ctx.engine, kind=kind, region=region)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        print(
            f"{r['code']:<7} {r['kind']:<6} {r['trust_type'] or '':<14} {r['region'] or '':<4}"
            f" {r['name']}"
        )


@command("ingest")
def ingest_cmd(
    tc: typer.Context,
    source: Annotated[str, typer.Argument(help=" | ".join(registry.NAMES), callback=_source)],
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
    from monitor.sources.files import ingest_paths

    ctx = context_of(tc)
    published_at = None
    if published:
        try:
            published_at = datetime.combine(date.fromisoformat(published), datetime.min.time(), UTC)
        except ValueError:
            fail(f"--published: {published!r} is not a date (YYYY-MM-DD)", 2)
    reports = ingest_paths(ctx, source, files, published_at=published_at)
    if as_json:
        print_json([r.as_json() for r in reports])
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


@command("observations")
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
    from monitor.web.queries import observations

    if metric:
        try:
            metrics.get(metric)
        except metrics.UnknownMetric as e:
            fail(str(e.args[0]), 2)
    rows = observations(
        context_of(tc).engine, org.upper(), metric=metric, all_versions=all_versions
    )
    print_rows(
        rows,
        as_json=as_json,
        empty=f"no observations for {org.upper()}" + (f" of {metric}" if metric else ""),
        line=lambda r: (
            f"{r['metric']:<26} {r['period_start']} {r['value']:>12g} {r['label'] or '':<10}"
            f" {r['source']} {r['published_at'][:10]} {r['publication_url']}"
            + (" (superseded)" if r["superseded_by"] else "")
        ),
    )


@command("backfill")
def backfill_cmd(
    tc: typer.Context,
    source: Annotated[
        str,
        typer.Argument(help=" | ".join(registry.STATISTICS_NAMES), callback=_statistics_source),
    ],
    since: Annotated[
        str | None, typer.Option(help="Only periods from this month (YYYY-MM).")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discover and ingest every earlier publication of a source, oldest first, quietly."""
    from rich.progress import Progress

    from monitor.sources.poll import backfill

    start = None
    if since:
        try:
            start = date.fromisoformat(f"{since}-01")
        except ValueError:
            fail(f"--since: {since!r} is not a month (YYYY-MM)", 2)
    ctx = context_of(tc)
    with Progress(transient=True, disable=as_json) as bar:
        task = bar.add_task(f"{source}: discovering", total=None)

        def step(i: int, n: int, text: str) -> None:
            bar.update(task, total=n, completed=i - 1, description=f"{source}: {text}")

        report = backfill(ctx, source, since=start, progress=step)
    if as_json:
        print_json(report.as_json())
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


@command("poll")
def poll_cmd(
    tc: typer.Context,
    sources: Annotated[
        list[str] | None, typer.Argument(help=" | ".join(registry.NAMES), callback=_sources)
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Discover, fetch, ingest, evaluate and notify, once (each step recorded as a job run).

    Polls the named sources (default: every enabled one in config.toml); if anything new
    arrived, evaluates the rules and sends what that queued. Exits 1 when a step failed, 2 when
    every poll was skipped (e.g. the CQC without its subscription key).
    """
    from monitor.service import jobs

    ctx = context_of(tc)
    names = list(sources or jobs.default_sources(ctx.settings))
    if not names:
        fail("no source is enabled in the config ([sources.<name>])", 2)
    report = jobs.poll_and_notify(ctx, names, trigger="cli")
    steps = [*report.polls, *(r for r in (report.evaluate, report.send) if r is not None)]
    if as_json:
        print_json(report.as_json())
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
