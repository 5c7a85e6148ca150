"""Generate RTT files in NHS England's documented layouts, for tests and benchmarks.

The raw monthly "Full CSV data file" is NOT available to this project (only figures derived from
it are: see data/real/rtt/SOURCES.md), so the full CSV is GENERATED here in the documented layout:
121 columns (13 labels, 105 week bands, Total, Patients with unknown clock start date, Total All),
one row per provider x commissioner x RTT part x treatment function plus one C_999 "Total" row per
(provider, commissioner, part), zipped as ``YYYYMMDD-RTT-<Month>-<YYYY>-full-extract.csv``. At
full size it has about 180k rows and 80 MB unzipped, like the real June 2026 file.

The counts are invented, except where a test relies on them: each acute trust's Part_2
(incomplete pathways) totals reproduce data/real/rtt/rtt_summary.json (waiting list, % within 18
weeks to 1 dp, over 52 weeks), the regions and England-for-acute-trusts percentages come out as
published there, and 416 generated non-acute/independent providers (codes ``NZ001``...) bring
England to the summary's all-provider figures (tools/rtt_plan.py). Blank cells follow the real
file: Part_3 rows have no bands, some specialty rows leave zero bands blank (C_999 rows write 0),
``Total`` and the unknown-clock column are filled only on Part_1A/1B rows, ``Total All`` on every
row: 27-30% of band cells are blank (28-33% in the real June 2026 file).

``write_incomplete_provider_xlsx`` writes an Incomplete-Provider workbook (sheet ``Provider``,
header row 14) from the real cleaned March 2026 CSV, modelled on the columns that CSV kept.

Usage:
    python tools/gen_rtt.py full OUT.zip [--providers N] [--seed S]
    python tools/gen_rtt.py xlsx OUT.xlsx
"""

from __future__ import annotations

import argparse
import calendar
import csv
import datetime as dt
import io
import json
import math
import random
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python tools/gen_rtt.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.rtt_plan import (
    OTHER_PROVIDERS,
    REGION_CODES,
    Provider,
    acute_trusts,
    other_providers,
    split,
)

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "real" / "rtt"
SUMMARY = REAL / "rtt_summary.json"
INCOMPLETE_PROVIDER_CSV = REAL / "rtt_incomplete_provider_clean.csv"

LABELS = [
    "Period",
    "Provider Parent Org Code",
    "Provider Parent Name",
    "Provider Org Code",
    "Provider Org Name",
    "Commissioner Parent Org Code",
    "Commissioner Parent Name",
    "Commissioner Org Code",
    "Commissioner Org Name",
    "RTT Part Type",
    "RTT Part Description",
    "Treatment Function Code",
    "Treatment Function Name",
]
BANDS = [f"Gt {i:02d} To {i + 1:02d} Weeks SUM 1" for i in range(104)] + ["Gt 104 Weeks SUM 1"]
TOTALS = ["Total", "Patients with unknown clock start date", "Total All"]
HEADER = LABELS + BANDS + TOTALS
assert len(HEADER) == 121

PARTS = {
    "Part_1A": "Completed Pathways For Admitted Patients",
    "Part_1B": "Completed Pathways For Non-Admitted Patients",
    "Part_2": "Incomplete Pathways",
    "Part_2A": "Incomplete Pathways with DTA",
    "Part_3": "New RTT Periods - All Patients",
}
# Code, name, and share of the national incomplete list (per mille, from the March 2026
# Incomplete Provider file) so that generated specialties have realistic relative sizes.
TREATMENT_FUNCTIONS = [
    ("C_100", "General Surgery Service", 52),
    ("C_101", "Urology Service", 55),
    ("C_110", "Trauma and Orthopaedic Service", 103),
    ("C_120", "Ear Nose and Throat Service", 83),
    ("C_130", "Ophthalmology Service", 78),
    ("C_140", "Oral Surgery Service", 47),
    ("C_150", "Neurosurgical Service", 8),
    ("C_160", "Plastic Surgery Service", 15),
    ("C_170", "Cardiothoracic Surgery Service", 1),
    ("C_300", "General Internal Medicine Service", 5),
    ("C_301", "Gastroenterology Service", 54),
    ("C_320", "Cardiology Service", 57),
    ("C_330", "Dermatology Service", 53),
    ("C_340", "Respiratory Medicine Service", 28),
    ("C_400", "Neurology Service", 31),
    ("C_410", "Rheumatology Service", 17),
    ("C_430", "Elderly Medicine Service", 4),
    ("C_502", "Gynaecology Service", 81),
    ("X02", "Other - Medical Services", 91),
    ("X03", "Other - Mental Health Services", 1),
    ("X04", "Other - Paediatric Services", 48),
    ("X05", "Other - Surgical Services", 70),
    ("X06", "Other - Other Services", 20),
]
MONTH_NAMES = list(calendar.month_name)[1:]  # English names: the C locale's


