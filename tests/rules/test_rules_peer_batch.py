"""Peer positions over many trusts: the arrays (Peers.table, peer_codes_many) give what the
per-trust definition gives, ties, odd periods and small fields included."""

from __future__ import annotations

import random
from datetime import date

from monitor.metrics import METRICS
from monitor.rules.evaluate import evaluate
from monitor.rules.inputs import History, OrgContext, Point
from monitor.rules.peers import Peers, peer_codes, peer_codes_many
from monitor.rules.spcrule import SCREEN_MIN
from tests.rules.rulekit import FAR, rule

A4 = "ae_4hr_type1_pct"


def _field(seed: int) -> tuple[History, dict[str, OrgContext]]:
    """300 acute trusts over 24 months (whole-number figures: many ties), 20 of them missing
    a month or starting late, and 12 community trusts (too few peers for a 10% rule)."""
    rng = random.Random(seed)
    points, orgs = [], {}
    for i in range(312):
        code = f"T{i:03d}"
        kind = "community" if i >= 300 else "acute"
        orgs[code] = OrgContext(code=code, trust_type=kind, region="Y61")
        months = list(range(24))
        if i % 15 == 0:
            months.remove(rng.randrange(24))  # a month not published
        if i % 15 == 7:
            months = months[rng.randrange(1, 6) :]  # starts late
        base = rng.randint(50, 90)
        for m in months:
            start = date(2023 + m // 12, 1 + m % 12, 1)
            points.append(
                Point(
                    org=code,
                    metric=A4,
                    period_start=start,
                    period_end=start.replace(day=28),
                    value=float(base + rng.randint(-5, 5)),
                    publication_id=1,
                )
            )
    return History.from_points(points), orgs


def test_the_peer_table_is_every_trusts_figure_sorted_by_badness() -> None:
    history, orgs = _field(seed=3)
    table = Peers(history, orgs).table(METRICS[A4], "acute")
    expected: dict[date, list[float]] = {}
    for code, series in history.by_metric[A4].items():
        if orgs[code].trust_type == "acute":
            for start, v in zip(series.starts, series.values, strict=True):
                expected.setdefault(start, []).append(-v)  # higher is better: badness is -v
    assert table == {start: sorted(col) for start, col in expected.items()}


def test_peer_codes_of_many_trusts_are_each_trusts_own() -> None:
    history, orgs = _field(seed=8)
    metric = METRICS[A4]
    for r in (
        rule(metric=A4, kind="peer", worst_percent=10, severity="high"),
        rule(metric=A4, kind="peer", worst_percent=10, clear_percent=20, severity="high"),
    ):
        peers = Peers(history, orgs)
        judged = [(orgs[code], s) for code, s in history.by_metric[A4].items()]
        batch = peer_codes_many(r, metric, judged, peers)
        assert len(batch) >= 250  # most trusts publish every month: they go as one array
        for ctx, s in judged:
            one = peer_codes(r, metric, s, ctx.trust_type, peers)
            assert batch.get(ctx.code, one) == one, ctx.code
        assert any("B" in c for c in batch.values())
        if r.clear_percent is not None:
            assert any("H" in c for c in batch.values())  # held between the two shares
    # The evaluator uses the batch over SCREEN_MIN trusts; states still follow the codes.
    assert len(judged) >= SCREEN_MIN
    ev = evaluate([r], history, orgs, as_of=FAR)
    assert sum(f.states.count("f") for f in ev.by_rule["r"].values()) > 0
