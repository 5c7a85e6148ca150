"""Stream CQC's "Latest ratings" care directory (.ods) into rating records, in bounded memory.

The file (about 26 MB zipped, 320k rows) is a zip whose ``content.xml`` holds two sheets,
``Locations`` and ``Providers``, in long format: one row per organisation x service or
population group x domain. Reading it with a spreadsheet library builds the whole document in
memory (pandas + odfpy take over 3 GB), so this feeds ``content.xml`` straight from the zip to
the C XML parser and drops every row once read.

ODS encodings handled: ``table:number-columns-repeated`` (equal neighbouring cells, long runs of
empty ones), ``table:number-rows-repeated`` (the empty rest of a sheet), merged and covered cells
(the banner row that 2026 files put above the header), ``text:s`` spaces, links and spans inside
a cell, and date cells (``office:date-value``). Sheets are recognised by their header row, so
banner rows and column order do not matter.
"""

from __future__ import annotations

import gc
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, TreeBuilder, XMLParser
from xml.etree.ElementTree import ParseError as XMLParseError

from monitor.sources.base import ParseError, Skipped
from monitor.sources.cqc.records import RatingRecord
from monitor.sources.cqc.values import (
    Scope,
    UnknownRating,
    normalise_domain,
    normalise_rating,
    region_code,
    service_label,
)

_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
T_TABLE = _TABLE + "table"
T_ROW = _TABLE + "table-row"
ROW_GROUPS = frozenset(_TABLE + g for g in ("table-row-group", "table-header-rows", "table-rows"))
BODY = _OFFICE + "body"
SPREADSHEET = _OFFICE + "spreadsheet"
COLS_REPEATED = _TABLE + "number-columns-repeated"
ROWS_REPEATED = _TABLE + "number-rows-repeated"
T_NAME = _TABLE + "name"
P = _TEXT + "p"
S = _TEXT + "s"
S_COUNT = _TEXT + "c"
VALUE_TYPE = _OFFICE + "value-type"
DATE_VALUE = _OFFICE + "date-value"

# Columns each sheet must have (SOURCES.md lists them all; these are the ones read).
LOCATION_HEADER = "Location ID"
PROVIDER_HEADER = "Provider ID"
NEEDED = {
    "location": (
        "Location ID", "Location Name", "Location NHS Region", "Service / Population Group",
        "Domain", "Latest Rating", "Publication Date", "Inherited Rating (Y/N)", "URL",
        "Provider ID",
    ),
    "provider": (
        "Provider ID", "Provider Name", "Provider Type", "Provider NHS Region",
        "Service / Population Group", "Domain", "Latest Rating", "Publication Date",
        "Inherited Rating (Y/N)", "URL",
    ),
}  # fmt: skip
CHUNK = 1 << 16
MAX_WIDTH = 256  # cells beyond this are a spreadsheet's empty tail, never data
MAX_SKIPPED_KEPT = 1000  # skipped rows listed one by one; beyond this only counted
STREAMING_GC_THRESHOLD = 10_000  # allocations between young collections while a file streams


@dataclass(slots=True)
class SheetRow:
    """One non-empty row: the sheet it is in, its spreadsheet row number, its cell values."""

    sheet: str
    number: int
    values: list[str]


def _cell_text(cell: Element) -> str:
    n = len(cell)
    if n == 0:
        return ""
    if cell.get(VALUE_TYPE) == "date":
        return (cell.get(DATE_VALUE) or "")[:10]
    if n == 1:
        p = cell[0]
        if len(p) == 0:
            return (p.text or "") if p.tag == P else ""
        return _para_text(p) if p.tag == P else ""
    return "\n".join(_para_text(p) for p in cell if p.tag == P)