@dataclass(frozen=True)
class Commissioner:
    code: str
    name: str
    parent: str
    parent_name: str


@dataclass(frozen=True)
class Generated:
    """What a generated Full CSV holds: per provider (waiting list, within 18 wk, over 52 wk)."""

    path: Path
    member: str
    rows: int
    totals: dict[str, tuple[int, int, int]]
    regions: dict[str, str]  # provider code -> region code, for the acute trusts only


def _commissioners() -> tuple[dict[str, list[Commissioner]], list[Commissioner]]:
    """Per region: generated sub-ICB commissioners; plus NONC and NHS England's regional codes."""
    by_region: dict[str, list[Commissioner]] = {}
    n = 0
    for r, region in enumerate(sorted(REGION_CODES.values())):
        subs = []
        for icb in range(5):
            parent = f"Q{r + 1}{'ABCDE'[icb]}"
            for _ in range(3 + (icb % 2)):
                n += 1
                code = f"{n:02d}{'HLNQTXY'[n % 7]}"
                subs.append(
                    Commissioner(
                        code,
                        f"NHS GENERATED SUB-ICB LOCATION {code}",
                        parent,
                        f"NHS GENERATED INTEGRATED CARE BOARD {parent}",
                    )
                )
        by_region[region] = subs
    # Blank names and parents, as in the real file.
    national = [Commissioner("NONC", "", "", "")] + [
        Commissioner(code, "", "", "") for code in sorted(REGION_CODES.values())
    ]
    return by_region, national


def _band_totals(p: Provider, rng: random.Random) -> list[int]:
    """A provider's Part_2 list over the 105 week bands, with exact 18- and 52-week sums."""
    middle = p.waiting - p.within_18 - p.over_52
    early = split(p.within_18, [1.0 - 0.025 * i + 0.1 * rng.random() for i in range(18)])
    mid = split(middle, [math.exp(-i / 14) + 0.05 * rng.random() for i in range(34)])
    late = split(p.over_52, [math.exp(-i / 5) + 0.01 * rng.random() for i in range(53)])
    return early + mid + late


def _spread(totals: list[int], weights: list[float]) -> list[list[int]]:
    """Cells x bands: each band's total shared out by weight, each band summing exactly."""
    s = sum(weights)
    cells = [[int(n * w / s) for n in totals] for w in weights]
    short = [n - got for n, got in zip(totals, map(sum, zip(*cells, strict=True)), strict=True)]
    heaviest = sorted(range(len(weights)), key=lambda k: -weights[k])
    for b, gap in enumerate(short):
        if gap:
            # Rotate over the heavier cells so the remainders don't all land on one row.
            cells[heaviest[b % min(len(heaviest), 5)]][b] += gap
    return cells


def _groups(
    p: Provider, by_region: dict[str, list[Commissioner]], national: list[Commissioner], small: bool
) -> Iterator[tuple[Commissioner, float, list[int]]]:
    """(commissioner, weight, treatment-function indexes) for a provider's Part_2 rows."""
    rng = random.Random(p.code)
    local = by_region[p.region]
    others = [c for r, cs in sorted(by_region.items()) if r != p.region for c in cs]
    if p.acute:
        n_local, n_far = (3, 2) if small else (len(local), rng.randint(38, 60))
        tfs = list(range(len(TREATMENT_FUNCTIONS)))
    else:
        n_local, n_far = (1, 1) if small else (rng.randint(2, 6), rng.randint(3, 12))
        tfs = sorted(rng.sample(range(len(TREATMENT_FUNCTIONS)), rng.randint(2, 9)))
    home = rng.randrange(len(local))
    chosen = [local[(home + i) % len(local)] for i in range(min(n_local, len(local)))]
    for i, c in enumerate(chosen):
        # The home commissioners refer most patients and do so in every specialty.
        yield c, 8.0 / (i + 1), tfs if i < 3 else sorted(rng.sample(tfs, min(len(tfs), 4)))
    for c in rng.sample(others, min(n_far, len(others))) + national[:2]:
        k = min(len(tfs), 1 + int(rng.expovariate(0.45)))
        yield c, 0.02 + 0.3 * rng.random(), sorted(rng.sample(tfs, k))


