"""Periods: calendar months and financial quarters (Q1 = April to June)."""

from __future__ import annotations

from datetime import date

import pytest

from monitor.sources.base import ParseError, financial_quarter_bounds, month_bounds


@pytest.mark.parametrize(
    ("year", "month", "bounds"),
    [
        (2025, 7, (date(2025, 7, 1), date(2025, 7, 31))),
        (2024, 2, (date(2024, 2, 1), date(2024, 2, 29))),
        (2025, 12, (date(2025, 12, 1), date(2025, 12, 31))),
    ],
)
def test_month_bounds(year: int, month: int, bounds: tuple[date, date]) -> None:
    assert month_bounds(year, month) == bounds


@pytest.mark.parametrize(
    ("fy", "quarter", "bounds"),
    [
        (2025, 1, (date(2025, 4, 1), date(2025, 6, 30))),
        (2025, 3, (date(2025, 10, 1), date(2025, 12, 31))),  # "Month 9 2025" is December, Q3
        (2025, 4, (date(2026, 1, 1), date(2026, 3, 31))),
    ],
)
def test_financial_quarters(fy: int, quarter: int, bounds: tuple[date, date]) -> None:
    assert financial_quarter_bounds(fy, quarter) == bounds


def test_parse_errors_name_what_they_can() -> None:
    assert str(ParseError("text where a count belongs", file="a.csv", row=7, column="Total")) == (
        "a.csv, row 7, column 'Total': text where a count belongs"
    )
    assert str(ParseError("not a zip").located("b.zip")) == "b.zip: not a zip"
