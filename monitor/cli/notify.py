"""Email: subscribers, send, digest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from monitor.cli.common import Commands, JsonOpt, context_of, fail, print_json
from monitor.vocab import Severity

command = Commands()

subscribers_app = typer.Typer(
    no_args_is_help=True, help="Manage subscriptions (email, Teams, Slack, webhooks)."
)


ScopeOpt = Annotated[str | None, typer.Option(help="A region code, e.g. Y61.")]


def _scope(region: str | None, icb: str | None, org: str | None) -> tuple[str, str] | None:
    given = [(k, v) for k, v in (("region", region), ("icb", icb), ("org", org)) if v]
    if len(given) > 1:
        fail("give one of --region, --icb or --org", 2)
    return given[0] if given else None


@subscribers_app.command("add")
def subscribers_add_cmd(
    tc: typer.Context,
    email: Annotated[
        str, typer.Argument(help="The address to send to, or a chat channel's webhook URL.")
    ],
    region: ScopeOpt = None,
    icb: Annotated[str | None, typer.Option(help="An ICB code, e.g. QMM.")] = None,
    org: Annotated[str | None, typer.Option(help="An organisation's ODS code, e.g. RCX.")] = None,
    trust_type: Annotated[
        str | None, typer.Option(help="Only trusts of this type, e.g. acute.")
    ] = None,
    min_severity: Annotated[
        str, typer.Option(help="info, low, medium, high or critical.")
    ] = Severity.INFO,
    rule: Annotated[
        list[str] | None, typer.Option("--rule", help="Only these rules (repeatable).")
    ] = None,
    digest_only: Annotated[
        bool, typer.Option("--digest-only", help="The weekly digest only, no alert emails.")
    ] = False,
    board_pack: Annotated[
        str | None,
        typer.Option(
            "--board-pack", help="Also the trust's monthly board pack: link or attachment."
        ),
    ] = None,
    channel: Annotated[
        str, typer.Option(help="email, teams, slack or webhook (then ADDRESS is its URL).")
    ] = "email",
    as_json: JsonOpt = False,
) -> None:
    """Subscribe an address (or a Teams, Slack or webhook channel) to a region, an ICB or
    one organisation."""
    from monitor.db import session_scope
    from monitor.notify import subscriptions as subs

    scope = _scope(region, icb, org)
    if scope is None:
        fail("give one of --region, --icb or --org", 2)
    ctx = context_of(tc)
    req = subs.Request(
        email,
        scope[0],
        scope[1],
        trust_type,
        min_severity,
        tuple(rule or ()),
        digest_only,
        board_pack,
        channel=channel.strip().lower(),
    )
    try:
        with session_scope(ctx.engine, write=True) as s:
            sub, created = subs.add(s, ctx.settings, req)
            row = subs.as_dict(sub)
    except subs.InvalidSubscription as e:
        fail(str(e), 2)
    if as_json:
        print_json({**row, "created": created})
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
    email: Annotated[str | None, typer.Option(help="Only this address (or webhook URL).")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include ended subscriptions.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List subscriptions."""
    from monitor.db import session_scope
    from monitor.notify import subscriptions as subs
    from monitor.notify.tokens import describe_subscription

    ctx = context_of(tc)
    try:
        with session_scope(ctx.engine) as s:
            found = subs.list_subscriptions(s, email=email, include_ended=all_)
    except subs.InvalidSubscription as e:
        fail(str(e), 2)
    if as_json:
        print_json([subs.as_dict(x) for x in found])
        return
    if not found:
        print("no subscriptions")
    for x in found:
        state = subs.state_of(x)
        print(f"#{x.id:<5} {x.email:<40} {describe_subscription(x)} [{state}; {x.origin}]")


@subscribers_app.command("remove")
def subscribers_remove_cmd(
    tc: typer.Context,
    email: Annotated[
        str, typer.Argument(help="The address (or webhook URL) whose subscriptions end.")
    ],
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
    ctx = context_of(tc)
    try:
        with session_scope(ctx.engine, write=True) as s:
            ended = subs.remove(
                s, email, scope=scope[0] if scope else None, code=scope[1] if scope else None
            )
    except subs.InvalidSubscription as e:
        fail(str(e), 2)
    if as_json:
        print_json([subs.as_dict(x) for x in ended])
        return
    if not ended:
        fail(f"no active subscription of {email} matches", 1)
    for x in ended:
        print(f"ended #{x.id} {x.email}: {describe_subscription(x)}")


PreviewOpt = Annotated[
    Path | None,
    typer.Option(help="Write .eml and .html files here instead of sending.", file_okay=False),
]


@command("send")
def send_cmd(tc: typer.Context, preview: PreviewOpt = None, as_json: JsonOpt = False) -> None:
    """Deliver what waits in the outbox (or write it as .eml/.html to look at)."""
    ctx = context_of(tc)
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
        print_json([str(p) for p in paths])
        return
    emails = [p for p in paths if p.suffix in (".eml", ".json")]
    print(
        f"{len(emails)} message(s) written to {directory} (.eml and .html; chat messages as "
        ".json); nothing was sent"
    )
    for p in emails:
        print(f"  {p.name}")


def _print_delivery(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(report)
    else:
        print(
            f"sent {report['sent']}, failed {report['failed']}, retrying later "
            f"{report['retrying']}, cancelled {report['cancelled']}"
        )
        for err in report["errors"][:20]:
            print(f"  {err}")
    if report["failed"] or (report["retrying"] and not report["sent"]):
        raise typer.Exit(1)


@command("digest")
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

    ctx = context_of(tc)
    if week is not None:
        try:
            digest.parse_week(week)
        except ValueError as e:
            fail(f"--week: {e}", 2)
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
