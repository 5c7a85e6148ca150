"""Write a full-size CQC "Latest ratings" care directory (.ods) in the documented layout.

The real ``DD_Month_YYYY_Latest_ratings.ods`` (about 26 MB, 320k rows) is not available here,
so this GENERATES one in the layout data/real/cqc/SOURCES.md documents: sheets ``Locations``
(28 columns) and ``Providers`` (21 columns), a banner row above each header (as in 2026 files),
one row per organisation x service/population group x domain, dates as ODS date cells, ``-``
for a blank brand, and the encodings a spreadsheet program writes (repeated cells and rows,
a merged banner cell, hyperlinks, trailing empty rows). The organisations and ratings are
invented, except that the NHS trusts are the real trust codes and 2017 names of
data/real/cqc/CQCproviders.csv (RCX, RM3, ...), and RM3's Royal Oldham Hospital (RM317) carries
a rating inherited from its predecessor, so that back-fill tests find trusts.

Deterministic (seeded); the XML is streamed into the zip, never built in memory.

    python tools/gen_cqc_ods.py OUT_DIR [--rows 320000] [--seed 2026] [--date 2026-09-01]
"""

from __future__ import annotations

import argparse
import io
import random
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
TRUSTS_CSV = ROOT / "data" / "real" / "cqc" / "CQCproviders.csv"

LOCATION_COLUMNS = (
    "Location ID", "Location ODS Code", "Location Name", "Care Home?", "Location Type",
    "Location Primary Inspection Category", "Location Street Address", "Location Address Line 2",
    "Location City", "Location Post Code", "Location Local Authority", "Location Region",
    "Location NHS Region", "Location ONSPD CCG Code", "Location ONSPD CCG",
    "Location Commissioning CCG Code", "Location Commissioning CCG Name",
    "Service / Population Group", "Domain", "Latest Rating", "Publication Date", "Report Type",
    "Inherited Rating (Y/N)", "URL", "Provider ID", "Provider Name", "Brand ID", "Brand Name",
)  # fmt: skip
PROVIDER_COLUMNS = (
    "Provider ID", "Provider ODS Code", "Provider Name", "Provider Type",
    "Provider Primary Inspection Category", "Provider Street Address", "Provider Address Line 2",
    "Provider City", "Provider Post Code", "Provider Local Authority", "Provider Region",
    "Provider NHS Region", "Service / Population Group", "Domain", "Latest Rating",
    "Publication Date", "Report Type", "Inherited Rating (Y/N)", "URL", "Brand ID", "Brand Name",
)  # fmt: skip
BANNER = (
    "From 2026 CQC publishes ratings from its new digital system. Ratings in this file may be "
    "presented differently from earlier editions."
)
DOMAINS = ("Overall", "Safe", "Effective", "Caring", "Responsive", "Well-led")
HOSPITAL_SERVICES = (
    "Urgent and emergency services", "Medical care (including older people's care)", "Surgery",
    "Critical care", "Maternity", "Services for children & young people", "End of life care",
    "Outpatients",
)  # fmt: skip
POPULATION_GROUPS = (
    "Older people", "People with long term conditions", "Families, children and young people",
    "Working age people (including those recently retired and students)",
    "People whose circumstances may make them vulnerable",
    "People experiencing poor mental health (including people with dementia)",
)  # fmt: skip
RATINGS = (
    ("Good", 600), ("Requires improvement", 200), ("Outstanding", 50), ("Inadequate", 30),
    ("Requires Improvement", 10), ("Inspected but not rated", 5),
    ("Insufficient evidence to rate", 3), ("No published rating", 2),
)  # fmt: skip
REGIONS = (  # CQC region, NHS region
    ("London", "London"), ("South East", "South East"), ("South West", "South West"),
    ("East of England", "East of England"), ("East Midlands", "Midlands"),
    ("West Midlands", "Midlands"), ("North West", "North West"),
    ("North East", "North East and Yorkshire"),
    ("Yorkshire and The Humber", "North East and Yorkshire"),
)  # fmt: skip
KINDS = (  # location type, primary inspection category, care home?, services, weight
    ("Social Care Org", "Residential social care", "Y", (), 55),
    ("Social Care Org", "Community based adult social care services", "N", (), 20),
    ("Primary Medical Services", "GP Practices", "N", POPULATION_GROUPS, 15),
    ("Primary Dental Care", "Dentists", "N", (), 5),
    ("Independent Healthcare Org", "Independent consulting doctors", "N", (), 5),
)
STREETS = ("Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Crescent")
COMPANY = ("Care Ltd", "Healthcare Limited", "Partnership", "Group plc")
PLACE = ("House", "Surgery", "Lodge", "Care Home", "Dental Practice")
ACUTE = "Acute hospital - NHS non-specialist"
FEATURED = ("RCX", "RM3", "RW6")  # real trust codes the tests and examples use
WORDS = (
    "Oak", "Elm", "Willow", "Cedar", "Meadow", "Park", "Grange", "Manor", "Abbey", "Brook", "Hill",
    "Vale", "Field", "Rose", "Heather", "Lime", "Ash", "Beech", "Maple", "Birch", "Orchard",
    "Priory", "Court", "House", "Lodge", "Gardens", "Green", "Bank", "Ridge",
)  # fmt: skip
SYLLABLES = (
    "ash", "bro", "ok", "ton", "ley", "ham", "ford", "wick", "by", "thorpe", "mor", "ing", "dale",
    "ches", "ter", "bury", "field", "wor", "ken", "mel", "ros", "pen", "car", "stan", "hol", "win",
    "ox", "nor", "bel", "ar", "ling", "ston", "wood", "mere", "gate", "hurst", "cot", "well",
)  # fmt: skip
TOWNS = (
    "Leeds", "Bristol", "Norwich", "Oldham", "Salford", "Derby", "Luton", "Reading", "Exeter",
    "Carlisle", "Durham", "Ipswich", "Lincoln", "Preston", "Truro", "Hull", "York", "Bath",
    "Stoke", "Dudley", "Croydon", "Barnet", "Wigan", "Bolton", "Crewe",
)  # fmt: skip

NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:calcext="urn:org:documentfoundation:names:experimental:calc:xmlns:calcext:1.0" '
    'office:version="1.3"'
)
MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.3">\n'
    f' <manifest:file-entry manifest:full-path="/" manifest:version="1.3" '
    f'manifest:media-type="{MIMETYPE}"/>\n'
    ' <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>\n'
    "</manifest:manifest>\n"
)


def _text(value: str) -> str:
    return (
        f'<table:table-cell office:value-type="string" calcext:value-type="string">'
        f"<text:p>{escape(value)}</text:p></table:table-cell>"
    )


def _cell(value: object, repeat: int = 1) -> str:
    """One cell as a spreadsheet program writes it (empty, date, link or string)."""
    rep = f' table:number-columns-repeated="{repeat}"' if repeat > 1 else ""
    if value is None or value == "":
        return f"<table:table-cell{rep}/>"
    if isinstance(value, date):
        return (
            f'<table:table-cell{rep} table:style-name="ce2" office:value-type="date" '
            f'office:date-value="{value.isoformat()}" calcext:value-type="date">'
            f"<text:p>{value:%d/%m/%Y}</text:p></table:table-cell>"
        )
    s = str(value)
    if s.startswith("https://"):
        return (
            f'<table:table-cell{rep} office:value-type="string" calcext:value-type="string">'
            f'<text:p><text:a xlink:href="{escape(s)}" xlink:type="simple">{escape(s)}</text:a>'
            f"</text:p></table:table-cell>"
        )
    if rep:
        return _text(s).replace("<table:table-cell ", f"<table:table-cell{rep} ", 1)
    return _text(s)


def _row(values: list[object]) -> str:
    """A row, equal neighbouring cells folded into number-columns-repeated (as LibreOffice)."""
    parts = []
    i = 0
    while i < len(values):
        j = i + 1
        while j < len(values) and values[j] == values[i]:
            j += 1
        parts.append(_cell(values[i], j - i))
        i = j
    return "<table:table-row>" + "".join(parts) + "</table:table-row>\n"


def _banner(width: int) -> str:
    return (
        f'<table:table-row><table:table-cell table:number-columns-spanned="{width}" '
        f'table:number-rows-spanned="1" office:value-type="string" calcext:value-type="string">'
        f"<text:p>{escape(BANNER)}</text:p></table:table-cell>"
        f'<table:covered-table-cell table:number-columns-repeated="{width - 1}"/>'
        "</table:table-row>\n"
    )


def _trailer(width: int) -> str:
    # Spreadsheet programs write the unused rest of the sheet as one repeated empty row.
    return (
        f'<table:table-row table:number-rows-repeated="{1048576 - 2}">'
        f'<table:table-cell table:number-columns-repeated="{width}"/></table:table-row>\n'
    )


