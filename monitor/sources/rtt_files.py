"""Reading RTT's two file formats into per-provider incomplete-pathway totals.

``read_full_csv`` streams the monthly Full CSV data file (one CSV of ~180k rows x 121 columns,
usually inside a zip) line by line; ``read_incomplete_provider`` reads the ``Provider`` sheet of
the Incomplete-Provider workbook. Both take each provider's figures from the publisher's own
``C_999`` ("Total") rows and check them against the sum of the specialty rows. monitor.sources.rtt
turns the totals into figures.
"""

from __future__ import annotations

import csv
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from operator import itemgetter
from typing import IO, Any

from monitor.orgs import REGIONS, code_for
from monitor.sources.base import MONTHS, ParseError, month_bounds

PERIOD = "Period"
PARENT = "Provider Parent Org Code"
PROVIDER = "Provider Org Code"
PROVIDER_NAME = "Provider Org Name"
PART = "RTT Part Type"
FUNCTION = "Treatment Function Code"
TOTAL_ALL = "Total All"
BANDS = tuple(f"Gt {i:02d} To {i + 1:02d} Weeks SUM 1" for i in range(104)) + (
    "Gt 104 Weeks SUM 1",
)
WITHIN_18 = BANDS[:18]  # "Gt 00 To 01" .. "Gt 17 To 18": waiting 18 weeks or less
OVER_52 = BANDS[52:]  # "Gt 52 To 53" .. "Gt 104": waiting more than 52 weeks
CSV_REQUIRED = (PERIOD, PARENT, PROVIDER, PROVIDER_NAME, PART, FUNCTION, *BANDS, TOTAL_ALL)
INCOMPLETE = "Part_2"  # incomplete pathways: the waiting list
ROLLUP = "C_999"  # the "Total" treatment function: the sum of a group's specialty rows

# The rows that matter contain this text; every other line is skipped before it is split, which
# is most of the speed. Both spellings cover a quoted or unquoted RTT Part Type; "Part_2A" rows
# fail both tests.
_PART_2 = (INCOMPLETE.encode() + b",", INCOMPLETE.encode() + b'"')
_PERIOD = re.compile(r"^RTT-([A-Za-z]+)-(\d{4})$")
# What a damaged zip member raises while it is being read.
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError, OSError)


@dataclass(slots=True)
class ProviderTotal:
    """One provider's incomplete pathways for one month, and where they were read."""

    period: tuple[date, date]
    code: str
    name: str
    row: int  # the first row it was read from (1-based, header = 1)
    region: str | None = None  # a region code the file itself gives, if any
    parent: str | None = None  # Provider Parent Org Code (an ICB code in current files)
    waiting: int = 0  # Total All: every incomplete pathway
    within_18: int = 0
    over_52: int = 0


def _month(label: str, *, file: str, row: int) -> tuple[date, date]:
    m = _PERIOD.match(label.strip())
    if not m or m.group(1).upper() not in MONTHS:
        raise ParseError(
            f"expected a period like 'RTT-June-2026', found {label!r}",
            file=file,
            row=row,
            column=PERIOD,
        )
    return month_bounds(int(m.group(2)), MONTHS[m.group(1).upper()])


def _header(line: bytes, file: str) -> tuple[dict[str, int], int]:
    """Column positions by name, and the number of columns."""
    if not line.strip():
        raise ParseError("the file is empty", file=file, row=1)
    names = [h.strip() for h in next(csv.reader([line.decode("utf-8-sig", "replace")]))]
    missing = [c for c in CSV_REQUIRED if c not in names]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(map(repr, missing[:5]))}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            + " (is this the RTT Full CSV data file?)",
            file=file,
            row=1,
            column=missing[0],
        )
    doubled = [c for c, n in Counter(names).items() if n > 1 and c in CSV_REQUIRED]
    if doubled:
        raise ParseError("column appears twice", file=file, row=1, column=doubled[0])
    return {name: i for i, name in enumerate(names)}, len(names)


def _bad_count(fields: list[str], idx: dict[str, int], file: str, row: int) -> ParseError:
    """The error for the first cell of a row that should be a count and is not."""
    for column in (TOTAL_ALL, *BANDS):
        value = fields[idx[column]]
        if value and not (value.isascii() and value.isdigit()):
            return ParseError(
                f"expected a count, found {value!r}", file=file, row=row, column=column
            )
    raise AssertionError("called for a row whose counts are all valid")


