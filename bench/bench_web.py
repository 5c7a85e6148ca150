"""The status page under load: the home page, /api/v1/alerts and a trust page, 5,000 open alerts.

1. Seed a SQLite database (bench/out/web/) with the reference trusts, 5,000 open alerts over
   24 rules, each with its evidence, and the real A&E files from August 2024 to August 2025
   (so that a trust page draws its SPC charts over 13 months of real figures).
2. Start the status page (`monitor serve`'s make_server, waitress) in its own process, with
   one extra route that sends saved copies of its own pages as static files: the baseline.
3. For the home page, /api/v1/alerts and The Queen Elizabeth Hospital's page (/orgs/RCX,
   with its SPC charts), then for their static copies, run the load generator
   (bench/load.py: 32 keep-alive connections, Python asyncio) in another process on
   127.0.0.1, and report requests per second and p99 latency.

Targets: each page at least 0.5x the static file's rate; the home page's p99 at most 20 ms,
the others' at most 100 ms. For reference, without a target: the home page for a client that
accepts gzip, as browsers do (the status page keeps each cached page gzipped too).
"""

from __future__ import annotations

import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench.harness import ROOT, Result, in_subprocess, work_dir

OPEN_ALERTS = 5_000
CONNECTIONS = 32
SECONDS = 5.0
RULES = [  # (rule id, metric, threshold)
    ("ae-type1-below-60", "ae_4hr_type1_pct", 60.0),
    ("ae-all-below-78", "ae_4hr_pct", 78.0),
    ("ae-12hr-dta-over-100", "ae_12hr_dta_count", 100.0),
    ("cancer-fds-below-80", "cancer_28d_fds_pct", 80.0),
    ("cancer-31d-below-96", "cancer_31d_pct", 96.0),
    ("cancer-62d-below-85", "cancer_62d_pct", 85.0),
    ("cancer-62d-below-75-3m", "cancer_62d_pct", 75.0),
    ("rtt-18wk-below-65", "rtt_18wk_pct", 65.0),
    ("rtt-18wk-below-92", "rtt_18wk_pct", 92.0),
    ("rtt-52wk-over-1pct", "rtt_52wk_pct", 1.0),
    ("rtt-52wk-count-over-500", "rtt_52wk_count", 500.0),
    ("rtt-list-growing", "rtt_waiting_list", 40000.0),
    ("amb-c1-mean-over-7min", "amb_c1_mean_s", 420.0),
    ("amb-c1-p90-over-15min", "amb_c1_p90_s", 900.0),
    ("amb-c2-mean-over-30min", "amb_c2_mean_s", 1800.0),
    ("amb-c2-p90-over-40min", "amb_c2_p90_s", 2400.0),
    ("nof-segment-4", "nof_segment", 4.0),
    ("nof-rank-bottom-10", "nof_rank", 125.0),
    ("nof-score-over-3", "nof_average_score", 3.0),
    ("nof-deficit", "nof_deficit_flag", 1.0),
    ("nof-rsp", "nof_rsp_flag", 1.0),
    ("fin-deficit-over-2pct", "fin_planned_deficit_pct", -2.0),
    ("fin-behind-plan", "fin_variance_to_plan_pct", -1.0),
    ("cqc-requires-improvement", "cqc_overall", 3.0),
]
SEVERITIES = ["critical", "high", "medium", "low", "info"]
WEIGHTS = [5, 20, 35, 30, 10]


def _config(folder: Path) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"[paths]\nvar = 'var'\ntemplates = '{ROOT / 'templates'}'\n\n"
        "[web]\nbase_url = 'http://127.0.0.1:8000'\n"
    )
    return path


def seed(folder: Path) -> Path:
    """A fresh database with the reference organisations and 5,000 open alerts."""
    from sqlalchemy import insert

    from monitor import orgs
    from monitor.context import Context
    from monitor.db import session_scope, upgrade
    from monitor.models import Alert, AlertEvent, Organisation

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    config = _config(folder)
    ctx = Context.load(config)
    upgrade(ctx.engine)
    rng = random.Random(20250814)
    now = datetime(2025, 9, 11, 8, 30, tzinfo=UTC)
    with session_scope(ctx.engine, write=True) as s:
        orgs.load_reference(s)
        trusts = [o.code for o in s.query(Organisation).filter(Organisation.kind == "trust")]
    pairs = [(r, t) for r in RULES for t in sorted(trusts)]
    rng.shuffle(pairs)
    alerts, events = [], []
    for i, ((rule, metric, threshold), org) in enumerate(pairs[:OPEN_ALERTS], 1):
        opened = now - timedelta(days=rng.randint(0, 540), hours=rng.randint(0, 23))
        value = round(threshold * rng.uniform(0.6, 0.99), 1)
        period = date(2025, 7, 1)
        alerts.append(
            {
                "id": i,
                "rule": rule,
                "org": org,
                "metric": metric,
                "state": "firing" if i % 10 else "pending",
                "severity": rng.choices(SEVERITIES, WEIGHTS)[0],
                "opened_at": opened,
                "fired_at": opened,
                "value": value,
                "period_start": period,
                "period_end": date(2025, 7, 31),
                "threshold": threshold,
                "consecutive_periods": rng.randint(1, 12),
                "rule_version": "3f2a9c",
                "updated_at": opened,
            }
        )
        events.append(
            {
                "alert_id": i,
                "kind": "fired",
                "at": opened,
                "period_start": period,
                "value": value,
                "threshold": threshold,
                "rule_version": "3f2a9c",
                "evidence": {
                    "rule": rule,
                    "rule_title": rule.replace("-", " ").capitalize(),
                    "why": f"{metric} breached {threshold}",
                    "metric": metric,
                    "org": org,
                    "period_label": "July 2025",
                    "value": value,
                    "threshold": threshold,
                    "last12": [
                        {"period_start": f"2024-{m:02d}-01", "value": value} for m in range(1, 13)
                    ],
                    "publication_url": "https://www.england.nhs.uk/statistics/july-2025.csv",
                },
            }
        )
    with session_scope(ctx.engine, write=True) as s:
        s.execute(insert(Alert), alerts)
        s.execute(insert(AlertEvent), events)
    from monitor.sources.files import ingest_paths

    ae = sorted((ROOT / "data" / "real" / "ae").glob("*.csv"))
    reports = ingest_paths(ctx, "ae", [f for f in ae if "2023" not in f.name], trigger="seed")
    assert all(r.status != "rejected" for r in reports), [r.error for r in reports]
    with ctx.engine.connect() as c:
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    ctx.close()
    return config