def _para_text(el: Element) -> str:
    parts = [el.text or ""]
    for child in el:
        if child.tag == S:
            parts.append(" " * int(child.get(S_COUNT) or 1))
        else:
            parts.append(_para_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def _row_values(row: Element) -> list[str]:
    values: list[str] = []
    for cell in row:
        # Most cells are one plain paragraph of text, or empty: read those in line.
        if len(cell) == 1 and len(p := cell[0]) == 0 and p.tag == P:
            text = p.text or "" if cell.get(VALUE_TYPE) != "date" else _cell_text(cell)
        else:
            text = _cell_text(cell)
        repeat = cell.get(COLS_REPEATED)
        if not repeat:
            values.append(text)
        else:
            values.extend([text] * min(int(repeat), MAX_WIDTH - len(values)))
        if len(values) >= MAX_WIDTH:
            break
    while values and values[-1] == "":
        values.pop()
    return values


def iter_rows(source: str | Path | IO[bytes], chunk: int = CHUNK) -> Iterator[SheetRow]:
    """Every non-empty row of every sheet, in file order, holding one row at a time.

    ``source`` is the .ods path or a binary file object; ``chunk`` the bytes of content.xml
    fed to the parser at a time. Raises ParseError when it is not a
    zip with a content.xml, or content.xml can't be read whole or is not well-formed XML.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError) as e:
        raise ParseError(f"not an ODS file (a zip with content.xml): {e}") from None
    with zf:
        try:
            content = zf.open("content.xml")
        except KeyError:
            raise ParseError("not an ODS file: the zip has no content.xml") from None
        with content, _streaming_gc():
            try:
                yield from _rows(content, chunk)
            except XMLParseError as e:  # a file cut short, or not XML
                raise ParseError(f"content.xml is not well-formed XML ({e})") from None
            except (zipfile.BadZipFile, zlib.error, EOFError) as e:  # a damaged zip member
                raise ParseError(f"content.xml can't be read from the zip: {e}") from None


@contextmanager
def _streaming_gc() -> Iterator[None]:
    # A full-size file makes about 15 million short-lived XML elements. Each full garbage
    # collection would walk every long-lived object of the process (the ORM, ...): freezing
    # those while the file streams keeps collections cheap; unfreeze hands them back
    # unchanged. Young collections come every STREAMING_GC_THRESHOLD allocations instead of
    # every 700: at 700, the rows of a chunk and the records of a batch being stored live
    # through many collections, which cost 4 s of a 30 s ingest of every row (bench_cqc_ods).
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(max(threshold[0], STREAMING_GC_THRESHOLD), *threshold[1:])
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _rows(content: IO[bytes], size: int) -> Iterator[SheetRow]:
    # A full-size file has about 15 million elements, so no event is handled per element in
    # Python: after each chunk the C parser has added to the tree, the rows it has finished
    # are read from their table and dropped (every child of a table but its last, which the
    # parser may still be filling). The parser's start events serve only to find the root.
    parser = XMLParser(target=TreeBuilder())
    starts: list[tuple[str, Element]] = []
    parser._setevents(starts, ("start",))  # type: ignore[attr-defined]
    root: Element | None = None
    spreadsheet: Element | None = None
    at = _Place()
    while True:
        chunk = content.read(size)
        if chunk:
            parser.feed(chunk)
        else:
            parser.close()
        if root is None and starts:
            root = starts[0][1]
        starts.clear()
        if spreadsheet is None and root is not None:
            spreadsheet = _spreadsheet(root)
        if spreadsheet is not None:
            yield from _tables(spreadsheet, not chunk, at)
        if not chunk:
            return


@dataclass(slots=True)
class _Place:
    """Where reading stands: the table being read, its sheet name, its last row number."""

    table: Element | None = None
    sheet: str = ""
    number: int = 0


def _spreadsheet(root: Element) -> Element | None:
    """The document's office:spreadsheet, once the parser has reached it."""
    body = root.find(BODY)
    if body is None or len(body) == 0:
        return None
    if body[0].tag != SPREADSHEET:
        raise ParseError(f"not a spreadsheet: the document body holds {body[0].tag}")
    return body[0]


def _tables(spreadsheet: Element, closed: bool, at: _Place) -> Iterator[SheetRow]:
    while len(spreadsheet):
        el = spreadsheet[0]
        complete = closed or len(spreadsheet) > 1
        if el.tag == T_TABLE:
            if el is not at.table:
                at.table, at.sheet, at.number = el, el.get(T_NAME) or "", 0
            yield from _drain(el, complete, at)
        if not complete:
            return
        del spreadsheet[0]


def _drain(container: Element, complete: bool, at: _Place) -> Iterator[SheetRow]:
    """The finished rows of a table or row group, in order, each removed once read."""
    end = len(container) if complete else len(container) - 1
    if end > 0:
        sheet = at.sheet
        for el in container[:end]:
            tag = el.tag
            if tag == T_ROW:
                values = _row_values(el)
                repeat = el.get(ROWS_REPEATED)
                if not values:
                    at.number += int(repeat) if repeat else 1
                    continue
                for _ in range(int(repeat) if repeat else 1):
                    at.number += 1
                    yield SheetRow(sheet, at.number, values)
            elif tag in ROW_GROUPS:
                yield from _drain(el, True, at)
        del container[:end]
    if not complete and len(container) and container[0].tag in ROW_GROUPS:
        yield from _drain(container[0], False, at)


@dataclass(slots=True, kw_only=True)
class OdsReport:
    """What reading one file found: rows read, rows skipped (and why), sheets seen."""

    file: str = ""
    rows_read: int = 0
    out_of_scope: int = 0
    not_rated: int = 0
    skipped_count: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    sheets: dict[str, str] = field(default_factory=dict)  # sheet name -> location | provider

    def skip(self, sheet: str, row: int, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_KEPT:
            self.skipped.append(Skipped(row, f"sheet {sheet}: {reason}"))


def _parse_date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10])  # date cells: office:date-value
    except ValueError:
        pass
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d/%m/%y"):
        try:
            return datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    return None