def _rows(
    p: Provider,
    period: str,
    by_region: dict[str, list[Commissioner]],
    national: list[Commissioner],
    small: bool,
) -> Iterator[list[str]]:
    rng = random.Random(f"bands-{p.code}")
    parent = by_region[p.region][sum(map(ord, p.code)) % len(by_region[p.region])]
    groups = list(_groups(p, by_region, national, small))
    cells = [(c, tf) for c, _, tfs in groups for tf in tfs]
    weights = [w * TREATMENT_FUNCTIONS[tf][2] for _, w, tfs in groups for tf in tfs]
    part2 = _spread(_band_totals(p, rng), weights)
    parts: dict[str, list[list[int] | None]] = {
        "Part_2": list(part2),
        "Part_2A": [[v * 2 // 5 for v in vec] if rng.random() < 0.42 else None for vec in part2],
        "Part_1A": [[v // 12 for v in vec] if rng.random() < 0.23 else None for vec in part2],
        "Part_1B": [[v // 4 for v in vec] if rng.random() < 0.45 else None for vec in part2],
        "Part_3": [[sum(vec) // 6 + 1] if rng.random() < 0.52 else None for vec in part2],
    }
    head = [period, parent.parent, parent.parent_name, p.code, p.name]
    start = 0
    for comm, _, tfs in groups:
        ident = head + [comm.parent, comm.parent_name, comm.code, comm.name]
        for part, vectors in parts.items():
            mine = [(tf, vectors[start + i]) for i, tf in enumerate(tfs)]
            present = [(tf, v) for tf, v in mine if v is not None]
            if not present:
                continue
            sums = [sum(col) for col in zip(*(v for _, v in present), strict=True)]
            for tf, vec in [*present, (-1, sums)]:
                code, name = ("C_999", "Total") if tf < 0 else TREATMENT_FUNCTIONS[tf][:2]
                # Most rows write zeros as 0; some leave them blank (blank = none).
                blank = tf >= 0 and rng.random() < 0.17
                yield ident + [part, PARTS[part], code, name] + _measures(part, vec, blank, rng)
        start += len(tfs)
    assert start == len(cells)


def _measures(part: str, vec: list[int], blank: bool, rng: random.Random) -> list[str]:
    """Band, Total, unknown-clock and Total All cells for one row, blank where the file is."""
    if part == "Part_3":
        return [""] * 107 + [str(vec[0])]
    bands = [str(v) if v else "" for v in vec] if blank else list(map(str, vec))
    total = sum(vec)
    if part in ("Part_1A", "Part_1B"):
        # Only completed pathways carry Total and the unknown-clock count (C_999 sums them).
        unknown = total // 50
        shown = str(unknown) if unknown or rng.random() < 0.6 else ""
        return bands + [str(total), shown, str(total + unknown)]
    return bands + ["", "", str(total)]


def write_full_csv_zip(
    path: str | Path,
    *,
    providers: int | Sequence[str] | None = None,
    seed: int = 2026,
    period: tuple[int, int] = (2026, 6),
) -> Generated:
    """Write a Full CSV zip; ``providers`` makes a small one: N trusts, or the trusts named.

    A small file has a few commissioners per trust and one generated provider per three trusts.

    The figures are June 2026's (from rtt_summary.json) whatever ``period`` says; a different
    period only changes the labels, which lets tests build files for several months.
    """
    summary = json.loads(SUMMARY.read_text())
    rng = random.Random(seed)
    acute = acute_trusts(summary)
    others = other_providers(summary, OTHER_PROVIDERS, rng)
    if isinstance(providers, int):
        acute = acute[:providers]
    elif providers is not None:
        acute = [p for p in acute if p.code in providers]
    if providers is not None:
        others = others[: max(1, len(acute) // 3)]
    year, month = period
    last_day = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)).day
    label = f"RTT-{MONTH_NAMES[month - 1]}-{year}"
    member = f"{year}{month:02d}{last_day:02d}-{label}-full-extract.csv"
    by_region, national = _commissioners()
    rows = 0
    path = Path(path)
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf,
        zf.open(_member_info(member, year, month, last_day), "w") as raw,
        io.TextIOWrapper(raw, encoding="utf-8", newline="") as text,
    ):
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(HEADER)
        for p in [*acute, *others]:
            for row in _rows(p, label, by_region, national, providers is not None):
                writer.writerow(row)
                rows += 1
    return Generated(
        path,
        member,
        rows,
        {p.code: (p.waiting, p.within_18, p.over_52) for p in [*acute, *others]},
        {p.code: p.region for p in acute},
    )


def _member_info(name: str, year: int, month: int, day: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(year, month, day, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


XLSX_COLUMNS = [
    "Region Code",
    "Provider Code",
    "Provider Name",
    "Treatment Function Code",
    "Treatment Function",
    "Total number of incomplete pathways",
    "Total within 18 weeks",
    "% within 18 weeks",
    "Average (median) waiting time (in weeks)",
    "92nd percentile waiting time (in weeks)",
    "Total 52 plus weeks",
    "Total 65 plus weeks",
    "Total 78 plus weeks",
    "% 52 plus weeks",
]


def write_incomplete_provider_xlsx(
    path: str | Path, *, source: Path = INCOMPLETE_PROVIDER_CSV, period: str = "March 2026"
) -> int:
    """Write an Incomplete-Provider workbook holding the real March 2026 figures; returns rows.

    Layout as the cleaned copy describes the original: title block, header on row 14 of sheet
    ``Provider`` starting in column B, suppressed values as ``-``. Only the columns the cleaned
    copy kept are written (the real sheet has more, which the parser ignores).
    """
    from openpyxl import Workbook  # a dev dependency: only tests and tools write workbooks

    wb = Workbook()
    notes = wb.active
    assert notes is not None
    notes.title = "Notes"
    notes["B2"] = "Generated from rtt_incomplete_provider_clean.csv (real March 2026 figures)."
    ws = wb.create_sheet("Provider")
    meta = [
        ("Title:", "Incomplete Pathways - Provider"),
        ("Summary:", "Referral to Treatment (RTT) waiting times for incomplete pathways"),
        ("Period:", period),
        ("Source:", "Referral to Treatment (RTT) Waiting Times Collection"),
        ("Basis:", "Provider"),
        ("Published:", "-"),
        ("Revised:", "-"),
        ("Status:", "Published"),
        ("Contact:", "england.rtt@nhs.net"),
    ]
    for i, (key, value) in enumerate(meta, start=2):
        ws.cell(i, 2, key)
        ws.cell(i, 3, value)
    for j, name in enumerate(XLSX_COLUMNS, start=2):
        ws.cell(14, j, name)
    rows = 0
    with source.open(newline="") as f:
        for rows, rec in enumerate(csv.reader(f), start=0):
            if rows == 0:
                continue  # the cleaned copy's own header
            for j, value in enumerate(rec[: len(XLSX_COLUMNS)], start=2):
                ws.cell(14 + rows, j, _cell(value, numeric=j >= 7))
    wb.save(path)
    return rows


def _cell(value: str, *, numeric: bool) -> str | int | float:
    if not numeric:
        return value
    if value == "":
        return "-"
    number = float(value)
    return int(number) if number.is_integer() and "." not in value else number


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    full = sub.add_parser("full", help="a Full CSV data file zip")
    full.add_argument("out", type=Path)
    full.add_argument("--providers", type=int, help="small file: this many acute trusts")
    full.add_argument("--seed", type=int, default=2026)
    xlsx = sub.add_parser("xlsx", help="an Incomplete-Provider workbook (real March 2026 figures)")
    xlsx.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    if args.what == "full":
        g = write_full_csv_zip(args.out, providers=args.providers, seed=args.seed)
        print(f"{g.path}: {g.member}, {g.rows} rows, {len(g.totals)} providers")
    else:
        print(f"{args.out}: {write_incomplete_provider_xlsx(args.out)} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