def read_full_csv(stream: IO[bytes], *, file: str) -> tuple[list[ProviderTotal], int]:
    """Per-provider Part_2 totals from a Full CSV stream, and the number of data rows read.

    1. Check the header names every column needed (by name, not position).
    2. Skip lines that cannot be Part_2 rows by a byte test; split the rest (``csv`` only for
       lines with quotes; a quoted field may even span lines).
    3. From each provider's C_999 rows take Total All, the bands up to 18 weeks and the bands
       over 52 weeks; the bands must add up to Total All.
    4. Check each provider's specialty rows add up to its C_999 rows (the roll-up is what it
       says), so neither a missing roll-up nor a new kind of roll-up row goes unnoticed.
    """
    row, pending, last = 1, b"", b"\n"
    try:
        idx, width = _header(stream.readline(), file)
        col = {c: idx[c] for c in (PERIOD, PARENT, PROVIDER, PROVIDER_NAME, PART, FUNCTION)}
        i_total = idx[TOTAL_ALL]
        bands = itemgetter(*(idx[b] for b in BANDS))
        totals: dict[tuple[tuple[date, date], str], ProviderTotal] = {}
        specialties: Counter[tuple[tuple[date, date], str]] = Counter()
        months: dict[str, tuple[date, date]] = {}
        for last in stream:
            line = pending + last if pending else last
            # An odd number of quotes: a quoted field goes on over the line break.
            if b'"' in line and line.count(b'"') % 2:
                pending = line
                continue
            pending = b""
            row += 1
            if b"Part_2" not in line or (_PART_2[0] not in line and _PART_2[1] not in line):
                continue
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            fields = next(csv.reader([text])) if '"' in text else text.split(",")
            if len(fields) != width:
                raise ParseError(
                    f"row has {len(fields)} fields but the header names {width}",
                    file=file,
                    row=row,
                )
            if fields[col[PART]].strip() != INCOMPLETE:
                continue
            label, code = fields[col[PERIOD]], fields[col[PROVIDER]].strip()
            if not code:
                raise ParseError("no provider code", file=file, row=row, column=PROVIDER)
            period = months.get(label)
            if period is None:
                period = months[label] = _month(label, file=file, row=row)
            total, cells = fields[i_total], bands(fields)
            # Blank cells are none; anything but plain digits is an error. One test per row:
            # specialty rows are only summed by Total All, but must still hold counts.
            digits = total + "".join(cells)
            if digits and not (digits.isascii() and digits.isdigit()):
                raise _bad_count(fields, idx, file, row)
            waiting = int(total or 0)
            if fields[col[FUNCTION]].strip() != ROLLUP:
                specialties[period, code] += waiting
                continue
            counts = list(map(int, [v or "0" for v in cells] if "" in cells else cells))
            if sum(counts) != waiting:
                raise ParseError(
                    f"the week bands add up to {sum(counts)}, not to Total All ({waiting})",
                    file=file,
                    row=row,
                    column=TOTAL_ALL,
                )
            t = totals.get((period, code))
            if t is None:
                parent = fields[col[PARENT]].strip()
                t = totals[period, code] = ProviderTotal(
                    period,
                    code,
                    fields[col[PROVIDER_NAME]].strip(),
                    row,
                    region=parent if parent in REGIONS else None,
                    parent=parent or None,
                )
            t.waiting += waiting
            t.within_18 += sum(counts[: len(WITHIN_18)])
            t.over_52 += sum(counts[-len(OVER_52) :])
    except _DAMAGED as exc:
        # Reading runs ahead of parsing, so the damage may lie a little after this row.
        raise ParseError(
            f"the file is damaged or cut short ({exc})", file=file, row=row + 1
        ) from None
    if pending:
        raise ParseError("a quoted field is never closed (truncated file?)", file=file, row=row + 1)
    if not last.endswith(b"\n"):
        raise ParseError("the last row is cut short (truncated file?)", file=file, row=row)
    if not totals and not specialties:
        raise ParseError(
            "no incomplete-pathway (Part_2) rows: is this the RTT Full CSV data file?",
            file=file,
            column=PART,
        )
    _cross_check(totals, specialties, file=file, column=TOTAL_ALL)
    return list(totals.values()), row - 1


def _cross_check(
    totals: dict[Any, ProviderTotal], specialties: Counter[Any], *, file: str, column: str
) -> None:
    for key in totals.keys() | specialties.keys():
        t = totals.get(key)
        if t is None:
            raise ParseError(
                f"provider {key[1]} has specialty rows but no {ROLLUP} (Total) row",
                file=file,
                column=column,
            )
        if key in specialties and specialties[key] != t.waiting:
            raise ParseError(
                f"provider {t.code}: its specialty rows add up to {specialties[key]} "
                f"incomplete pathways but its {ROLLUP} (Total) rows to {t.waiting}",
                file=file,
                row=t.row,
                column=column,
            )


# The Incomplete-Provider workbook ("Incomplete-Provider-Jun26-XLSX-9M-….xlsx").
SHEET = "Provider"
X_REGION = "Region Code"
X_PROVIDER = "Provider Code"
X_NAME = "Provider Name"
X_FUNCTION = "Treatment Function Code"
X_WAITING = "Total number of incomplete pathways"
X_WITHIN_18 = "Total within 18 weeks"
X_OVER_52 = "Total 52 plus weeks"
XLSX_REQUIRED = (X_PROVIDER, X_NAME, X_FUNCTION, X_WAITING, X_WITHIN_18, X_OVER_52)
_SUPPRESSED = {"-", ""}  # how the workbook shows a figure it does not publish
_FILE_MONTH = re.compile(r"(?<![A-Za-z])([A-Za-z]{3,9})[-_ ]?((?:20)?\d\d)(?!\d)")