def start(config: Path, static_dir: Path) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, str(ROOT / "bench" / "web_server.py"), str(config), str(static_dir)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stderr is not None
    for line in proc.stderr:  # the log line names the port it bound
        found = re.search(r"status page on http://127\.0\.0\.1:(\d+)/", line)
        if found:
            # Keep reading its log (waitress warns of queue depth under load), so that a full
            # pipe never blocks the server.
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, int(found.group(1))
    raise RuntimeError(f"the status page did not start (exit {proc.wait()})")


def load(port: int, path: str, accept_encoding: str | None = None) -> dict[str, float]:
    """The load generator in its own process (not sharing the server's interpreter)."""
    m = in_subprocess(
        f"m = load.measure({port}, {path!r}, connections={CONNECTIONS}, seconds={SECONDS},"
        f" accept_encoding={accept_encoding!r})\n"
        "OUTPUT = {'rps': m.per_second, 'p50': m.percentile(50), 'p99': m.percentile(99),"
        " 'requests': m.requests, 'errors': m.errors, 'bytes': m.bytes_read}\n",
        setup=f"import sys; sys.path.insert(0, {str(ROOT)!r})\nfrom bench import load\n",
    )
    out = {k: float(v) for k, v in m.output.items()}  # type: ignore[arg-type]
    if out["errors"]:
        raise RuntimeError(f"{path}: {out['errors']:.0f} responses were not 200")
    return out


def run() -> list[Result]:
    folder = work_dir() / "web"
    config = seed(folder)
    static_dir = folder / "static"
    static_dir.mkdir()
    proc, port = start(config, static_dir)
    results: list[Result] = []
    try:
        base = f"http://127.0.0.1:{port}"
        for name, path, copy, p99 in (
            ("home page", "/", "home.html", 20),
            ("/api/v1/alerts", "/api/v1/alerts", "alerts.json", 100),
            ("trust page (SPC charts)", "/orgs/RCX", "rcx.html", 100),
        ):
            started = time.perf_counter()
            with urllib.request.urlopen(base + path) as r:  # renders once: the cold page
                body = r.read()
            cold_ms = (time.perf_counter() - started) * 1000
            (static_dir / copy).write_bytes(body)
            dynamic = load(port, path)
            static = load(port, f"/bench/static/{copy}")
            print(
                f"  {name}: {len(body):,} bytes, first render {cold_ms:.0f} ms; "
                f"{dynamic['rps']:.0f} req/s, p50 "
                f"{dynamic['p50']:.1f} ms, p99 {dynamic['p99']:.1f} ms; static file "
                f"{static['rps']:.0f} req/s, p99 {static['p99']:.1f} ms",
                flush=True,
            )
            results += [
                Result(
                    "bench_web",
                    f"{name} req/s (32 conns)",
                    dynamic["rps"],
                    "req/s",
                    "same server, static file",
                    static["rps"],
                    ">= 0.5x the static file's rate",
                    dynamic["rps"] >= 0.5 * static["rps"],
                ),
                Result(
                    "bench_web",
                    f"{name} p99 latency (32 conns)",
                    dynamic["p99"],
                    "ms",
                    "same server, static file",
                    static["p99"],
                    f"p99 <= {p99} ms",
                    dynamic["p99"] <= p99,
                ),
            ]
        # For reference (no target): the home page as browsers ask for it, gzip accepted, which
        # the status page sends compressed once per cached page. The targets above are for
        # clients that accept no encoding, against a static file sent as it is.
        gz = load(port, "/", accept_encoding="gzip, deflate, br")
        print(
            f"  home page, gzip accepted: {gz['bytes'] / max(gz['requests'], 1):,.0f} bytes"
            f" a response; {gz['rps']:.0f} req/s, p50 {gz['p50']:.1f} ms,"
            f" p99 {gz['p99']:.1f} ms",
            flush=True,
        )
        results.append(
            Result(
                "bench_web",
                "home page p99, gzip accepted",
                gz["p99"],
                "ms",
                "home page, no encoding",
                results[1].value,
                "for reference (no target)",
                True,
            )
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return results
