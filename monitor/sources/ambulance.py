"""NHS England Ambulance Quality Indicators (AmbSYS): the CSV and the time-series workbook.

Both are cumulative since August 2017 and carry their own England, regional and trust rows, so
nothing is summed here. Response times are in seconds: Category 1 count A8, total A24, mean
A25, 90th centile A26; Category 2 count A10, total A30, mean A31, 90th centile A32. A ``.``
(CSV) or ``-`` (workbook) means not available: no figure, never zero.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any

from monitor.orgs import ENGLAND, REGIONS, code_for
from monitor.sources import discover as disc
from monitor.sources.base import (
    MONTHS,
    Figure,
    Parsed,
    ParseError,
    Skipped,
    month_bounds,
    month_figure,
)
from monitor.sources.discover import Link
from monitor.sources.tabular import as_region, csv_rows, number, open_workbook, sheet_rows

SOURCE = "ambulance"

# metric -> (value column, numerator column, incidents column). Means carry total seconds over
# incidents; a 90th centile has no numerator, and neither has a meaning with no incidents.
METRICS: dict[str, tuple[str, str | None, str]] = {
    "amb_c1_mean_s": ("A25", "A24", "A8"),
    "amb_c1_p90_s": ("A26", None, "A8"),
    "amb_c2_mean_s": ("A31", "A30", "A10"),
    "amb_c2_p90_s": ("A32", None, "A10"),
}
INDICATORS = ("A8", "A10", "A24", "A25", "A26", "A30", "A31", "A32")
NOT_AVAILABLE = {".", "-", ""}
CSV_REQUIRED = ("Year", "Month", "Region", "Org Code", "Org Name", *INDICATORS)
RAW_SHEET = "Raw"


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """Response-time figures for England, the regions and the ambulance trusts, every month.

    Takes the AmbSYS CSV or the time-series workbook (sheet ``Raw``), told apart by content.
    The workbook leaves out regions served by a single trust (London, South West, East of
    England, North West); those take their trust's figures, marked derived.
    """
    if data[:2] == b"PK":
        return _parse_workbook(data, filename=filename, region_of=region_of or {})
    return _parse_csv(data, filename=filename, region_of=region_of or {})


def _org(code: str) -> str:
    code = code.strip()
    agg = code_for(code)
    return agg if agg is not None else code.upper()


def _figures(
    org: str,
    name: str | None,
    year: int,
    month: int,
    cell: Any,
    *,
    file: str,
    row: int,
    parsed: Parsed,
) -> list[Figure]:
    """The four metrics of one row; ``cell(column)`` gives a raw cell."""
    start, end = month_bounds(year, month)
    out = []
    for metric, (col, num_col, count_col) in METRICS.items():
        raw, count_raw = cell(col), cell(count_col)
        if str(raw).strip() in NOT_AVAILABLE:
            parsed.skipped.append(Skipped(row, f"{org} {start:%b %Y}: {col} not available"))
            continue
        value = number(raw, file=file, row=row, column=col)
        count = None
        if str(count_raw).strip() not in NOT_AVAILABLE:
            count = number(count_raw, file=file, row=row, column=count_col)
        if count == 0:
            # Early months of the 2017 standards: trusts not yet reporting show 0 incidents and
            # a 0-second "response time", which is no figure at all.
            parsed.skipped.append(Skipped(row, f"{org} {start:%b %Y}: {count_col} is 0, no {col}"))
            continue
        numerator = denominator = None
        if num_col:
            num_raw = cell(num_col)
            if str(num_raw).strip() not in NOT_AVAILABLE:
                numerator = number(num_raw, file=file, row=row, column=num_col)
            denominator = count
        out.append(
            month_figure(
                org,
                metric,
                (start, end),
                value,
                numerator=numerator,
                denominator=denominator,
                org_name=name,
                row=row,
                column=col,
            )
        )
    return out


def _parse_csv(data: bytes, *, filename: str, region_of: Mapping[str, str]) -> Parsed:
    parsed = Parsed(layout="AmbSYS CSV")
    trust_region: dict[str, str] = {}
    listed: dict[tuple[int, int], dict[str, int]] = {}  # (year, month) -> org -> row
    for row, rec in csv_rows(data, filename=filename, required=CSV_REQUIRED):
        parsed.rows_read += 1
        year = int(number(rec["Year"], file=filename, row=row, column="Year"))
        month = int(number(rec["Month"], file=filename, row=row, column="Month"))
        if not 1 <= month <= 12:
            raise ParseError(f"no month {month}", file=filename, row=row, column="Month")
        org = _org(rec["Org Code"])
        if not org:
            raise ParseError("no organisation code", file=filename, row=row, column="Org Code")
        region = code_for(rec["Region"]) or region_of.get(org)
        if org not in REGIONS and org != ENGLAND and region in REGIONS:
            trust_region[org] = region
        name = "England" if org == ENGLAND else rec["Org Name"] or None
        listed.setdefault((year, month), {})[org] = row
        parsed.figures.extend(
            _figures(org, name, year, month, rec.__getitem__, file=filename, row=row, parsed=parsed)
        )
    if not parsed.figures and not parsed.skipped:
        raise ParseError("no data rows", file=filename, row=2)
    check_months_alike(listed, filename)
    check_england_is_its_trusts(parsed.figures, filename)
    parsed.figures.extend(_single_trust_regions(parsed.figures, trust_region))
    return parsed


def check_months_alike(listed: dict[tuple[int, int], dict[str, int]], filename: str) -> None:
    """ParseError when a month lists fewer organisations than the file's other months (every
    month has England, the regions and the trusts): a file cut at a line end loses the last
    month's last rows."""
    everyone = {org for orgs in listed.values() for org in orgs}
    for (year, month), orgs in sorted(listed.items()):
        missing = sorted(everyone - set(orgs))
        if missing:
            raise ParseError(
                f"{date(year, month, 1):%B %Y} has no row for {', '.join(missing)}, which "
                "other months have: the file is incomplete (truncated?)",
                file=filename,
                row=max(orgs.values()) + 1,
                column="Org Code",
            )


