"""NHS England Monthly A&E Attendances and Emergency Admissions: provider CSV -> figures.

One row per provider, then a TOTAL row (England). 4-hour performance follows NHS England's
headline: booked appointments count in both the attendances and the waits over 4 hours, so

    all types: 100 * (1 - Σ over 4 hours (6 columns) / Σ attendances (6 columns))
    type 1:    100 * (1 - (over 4h T1 + over 4h booked T1) / (attendances T1 + booked T1))

Regions are summed from the providers' ``Parent Org`` (derived); England is the file's own
TOTAL row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from monitor.orgs import ENGLAND, REGIONS, code_for
from monitor.sources import discover as disc
from monitor.sources.base import (
    Figure,
    Parsed,
    ParseError,
    Skipped,
    month_figure,
    named_month,
    percent_figure,
)
from monitor.sources.discover import Link
from monitor.sources.tabular import count, csv_rows, derive_aggregates

SOURCE = "ae"

PERIOD, CODE, PARENT, NAME = "Period", "Org Code", "Parent Org", "Org name"
ATTENDANCES = (
    "A&E attendances Type 1",
    "A&E attendances Type 2",
    "A&E attendances Other A&E Department",
    "A&E attendances Booked Appointments Type 1",
    "A&E attendances Booked Appointments Type 2",
    "A&E attendances Booked Appointments Other Department",
)
OVER_4H = (
    "Attendances over 4hrs Type 1",
    "Attendances over 4hrs Type 2",
    "Attendances over 4hrs Other Department",
    "Attendances over 4hrs Booked Appointments Type 1",
    "Attendances over 4hrs Booked Appointments Type 2",
    "Attendances over 4hrs Booked Appointments Other Department",
)
DTA_12H = "Patients who have waited 12+ hrs from DTA to admission"
# Positions within ATTENDANCES / OVER_4H of the type 1 columns (walk-in and booked).
_TYPE1 = (0, 3)
REQUIRED = (PERIOD, CODE, PARENT, NAME, *ATTENDANCES, *OVER_4H, DTA_12H)
COUNTED = (*ATTENDANCES, *OVER_4H, DTA_12H)  # TOTAL holds the providers' sum of each

ALL_TYPES, TYPE1, DTA = "ae_4hr_pct", "ae_4hr_type1_pct", "ae_12hr_dta_count"

_PERIOD = re.compile(r"^MSitAE-([A-Z]+)-(\d{4})$", re.IGNORECASE)


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """Figures for every provider, the regions (derived) and England in one monthly A&E CSV.

    1. Read each provider row; counts must be numbers, the period ``MSitAE-<MONTH>-<YYYY>``.
    2. Providers get the all-types and type 1 percentages where they had such attendances
       (otherwise a skipped reason), and always the 12-hour decision-to-admit count.
    3. Regions are summed from ``Parent Org`` (falling back to ``region_of``), derived.
    4. England comes from the TOTAL row; a file without one is rejected as truncated.
    """
    parsed = Parsed(layout="A&E monthly provider CSV")
    region_of = region_of or {}
    providers: list[Figure] = []
    provider_region: dict[str, str] = {}
    total: tuple[int, dict[str, str]] | None = None
    bounds: tuple[date, date] | None = None
    sums: dict[str, float] = dict.fromkeys(COUNTED, 0.0)
    for row, rec in csv_rows(data, filename=filename, required=REQUIRED):
        parsed.rows_read += 1
        code = rec[CODE].upper()
        if not code:
            raise ParseError("no organisation code", file=filename, row=row, column=CODE)
        if code_for(code) == ENGLAND:
            total = (row, rec)
            continue
        row_bounds = named_month(
            _PERIOD, rec[PERIOD], "MSitAE-JULY-2025", file=filename, row=row, column=PERIOD
        )
        if bounds is None:
            bounds = row_bounds
        elif row_bounds != bounds:
            raise ParseError(
                f"period {rec[PERIOD]!r} differs from the file's first period {bounds[0]:%B %Y}",
                file=filename,
                row=row,
                column=PERIOD,
            )
        region = code_for(rec[PARENT]) or region_of.get(code)
        if region in REGIONS:
            provider_region[code] = region
        figures, skipped = _figures(rec, code, bounds, file=filename, row=row, sums=sums)
        providers.extend(figures)
        parsed.skipped.extend(skipped)
    if total is None:
        raise ParseError(
            "no TOTAL row: the file is incomplete (truncated?)",
            file=filename,
            row=parsed.rows_read + 2,
            column=CODE,
        )
    if bounds is None:
        raise ParseError("no provider rows", file=filename, row=total[0])
    _check_total(total, sums, filename)
    parsed.figures.extend(providers)
    parsed.figures.extend(
        derive_aggregates(providers, provider_region, counts=frozenset({DTA}), england=False)
    )
    england, _ = _figures(total[1], ENGLAND, bounds, file=filename, row=total[0])
    parsed.figures.extend(replace(f, org_name="England") for f in england)
    return parsed


def _check_total(total: tuple[int, dict[str, str]], sums: dict[str, float], file: str) -> None:
    """The TOTAL row is England: each of its counts is the sum of the providers' (so in every
    real file); a file missing providers is incomplete."""
    row, rec = total
    for c in COUNTED:
        value = count(rec[c], file=file, row=row, column=c)
        if abs(value - sums[c]) > 0.5:
            raise ParseError(
                f"the TOTAL row's {value:g} is not the sum of the providers' {sums[c]:g}: "
                "providers are missing (incomplete file?)",
                file=file,
                row=row,
                column=c,
            )


def _figures(
    rec: dict[str, str],
    org: str,
    bounds: tuple[date, date],
    *,
    file: str,
    row: int,
    sums: dict[str, float] | None = None,
) -> tuple[list[Figure], list[Skipped]]:
    """The row's figures; its counts are added to ``sums`` (column -> total) when given."""
    att = [count(rec[c], file=file, row=row, column=c) for c in ATTENDANCES]
    over = [count(rec[c], file=file, row=row, column=c) for c in OVER_4H]
    dta = count(rec[DTA_12H], file=file, row=row, column=DTA_12H)
    if sums is not None:
        for c, v in zip(COUNTED, (*att, *over, dta), strict=True):
            sums[c] += v
    for a_col, o_col, a, o in zip(ATTENDANCES, OVER_4H, att, over, strict=True):
        if o > a:
            raise ParseError(
                f"{o:g} attendances over 4 hours but only {a:g} in {a_col!r}",
                file=file,
                row=row,
                column=o_col,
            )
    name = rec[NAME] or None
    out: list[Figure] = []
    skipped: list[Skipped] = []

    def pct(metric: str, attendances: float, over_4h: float, what: str, column: str) -> None:
        if attendances <= 0:
            skipped.append(Skipped(row, f"{org}: no {what} attendances, so no {metric}"))
            return
        within = attendances - over_4h
        out.append(
            percent_figure(
                org, metric, bounds, within, attendances, org_name=name, row=row, column=column
            )
        )

    pct(ALL_TYPES, sum(att), sum(over), "A&E", "Attendances over 4hrs (all types)")
    pct(TYPE1, sum(att[i] for i in _TYPE1), sum(over[i] for i in _TYPE1), "type 1", OVER_4H[0])
    out.append(month_figure(org, DTA, bounds, dta, org_name=name, row=row, column=DTA_12H))
    return out, skipped


