"""NHS England Cancer Waiting Times: provider data extract and national time series (XLSX).

Provider extracts (sheet ``CWT CRS Provider Extract``) hold one row per provider, month,
standard, stage/route and cancer type or treatment modality, cumulatively from April of the
financial year; every month in the file becomes its own period. For the 31- and 62-day
standards each patient appears twice, once per cancer type (``TREATMENT MODALITY`` = ``ALL
MODALITIES``) and once per modality (``CANCER TYPE`` = ``ALL CANCERS``): only the first set is
summed. Shared-care patients count 0.5 to each trust, so counts may be fractional.

The national time series (sheet ``Monthly Performance``) gives England's own monthly totals.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from monitor.orgs import ENGLAND
from monitor.sources import discover as disc
from monitor.sources.base import (
    Figure,
    Parsed,
    ParseError,
    Skipped,
    month_bounds,
    percent_figure,
)
from monitor.sources.discover import Link
from monitor.sources.tabular import (
    count,
    derive_aggregates,
    number,
    open_workbook,
    sheet_rows,
)

SOURCE = "cancer"

EXTRACT_SHEET = "CWT CRS Provider Extract"
NATIONAL_SHEET = "Monthly Performance"

PERIOD, STANDARD, ORG = "PERIOD", "STANDARD", "ORG CODE"
MODALITY, TREATED, WITHIN = "TREATMENT MODALITY", "TOTAL TREATED", "WITHIN STANDARD"
REQUIRED = (PERIOD, STANDARD, ORG, MODALITY, TREATED, WITHIN)

FDS, D31, D62 = "cancer_28d_fds_pct", "cancer_31d_pct", "cancer_62d_pct"
STANDARDS = {"28-day FDS": FDS, "31-day Combined": D31, "62-day Combined": D62}
ALL_MODALITIES = "ALL MODALITIES"


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """Figures from a provider extract (providers, derived England and regions) or from the
    national time series (England, from the file), told apart by their sheets."""
    workbook = open_workbook(data, filename=filename)
    if EXTRACT_SHEET in workbook.sheet_names:
        rows = sheet_rows(workbook, EXTRACT_SHEET, filename=filename)
        return _parse_extract(rows, filename=filename, region_of=region_of or {})
    if NATIONAL_SHEET in workbook.sheet_names:
        rows = sheet_rows(workbook, NATIONAL_SHEET, filename=filename)
        return _parse_national(rows, filename=filename)
    raise ParseError(
        f"neither a provider extract (sheet {EXTRACT_SHEET!r}) nor the national time series "
        f"(sheet {NATIONAL_SHEET!r}); the workbook has {', '.join(workbook.sheet_names)}",
        file=filename,
    )


def _month(value: Any, *, file: str, row: int, column: str) -> date:
    if isinstance(value, datetime):
        return value.date().replace(day=1)
    if isinstance(value, date):
        return value.replace(day=1)
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10]).replace(day=1)
        except ValueError:
            pass
    raise ParseError(
        f"expected the month as a date, found {value!r}", file=file, row=row, column=column
    )


def _parse_extract(rows: list[list[Any]], *, filename: str, region_of: Mapping[str, str]) -> Parsed:
    """Sum WITHIN STANDARD and TOTAL TREATED per provider, standard and month.

    1. Check the header has the columns the sums need.
    2. For each row of a known standard (31/62-day: ALL MODALITIES rows only), add its counts
       to the provider's month.
    3. A provider-month with nobody treated has no percentage (a skipped reason).
    4. England (all providers) and regions (providers whose region is known) are derived.
    """
    parsed = Parsed(layout="cancer provider extract")
    sums = _ExtractSums(*_columns(rows, filename), filename)
    for row, cells in enumerate(rows[1:], start=2):
        if any(str(c).strip() for c in cells):
            parsed.rows_read += 1
            sums.add(cells, row)
    if sums.by_modality_first is not None:
        parsed.skipped.append(
            Skipped(
                sums.by_modality_first,
                f"{sums.by_modality} per-modality 31/62-day rows not summed: the ALL MODALITIES "
                "rows count the same patients",
            )
        )
    if not sums.sums:
        raise ParseError("no 28-day, 31-day or 62-day rows", file=filename)
    providers = _provider_figures(sums, parsed)
    parsed.figures.extend(providers)
    parsed.figures.extend(derive_aggregates(providers, region_of))
    return parsed


def _columns(rows: list[list[Any]], filename: str) -> tuple[dict[str, int], int]:
    """Where each column the sums need is, and how many columns there are (step 1)."""
    if not rows:
        raise ParseError("the sheet is empty", file=filename)
    header = [str(h).strip() for h in rows[0]]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ParseError(
            f"missing column(s) {', '.join(repr(c) for c in missing)}",
            file=filename,
            row=1,
            column=missing[0],
        )
    return {name: header.index(name) for name in REQUIRED}, len(header)


class _ExtractSums:
    """Patients within the standard and treated, per (provider, metric, month) (step 2)."""

    def __init__(self, col: dict[str, int], width: int, filename: str) -> None:
        self.col, self.width, self.filename = col, width, filename
        self.sums: dict[tuple[str, str, date], list[float]] = defaultdict(lambda: [0.0, 0.0])
        self.first_row: dict[tuple[str, str, date], int] = {}
        self.by_modality = 0
        self.by_modality_first: int | None = None

    def add(self, cells: list[Any], row: int) -> None:
        col, file = self.col, self.filename
        if len(cells) < self.width:
            raise ParseError("row is shorter than the header", file=file, row=row)
        metric = STANDARDS.get(str(cells[col[STANDARD]]).strip())
        if metric is None:
            return
        if metric != FDS and str(cells[col[MODALITY]]).strip().upper() != ALL_MODALITIES:
            # The same patients again, split by modality: summing them too would double count.
            self.by_modality += 1
            self.by_modality_first = self.by_modality_first or row
            return
        org = str(cells[col[ORG]]).strip().upper()
        if not org:
            raise ParseError("no organisation code", file=file, row=row, column=ORG)
        month = _month(cells[col[PERIOD]], file=file, row=row, column=PERIOD)
        treated = count(cells[col[TREATED]], file=file, row=row, column=TREATED)
        within = count(cells[col[WITHIN]], file=file, row=row, column=WITHIN)
        if within > treated:
            raise ParseError(
                f"more patients within the standard ({within:g}) than treated ({treated:g})",
                file=file,
                row=row,
                column=WITHIN,
            )
        key = (org, metric, month)
        acc = self.sums[key]
        acc[0] += within
        acc[1] += treated
        self.first_row.setdefault(key, row)


def _provider_figures(sums: _ExtractSums, parsed: Parsed) -> list[Figure]:
    """Each provider-month's percentage; one with nobody treated is skipped (step 3)."""
    providers: list[Figure] = []
    for (org, metric, month), (within, treated) in sorted(sums.sums.items()):
        row = sums.first_row[(org, metric, month)]
        if treated <= 0:
            parsed.skipped.append(Skipped(row, f"{org}: nobody treated, so no {metric}"))
            continue
        bounds = month_bounds(month.year, month.month)
        providers.append(percent_figure(org, metric, bounds, within, treated, row=row))
    return providers