class _World:
    """Deterministic invented organisations around the real trust codes."""

    def __init__(self, seed: int, published: date, rows: int) -> None:
        self.rng = random.Random(seed)
        self.published = published
        self.next_id = 100000000
        trusts = []
        for line in TRUSTS_CSV.read_text(encoding="utf-8").splitlines():
            code, _, name = line.partition(",")
            if code.strip():
                trusts.append((code.strip(), name.strip()))
        # Trusts the tests look for come first; a small file keeps only a few trusts so that
        # its rows are still mostly other providers, as in the real file (~7% trust rows).
        first = [t for code in FEATURED for t in trusts if t[0] == code]
        rest = [t for t in trusts if t[0] not in FEATURED]
        self.trusts = (first + rest)[: max(len(first), rows // 2000)]
        self.rating_words = [w for w, _ in RATINGS]
        self.rating_weights = [n for _, n in RATINGS]

    def word(self) -> str:
        """A made-up place-like word ("Ashbrook", "Kelmorton"): real names vary this much."""
        r = self.rng
        return (r.choice(SYLLABLES) + r.choice(SYLLABLES) + r.choice(("", *SYLLABLES))).capitalize()

    def new_id(self) -> str:
        self.next_id += self.rng.randint(1, 9999)
        return f"1-{self.next_id}"

    def rating(self) -> str:
        return self.rng.choices(self.rating_words, self.rating_weights)[0]

    def when(self) -> date:
        return self.published - timedelta(days=self.rng.randint(20, 3000))

    def address(self) -> list[object]:
        r = self.rng
        town = r.choice(TOWNS)
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        pc = f"{town[:2].upper()}{r.randint(1, 30)} {r.randint(1, 9)}"
        pc += r.choice(letters) + r.choice(letters)
        return [
            f"{r.randint(1, 400)} {self.word()} {r.choice(STREETS)}",
            r.choice(["", self.word()]),
            town,
            pc,
            town,
        ]


def _ratings(
    world: _World, services: tuple[str, ...], gp: bool
) -> Iterator[tuple[str, str, str, date]]:
    """(service, domain, rating, date) rows of one organisation."""
    when = world.when()
    for domain in DOMAINS:
        yield "Overall", domain, world.rating(), when
    for svc in services:
        svc_when = when if world.rng.random() < 0.7 else world.when()
        for domain in ("Overall",) if gp else DOMAINS:
            yield svc, domain, world.rating(), svc_when


def _location_rows(world: _World, target: int) -> Iterator[list[object]]:
    r = world.rng
    written = 0
    kinds = list(KINDS)
    weights = [k[4] for k in KINDS]
    # NHS trusts first: each with a few hospital sites carrying ODS site codes.
    for code, tname in world.trusts:
        region, nhs_region = r.choice(REGIONS)
        if code == "RM3":
            region, nhs_region = "North West", "North West"
        sites = [
            (f"{code}{n:02d}", f"{tname.split(' NHS')[0]} Site {n}")
            for n in range(1, r.randint(2, 6))
        ]
        if code == "RM3":
            sites.insert(0, ("RM317", "Royal Oldham Hospital"))
        for lid, lname in sites:
            addr = world.address()
            for svc, domain, rating, when in _ratings(world, HOSPITAL_SERVICES, False):
                inherited = "Y" if lid == "RM317" and svc in ("Overall", "Critical care") else "N"
                yield [
                    lid, lid, lname, "N", "NHS Healthcare Organisation", ACUTE, *addr[:4],
                    addr[4], region, nhs_region, "E38000135", "NHS Example CCG", "E38000135",
                    "NHS Example CCG", svc, domain, rating, when, "Location", inherited,
                    f"https://www.cqc.org.uk/location/{lid}", code, tname, "-", "-",
                ]  # fmt: skip
                written += 1
    while written < target:
        ltype, category, care_home, services, _ = r.choices(kinds, weights)[0]
        pid = world.new_id()
        pname = f"{world.word()} {r.choice(WORDS)} {r.choice(COMPANY)}"
        brand = (
            ("-", "-")
            if r.random() < 0.8
            else (f"BD{r.randint(100, 999)}", f"BRAND {r.choice(WORDS)}")
        )
        region, nhs_region = r.choice(REGIONS)
        for _ in range(r.randint(1, 3)):
            lid = world.new_id()
            lname = f"{world.word()} {r.choice(WORDS)} {r.choice(PLACE)}"
            addr = world.address()
            ods = f"{r.choice('ABCDEFGHJKLMNPQVWXY')}{r.randint(10000, 99999)}" if services else ""
            for svc, domain, rating, when in _ratings(world, services, True):
                yield [
                    lid, ods, lname, care_home, ltype, category, *addr[:4], addr[4], region,
                    nhs_region, f"E38{r.randint(0, 999999):06d}", f"NHS {addr[2]} CCG", "", "",
                    svc, domain, rating, when, "Location", "N",
                    f"https://www.cqc.org.uk/location/{lid}", pid, pname, *brand,
                ]  # fmt: skip
                written += 1
            if written >= target:
                break


def _provider_rows(world: _World, target: int) -> Iterator[list[object]]:
    r = world.rng
    written = 0
    for code, tname in world.trusts:
        region, nhs_region = ("North West", "North West") if code == "RM3" else r.choice(REGIONS)
        addr = world.address()
        for svc, domain, rating, when in _ratings(world, (), False):
            yield [
                code, code, tname, "NHS Healthcare Organisation", ACUTE, *addr[:4], addr[4],
                region, nhs_region, svc, domain, rating, when, "Provider", "N",
                f"https://www.cqc.org.uk/provider/{code}", "-", "-",
            ]  # fmt: skip
            written += 1
    while written < target:
        pid = world.new_id()
        region, nhs_region = r.choice(REGIONS)
        addr = world.address()
        for svc, domain, rating, when in _ratings(world, (), False):
            yield [
                pid, "", f"{world.word()} {r.choice(WORDS)} Limited", "Social Care Org",
                "Residential social care", *addr[:4], addr[4], region, nhs_region, svc, domain,
                rating, when, "Provider", "N", f"https://www.cqc.org.uk/provider/{pid}", "-", "-",
            ]  # fmt: skip
            written += 1


def _sheet(
    out: io.TextIOBase, name: str, columns: tuple[str, ...], rows: Iterator[list[object]]
) -> int:
    out.write(f'<table:table table:name="{name}" table:style-name="ta1">')
    out.write(f'<table:table-column table:number-columns-repeated="{len(columns)}"/>\n')
    out.write(_banner(len(columns)))
    out.write(_row(list(columns)))
    n = 0
    for values in rows:
        out.write(_row(values))
        n += 1
    out.write(_trailer(len(columns)))
    out.write("</table:table>\n")
    return n


def file_name(published: date) -> str:
    """``DD_Month_YYYY_Latest_ratings.ods``, as CQC names the file."""
    return f"{published:%d}_{published:%B}_{published:%Y}_Latest_ratings.ods"


def generate(
    out_dir: Path, *, rows: int = 320_000, seed: int = 2026, published: date | None = None
) -> Path:
    """Write the file into ``out_dir`` and return its path. ~94% of rows go to Locations."""
    published = published or date(2026, 9, 1)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / file_name(published)
    world = _World(seed, published, rows)
    provider_target = max(rows * 6 // 100, 6 * len(world.trusts))
    tmp = path.with_suffix(".ods.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE,
                    compress_type=zipfile.ZIP_STORED)  # fmt: skip
        # Fixed timestamps keep the file byte-for-byte reproducible.
        manifest = zipfile.ZipInfo("META-INF/manifest.xml", date_time=(1980, 1, 1, 0, 0, 0))
        zf.writestr(manifest, MANIFEST, compress_type=zipfile.ZIP_DEFLATED)
        with zf.open("content.xml", "w", force_zip64=True) as raw:
            out = io.TextIOWrapper(io.BufferedWriter(raw, 1 << 20), encoding="utf-8")
            out.write(f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {NS}>')
            out.write("<office:body><office:spreadsheet>\n")
            _sheet(
                out, "Locations", LOCATION_COLUMNS, _location_rows(world, rows - provider_target)
            )
            _sheet(out, "Providers", PROVIDER_COLUMNS, _provider_rows(world, provider_target))
            out.write("</office:spreadsheet></office:body></office:document-content>\n")
            out.flush()
            out.detach()
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--rows", type=int, default=320_000, help="data rows in both sheets together")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--date", type=date.fromisoformat, default=date(2026, 9, 1), help="publication date"
    )
    args = ap.parse_args(argv)
    path = generate(args.out_dir, rows=args.rows, seed=args.seed, published=args.date)
    print(f"{path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