class _Sheet:
    """Column positions of one sheet, found from its header row."""

    def __init__(self, kind: str, header: list[str], where: str, number: int) -> None:
        self.kind = kind
        pos = {name.strip(): i for i, name in enumerate(header)}
        missing = [c for c in NEEDED[kind] if c not in pos]
        if missing:
            raise ParseError(f"header lacks column(s) {missing}", file=where, row=number)
        p = pos.get
        self.id = pos[f"{kind.capitalize()} ID"]
        self.name = pos[f"{kind.capitalize()} Name"]
        self.region = pos[f"{kind.capitalize()} NHS Region"]
        self.type = p("Provider Type")
        self.provider = pos["Provider ID"]
        self.service = pos["Service / Population Group"]
        self.domain = pos["Domain"]
        self.rating = pos["Latest Rating"]
        self.date = pos["Publication Date"]
        self.inherited = pos["Inherited Rating (Y/N)"]
        self.url = pos["URL"]
        self.width = len(header)


def ratings_from_ods(
    source: str | Path | IO[bytes], scope: Scope | None = None, report: OdsReport | None = None
) -> Iterator[RatingRecord]:
    """Rating records of every in-scope row of both sheets (``scope=None``: every row).

    Rows whose rating is "No published rating" or blank give no record; rows with an unknown
    rating word or key question are skipped with the reason in ``report``. Raises ParseError
    when a sheet has no recognisable header row or the file has neither sheet.
    """
    report = report if report is not None else OdsReport()
    where = report.file or str(getattr(source, "name", source))
    sheets: dict[str, _Sheet | None] = {}
    for row in iter_rows(source):
        cols = sheets.get(row.sheet)
        if cols is None:
            first = row.values[0].strip() if row.values else ""
            kind = {LOCATION_HEADER: "location", PROVIDER_HEADER: "provider"}.get(first)
            if kind is None:
                sheets.setdefault(row.sheet, None)  # a banner row above the header
                continue
            sheets[row.sheet] = _Sheet(kind, row.values, f"{where}, sheet {row.sheet}", row.number)
            report.sheets[row.sheet] = kind
            continue
        report.rows_read += 1
        v = row.values
        if len(v) < cols.width:
            v = v + [""] * (cols.width - len(v))
        record = _record(cols, v, scope, report, row)
        if record is not None:
            yield record
    if not report.sheets:
        raise ParseError("no Locations or Providers header row found", file=where)


def _record(
    c: _Sheet, v: list[str], scope: Scope | None, report: OdsReport, row: SheetRow
) -> RatingRecord | None:
    provider = v[c.provider].strip().upper()
    if scope is not None:
        ptype = v[c.type] if c.type is not None else None
        if not scope.includes(provider, ptype, region_code(v[c.region])):
            report.out_of_scope += 1
            return None
    try:
        norm = normalise_rating(v[c.rating])
        domain = normalise_domain(v[c.domain])
    except UnknownRating as e:
        report.skip(row.sheet, row.number, str(e))
        return None
    if norm is None:
        report.not_rated += 1
        return None
    subject = v[c.id].strip().upper()
    if not subject:
        report.skip(row.sheet, row.number, f"no {c.kind} id")
        return None
    return RatingRecord(
        subject_type=c.kind,
        subject_id=subject,
        subject_name=v[c.name].strip(),
        org=provider,
        service=service_label(v[c.service]),
        domain=domain,
        rating=norm[0],
        ordinal=norm[1],
        report_date=_parse_date(v[c.date]),
        report_link=v[c.url].strip() or None,
        inherited=v[c.inherited].strip().upper() == "Y",
    )