# Which block of the national series is which standard, from the words of its title.
_TITLES = (
    (re.compile(r"28[- ]days?", re.I), FDS),
    (re.compile(r"31[- ]days?", re.I), D31),
    (re.compile(r"62[- ]days?", re.I), D62),
)


def _parse_national(rows: list[list[Any]], *, filename: str) -> Parsed:
    """England's monthly Total / Within Standard per standard, from the national time series.

    The sheet has three side-by-side blocks (28-day, 31-day, 62-day), each headed "Monthly,
    Total, Within Standard, Outside Standard, Performance (%)" under a title naming the
    standard. Months before a standard existed are blank: skipped, never zero.
    """
    parsed = Parsed(layout="cancer national time series")
    header_row = next(
        (i for i, r in enumerate(rows[:20]) if sum(str(c).strip() == "Monthly" for c in r) >= 3),
        None,
    )
    if header_row is None:
        raise ParseError(
            "no header row with three 'Monthly' blocks", file=filename, column="Monthly"
        )
    header = [str(c).strip() for c in rows[header_row]]
    blocks: list[tuple[str, int]] = []
    for i, cell in enumerate(header):
        if cell != "Monthly":
            continue
        if header[i + 1 : i + 3] != ["Total", "Within Standard"]:
            raise ParseError(
                "expected 'Total' and 'Within Standard' after 'Monthly'",
                file=filename,
                row=header_row + 1,
                column=header[i + 1] if i + 1 < len(header) else "Monthly",
            )
        title = " ".join(str(r[i + 1]) for r in rows[:header_row] if i + 1 < len(r))
        metric = next((m for pattern, m in _TITLES if pattern.search(title)), None)
        if metric is None:
            raise ParseError(
                f"cannot tell which standard the block titled {title.strip()!r} is",
                file=filename,
                row=header_row + 1,
            )
        blocks.append((metric, i))
    for row, cells in enumerate(rows[header_row + 1 :], start=header_row + 2):
        if not isinstance(cells[0], date):
            continue
        parsed.rows_read += 1
        for metric, i in blocks:
            month = _month(cells[i], file=filename, row=row, column="Monthly")
            total, within = cells[i + 1], cells[i + 2]
            if total == "" or within == "":
                parsed.skipped.append(Skipped(row, f"{ENGLAND} {month:%b %Y}: no {metric}"))
                continue
            total_n = number(total, file=filename, row=row, column="Total")
            within_n = number(within, file=filename, row=row, column="Within Standard")
            if total_n <= 0:
                parsed.skipped.append(Skipped(row, f"{ENGLAND} {month:%b %Y}: no {metric}"))
                continue
            parsed.figures.append(
                percent_figure(
                    ENGLAND,
                    metric,
                    month_bounds(month.year, month.month),
                    within_n,
                    total_n,
                    org_name="England",
                    row=row,
                    column="Within Standard",
                )
            )
    if not parsed.figures:
        raise ParseError("no monthly figures found", file=filename, row=header_row + 2)
    return parsed


