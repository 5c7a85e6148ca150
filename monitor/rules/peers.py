"""Peer position: where a trust's figure ranks among the trusts of its type, nationally.

The peers of a trust are the organisations of kind ``trust`` with the same trust type (acute,
ambulance, mental health, community) and a figure for the same metric and period. Rank 1 is the
best by the metric's good direction; trusts with the same figure share the better rank. The
position goes into every alert's evidence (rules/evidence.py) and drives the ``peer`` kind:
"among the worst 10% of the acute trusts".
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import add, gt, le, neg

import numpy as np
import numpy.typing as npt

from monitor.metrics import Metric
from monitor.rules.conditions import BREACH, CLEAR, HOLD, SKIP, small_numbers
from monitor.rules.inputs import History, OrgContext, Series, same_periods
from monitor.rules.model import PeerRule

TRUST = "trust"


@dataclass(frozen=True, slots=True)
class Position:
    """A figure's place among the trusts of one type for one period."""

    rank: int  # 1 = best
    of: int  # trusts of the type with a figure for the period
    trust_type: str

    @property
    def worst_percent(self) -> float:
        """The smallest worst share the trust is in: 118th of 121 is in the worst 3.3%."""
        return 100 * (self.of - self.rank + 1) / self.of


def ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 4th, 11th, 21st..."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def band(rank: int, of: int) -> str:
    """Where in the field: "the worst 10%", "the best 25%", "the middle"."""
    worst = 100 * (of - rank + 1) / of
    best = 100 * rank / of
    for share in (5, 10, 25):
        if worst <= share:
            return f"the worst {share}%"
    for share in (5, 10, 25):
        if best <= share:
            return f"the best {share}%"
    return "the worst half" if worst <= 50 else "the better half"


def words(rank: int | None, of: int | None, trust_type: str | None) -> str:
    """The position in words: "in the worst 10% of 121 acute trusts: 118th of 121 (1st is
    best)"; "" without one."""
    if not rank or not of:
        return ""
    group = f"{of} {trust_type} trusts" if trust_type else f"{of} trusts of its type"
    return f"in {band(rank, of)} of {group}: {ordinal(rank)} of {of} (1st is best)"


class Peers:
    """Per metric, trust type and period, the figures of the trusts of that type, sorted from
    the best; built on first use and kept for one evaluation."""

    def __init__(self, history: History, orgs: Mapping[str, OrgContext]) -> None:
        self.history = history
        self.types = {
            code: (o.trust_type or "").lower()
            for code, o in orgs.items()
            if o.kind == TRUST and o.trust_type
        }
        self.memo: dict[tuple[str, str], dict[date, list[float]]] = {}
        self.cut_memo: dict[tuple[str, str, str], dict[date, tuple[float, float]]] = {}
        self.level_memo: dict[
            tuple[str, str, str, date, int],
            tuple[list[date], tuple[list[float], list[float]] | None],
        ] = {}

    def table(self, metric: Metric, trust_type: str) -> dict[date, list[float]]:
        """Period start -> the peers' figures as "badness" (higher is worse), ascending."""
        key = (metric.id, trust_type)
        known = self.memo.get(key)
        if known is not None:
            return known
        higher = metric.higher_is_better
        types = self.types
        # Most trusts publish the same periods: they are gathered as one array per shape,
        # whose columns are the periods' figures; the rest are added one by one.
        mine = [
            series
            for org, series in self.history.by_metric.get(metric.id, {}).items()
            if types.get(org) == trust_type
        ]
        groups, odd = same_periods(mine)
        parts: dict[date, list[npt.NDArray[np.float64]]] = {}
        for starts, members in groups:
            rows = np.array([s.values for s in members], dtype=np.float64)
            for start, column in zip(starts, rows.T, strict=True):
                parts.setdefault(start, []).append(column)
        for series in odd:
            for start, v in zip(series.starts, series.values, strict=True):
                parts.setdefault(start, []).append(np.array([v], dtype=np.float64))
        tbl: dict[date, list[float]] = {}
        for start in sorted(parts):
            column = np.concatenate(parts[start])
            tbl[start] = np.sort(-column if higher else column).tolist()
        self.memo[key] = tbl
        return tbl

    def position(
        self, metric: Metric, trust_type: str | None, start: date, value: float | None
    ) -> Position | None:
        """Where ``value`` ranks among the trusts of ``trust_type`` for the period ``start``."""
        if value is None or not trust_type:
            return None
        column = self.table(metric, trust_type.lower()).get(start)
        if not column:
            return None
        sign = -1.0 if metric.higher_is_better else 1.0
        rank = bisect_left(column, sign * value) + 1
        return Position(rank=rank, of=max(len(column), rank), trust_type=trust_type.lower())

    def levels(
        self, rule: PeerRule, metric: Metric, trust_type: str, starts: list[date]
    ) -> tuple[list[float], list[float]] | None:
        """Per period of ``starts``, the breach and hold levels (``cutoffs``); None when a
        period has too few peers. Most trusts publish the same periods: one lookup serves
        them all."""
        key = (rule.id, metric.id, trust_type, starts[0], len(starts))
        known = self.level_memo.get(key)
        if known is not None and known[0] == starts:
            return known[1]
        limits = list(map(self.cutoffs(rule, metric, trust_type).get, starts))
        found = None
        if None not in limits:
            found = ([b for b, _ in limits], [h for _, h in limits])  # type: ignore[misc]
        self.level_memo[key] = (starts, found)
        return found

    def cutoffs(
        self, rule: PeerRule, metric: Metric, trust_type: str
    ) -> dict[date, tuple[float, float]]:
        """Per period with at least ``min_peers`` figures: (breach, hold) levels of "badness".

        A trust is in the worst W% when (of - rank + 1) / of <= W / 100, i.e. when at least
        k = ceil(of * (1 - W / 100)) peers are strictly better: when its badness is above the
        k-th best (``column[k - 1]``). Without ``clear_percent`` the hold level is the breach
        level, so nothing is held.
        """
        key = (rule.id, metric.id, trust_type)
        found = self.cut_memo.get(key)
        if found is not None:
            return found
        found = {}
        for start, column in self.table(metric, trust_type).items():
            of = len(column)
            if of < rule.min_peers:
                continue
            breach = _level(column, rule.worst_percent)
            hold = breach if rule.clear_percent is None else _level(column, rule.clear_percent)
            found[start] = (breach, hold)
        self.cut_memo[key] = found
        return found


