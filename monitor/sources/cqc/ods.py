"""Stream CQC's "Latest ratings" care directory (.ods) into rating records, in bounded memory.

The file (about 26 MB zipped, 320k rows) is a zip whose ``content.xml`` holds two sheets,
``Locations`` and ``Providers``, in long format: one row per organisation x service or
population group x domain. Reading it with a spreadsheet library builds the whole document in
memory (pandas + odfpy take over 3 GB), so this reads ``content.xml`` straight from the zip with
``iterparse`` and drops every row once read.

ODS encodings handled: ``table:number-columns-repeated`` (equal neighbouring cells, long runs of
empty ones), ``table:number-rows-repeated`` (the empty rest of a sheet), merged and covered cells
(the banner row that 2026 files put above the header), ``text:s`` spaces, links and spans inside
a cell, and date cells (``office:date-value``). Sheets are recognised by their header row, so
banner rows and column order do not matter.
"""

from __future__ import annotations

import gc
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO
from xml.etree.ElementTree import Element, TreeBuilder, XMLParser

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


def iter_rows(source: str | Path | IO[bytes]) -> Iterator[SheetRow]:
    """Every non-empty row of every sheet, in file order, holding one row at a time.

    ``source`` is the .ods path or a binary file object. Raises ParseError when it is not a
    zip with a content.xml.
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
        with content, _long_lived_frozen():
            yield from _rows(content)


@contextmanager
def _long_lived_frozen() -> Iterator[None]:
    # A full-size file makes ~30 million short-lived XML elements; each full garbage collection
    # they trigger would walk every long-lived object of the process (the ORM, ...). Freezing
    # those while the file streams keeps collections cheap; unfreeze hands them back unchanged.
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _rows(content: IO[bytes]) -> Iterator[SheetRow]:
    # There are ~30 million start and end events in a full-size file, so the loop takes them
    # as the C parser appends them to a plain list (the queue XMLPullParser.read_events drains
    # one at a time through a generator, at about a third of this loop's whole cost).
    parser = XMLParser(target=TreeBuilder())
    events: list[tuple[str, Element]] = []
    parser._setevents(events, ("start", "end"))  # type: ignore[attr-defined]
    sheet = ""
    number = 0
    table: Element | None = None
    while chunk := content.read(CHUNK):
        parser.feed(chunk)
        for event, el in events:
            if event == "start":
                if el.tag == T_TABLE:
                    sheet, number, table = el.get(T_NAME) or "", 0, el
                continue
            if el.tag != T_ROW:
                continue
            repeat = el.get(ROWS_REPEATED)
            values = _row_values(el)
            # Drop the row at once, so that the tree never holds more than one: from its
            # table, or, inside a row group, by emptying it where it stands.
            try:
                if table is None:
                    raise ValueError
                table.remove(el)
            except ValueError:
                el.clear()
            if not values:
                number += int(repeat) if repeat else 1
                continue
            for _ in range(int(repeat) if repeat else 1):
                number += 1
                yield SheetRow(sheet, number, values)
        events.clear()
    parser.close()


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
