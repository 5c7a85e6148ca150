"""`monitor spc ORG METRIC`: the Making Data Count XmR chart of one series."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from monitor.cli.common import Commands, JsonOpt, context_of, fail, print_json

command = Commands()


@command("spc")
def spc_cmd(
    tc: typer.Context,
    org: Annotated[str, typer.Argument(help="ODS code, region code or ENG.")],
    metric: Annotated[str, typer.Argument(help="A metric id, e.g. ae_4hr_type1_pct.")],
    as_json: JsonOpt = False,
) -> None:
    """Chart an organisation's series the Making Data Count way (docs/spc.md).

    Every current figure (revisions replace what they revise), oldest first, with the limits,
    special causes and point types NHSRplotthedots would give, the latest point's variation
    and the assurance against the metric's target. Unknown organisation or metric: exit 2.
    """
    from monitor import metrics, orgs
    from monitor.db import session_scope
    from monitor.spc import MIN_POINTS, chart
    from monitor.web.queries import observations

    ctx = context_of(tc)
    try:
        m = metrics.get(metric)
    except metrics.UnknownMetric as e:
        fail(str(e.args[0]), 2)
    code = org.strip().upper()
    with session_scope(ctx.engine) as s:
        if orgs.get(s, code) is None:
            fail(f"no organisation {code!r}; see `monitor orgs` for the list", 2)
    rows = [r for r in observations(ctx.engine, code, metric=m.id) if r["value"] is not None]
    periods = [date.fromisoformat(r["period_start"]) for r in rows]
    target = m.target.value if m.target else None
    c = chart(
        [float(r["value"]) for r in rows],
        periods,
        improvement_direction=m.direction,
        target=target,
    )
    if as_json:
        print_json({"org": code, "metric": m.id, **c.as_json()})
        return
    print(f"{code} {m.id}: {m.title} ({m.unit}, {m.direction} is better)")
    if m.target:
        print(f"target: {m.target.value:g} ({m.target.standard})")
    if c.reason:
        print(f"{c.reason}: {len(rows)} held, limits need at least {MIN_POINTS}")
        return
    print(f"variation: {c.variation}   assurance: {c.assurance or 'none'}")
    for gap in _gaps(periods) if m.granularity == "month" else []:
        print(f"note: {gap}")
    print(_table(c.points))


def _table(points: Any) -> str:
    head = f"{'period':<10} {'value':>10} {'mean':>10} {'lpl':>10} {'upl':>10}  special cause"
    lines = [head]
    for p in points:
        lines.append(
            f"{p.period_start.isoformat():<10} {p.value:>10.2f} {p.mean:>10.2f} {p.lpl:>10.2f}"
            f" {p.upl:>10.2f}  {p.special_cause} ({p.point_type})"
        )
    return "\n".join(lines)


def _gaps(periods: list[date]) -> list[str]:
    """Months missing between consecutive figures: the chart joins the points either side."""
    out = []
    for a, b in zip(periods, periods[1:], strict=False):
        missing = (b.year - a.year) * 12 + b.month - a.month - 1
        if missing > 0:
            out.append(
                f"no figure for {missing} month{'s' if missing > 1 else ''} between"
                f" {a:%Y-%m} and {b:%Y-%m}; the moving range joins them"
            )
    return out
