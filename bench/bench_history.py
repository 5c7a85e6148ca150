"""Ten years of history: a back-fill of monthly A&E, cancer and RTT files for every trust.

Only some real months are held (data/real/), so the files are generated in the real layouts,
one per publication, September 2015 to August 2025 (kept in bench/out/history/ between runs):

- A&E: 120 monthly CSVs, each the real August 2025 file (every provider, 202 rows) with its
  period relabelled and every count varied by up to 10% (breaches never above attendances,
  the TOTAL row the providers' sums);
- cancer: 20 six-monthly provider extracts (XLSX, sheet ``CWT CRS Provider Extract``), each the
  real October 2024 to March 2025 extract (61,650 rows) with its months moved;
- RTT: 120 monthly Full CSV zips at full size (182,430 rows, about 80 MB unzipped), from
  tools/gen_rtt.py.

Each database (a fresh SQLite file, and a fresh PostgreSQL database when
``MONITOR_BENCH_POSTGRES_URL`` or ``MONITOR_TEST_POSTGRES_URL`` names a server) is filled oldest
first through ``ingest_paths`` (what `monitor ingest` runs). Reported: time per file in the
first and in the last year of each source, the database's size, and, after three years (when
a trust page's monthly charts are full: they show the last 36 periods) and after all ten, the
home page, The Queen Elizabeth Hospital's trust page (with its SPC charts) and a full
`evaluate`. The "after ten / after three" ratios show what grows with history; the target is
that nothing grows that does not have to: a trust page draws at most its charts' points, so it
may grow only until its charts are full (hence three years, not one, as the baseline);
evaluate is reported for reference (threshold rules' evidence reads earlier periods).

``MONITOR_BENCH_YEARS`` (default 10) shortens the run.
"""

from __future__ import annotations

import csv
import io
import os
import random
import shutil
import sys
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from bench.harness import ROOT, Result, work_dir

YEARS = int(os.environ.get("MONITOR_BENCH_YEARS", "10"))
FULL_YEARS = 3  # CHART_PERIODS monthly periods: a trust page's charts are full
# One render of a page takes 50 to 120 ms on this shared machine, for the same page: the best
# of 3 still moved by 1.8x between two runs ten minutes apart. The best of 9 is steadier.
RENDERS = 9
LAST = (2025, 8)  # the last month back-filled
AE_TEMPLATE = ROOT / "data" / "real" / "ae" / "August-2025-CSV-g5tyh-v2.0.csv"
CANCER_TEMPLATE = (
    ROOT / "data" / "real" / "cancer" / "CWT-CRS-Oct-2024-to-Mar-2025-Data-Extract-Provider.xlsx"
)
MONTHS = "JANUARY FEBRUARY MARCH APRIL MAY JUNE JULY AUGUST SEPTEMBER OCTOBER NOVEMBER DECEMBER"
SHORT = [m[:3] for m in MONTHS.split()]


