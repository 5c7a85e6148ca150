"""Run every benchmark under bench/ (or the ones named), print a table, write results.json."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.harness import Result  # noqa: E402


def discover() -> list[str]:
    return sorted(p.stem for p in HERE.glob("bench_*.py"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    args = ap.parse_args(argv)
    names = args.names or discover()
    results: list[Result] = []
    for name in names:
        mod = importlib.import_module(f"bench.{name.removesuffix('.py')}")
        print(f"== {name}", flush=True)
        results.extend(mod.run())
    rows = [r.as_json() for r in results]
    (HERE / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    head = f"{'bench':<22} {'measure':<34} {'value':>12} {'baseline':>24} {'ratio':>8}"
    print(head + "  target / met")
    for r in results:
        print(
            f"{r.bench:<22} {r.measure:<34} {r.value:>9.3f} {r.unit:<3}"
            f"{r.baseline[:14]:>14} {r.baseline_value:>9.3f} {r.ratio:>8.3f}  "
            f"{r.target} / {'met' if r.met else 'NOT MET'}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
