"""What changed since the last pack: one month's board pack set against the month before's.

Pure: two packs in, sentences out, each naming its period.
"""

from __future__ import annotations

from monitor.board.pack import BoardPack, Measure
from monitor.periods import day
from monitor.web.present import figure


def _value(m: Measure) -> str:
    f = m.latest
    return figure(f.value, None if m.view.series.as_rate else f.metric, f.label)


def changes(pack: BoardPack, before: BoardPack) -> list[str]:
    """Sentences saying what is new in ``pack`` since ``before`` (the previous month's)."""
    out: list[str] = []
    was = {m.metric: m for m in before.measures}
    for m in pack.measures:
        old = was.get(m.metric)
        if old is None:
            out.append(f"{m.title}: first charted, {_value(m)} for {m.latest.period}.")
            continue
        if m.latest.period_start != old.latest.period_start:
            out.append(
                f"{m.title}: {_value(m)} for {m.latest.period} "
                f"(the last pack had {_value(old)} for {old.latest.period})."
            )
        if m.view.variation and old.view.variation and m.view.variation != old.view.variation:
            out.append(f"{m.title}: {m.view.variation} (was: {old.view.variation}).")
        if m.view.assurance != old.view.assurance and m.view.assurance:
            out.append(f"{m.title}: {m.view.assurance} (was: {old.view.assurance or 'none'}).")
    p, q = pack.position, before.position
    if p is not None and (q is None or p.position.period_start != q.position.period_start):
        rank = p.position.rank
        of = f" of {p.position.peers:g}" if p.position.peers else ""
        where = f"rank {rank:g}{of}" if rank is not None else "no rank"
        seg = p.position.segment
        out.append(
            f"League position for {p.quarter}: {where}"
            + (f", segment {seg:g}" if seg is not None else "")
            + f". {p.movement.words}."
        )
    if pack.dspt is not None and (
        before.dspt is None or pack.dspt.period_start != before.dspt.period_start
    ):
        out.append(f"Data Security and Protection Toolkit {pack.dspt.period}: {pack.dspt.label}.")
    for r, _src in pack.ratings:
        if r.report_date is not None and pack.month.start <= r.report_date <= pack.month.end:
            out.append(f"CQC rated {r.domain.lower()}: {r.rating} (report {day(r.report_date)}).")
    known = {a["id"] for a in before.alerts}
    for a in pack.alerts:
        if a["id"] not in known:
            out.append(f"New alert: {a['rule_title']} ({a['period_label']}).")
    return out