def check_england_is_its_trusts(figures: list[Figure], filename: str) -> None:
    """ParseError when England's incidents in a month are not the sum of its ambulance trusts'
    (they are equal in every real file): a file cut short lacks some trusts of its last month.
    """
    england: dict[tuple[str, date], Figure] = {}
    trusts: dict[tuple[str, date], float] = defaultdict(float)
    for f in figures:
        if f.denominator is None or f.derived:
            continue
        key = (f.metric, f.period_start)
        if f.org == ENGLAND:
            england[key] = f
        elif f.org not in REGIONS:
            trusts[key] += f.denominator
    for (metric, start), eng in sorted(england.items()):
        column = METRICS[metric][2]
        total = eng.denominator or 0.0
        if abs(trusts[metric, start] - total) > 0.5:
            raise ParseError(
                f"England's {start:%B %Y} incidents ({total:g}) are not the sum of its "
                f"ambulance trusts' ({trusts[metric, start]:g}): trusts are missing (truncated "
                "file?)",
                file=filename,
                row=eng.row,
                column=column,
            )


def _parse_workbook(data: bytes, *, filename: str, region_of: Mapping[str, str]) -> Parsed:
    """The ``Raw`` sheet: a header row naming Year, Month, Reg, Area (the code) and A-codes."""
    parsed = Parsed(layout="AmbSYS time series workbook")
    rows = sheet_rows(open_workbook(data, filename=filename), RAW_SHEET, filename=filename)
    header_at = next(
        (i for i, r in enumerate(rows[:30]) if "Area" in r and "A8" in r and "Year" in r), None
    )
    if header_at is None:
        raise ParseError(
            "no header row naming 'Year', 'Area' and the A-codes", file=filename, column="A8"
        )
    header = [str(c).strip() for c in rows[header_at]]
    missing = [c for c in ("Year", "Month", "Reg", "Area", "Trust", *INDICATORS) if c not in header]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(missing)}",
            file=filename,
            row=header_at + 1,
            column=missing[0],
        )
    col = {name: header.index(name) for name in header if name}
    trust_region: dict[str, str] = {}
    for row, cells in enumerate(rows[header_at + 1 :], start=header_at + 2):
        area = str(cells[col["Area"]]).strip() if len(cells) > col["Area"] else ""
        if not area:
            continue  # blank separator rows between the sheet's blocks
        parsed.rows_read += 1
        year, month = _financial_month(cells[col["Year"]], cells[col["Month"]], filename, row)
        org = _org(area)
        region = code_for(str(cells[col["Reg"]])) or region_of.get(org)
        if org not in REGIONS and org != ENGLAND and region in REGIONS:
            trust_region[org] = region
        name = "England" if org == ENGLAND else str(cells[col["Trust"]]).strip() or None
        if org in REGIONS:
            name = None
        parsed.figures.extend(
            _figures(
                org,
                name,
                year,
                month,
                lambda c, cells=cells: cells[col[c]],
                file=filename,
                row=row,
                parsed=parsed,
            )
        )
    if not parsed.figures:
        raise ParseError("no data rows", file=filename, row=header_at + 2)
    check_england_is_its_trusts(parsed.figures, filename)
    parsed.figures.extend(_single_trust_regions(parsed.figures, trust_region))
    return parsed


