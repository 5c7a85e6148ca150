"""Reading published CSV and XLSX files row by row, with errors that name file, row and column.

Shared by the publisher parsers: they say which columns they need, and this module checks the
bytes really are that file (not an HTML error page, not cut short) before handing rows over.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from python_calamine import CalamineWorkbook

from monitor.metrics import UNIT_RANGES
from monitor.orgs import ENGLAND, REGIONS, name_for
from monitor.sources.base import Figure, ParseError, percent, period_figure

# An HTML page served in place of a file (a login wall, a "page not found", a CDN error) is the
# commonest bad download; say so plainly rather than complain about its columns.
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")

# The row csv_rows last handed over, while its reader is still reading: an unexpected error in
# a parser is then reported at that row (ingest.py), not only against the file.
_reading: ContextVar[int | None] = ContextVar("reading", default=None)


def row_being_read() -> int | None:
    """The 1-based row a CSV parser is working on, or None outside a row loop."""
    return _reading.get()


def forget_row() -> None:
    """Before a parser starts: no row is being read yet."""
    _reading.set(None)


def reject_html(data: bytes, filename: str, expected: str) -> None:
    """Raise ParseError when ``data`` is an HTML (or XML) page rather than a data file."""
    head = data[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(_HTML_MARKERS) or b"<html" in head[:512]:
        raise ParseError(f"this is an HTML page, not a {expected} file", file=filename, row=1)


def csv_rows(
    data: bytes, *, filename: str, required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield ``(row number, {column: stripped text})`` for each data row of a CSV file.

    Row numbers are 1-based with the header as row 1, as a spreadsheet shows them. Column names
    are stripped of spaces and a BOM. Unnamed extra columns (NHS England's files sometimes carry
    empty trailing fields) are ignored; a row with fewer fields than the named columns means the
    file was cut short, and a missing required column is reported before any row is read.
    """
    reject_html(data, filename, "CSV")
    if not data.strip():
        raise ParseError("the file is empty", file=filename)
    text = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    _reading.set(None)
    try:
        header = [h.strip() for h in next(reader)]
        named = [i for i, h in enumerate(header) if h]
        missing = [c for c in required if c not in header]
        if missing:
            raise ParseError(
                f"missing column(s) {', '.join(repr(c) for c in missing)}; "
                f"found {', '.join(repr(h) for h in header if h)}",
                file=filename,
                row=1,
                column=missing[0],
            )
        width = max(named) + 1
        # Every NHS England CSV ends with a line break; a last row without one was cut off,
        # possibly inside a number, so it is held back until the next row proves it whole.
        pending: tuple[int, dict[str, str]] | None = None
        for line_no, fields in enumerate(reader, start=2):
            if not any(f.strip() for f in fields):
                continue
            if len(fields) < width:
                raise ParseError(
                    f"row has {len(fields)} fields but the header names {width} columns "
                    "(truncated file?)",
                    file=filename,
                    row=line_no,
                    column=header[len(fields)] if len(fields) < len(header) else None,
                )
            if pending is not None:
                _reading.set(pending[0])
                yield pending
            pending = line_no, {header[i]: fields[i].strip() for i in named}
        if pending is not None:
            if not data.rstrip(b" \t").endswith(b"\n"):
                raise ParseError(
                    "the last row has no line ending (truncated file?)",
                    file=filename,
                    row=pending[0],
                )
            _reading.set(pending[0])
            yield pending
        _reading.set(None)
    except UnicodeDecodeError as exc:
        row, column = _bad_byte_at(data)
        raise ParseError(
            f"not UTF-8 text ({exc.reason})", file=filename, row=row, column=column
        ) from None
    except csv.Error as exc:
        raise ParseError(f"malformed CSV: {exc}", file=filename, row=reader.line_num) from None


def zip_cut_short(data: bytes) -> str:
    """What can be said of a ZIP (an XLSX is one) that cannot be opened: its size and the
    member its last local header names, where the file stops. A whole ZIP ends with its
    central directory; a download cut short lacks it."""
    where = f"the file stops after {len(data):,} bytes"
    at = data.rfind(b"PK\x03\x04")
    if at >= 0 and len(data) >= at + 30:
        name_len = int.from_bytes(data[at + 26 : at + 28], "little")
        name = data[at + 30 : at + 30 + name_len].decode("utf-8", "replace")
        if name:
            where += f", inside member {name!r}"
    if b"PK\x05\x06" not in data[-65_557:]:
        where += "; its ZIP directory is missing (truncated download?)"
    return where