_EXTRACT = re.compile(r"provider.*extract|extract.*provider", re.IGNORECASE)
_NATIONAL = re.compile(r"national\s+time\s+series", re.IGNORECASE)
_YEAR_PAGE = re.compile(r"/\d{4}-\d{2}-monthly-cancer-waiting-times-statistics/?$")


def discover(html: str, base_url: str) -> list[Link]:
    """Provider data extracts and the national time series (with revisions) on the cancer page.

    Extracts are cumulative: ``period`` is the latest month a file covers ("Apr 2025 – Aug
    2025" -> August 2025). Of the national series only the "with Revisions" file is taken (the
    "Provisional" one repeats it); that phrase names the series, not a revised file.
    """

    def dataset(raw: disc.PageLink) -> str | None:
        if disc.file_kind(raw.url) not in ("xlsx", "xls"):
            return None
        words = f"{raw.text} {disc.file_name(raw.url).replace('-', ' ')}"
        if _NATIONAL.search(words) and re.search(r"with\s+revisions", words, re.IGNORECASE):
            return "national-time-series"
        if _EXTRACT.search(words) and not re.search(r"commissioner|\bicb\b", words, re.I):
            return "provider-extract"
        return None

    def revised(raw: disc.PageLink) -> bool:
        words = f"{raw.text} {disc.file_name(raw.url)}"
        unmarked = re.sub(r"with\s+revisions", "", words, flags=re.IGNORECASE)
        return bool(re.search(r"revised|[-_ ]v\d", unmarked, re.IGNORECASE))

    # Extracts for different spans (Apr-Sep, Oct-Mar) end in different months, so each is kept.
    return disc.dated_links(html, base_url, dataset, revised=revised)


def yearly_pages(html: str, base_url: str) -> list[str]:
    """The "20YY-YY Monthly Cancer Waiting Times Statistics" pages, one per financial year
    (linked from the "Monthly data and summaries" page)."""
    return disc.page_links(html, base_url, _YEAR_PAGE)