def _level(column: list[float], percent: float) -> float:
    """The badness a figure must exceed to be in the worst ``percent`` of ``column``."""
    k = math.ceil(len(column) * (1 - percent / 100) - 1e-9)
    return column[k - 1] if k >= 1 else -math.inf


def peer_codes(
    rule: PeerRule, metric: Metric, series: Series, trust_type: str | None, peers: Peers
) -> str:
    """Breach while among the worst ``worst_percent`` of the trusts of the type; with
    ``clear_percent``, held (still firing) until outside the worst ``clear_percent``."""
    n = len(series.values)
    if not trust_type:
        return SKIP * n
    xs = series.values if not metric.higher_is_better else list(map(neg, series.values))
    levels = peers.levels(rule, metric, trust_type.lower(), series.starts)
    if levels is not None:  # every period has enough peers: the work stays in C
        breach, hold = levels
        if not any(map(gt, xs, hold)):  # never near the worst: the common case
            return small_numbers(CLEAR * n, series, rule.min_denominator)
        b = bytes(map(gt, xs, breach))
        codes = bytes(map(add, map(add, b, b), map(le, xs, hold))).translate(_CODES).decode()
        return small_numbers(codes, series, rule.min_denominator)
    cuts = peers.cutoffs(rule, metric, trust_type.lower())
    out = []
    for x, lim in zip(xs, map(cuts.get, series.starts), strict=True):
        if lim is None:
            out.append(SKIP)
        else:
            out.append(BREACH if x > lim[0] else HOLD if x > lim[1] else CLEAR)
    return small_numbers("".join(out), series, rule.min_denominator)


def peer_codes_many(
    rule: PeerRule,
    metric: Metric,
    judged: Sequence[tuple[OrgContext, Series]],
    peers: Peers,
) -> dict[str, str]:
    """``peer_codes`` of many trusts at once, by code: the trusts of one type publishing the
    same periods are compared with the period's levels as one array (the comparisons are the
    same float comparisons, so the codes are identical). Trusts outside such a group, or in a
    period with too few peers, are left out: the caller codes them one by one."""
    by_type: dict[str, list[Series]] = {}
    for ctx, series in judged:
        if ctx.trust_type:
            by_type.setdefault(ctx.trust_type.lower(), []).append(series)
    out: dict[str, str] = {}
    for trust_type, many in by_type.items():
        for starts, members in same_periods(many)[0]:
            out.update(_as_array(rule, metric, trust_type, starts, members, peers))
    return out


def _as_array(
    rule: PeerRule,
    metric: Metric,
    trust_type: str,
    starts: list[date],
    members: list[Series],
    peers: Peers,
) -> dict[str, str]:
    """The codes of trusts of one type publishing the periods ``starts``, by code; none when a
    period has too few peers."""
    levels = peers.levels(rule, metric, trust_type, starts)
    if levels is None:
        return {}
    xs = np.array([s.values for s in members], dtype=np.float64)
    if metric.higher_is_better:
        xs = -xs
    breach = xs > np.array(levels[0], dtype=np.float64)
    held_or_clear = xs <= np.array(levels[1], dtype=np.float64)
    codes = (2 * breach.astype(np.uint8) + held_or_clear).astype(np.uint8)
    text = codes.tobytes().translate(_CODES).decode()
    n, md = len(starts), rule.min_denominator
    return {s.org: small_numbers(text[k * n : (k + 1) * n], s, md) for k, s in enumerate(members)}


# 2 x breach + cleared: 0 held, 1 clear, 2 breach (3 cannot happen: the breach level is at or
# above the hold level).
_CODES = bytes.maketrans(b"\x00\x01\x02\x03", (HOLD + CLEAR + BREACH + BREACH).encode())