_YEAR_PAGE = re.compile(r"ae-attendances-and-emergency-admissions-\d{4}-\d{2}(?:-[\w-]+)?/?$")
_MONTHLY = re.compile(r"\bmonthly\s+a\s*&\s*e\b", re.IGNORECASE)
_NOT_MONTHLY = re.compile(r"time\s*series|quarterly|weekly", re.IGNORECASE)
_MONTHLY_FILE = re.compile(r"^monthly-ae-|^[a-z]+-\d{4}-csv", re.IGNORECASE)


def discover(html: str, base_url: str) -> list[Link]:
    """The monthly provider CSVs on a yearly A&E page, newest version of each month.

    A link qualifies when it points at a ``.csv`` and its text says "Monthly A&E" (or, where
    the text is bare, its file name reads like one: ``Monthly-AE-…`` or ``<Month>-<YYYY>-CSV-…``).
    Time series and quarterly files are left out.
    """

    def dataset(raw: disc.PageLink) -> str | None:
        if disc.file_kind(raw.url) != "csv" or _NOT_MONTHLY.search(raw.text):
            return None
        name = disc.file_name(raw.url)
        if _MONTHLY.search(raw.text) or _MONTHLY_FILE.search(name):
            return "monthly-ae"
        return None

    return disc.dated_links(html, base_url, dataset)


def yearly_pages(html: str, base_url: str) -> list[str]:
    """The per-financial-year A&E pages linked from the A&E landing page, as listed there."""
    return disc.page_links(html, base_url, _YEAR_PAGE)