def months(years: int) -> list[tuple[int, int]]:
    y, m = LAST
    out = []
    for _ in range(years * 12):
        out.append((y, m))
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def _ae_file(folder: Path, y: int, m: int) -> Path:
    path = folder / f"Monthly-AE-{MONTHS.split()[m - 1].title()}-{y}.csv"
    if path.exists():
        return path
    rng = random.Random(y * 100 + m)
    rows = list(csv.reader(io.StringIO(AE_TEMPLATE.read_text(encoding="utf-8-sig"))))
    head, body = rows[0], rows[1:]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(head)
    attend = [i for i, h in enumerate(head) if h.startswith("A&E attendances")]
    over = {i: i + 6 for i in attend}  # "Attendances over 4hrs" follow the attendances
    sums = [0] * len(head)
    for row in body:
        if row and row[0] == "TOTAL":  # the providers' sums, as NHS England's file has them
            w.writerow(row[:4] + [str(v) for v in sums[4:]])
            continue
        if not row or not row[0].startswith("MSitAE"):
            w.writerow(row)
            continue
        row = list(row)
        row[0] = f"MSitAE-{MONTHS.split()[m - 1]}-{y}"
        for i in range(4, len(row)):
            if row[i].strip().isdigit():
                row[i] = str(max(0, round(int(row[i]) * rng.uniform(0.9, 1.1))))
        for a, b in over.items():
            if b < len(row) and row[a].isdigit() and row[b].isdigit():
                row[b] = str(min(int(row[b]), int(row[a])))
        for i in range(4, len(row)):
            sums[i] += int(row[i]) if row[i].strip().isdigit() else 0
        w.writerow(row)
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _cancer_file(folder: Path, first: tuple[int, int]) -> Path:
    """A six-month provider extract starting at ``first`` (the template's rows, months moved)."""
    from openpyxl import Workbook
    from python_calamine import CalamineWorkbook

    y, m = first
    end_y, end_m = (y, m + 5) if m <= 7 else (y + 1, m - 7)
    path = folder / (
        f"CWT-CRS-{SHORT[m - 1].title()}-{y}-to-{SHORT[end_m - 1].title()}-{end_y}"
        "-Data-Extract-Provider.xlsx"
    )
    if path.exists():
        return path
    sheet = "CWT CRS Provider Extract"
    rows = CalamineWorkbook.from_path(str(CANCER_TEMPLATE)).get_sheet_by_name(sheet).to_python()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(sheet)
    ws.append(rows[0])
    for row in rows[1:]:
        start = row[0]
        if not isinstance(start, date):
            continue
        k = (start.year - 2024) * 12 + start.month - 10  # 0..5 in the template
        mm = (m - 1 + k) % 12 + 1
        yy = y + (m - 1 + k) // 12
        fy = f"{yy}/{(yy + 1) % 100:02d}" if mm >= 4 else f"{yy - 1}/{yy % 100:02d}"
        ws.append([datetime(yy, mm, 1), fy, SHORT[mm - 1], *row[3:]])
    tmp = path.with_suffix(".tmp")
    wb.save(tmp)
    tmp.rename(path)
    return path


