"""Shared benchmark plumbing: run a measured step in its own process, collect results.

Every benchmark module under bench/ exposes ``run() -> list[Result]``. ``bench/run.py`` runs
them all, prints a table and writes bench/results.json (the format DESIGN.md fixes: bench,
measure, value, unit, baseline, baseline_value, ratio, target, met).

Peak memory is only meaningful per process, so ``in_subprocess`` runs a Python snippet in a
fresh interpreter and reports its wall time (measured inside the child, excluding interpreter
start and the setup, whose garbage is collected before the clock starts) and its own peak RSS
(its VmHWM, which the child reads at the end; not wait4's ru_maxrss, which is kept across exec
and so is never below the RSS of the process that started the child).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "out"  # generated inputs, kept between runs (git-ignored)


@dataclass(frozen=True)
class Result:
    bench: str
    measure: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str
    met: bool

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")

    def as_json(self) -> dict[str, object]:
        d: dict[str, object] = asdict(self)
        d["ratio"] = round(self.ratio, 4)
        return d


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float
    output: dict[str, object]


# The setup's garbage is collected before the clock starts (as pyperf does): a setup that
# builds millions of objects otherwise leaves the collector a full collection to make during
# the timed step, charged to whichever step allocates first. What the step allocates itself is
# collected as it goes, with the collector on, as in the service.
_PRELUDE = """
import gc, json, sys, time
gc.collect()
_t0 = time.perf_counter()
"""
# The child's own peak RSS is its high-water mark (VmHWM), read by the child itself: the
# ru_maxrss that wait4 reports is kept across exec, so it is never below the RSS of the
# benchmark process the child was started from.
_EPILOGUE = """
_t1 = time.perf_counter()
_peak_kb = None
try:
    with open("/proc/self/status") as _f:
        _peak_kb = next(int(l.split()[1]) for l in _f if l.startswith("VmHWM:"))
except (OSError, StopIteration, ValueError):
    pass
print("\\n__BENCH__" + json.dumps({"seconds": _t1 - _t0, "peak_kb": _peak_kb,
                                   "output": globals().get("OUTPUT", {})}))
"""


def in_subprocess(code: str, *, setup: str = "") -> Measured:
    """Run ``setup`` (untimed) then ``code`` (timed) in a fresh Python; report time and RSS.

    The timed code may set a global ``OUTPUT`` dict (JSON-serialisable) to return values.
    """
    script = textwrap.dedent(setup) + _PRELUDE + textwrap.dedent(code) + _EPILOGUE
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        proc = subprocess.Popen(
            [sys.executable, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT
        )
        _pid, status, usage = os.wait4(proc.pid, 0)
        out = proc.stdout.read().decode() if proc.stdout else ""
        err = proc.stderr.read().decode() if proc.stderr else ""
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        os.unlink(path)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark step failed ({proc.returncode}):\n{err[-4000:]}")
    marker = out.rindex("__BENCH__")
    payload = json.loads(out[marker + len("__BENCH__") :])
    # Both in kilobytes on Linux; ru_maxrss only where /proc is missing (see _EPILOGUE).
    peak_kb = payload.get("peak_kb") or usage.ru_maxrss
    return Measured(payload["seconds"], peak_kb / 1024, payload["output"])


def best_of(n: int, step: str, *, setup: str = "") -> Measured:
    """The fastest of ``n`` runs (the least disturbed by other load), with the largest RSS."""
    runs = [in_subprocess(step, setup=setup) for _ in range(n)]
    fastest = min(runs, key=lambda m: m.seconds)
    return Measured(fastest.seconds, max(m.peak_rss_mb for m in runs), fastest.output)


def work_dir() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return WORK
