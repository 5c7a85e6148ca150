"""Plain values every publisher's parser produces, and the error a bad file raises.

A parser reads bytes and yields ``Figure`` values; it never touches the database. Ingest
(monitor/sources/ingest.py) turns figures into Observations inside one transaction per publication.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from monitor.metrics import Granularity


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One published figure: an organisation's value of one metric for one period.

    ``org`` is an ODS code, ``ENG`` or a region code (Y56..Y63). ``org_name`` is the publisher's
    spelling, kept so that organisations missing from the reference list can be added as kind
    ``other``. ``derived`` marks figures the monitor computed (e.g. a region summed from trusts)
    rather than read from the file.
    """

    org: str
    metric: str
    period_start: date
    period_end: date
    granularity: Granularity
    value: float | None
    numerator: float | None = None
    denominator: float | None = None
    label: str | None = None
    org_name: str | None = None
    derived: bool = False
    # Where the figure was read (1-based row, header = 1; the column of its value), so that an
    # implausible figure is rejected naming both. Not stored.
    row: int | None = None
    column: str | None = None


@dataclass(frozen=True, slots=True)
class Skipped:
    """A row the parser read but deliberately did not turn into figures, with the reason."""

    row: int
    reason: str


@dataclass(slots=True)
class Parsed:
    """What a parser found in one file."""

    figures: list[Figure] = field(default_factory=list)
    rows_read: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    # Which of the publisher's file layouts this was (e.g. "ae monthly CSV"): a file is
    # compared with the previous publication of the same layout to tell a truncated one.
    layout: str | None = None

    @property
    def periods(self) -> list[tuple[date, date]]:
        return sorted({(f.period_start, f.period_end) for f in self.figures})

    @property
    def orgs(self) -> set[str]:
        return {f.org for f in self.figures}


class ParseError(ValueError):
    """A file that cannot be ingested. Names the file, row (1-based, header = 1) and column."""

    def __init__(
        self,
        reason: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.reason = reason
        self.file = file
        self.row = row
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [
            p
            for p in (
                self.file,
                f"row {self.row}" if self.row is not None else None,
                f"column {self.column!r}" if self.column is not None else None,
            )
            if p
        ]
        return f"{', '.join(where)}: {self.reason}" if where else self.reason

    def located(self, file: str) -> ParseError:
        """The same error with the file name filled in (parsers often only see bytes)."""
        if self.file is None:
            self.file = file
        return self


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First and last day of a calendar month."""
    start = date(year, month, 1)
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return start, date.fromordinal(nxt.toordinal() - 1)


def financial_quarter_bounds(fy_start_year: int, quarter: int) -> tuple[date, date]:
    """Bounds of quarter 1-4 of the financial year starting 1 April ``fy_start_year``."""
    if quarter not in (1, 2, 3, 4):
        raise ValueError(f"quarter must be 1-4, not {quarter}")
    month = 4 + 3 * (quarter - 1)
    year = fy_start_year + (month > 12)
    month = (month - 1) % 12 + 1
    start, _ = month_bounds(year, month)
    end_month = month + 2
    _, end = month_bounds(year, end_month)
    return start, end


MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("JANUARY", "JAN"),
            ("FEBRUARY", "FEB"),
            ("MARCH", "MAR"),
            ("APRIL", "APR"),
            ("MAY",),
            ("JUNE", "JUN"),
            ("JULY", "JUL"),
            ("AUGUST", "AUG"),
            ("SEPTEMBER", "SEP", "SEPT"),
            ("OCTOBER", "OCT"),
            ("NOVEMBER", "NOV"),
            ("DECEMBER", "DEC"),
        ],
        start=1,
    )
    for name in names
}


def percent(numerator: float, denominator: float) -> float:
    """``100 * numerator / denominator``; callers make sure the denominator is not zero."""
    return 100.0 * numerator / denominator


def period_figure(
    org: str,
    metric: str,
    bounds: tuple[date, date],
    granularity: Granularity,
    value: float | None,
    **fields: Any,
) -> Figure:
    """``org``'s ``metric`` for the period ``bounds`` (its first and last day); ``fields`` are
    the Figure's others (numerator, org_name, row...)."""
    start, end = bounds
    return Figure(
        org=org,
        metric=metric,
        period_start=start,
        period_end=end,
        granularity=granularity,
        value=value,
        **fields,
    )


def month_figure(
    org: str, metric: str, month: tuple[date, date], value: float | None, **fields: Any
) -> Figure:
    """``org``'s ``metric`` for a calendar month (as :func:`month_bounds` gives it)."""
    return period_figure(org, metric, month, Granularity.MONTH, value, **fields)


def percent_figure(
    org: str,
    metric: str,
    month: tuple[date, date],
    numerator: float,
    denominator: float,
    **fields: Any,
) -> Figure:
    """A monthly percentage, ``100 * numerator / denominator``, keeping both counts."""
    return month_figure(
        org,
        metric,
        month,
        percent(numerator, denominator),
        numerator=numerator,
        denominator=denominator,
        **fields,
    )


def named_month(
    pattern: re.Pattern[str], text: str, example: str, *, file: str, row: int, column: str
) -> tuple[date, date]:
    """The calendar month of a label such as 'MSitAE-JULY-2025' (its first and last day).

    ``pattern`` matches the whole label, its groups the month's name and the year; a label it
    does not match, or one naming no real month, is a ParseError citing ``example``.
    """
    m = pattern.match(text.strip())
    if not m or m.group(1).upper() not in MONTHS:
        raise ParseError(
            f"expected a period like {example!r}, found {text!r}",
            file=file,
            row=row,
            column=column,
        )
    try:
        return month_bounds(int(m.group(2)), MONTHS[m.group(1).upper()])
    except ValueError as e:  # e.g. year 0
        raise ParseError(
            f"no such month as {text!r} ({e})", file=file, row=row, column=column
        ) from None
