"""Charting 50,000 series of 36 months against reading the same numbers into Python lists.

Issue 11 adds an `spc` rule kind evaluated for 50,000 organisations, and asks that evaluating
still cost no more than reading the data. This measures the engine alone, each step in its own
process (bench/harness.py) with its input prepared untimed:

- read (the baseline): a CSV of org, period, value (1.8 million rows) parsed into one list of
  values per organisation, as a rule's input would arrive;
- chart: monitor.spc.chart over every series (limits, special causes, point types, assurance
  against a target), from those lists already in memory.

The series are seeded random walks with shifts and spikes, so every rule of the engine fires
somewhere. Target: charting costs no more than reading (ratio at most 1).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from bench.harness import ROOT, Result, best_of, work_dir

ORGS, MONTHS, RUNS = 50_000, 36, 3
PRELUDE = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
"""
READ_SETUP = PRELUDE + "import csv\n"
READ = """
series = {}
with open(CSV, newline="") as f:
    rows = csv.reader(f)
    next(rows)
    for org, _period, value in rows:
        series.setdefault(org, []).append(float(value))
OUTPUT = {"series": len(series), "values": sum(map(len, series.values()))}
"""
CHART_SETUP = (
    READ_SETUP
    + READ.replace("OUTPUT", "_unused")
    + """
from datetime import date
from monitor.metrics import Direction
from monitor.spc import chart
periods = [date(2022 + m // 12, m % 12 + 1, 1) for m in range(36)]
"""
)
CHART = """
signals = assured = 0
for values in series.values():
    c = chart(values, periods, improvement_direction=Direction.HIGHER, target=78.0)
    signals += c.variation != "common_cause"
    assured += c.assurance == "consistent_pass"
OUTPUT = {"series": len(series), "latest_special_cause": signals, "consistent_pass": assured}
"""


def _csv() -> Path:
    """50,000 organisations × 36 months, written once (bench/out is kept between runs)."""
    path = work_dir() / f"spc_{ORGS}x{MONTHS}.csv"
    if path.exists():
        return path
    rng = random.Random(11)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["org", "period_start", "value"])
        for i in range(ORGS):
            level = rng.uniform(50, 95)
            for m in range(MONTHS):
                level += rng.choice((0.0, 0.0, 0.0, 0.5, -0.5, 4.0 if m == 24 else 0.0))
                spike = 10.0 if rng.random() < 0.02 else 0.0
                value = round(level + rng.gauss(0, 2) + spike, 2)
                w.writerow([f"O{i:05d}", f"{2022 + m // 12}-{m % 12 + 1:02d}-01", value])
    tmp.rename(path)
    return path


def run() -> list[Result]:
    setup = f"CSV = {str(_csv())!r}\n"
    read = best_of(RUNS, READ, setup=setup + READ_SETUP)
    charted = best_of(RUNS, CHART, setup=setup + CHART_SETUP)
    print(f"  read:  {read.seconds:.3f} s, {read.peak_rss_mb:.0f} MB  {read.output}")
    print(f"  chart: {charted.seconds:.3f} s, {charted.peak_rss_mb:.0f} MB  {charted.output}")
    target = "chart <= read (issue 11)"
    return [
        Result(
            "spc",
            f"chart {ORGS:,} series x {MONTHS}",
            round(charted.seconds, 3),
            "s",
            "read the numbers into lists",
            round(read.seconds, 3),
            target,
            charted.seconds <= read.seconds,
        ),
        Result(
            "spc",
            "per series",
            round(charted.seconds / ORGS * 1e6, 1),
            "us",
            "read, per series",
            round(read.seconds / ORGS * 1e6, 1),
            "for orientation",
            True,
        ),
    ]
