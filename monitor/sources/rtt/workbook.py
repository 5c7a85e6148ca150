"""Reading the RTT Incomplete-Provider workbook into per-provider incomplete-pathway totals.

Sheet ``Provider``: a title block (with a "Period:" cell), the header on row 14 in current
files (found by name here), then one row per NHS trust and treatment function, ``C_999`` being
the trust's total. Suppressed figures show as ``-``. Its ``Region Code`` column is not needed:
the sheet yields provider figures only (see monitor.sources.rtt).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from typing import Any

from monitor.sources.base import MONTHS, ParseError, month_bounds
from monitor.sources.rtt.full_csv import ROLLUP, ProviderTotal, cross_check

SHEET = "Provider"
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
    at = {c: names.index(c) for c in XLSX_REQUIRED}
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
        totals[key] = ProviderTotal(
            period=period,
            code=code,
            name=str(cells[at[X_NAME]]).strip(),
            row=j,
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
    cross_check(totals, specialties, file=file, column=X_WAITING)
    return list(totals.values()), read
