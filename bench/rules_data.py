"""Generated observations for bench_rules: the same figures for the database, Python and DuckDB.

Deterministic (a fixed seed), so the processes of one benchmark run build identical data.
Two scales: ``pack`` is every metric of 220 trusts over 36 months (the real scale); ``cqc`` is
50,000 organisations, each with a CQC rating and 36 monthly values of one metric (the scale of
every CQC location).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from monitor.metrics import METRICS, Granularity, Metric
from monitor.rules.conditions import shift_months
from monitor.rules.inputs import OrgContext, Point, RatingRecord
from monitor.rules.model import CQC_RATINGS

FIRST_MONTH = date(2022, 10, 1)
MONTHS = 36
AS_OF = date(2025, 12, 31)
REGIONS = ("Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63")


@dataclass(frozen=True)
class Scale:
    name: str
    orgs: int
    metrics: tuple[str, ...]
    ratings_per_org: int


SCALES = {
    "pack": Scale("pack", 220, tuple(m for m in METRICS if m != "cqc_overall"), 3),
    "cqc": Scale("cqc", 50_000, ("ae_4hr_type1_pct",), 1),
}


def orgs(scale: Scale) -> dict[str, OrgContext]:
    """Trusts: one in twenty an ambulance trust, the rest acute, spread over the regions."""
    out = {}
    for i in range(scale.orgs):
        code = f"T{i:05d}"
        kind = "ambulance" if i % 20 == 0 else "acute"
        out[code] = OrgContext(code=code, trust_type=kind, region=REGIONS[i % len(REGIONS)])
    return out


def _periods(metric: Metric) -> list[tuple[date, date]]:
    step = 3 if metric.granularity is Granularity.QUARTER else 1
    out = []
    for k in range(0, MONTHS, step):
        start = shift_months(FIRST_MONTH, k)
        out.append((start, shift_months(start, step) - timedelta(days=1)))
    return out


def _value(metric: Metric, base: float, rng: random.Random) -> tuple[float, float | None]:
    """A plausible figure for ``metric`` around the organisation's ``base`` (0..1)."""
    if metric.unit == "%":
        if metric.id.startswith("fin_"):
            return round(-3 + 6 * base + rng.gauss(0, 1), 2), None
        if metric.id == "rtt_52wk_pct":
            return round(max(0.0, 2.5 * base + rng.gauss(0, 0.3)), 2), None
        denominator = float(rng.randint(200, 12000))
        return round(min(100.0, 45 + 50 * base + rng.gauss(0, 4)), 1), denominator
    if metric.unit == "seconds":
        return round(300 + 2000 * base + rng.gauss(0, 60)), None
    if metric.unit == "segment":
        return float(min(4, max(1, round(1 + 3 * base + rng.gauss(0, 0.4))))), None
    if metric.unit == "rank":
        return float(rng.randint(1, 134)), 134.0
    if metric.unit == "score":
        return round(1 + 3 * base, 2), None
    if metric.unit == "flag":
        return float(rng.random() < base * 0.6), None
    return float(max(0, round(400 * base + rng.gauss(0, 30)))), None


def points(scale: Scale) -> Iterator[Point]:
    """Every figure of the scale, one current version each, published about 6 weeks later."""
    rng = random.Random(f"bench_rules:{scale.name}")
    codes = list(orgs(scale))
    for metric_id in scale.metrics:
        metric = METRICS[metric_id]
        periods = _periods(metric)
        for code in codes:
            base = rng.random()
            for start, end in periods:
                value, denominator = _value(metric, base, rng)
                yield Point(
                    org=code,
                    metric=metric_id,
                    period_start=start,
                    period_end=end,
                    value=value,
                    denominator=denominator,
                    publication_id=1,
                    published_at=end + timedelta(days=42),
                )


def ratings(scale: Scale) -> Iterator[RatingRecord]:
    """CQC overall ratings of each organisation, a few years apart."""
    rng = random.Random(f"bench_rules:ratings:{scale.name}")
    for code in orgs(scale):
        for k in range(scale.ratings_per_org):
            ordinal = rng.choice((1, 2, 2, 2, 3, 3, 4))
            when = date(2019 + 2 * k, 1 + rng.randrange(12), 1 + rng.randrange(28))
            yield RatingRecord(
                org=code,
                subject=code,
                report_date=when,
                rating=CQC_RATINGS[ordinal - 1],
                ordinal=ordinal,
            )