_FY = re.compile(r"^(\d{4})-(\d{2})$")


def _financial_month(year: Any, month: Any, file: str, row: int) -> tuple[int, int]:
    """'2017-18' and 'AUGUST' -> (2017, 8); 'JANUARY' of 2017-18 is in 2018."""
    m = _FY.match(str(year).strip())
    if not m:
        raise ParseError(
            f"expected a year like '2017-18', found {year!r}", file=file, row=row, column="Year"
        )
    name = str(month).strip().upper()
    if name not in MONTHS:
        raise ParseError(
            f"expected a month name, found {month!r}", file=file, row=row, column="Month"
        )
    number_ = MONTHS[name]
    return int(m.group(1)) + (number_ < 4), number_


def _single_trust_regions(figures: list[Figure], trust_region: Mapping[str, str]) -> list[Figure]:
    """Regional figures the file leaves out where one trust serves the whole region.

    Only a region with exactly one trust in the file that month is filled in: its figures are
    that trust's (90th centiles cannot be summed from several trusts).
    """
    have = {(f.org, f.period_start) for f in figures if f.org in REGIONS}
    trusts: dict[tuple[str, Any], set[str]] = defaultdict(set)
    for f in figures:
        region = trust_region.get(f.org)
        if region:
            trusts[(region, f.period_start)].add(f.org)
    out = []
    for f in figures:
        region = trust_region.get(f.org)
        if (
            region
            and (region, f.period_start) not in have
            and len(trusts[(region, f.period_start)]) == 1
        ):
            out.append(as_region(f, region))
    return out


_CSV_TEXT = re.compile(r"\bambsys\b", re.IGNORECASE)
_YEAR_PAGE = re.compile(r"/ambulance-quality-indicators-data-\d{4}-\d{2}[\w-]*/?$")


def discover(html: str, base_url: str) -> list[Link]:
    """The AmbSYS CSV and time-series workbook on the Ambulance Quality Indicators page.

    ``period`` is the latest month covered ("AmbSYS August 2017 to December 2024" -> December
    2024); ``published`` comes from the page's "(published on 9 January 2025)". Clinical
    outcomes (AmbCO) files are left out.
    """

    def dataset(raw: disc.PageLink) -> str | None:
        kind = disc.file_kind(raw.url)
        words = f"{raw.text} {disc.file_name(raw.url)}"
        if kind not in ("csv", "xlsx") or not _CSV_TEXT.search(words.replace("-", " ")):
            return None
        if re.search(r"ambco|clinical outcomes|specification", words, re.IGNORECASE):
            return None
        return "ambsys"

    return disc.dated_links(html, base_url, dataset)


def yearly_pages(html: str, base_url: str) -> list[str]:
    """The "Ambulance Quality Indicators Data 20YY-YY" pages linked from the landing page."""
    return disc.page_links(html, base_url, _YEAR_PAGE)