def _rtt_file(folder: Path, y: int, m: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from tools import gen_rtt

    path = folder / f"RTT-{y}-{m:02d}-full-extract.zip"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        gen_rtt.write_full_csv_zip(tmp, period=(y, m), seed=y * 100 + m)
        tmp.rename(path)
    return path


def inputs(years: int) -> list[tuple[str, Path, datetime]]:
    """Every file, in publication order, with the day it would have been published."""
    folder = work_dir() / "history" / "files"
    folder.mkdir(parents=True, exist_ok=True)
    out: list[tuple[str, Path, datetime]] = []
    span = months(years)
    for y, m in span:
        released = datetime(y + (m == 12), m % 12 + 1, 12, 8, 30, tzinfo=UTC)
        out.append(("ae", _ae_file(folder, y, m), released))
        out.append(("rtt", _rtt_file(folder, y, m), released))
        if m in (3, 9) and (y, m) >= span[5]:  # a six-month extract ends in March or September
            k = y * 12 + m - 1 - 5
            first = (k // 12, k % 12 + 1)
            out.append(("cancer", _cancer_file(folder, first), released))
    return out


def _config(folder: Path, url: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        f"[database]\nurl = '{url}'\n"
        f"[paths]\nvar = '{folder / 'var'}'\ntemplates = '{ROOT / 'templates'}'\n"
        f"rules = '{ROOT / 'rules'}'\n[web]\nbase_url = 'http://127.0.0.1:8000'\n"
    )
    return path


def _size(ctx: object, url: str) -> float:
    """The database's size in MB."""
    from sqlalchemy import text

    if url.startswith("sqlite"):
        return Path(url.removeprefix("sqlite:///")).stat().st_size / 1e6
    with ctx.engine.connect() as c:  # type: ignore[attr-defined]
        return float(c.execute(text("SELECT pg_database_size(current_database())")).scalar()) / 1e6


def _readers(ctx: object) -> dict[str, float]:
    """Seconds for an evaluation (alerts written), then the home page and RCX's page (best of
    RENDERS each, rendered from the database)."""
    from monitor.rules.run import evaluate_db
    from monitor.web import create_app
    from monitor.web.cache import PageCache

    t = time.perf_counter()
    evaluate_db(ctx)  # type: ignore[arg-type]  # what `monitor evaluate` runs: alerts written
    out = {"evaluate": time.perf_counter() - t}
    app = create_app(ctx)  # type: ignore[arg-type]
    state = app.extensions["monitor"]
    client = app.test_client()
    for name, path in (("home page", "/"), ("trust page RCX", "/orgs/RCX")):
        client.get(path)  # templates compiled, the data version read
        best = float("inf")
        for _ in range(RENDERS):
            state.pages = PageCache()  # rendered from the database each time, not the cache
            t = time.perf_counter()
            r = client.get(path)
            best = min(best, time.perf_counter() - t)
            assert r.status_code == 200, (path, r.status_code)
        out[name] = best
    return out


def _fill(label: str, url: str, files: list[tuple[str, Path, datetime]]) -> list[Result]:
    from monitor import orgs
    from monitor.context import Context
    from monitor.db import session_scope, upgrade
    from monitor.sources.files import ingest_paths

    folder = work_dir() / "history" / label
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = url.replace("{folder}", str(folder))
    ctx = Context.load(_config(folder, url))
    upgrade(ctx.engine)
    with session_scope(ctx.engine, write=True) as s:
        orgs.load_reference(s)
    per_file: dict[str, list[float]] = {}
    # The readers' baseline: once the charts are full (or after one year of a shorter run).
    base_years = FULL_YEARS if YEARS > FULL_YEARS else 1
    base_end = files[0][2].replace(year=files[0][2].year + base_years)
    before: dict[str, float] | None = None
    for source, path, released in files:
        if before is None and released >= base_end:
            before = _readers(ctx)
        t = time.perf_counter()
        (report,) = ingest_paths(ctx, source, [path], published_at=released, trigger="backfill")
        per_file.setdefault(source, []).append(time.perf_counter() - t)
        assert report.status == "ingested", (path.name, report.error)
    after = _readers(ctx)
    size = _size(ctx, url)
    ctx.close()
    before = before or after  # a one-year run: nothing to compare
    print(f"  {label}: {len(files)} files, database {size:.0f} MB", flush=True)
    results = []
    for source, times in per_file.items():
        n = max(1, len(times) // YEARS)
        first, last = sum(times[:n]) / n, sum(times[-n:]) / n
        print(f"    {source}: {first:.2f} s per file in the first year, {last:.2f} s in the last")
        results.append(
            Result(
                "history",
                f"{label} {source} s/file, last year",
                last,
                "s",
                "first year",
                first,
                "ratio <= 1.5 (no growth with history)",
                last <= 1.5 * first,
            )
        )
    for name, seconds in after.items():
        print(
            f"    {name}: {before[name] * 1000:.0f} ms after {base_years} year(s), "
            f"{seconds * 1000:.0f} ms after {YEARS}"
        )
        grows = name == "evaluate"  # more periods to check: it may grow, say by how much
        results.append(
            Result(
                "history",
                f"{label} {name} after {YEARS} years",
                seconds,
                "s",
                f"after {base_years} year(s)",
                before[name],
                "for reference (more history)" if grows else "ratio <= 1.5",
                True if grows else seconds <= 1.5 * before[name],
            )
        )
    results.append(
        Result("history", f"{label} database size", size, "MB", "none", 0.0, "for reference", True)
    )
    return results


def run() -> list[Result]:
    sys.path.insert(0, str(ROOT))
    t = time.perf_counter()
    files = inputs(YEARS)
    print(f"  {len(files)} files ready in {time.perf_counter() - t:.0f} s", flush=True)
    results = _fill("SQLite", "sqlite:///{folder}/history.db", files)
    server = os.environ.get("MONITOR_BENCH_POSTGRES_URL") or os.environ.get(
        "MONITOR_TEST_POSTGRES_URL"
    )
    if server:
        from sqlalchemy import create_engine, text

        name = f"monitor_history_{uuid.uuid4().hex[:8]}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = server.rsplit("/", 1)[0] + "/" + name
            results += _fill("PostgreSQL", url, files)
        finally:
            with admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    else:
        print("  PostgreSQL: not run (set MONITOR_BENCH_POSTGRES_URL)", flush=True)
    return results