def _bad_byte_at(data: bytes) -> tuple[int | None, str | None]:
    """The row (header = 1) and column of the first byte that is not UTF-8 (the column by
    counting commas, so approximate in a quoted field)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        row = data.count(b"\n", 0, e.start) + 1
        header = data.split(b"\n", 1)[0].decode("utf-8-sig", "replace").split(",")
        index = data.count(b",", line_start, e.start)
        return row, header[index].strip() if index < len(header) and row > 1 else None
    return None, None


def open_workbook(data: bytes, *, filename: str) -> CalamineWorkbook:
    """Open XLSX bytes with calamine, turning HTML pages and damaged files into ParseErrors."""
    reject_html(data, filename, "XLSX")
    if not data.startswith(b"PK"):
        raise ParseError("not an XLSX workbook (no ZIP signature)", file=filename)
    try:
        # The ZIP check catches a file cut short in transit, which calamine may only notice
        # once it reaches the missing sheet.
        try:
            z = zipfile.ZipFile(io.BytesIO(data))
        except zipfile.BadZipFile:
            raise ParseError(
                f"truncated or damaged XLSX workbook: {zip_cut_short(data)}", file=filename
            ) from None
        with z:
            bad = z.testzip()
        if bad is not None:
            raise ParseError(f"damaged workbook member {bad!r}", file=filename)
        return CalamineWorkbook.from_filelike(io.BytesIO(data))
    except ParseError:
        raise
    except Exception as exc:  # zipfile and calamine raise several unrelated types
        raise ParseError(f"truncated or damaged XLSX workbook: {exc}", file=filename) from None


def sheet_rows(workbook: CalamineWorkbook, sheet: str, *, filename: str) -> list[list[Any]]:
    """All rows of a named sheet, or a ParseError listing the sheets the workbook has."""
    if sheet not in workbook.sheet_names:
        raise ParseError(
            f"no sheet {sheet!r}; the workbook has {', '.join(workbook.sheet_names)}",
            file=filename,
        )
    try:
        return workbook.get_sheet_by_name(sheet).to_python()
    except Exception as exc:
        raise ParseError(f"cannot read sheet {sheet!r}: {exc}", file=filename) from None


def number(value: Any, *, file: str, row: int, column: str) -> float:
    """A cell as a number; text (other than thousands separators) is a ParseError."""
    if isinstance(value, bool):
        raise ParseError(f"expected a number, found {value!r}", file=file, row=row, column=column)
    if isinstance(value, int | float):
        if math.isnan(value):
            raise ParseError("expected a number, found NaN", file=file, row=row, column=column)
        return float(value)
    text = str(value).strip().replace(",", "")
    try:
        result = float(text)
    except ValueError:
        raise ParseError(
            f"expected a number, found {str(value)!r}", file=file, row=row, column=column
        ) from None
    if math.isnan(result) or math.isinf(result):
        raise ParseError(f"expected a number, found {value!r}", file=file, row=row, column=column)
    return result


_MAX_COUNT = UNIT_RANGES["count"].high


def count(value: Any, *, file: str, row: int, column: str) -> float:
    """A cell that counts something (patients, attendances): a number in the valid range of a
    count (metrics.UNIT_RANGES), never negative."""
    result = number(value, file=file, row=row, column=column)
    if result < 0:
        raise ParseError(
            f"a count cannot be negative, found {value!r}", file=file, row=row, column=column
        )
    if result > _MAX_COUNT:
        raise ParseError(
            f"{value!r} is outside the valid range of a count ({UNIT_RANGES['count']})",
            file=file,
            row=row,
            column=column,
        )
    return result


def derive_aggregates(
    figures: Iterable[Figure],
    region_of: Mapping[str, str],
    *,
    counts: frozenset[str] = frozenset(),
    england: bool = True,
) -> list[Figure]:
    """England and regional figures summed from organisations' figures, marked derived.

    Ratio metrics are Σ numerators / Σ denominators (as percentages); metrics in ``counts`` are
    plain sums of the values. England sums every organisation given; a region sums those whose
    ``region_of`` entry is known. Figures that are already England or a region are ignored.
    """
    sums: dict[tuple[str, str, Any, Any, Any], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for f in figures:
        if f.org == ENGLAND or f.org in REGIONS:
            continue
        targets = [ENGLAND] if england else []
        region = region_of.get(f.org)
        if region in REGIONS:
            targets.append(region)
        for target in targets:
            acc = sums[(target, f.metric, f.period_start, f.period_end, f.granularity)]
            if f.metric in counts:
                acc[0] += f.value or 0.0
            elif f.numerator is not None and f.denominator is not None:
                acc[0] += f.numerator
                acc[1] += f.denominator
    out: list[Figure] = []
    for (org, metric, start, end, granularity), (num, den) in sorted(
        sums.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])
    ):
        if metric in counts:
            value: float | None = num
            numerator = denominator = None
        elif den > 0:
            value, numerator, denominator = percent(num, den), num, den
        else:
            continue
        out.append(
            period_figure(
                org,
                metric,
                (start, end),
                granularity,
                value,
                numerator=numerator,
                denominator=denominator,
                org_name=name_for(org),
                derived=True,
            )
        )
    return out


def as_region(figure: Figure, region: str) -> Figure:
    """A copy of an organisation's figure standing for its region, marked derived."""
    return replace(figure, org=region, org_name=name_for(region), derived=True)