def _count(value: Any, *, file: str, row: int, column: str) -> int:
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip().replace(",", "")
    if text.isdigit():
        return int(text)
    raise ParseError(f"expected a count, found {value!r}", file=file, row=row, column=column)


def _sheet_month(rows: list[list[Any]], header: int, filename: str) -> tuple[date, date]:
    """The month from the title block's "Period:" cell, else from the file name ("Mar26")."""
    for cells in rows[:header]:
        texts = [c for c in cells if c not in ("", None)]
        for i, cell in enumerate(texts[:-1]):
            if str(cell).strip().lower() == "period:":
                value = texts[i + 1]
                if isinstance(value, datetime | date):
                    return month_bounds(value.year, value.month)
                m = re.match(r"^\s*([A-Za-z]+)[\s-]+(\d{4})\s*$", str(value))
                if m and m.group(1).upper() in MONTHS:
                    return month_bounds(int(m.group(2)), MONTHS[m.group(1).upper()])
    for word, year in _FILE_MONTH.findall(filename):
        if word.upper() in MONTHS:
            return month_bounds(2000 + int(year[-2:]), MONTHS[word.upper()])
    raise ParseError(
        "cannot tell which month the workbook covers: no 'Period:' cell and no month in the "
        "file name",
        file=filename,
    )


def read_incomplete_provider(
    rows: list[list[Any]], *, first_row: int, file: str
) -> tuple[list[ProviderTotal], int]:
    """Per-provider totals from the ``Provider`` sheet's rows, and the number of rows read.

    ``first_row`` is the sheet row number (1-based) of ``rows[0]``. The header is found by
    name (row 14 in current files); each provider's figures come from its C_999 ("Total") row,
    checked against its specialty rows.
    """
    h = next(
        (
            i
            for i, r in enumerate(rows[:60])
            if {X_PROVIDER, X_WAITING} <= {str(c).strip() for c in r}
        ),
        None,
    )
    if h is None:
        raise ParseError(
            f"no header row naming {X_PROVIDER!r} and {X_WAITING!r} in sheet {SHEET!r}",
            file=file,
            column=X_PROVIDER,
        )
    names = [str(c).strip() for c in rows[h]]
    missing = [c for c in XLSX_REQUIRED if c not in names]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(map(repr, missing))}",
            file=file,
            row=first_row + h,
            column=missing[0],
        )
    at = {c: names.index(c) for c in (*XLSX_REQUIRED, X_REGION) if c in names}
    period = _sheet_month(rows, h, file)
    totals: dict[tuple[tuple[date, date], str], ProviderTotal] = {}
    specialties: Counter[tuple[tuple[date, date], str]] = Counter()
    unchecked: set[str] = set()  # providers with a suppressed specialty count
    read = 0
    for j, cells in enumerate(rows[h + 1 :], start=first_row + h + 1):
        cells = list(cells) + [""] * (len(names) - len(cells))
        code = str(cells[at[X_PROVIDER]]).strip()
        if not code:
            continue  # blank rows and footnotes below the table
        read += 1
        key = (period, code)
        counts = {c: cells[at[c]] for c in (X_WAITING, X_WITHIN_18, X_OVER_52)}
        if str(cells[at[X_FUNCTION]]).strip() != ROLLUP:
            if str(counts[X_WAITING]).strip() in _SUPPRESSED:
                unchecked.add(code)
            else:
                specialties[key] += _count(counts[X_WAITING], file=file, row=j, column=X_WAITING)
            continue
        if key in totals:
            raise ParseError(
                f"a second {ROLLUP} (Total) row for {code}", file=file, row=j, column=X_FUNCTION
            )
        region = code_for(str(cells[at[X_REGION]])) if X_REGION in at else None
        totals[key] = ProviderTotal(
            period,
            code,
            str(cells[at[X_NAME]]).strip(),
            j,
            region=region if region in REGIONS else None,
            waiting=_count(counts[X_WAITING], file=file, row=j, column=X_WAITING),
            within_18=_count(counts[X_WITHIN_18], file=file, row=j, column=X_WITHIN_18),
            over_52=_count(counts[X_OVER_52], file=file, row=j, column=X_OVER_52),
        )
    if not totals:
        raise ParseError(
            f"no {ROLLUP} (Total) rows in sheet {SHEET!r}", file=file, column=X_FUNCTION
        )
    for code in unchecked:
        specialties.pop((period, code), None)
    _cross_check(totals, specialties, file=file, column=X_WAITING)
    return list(totals.values()), read


def check_consistent(totals: Iterable[ProviderTotal], *, file: str) -> None:
    """Within 18 weeks and over 52 weeks are disjoint parts of the list: they cannot exceed it."""
    for t in totals:
        if t.within_18 + t.over_52 > t.waiting:
            raise ParseError(
                f"provider {t.code}: {t.within_18} within 18 weeks and {t.over_52} over 52 "
                f"weeks exceed its {t.waiting} incomplete pathways",
                file=file,
                row=t.row,
            )
