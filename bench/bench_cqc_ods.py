"""CQC bulk ratings file: stream a full-size ``*_Latest_ratings.ods`` into rating records.

The real file (about 26 MB, 320k rows) is not available here, so the input is generated in the
documented layout by tools/gen_cqc_ods.py (kept in bench/out/ between runs). Each step runs in
its own process, so peak RSS is that step's own:

- baseline: merely unzip content.xml and XML-parse it (iterparse, clearing each row);
- parse: every row of both sheets into rating records (no scope filter);
- ingest, all: every record stored into a fresh SQLite (scope widened to all seven regions);
- ingest, trusts: the default scope (NHS trusts and their locations) into a fresh SQLite.

Targets: peak RSS at most 300 MB; ingesting every row at most 1.5x the time of merely
unzipping and parsing the XML (the baseline). The other times have no target; their ratio to
the baseline says what reading ratings costs on top of merely parsing the XML.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bench.harness import ROOT, Measured, Result, best_of, in_subprocess, work_dir

BENCH = "cqc_ods"
ROWS = 320_000
RSS_TARGET_MB = 300.0
TIME_TARGET = 1.5  # x the baseline, for ingesting every row

# Each step also reports its CPU seconds: the machine may be shared, and wall time with it.
BASELINE = """
_cpu = time.process_time()
import zipfile
from xml.etree.ElementTree import iterparse
ROW = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}table-row"
rows = 0
with zipfile.ZipFile(PATH) as zf, zf.open("content.xml") as content:
    for _event, el in iterparse(content, events=("end",)):
        if el.tag == ROW:
            rows += 1
            el.clear()
OUTPUT = {"xml_rows": rows, "cpu_s": time.process_time() - _cpu}
"""

PARSE = """
_cpu = time.process_time()
report = OdsReport()
records = 0
for _record in ratings_from_ods(PATH, None, report):
    records += 1
OUTPUT = {"records": records, "rows_read": report.rows_read,
          "cpu_s": time.process_time() - _cpu}
"""

INGEST = """
_cpu = time.process_time()
engine = make_engine(f"sqlite:///{DB}")
upgrade(engine)
rep = ingest_ods(engine, Path(PATH), scope=SCOPE)
assert rep.status == "ingested", rep.error
OUTPUT = {"ratings_written": rep.ratings_written, "rows_read": rep.rows_read,
          "observations_written": rep.observations_written,
          "cpu_s": time.process_time() - _cpu}
"""


def _setup(path: Path, extra: str = "", *, monitor: bool = True) -> str:
    # The baseline imports nothing of the monitor, so its RSS is the XML parse's alone.
    imports = "from monitor.sources.cqc.ods import OdsReport, ratings_from_ods\n"
    return (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        f"from pathlib import Path\nPATH = {str(path)!r}\n{extra}\n" + (imports if monitor else "")
    )


def _ingest_setup(path: Path, db: Path, regions: str) -> str:
    return _setup(
        path,
        f"DB = {str(db)!r}\n"
        "from monitor.db import make_engine, upgrade\n"
        "from monitor.sources.cqc.ingest import ingest_ods\n"
        "from monitor.sources.cqc.values import Scope\n"
        f"SCOPE = Scope(frozenset({regions}))\n",
    )


def input_file() -> Path:
    """The full-size generated file, made once and kept in bench/out/."""
    sys.path.insert(0, str(ROOT / "tools"))
    import gen_cqc_ods

    out = work_dir() / "cqc"
    path = out / gen_cqc_ods.file_name(gen_cqc_ods.date(2026, 9, 1))
    if not path.exists():
        gen_cqc_ods.generate(out, rows=ROWS)
    return path


def _fresh(db: Path) -> Path:
    for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        p.unlink(missing_ok=True)
    return db


def _cpu(m: Measured) -> float:
    return round(float(str(m.output.get("cpu_s", 0.0))), 3)


def _results(
    measure: str, step: Measured, base: Measured, note: str, time_target: float | None = None
) -> list[Result]:
    print(f"   {measure}: {step.seconds:.1f} s, {step.peak_rss_mb:.0f} MB  {note}", flush=True)
    target = f"ratio <= {time_target}" if time_target else "none (ratio reported)"
    met = step.seconds <= time_target * base.seconds if time_target else True
    return [
        Result(BENCH, f"{measure} time", round(step.seconds, 3), "s", "unzip+iterparse",
               round(base.seconds, 3), target, met),
        Result(BENCH, f"{measure} CPU time", _cpu(step), "s", "unzip+iterparse",
               _cpu(base), "none (ratio reported)", True),
        Result(BENCH, f"{measure} peak RSS", round(step.peak_rss_mb, 1), "MB", "unzip+iterparse",
               round(base.peak_rss_mb, 1), f"<= {RSS_TARGET_MB:.0f} MB",
               step.peak_rss_mb <= RSS_TARGET_MB),
    ]  # fmt: skip


def run() -> list[Result]:
    path = input_file()
    size_mb = path.stat().st_size / 1e6
    print(f"   input: {path.name} ({size_mb:.1f} MB, generated in the documented layout)")
    base = best_of(2, BASELINE, setup=_setup(path, monitor=False))
    print(f"   baseline unzip+iterparse: {base.seconds:.1f} s, {base.peak_rss_mb:.0f} MB "
          f"{base.output}", flush=True)  # fmt: skip
    parse = in_subprocess(PARSE, setup=_setup(path))
    results = _results("parse all rows", parse, base, str(parse.output))
    db = _fresh(work_dir() / "cqc" / "bench.db")
    everyone = '{"Y56", "Y58", "Y59", "Y60", "Y61", "Y62", "Y63"}'
    ingest = in_subprocess(INGEST, setup=_ingest_setup(path, db, everyone))
    results += _results("ingest all rows (SQLite)", ingest, base, str(ingest.output), TIME_TARGET)
    db = _fresh(db)
    trusts = in_subprocess(INGEST, setup=_ingest_setup(path, db, "()"))
    results += _results("ingest trusts (SQLite)", trusts, base, str(trusts.output))
    _fresh(db)
    return results
