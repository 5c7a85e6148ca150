"""NHS England Referral to Treatment (RTT) waiting times: discover the monthly files, parse them.

Two files carry the same provider figures: the "Full CSV data file" (a ~3 MB zip holding an
~80 MB CSV: provider x commissioner x RTT part x treatment function x 105 week bands) and the
Incomplete-Provider workbook (sheet ``Provider``). Per provider and month, from incomplete
pathways only (``RTT Part Type`` = ``Part_2``, the waiting list at month end):

    rtt_waiting_list  = Total All
    rtt_18wk_pct      = 100 * Σ bands "Gt 00 To 01" .. "Gt 17 To 18" / Total All
    rtt_52wk_count    = Σ bands "Gt 52 To 53" .. "Gt 104"
    rtt_52wk_pct      = 100 * rtt_52wk_count / Total All

The denominator is ``Total All``, not ``Total``: in the real files ``Total`` and ``Patients with
unknown clock start date`` are filled only on completed-pathway rows (Part_1A/1B, 72% and 81% of
all rows blank), while ``Total All`` is filled on every row and on Part_2 rows equals the sum of
the week bands, which is the "Total number of incomplete pathways" NHS England publishes. A
parser dividing by ``Total`` would read blanks for every Part_2 row.

Each provider's figures come from its ``C_999`` ("Total") rows, one per commissioner: they are
the publisher's own roll-up of the specialty rows, and what its provider workbook shows as the
provider's total. Summing the specialty rows instead (never both: that doubles every pathway)
gives the same figures on every real group; the parser does that sum too, as a check, and
rejects a file where the two disagree.

England and the regions are derived from the Full CSV (Σ numerators / Σ denominators,
``derived=True``): England from every provider in the file, a region from the providers placed
in it by the file's own region code where it has one (a ``Provider Parent Org Code`` that is a
region code, as in older files), else by ``region_of`` keyed by provider code, else by
``region_of`` keyed by the parent code (current files give the provider's ICB there, so an
ICB-to-region map works too). The workbook's ``Provider`` sheet lists NHS trusts only (150 in
the real March 2026 sheet, no independent-sector provider), so its sums are not England's or a
region's: it yields provider figures only. They equal the Full CSV's, so ingesting both files
of a month revises nothing.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import IO, cast

from python_calamine import CalamineWorkbook

from monitor.metrics import Granularity
from monitor.orgs import ENGLAND, REGIONS, code_for, name_for
from monitor.sources import discover as disc
from monitor.sources.base import MONTHS, Figure, Parsed, ParseError, Skipped
from monitor.sources.discover import Link
from monitor.sources.rtt import derived as rtt_derived
from monitor.sources.rtt.full_csv import ProviderTotal, check_consistent, read_full_csv
from monitor.sources.rtt.workbook import SHEET, read_incomplete_provider
from monitor.sources.tabular import zip_cut_short

SOURCE = "rtt"
WAITING_LIST, WITHIN_18, OVER_52, OVER_52_PCT = (
    "rtt_waiting_list",
    "rtt_18wk_pct",
    "rtt_52wk_count",
    "rtt_52wk_pct",
)

_HTML = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0"  # a legacy .xls workbook


def parse(
    source: bytes | str | os.PathLike[str],
    *,
    filename: str | None = None,
    region_of: Mapping[str, str] | None = None,
) -> Parsed:
    """Figures for every provider, the regions and England in one RTT file.

    ``source`` is the file's bytes or a path to it. A path is the better choice for the Full
    CSV zip: the CSV is streamed from the zip member line by line, so neither the 80 MB CSV nor
    (with a path) the zip is ever held in memory. Accepted: the Full CSV zip, its CSV extracted,
    and the Incomplete-Provider workbook (XLSX or XLS). ``filename`` names the file in errors
    (default: the path's name). ``region_of`` maps provider (or parent) codes to regions.
    """
    if isinstance(source, bytes | bytearray):
        name = filename or "RTT file"
    else:
        name = filename or Path(source).name
    with _open(source, name) as fh:
        head = fh.read(2048)
        fh.seek(0)
        low = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if low.startswith(_HTML) or b"<html" in low[:512]:
            raise ParseError(
                "this is an HTML page, not an RTT zip, CSV or workbook", file=name, row=1
            )
        if rtt_derived.is_summary(head):
            return rtt_derived.summary_figures(fh, name)
        if rtt_derived.is_clean_csv(head):
            totals, rows = rtt_derived.clean_csv_totals(fh, name)
            parsed = _figures(totals, region_of or {}, derive=True)
            parsed.rows_read, parsed.layout = rows, "RTT provider sheet CSV (derived)"
            return parsed
        layout = "RTT Full CSV"
        if head.startswith(_ZIP):
            totals, rows, derive = _read_zip(fh, source, name)
            layout = layout if derive else "RTT Incomplete-Provider workbook"
        elif head.startswith(_OLE2):
            (totals, rows), derive = _read_workbook(fh, source, name), False
            layout = "RTT Incomplete-Provider workbook"
        elif b"\x00" in head:
            raise ParseError(
                "not an RTT Full CSV zip, CSV or Incomplete-Provider workbook", file=name, row=1
            )
        else:  # text: the CSV itself, whose header is checked column by column
            (totals, rows), derive = read_full_csv(fh, file=name), True
    check_consistent(totals, file=name)
    parsed = _figures(totals, region_of or {}, derive=derive)
    parsed.rows_read, parsed.layout = rows, layout
    return parsed


@contextmanager
def _open(source: bytes | str | os.PathLike[str], name: str) -> Iterator[IO[bytes]]:
    if isinstance(source, bytes | bytearray):
        yield io.BytesIO(source)
        return
    try:
        fh = open(source, "rb")  # noqa: SIM115 - closed below, after the caller is done
    except OSError as exc:
        raise ParseError(f"cannot open the file: {exc.strerror}", file=name) from None
    with fh:
        yield fh


def _read_zip(
    fh: IO[bytes], source: bytes | str | os.PathLike[str], name: str
) -> tuple[list[ProviderTotal], int, bool]:
    """A workbook (an XLSX is a zip) or the Full CSV zip; True when England can be derived."""
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        fh.seek(0)  # what can be said of it: a few MB read only on this error path
        raise ParseError(
            f"not a complete zip file ({exc}): {zip_cut_short(fh.read())}", file=name
        ) from None
    with zf:
        members = zf.namelist()
        if "xl/workbook.xml" in members:
            fh.seek(0)
            return (*_read_workbook(fh, source, name), False)
        csvs = [m for m in members if m.lower().endswith(".csv")]
        if not csvs:
            raise ParseError(f"the zip holds no CSV file (it has {members[:5]})", file=name)
        # The publication's zip holds one CSV; prefer the full extract if that ever changes.
        member = max(csvs, key=lambda m: ("full-extract" in m.lower(), zf.getinfo(m).file_size))
        try:
            with zf.open(member) as raw:
                # A large buffer: the CSV is read one line at a time.
                stream = io.BufferedReader(cast(io.RawIOBase, raw), 1 << 20)
                return (*read_full_csv(stream, file=f"{name}:{member}"), True)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ParseError(f"damaged zip member {member!r}: {exc}", file=name) from None


def _read_workbook(
    fh: IO[bytes], source: bytes | str | os.PathLike[str], name: str
) -> tuple[list[ProviderTotal], int]:
    try:
        if isinstance(source, bytes | bytearray):
            workbook = CalamineWorkbook.from_filelike(fh)
        else:
            workbook = CalamineWorkbook.from_path(os.fspath(source))
        if SHEET not in workbook.sheet_names:
            raise ParseError(
                f"no sheet {SHEET!r}; the workbook has {', '.join(workbook.sheet_names)}",
                file=name,
            )
        sheet = workbook.get_sheet_by_name(SHEET)
        rows = sheet.to_python(skip_empty_area=False)
    except ParseError:
        raise
    except Exception as exc:  # calamine raises several unrelated types for damaged files
        raise ParseError(f"truncated or damaged workbook: {exc}", file=name) from None
    return read_incomplete_provider(rows, first_row=1, file=name)


def _figures(totals: list[ProviderTotal], region_of: Mapping[str, str], *, derive: bool) -> Parsed:
    """Provider figures, then (if ``derive``) England's and the regions' summed from them."""
    parsed = Parsed()
    sums: dict[tuple[str, tuple[date, date]], list[int]] = defaultdict(lambda: [0, 0, 0])
    for t in sorted(totals, key=lambda t: (t.period, t.code)):
        parsed.figures.extend(_org_figures(t, derived=False))
        if not t.waiting:
            parsed.skipped.append(
                Skipped(t.row, f"{t.code}: no incomplete pathways, so no percentages")
            )
        region = (
            t.region or _region(region_of.get(t.code)) or _region(region_of.get(t.parent or ""))
        )
        for org in (ENGLAND, region) if region else (ENGLAND,):
            acc = sums[org, t.period]
            acc[0] += t.waiting
            acc[1] += t.within_18
            acc[2] += t.over_52
    if derive:
        for (org, period), (waiting, within, over) in sorted(sums.items()):
            t = ProviderTotal(
                period=period,
                code=org,
                name=name_for(org),
                row=0,
                region=None,
                parent=None,
                waiting=waiting,
                within_18=within,
                over_52=over,
            )
            parsed.figures.extend(_org_figures(t, derived=True))
    return parsed


def _region(value: str | None) -> str | None:
    code = code_for(value)
    return code if code in REGIONS else None


def _org_figures(t: ProviderTotal, *, derived: bool) -> list[Figure]:
    def figure(metric: str, value: float, num: int | None = None) -> Figure:
        return Figure(
            org=t.code,
            metric=metric,
            period_start=t.period[0],
            period_end=t.period[1],
            granularity=Granularity.MONTH,
            value=value,
            numerator=num,
            denominator=None if num is None else t.waiting,
            org_name=t.name,
            derived=derived,
            row=t.row or None,
        )

    out = [figure(WAITING_LIST, t.waiting), figure(OVER_52, t.over_52)]
    if t.waiting:  # no list, no percentages (reported as skipped)
        out.append(figure(WITHIN_18, 100.0 * t.within_18 / t.waiting, t.within_18))
        out.append(figure(OVER_52_PCT, 100.0 * t.over_52 / t.waiting, t.over_52))
    return out


_FULL_CSV = re.compile(r"full[\s_-]*csv[\s_-]*data[\s_-]*file", re.IGNORECASE)
_PROVIDER = re.compile(r"incomplete[\s_-]*provider", re.IGNORECASE)
_MONTH = re.compile(r"(?<![A-Za-z])([A-Za-z]{3,9})[\s_.-]*((?:20)?\d\d)(?!\d)")
_YEAR_PAGE = re.compile(r"/rtt-data-\d{4}-\d{2}/?$")


def _month_of(*texts: str) -> date | None:
    """The month in "Full CSV data file Jun26 (ZIP, 3M)" or "…-June-2026-…", first text first."""
    for text in texts:
        for word, year in _MONTH.findall(text):
            if word.upper() in MONTHS:
                return date(2000 + int(year[-2:]), MONTHS[word.upper()], 1)
    return None


def discover(html: str, base_url: str) -> list[Link]:
    """The Full CSV zips and Incomplete-Provider workbooks on a yearly RTT page, newest first.

    Files are recognised by link text and file name ("Full CSV data file Jun26 (ZIP, 3M)" ->
    ``Full-CSV-data-file-Jun26-ZIP-3M-….zip``; "Incomplete Provider Jun26 (XLSX, 9M)"), never
    by building an address. One link per dataset (``full-csv``, ``incomplete-provider``) and
    month: a revised file beats the original, and between equals the one later on the page.
    Sorted newest month first, so the first link of each dataset is the latest publication.
    """

    def dataset(raw: disc.PageLink) -> str | None:
        name, kind = disc.file_name(raw.url), disc.file_kind(raw.url)
        if kind == "zip" and (_FULL_CSV.search(raw.text) or _FULL_CSV.search(name)):
            return "full-csv"
        if kind in ("xlsx", "xls") and (_PROVIDER.search(raw.text) or _PROVIDER.search(name)):
            return "incomplete-provider"
        return None

    # RTT names months with two-digit years ("Jun26"), which the shared reader leaves alone.
    newest = disc.dated_links(html, base_url, dataset, period=_month_of)
    return sorted(newest, key=lambda link: (-(link.period or date.min).toordinal(), link.dataset))


def yearly_pages(html: str, base_url: str) -> list[str]:
    """The per-financial-year data pages (``…/rtt-data-2026-27/``) linked from the RTT page."""
    return disc.page_links(html, base_url, _YEAR_PAGE)
