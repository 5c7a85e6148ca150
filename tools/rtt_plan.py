"""Which Part_2 totals each generated RTT provider gets, so that they reproduce rtt_summary.json.

The summary gives each acute trust's waiting list and over-52-week count exactly, but its % within
18 weeks only to 1 dp, and likewise per region and for England (acute trusts; all providers). The
within-18-week counts are chosen inside those intervals so that every published percentage rounds
as published. Generated non-acute/independent providers (``NZ001``...) make up the difference
between the acute trusts and all providers.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

REGION_CODES = {
    "London": "Y56",
    "South West": "Y58",
    "South East": "Y59",
    "Midlands": "Y60",
    "East of England": "Y61",
    "North West": "Y62",
    "North East and Yorkshire": "Y63",
}
OTHER_PROVIDERS = 416  # the real June 2026 file has 537 providers; the summary lists 121


@dataclass(frozen=True)
class Provider:
    code: str
    name: str
    region: str  # Y56..Y63
    waiting: int  # Part_2 waiting list
    within_18: int
    over_52: int
    acute: bool


def _pct_ok(n: int, total: int, pct: float) -> bool:
    return round(100 * n / total, 1) == pct


def _interval(total: int, pct: float) -> tuple[int, int]:
    """All counts n with round(100 n / total, 1) == pct (as the summary rounded them)."""
    centre = round(pct * total / 100)
    for step in range(total + 1):
        for n in (centre - step, centre + step):
            if 0 <= n <= total and _pct_ok(n, total, pct):
                lo = hi = n
                while lo > 0 and _pct_ok(lo - 1, total, pct):
                    lo -= 1
                while hi < total and _pct_ok(hi + 1, total, pct):
                    hi += 1
                return lo, hi
    raise ValueError(f"no count gives {pct}% of {total}")


def _fill(target: int, bounds: list[tuple[int, int]]) -> list[int]:
    """Counts within each (lo, hi) adding up to ``target``, spreading slack evenly."""
    counts = [lo for lo, _ in bounds]
    slack = target - sum(counts)
    room = [hi - lo for lo, hi in bounds]
    if slack < 0 or slack > sum(room):
        raise ValueError("target outside the reachable range")
    share = slack / sum(room) if sum(room) else 0.0
    for i, r in enumerate(room):
        add = min(r, math.floor(r * share))
        counts[i] += add
        slack -= add
    for i, r in enumerate(room):
        add = min(r - (counts[i] - bounds[i][0]), slack)
        counts[i] += add
        slack -= add
    return counts


def acute_trusts(summary: dict) -> list[Provider]:
    """The summary's trusts, with within-18 counts that reproduce every published percentage.

    Each trust's % is only known to 1 dp, so its count lies in an interval; the counts are
    chosen so that each region's and England's (acute) percentages also round as published.
    """
    trusts = summary["trusts"]
    bounds = {t["code"]: _interval(t["waiting_list"], t["pct_within_18wk"]) for t in trusts}
    regions = {r["region"]: r for r in summary["regions"]}
    # Per region: the counts its trusts can reach, intersected with what its own % allows.
    reach: dict[str, tuple[int, int]] = {}
    for name, r in regions.items():
        mine = [bounds[t["code"]] for t in trusts if t["region"] == name]
        lo, hi = _interval(r["waiting_list"], r["pct_within_18wk"])
        reach[name] = (max(lo, sum(b[0] for b in mine)), min(hi, sum(b[1] for b in mine)))
    nat = summary["national_acute"]
    nat_lo, nat_hi = _interval(nat["waiting_list"], nat["pct_within_18wk"])
    names = sorted(reach)
    per_region = _fill((nat_lo + nat_hi) // 2, [reach[n] for n in names])
    out: list[Provider] = []
    for name, target in zip(names, per_region, strict=True):
        mine = [t for t in trusts if t["region"] == name]
        counts = _fill(target, [bounds[t["code"]] for t in mine])
        for t, n in zip(mine, counts, strict=True):
            out.append(
                Provider(
                    t["code"],
                    t["name"],
                    REGION_CODES[name],
                    t["waiting_list"],
                    n,
                    t["over_52wk"],
                    True,
                )
            )
    return sorted(out, key=lambda p: p.code)


def split(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights`` (largest remainder), summing exactly."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [math.floor(x) for x in raw]
    rest = total - sum(out)
    for i in sorted(range(len(raw)), key=lambda i: out[i] - raw[i])[:rest]:
        out[i] += 1
    return out


def other_providers(summary: dict, count: int, rng: random.Random) -> list[Provider]:
    """Generated providers that take England from the acute trusts' totals to all providers'."""
    nat_all, nat_acute = summary["national_all_providers"], summary["national_acute"]
    waiting = nat_all["waiting_list"] - nat_acute["waiting_list"]
    over = nat_all["over_52wk"] - nat_acute["over_52wk"]
    acute_within = sum(p.within_18 for p in acute_trusts(summary))
    lo, hi = _interval(nat_all["waiting_list"], nat_all["pct_within_18wk"])
    within = (lo + hi) // 2 - acute_within
    weights = [rng.paretovariate(1.2) for _ in range(count)]
    sizes = split(waiting - 20 * count, weights)
    sizes = [s + 20 for s in sizes]  # every provider has a list
    withins = split(within, [float(s) for s in sizes])
    overs = split(over, [float(s) for s in sizes])
    regions = sorted(REGION_CODES.values())
    return [
        Provider(
            f"NZ{i + 1:03d}",
            f"GENERATED INDEPENDENT SECTOR PROVIDER {i + 1:03d}",
            regions[i % len(regions)],
            sizes[i],
            withins[i],
            overs[i],
            False,
        )
        for i in range(count)
    ]
