"""RTT Full CSV: monitor.sources.rtt streaming the zip, against DuckDB on the extracted CSV.

Setup (untimed, kept in bench/out/rtt/ between runs): a full-size Full CSV zip written by
tools/gen_rtt.py in the documented layout (the raw file is not available; ~182k rows, ~79 MB
unzipped) and its extracted CSV, since DuckDB cannot read a zip. Each measured step runs in a
fresh process, best of three, with its own peak RSS:

- parse: ``rtt.parse(zip path)``, the ingest path, per-provider figures from the zip;
- DuckDB: the same per-provider Part_2 totals by SQL over the CSV (specialty rows summed,
  C_999 roll-ups excluded: the textbook definition, where the parser reads the roll-ups).

Both must agree on every provider's waiting list, within-18-week and over-52-week counts.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

from bench.harness import ROOT, Measured, Result, best_of, work_dir
from tools.gen_rtt import BANDS, SUMMARY, write_full_csv_zip

NAME = "rtt"
RUNS = 3


def _inputs() -> tuple[Path, Path]:
    """The generated zip and its extracted CSV, made again only when the generator changes."""
    version = hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted((ROOT / "tools").glob("*rtt*.py")))
        + SUMMARY.read_bytes()
    ).hexdigest()[:12]
    out = work_dir() / "rtt"
    zip_path = out / f"Full-CSV-data-file-Jun26-{version}.zip"
    csv_path = zip_path.with_suffix(".csv")
    if not (zip_path.exists() and csv_path.exists()):
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        generated = write_full_csv_zip(zip_path)
        with (
            zipfile.ZipFile(zip_path) as zf,
            zf.open(generated.member) as src,
            csv_path.open("wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    return zip_path, csv_path


_PARSE_SETUP = """
from pathlib import Path
from monitor.sources import rtt
ZIP = Path({zip!r})
"""
_PARSE = """
parsed = rtt.parse(ZIP)
OUTPUT = {}
for f in parsed.figures:
    if not f.derived:
        row = OUTPUT.setdefault(f.org, [0, 0, 0])
        if f.metric == "rtt_waiting_list":
            row[0] = int(f.value)
        elif f.metric == "rtt_18wk_pct":
            row[1] = int(f.numerator)
        elif f.metric == "rtt_52wk_count":
            row[2] = int(f.value)
"""

_DUCKDB_SETUP = """
import duckdb
CSV = {csv!r}
TYPES = {types!r}
QUERY = {query!r}
"""
_DUCKDB = """
rows = duckdb.sql(QUERY.format(csv=CSV, types=TYPES)).fetchall()
OUTPUT = {code: [int(a), int(b), int(c)] for code, a, b, c in rows}
"""


def _query() -> tuple[str, dict[str, str]]:
    def total(columns: tuple[str, ...] | list[str]) -> str:
        return " + ".join(f'coalesce(sum("{c}"), 0)' for c in columns)

    # Counts typed explicitly: a sample of rows is not enough to guess every band's type.
    types = dict.fromkeys([*BANDS, "Total", "Total All"], "BIGINT")
    query = (
        f'SELECT "Provider Org Code", coalesce(sum("Total All"), 0), {total(BANDS[:18])}, '
        f"{total(BANDS[52:])} "
        "FROM read_csv('{csv}', header = true, quote = '\"', escape = '\"', types = {types}) "
        "WHERE \"RTT Part Type\" = 'Part_2' AND \"Treatment Function Code\" <> 'C_999' "
        "GROUP BY 1"
    )
    return query, types


def _agree(ours: Measured, theirs: Measured) -> None:
    if ours.output == theirs.output:
        return
    differ = sorted(
        code
        for code in ours.output.keys() | theirs.output.keys()
        if ours.output.get(code) != theirs.output.get(code)
    )
    raise RuntimeError(
        f"rtt.parse and DuckDB disagree on {len(differ)} providers, e.g. "
        + ", ".join(f"{c}: {ours.output.get(c)} vs {theirs.output.get(c)}" for c in differ[:3])
    )


def run() -> list[Result]:
    """Time and peak memory of parsing the Full CSV zip, with DuckDB's as the baseline."""
    zip_path, csv_path = _inputs()
    query, types = _query()
    ours = best_of(RUNS, _PARSE, setup=_PARSE_SETUP.format(zip=str(zip_path)))
    duck = best_of(
        RUNS, _DUCKDB, setup=_DUCKDB_SETUP.format(csv=str(csv_path), types=types, query=query)
    )
    _agree(ours, duck)
    time_ratio = ours.seconds / duck.seconds
    return [
        Result(
            bench=NAME,
            measure="parse Full CSV zip: time",
            value=round(ours.seconds, 3),
            unit="s",
            baseline="duckdb",
            baseline_value=round(duck.seconds, 3),
            target="at most 2x DuckDB's time",
            met=time_ratio <= 2,
        ),
        Result(
            bench=NAME,
            measure="parse Full CSV zip: peak RSS",
            value=round(ours.peak_rss_mb, 1),
            unit="MB",
            baseline="duckdb",
            baseline_value=round(duck.peak_rss_mb, 1),
            target="at most 200 MB peak RSS",
            met=ours.peak_rss_mb <= 200,
        ),
    ]
