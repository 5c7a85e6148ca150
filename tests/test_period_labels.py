"""Periods and figures as emails and pages write them (monitor/periods.py), from tables."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from monitor import periods
from monitor.metrics import Granularity

M, Q, P = Granularity.MONTH, Granularity.QUARTER, Granularity.POINT


@pytest.mark.parametrize(
    ("start", "granularity", "short", "label"),
    [
        (date(2025, 7, 1), M, False, "July 2025"),
        (date(2025, 7, 1), M, True, "Jul 2025"),
        ("2024-12-01", M, False, "December 2024"),
        # Financial quarters: Q1 is April to June; January to March closes the year.
        (date(2025, 4, 1), Q, False, "Q1 2025/26"),
        (date(2025, 10, 1), Q, False, "Q3 2025/26"),
        (date(2025, 10, 1), Q, True, "Q3 2025/26"),  # a quarter is never a month's name
        (date(2026, 1, 1), Q, False, "Q4 2025/26"),
        (date(1999, 1, 1), Q, False, "Q4 1998/99"),
        (date(2025, 3, 14), P, False, "14 March 2025"),
        (date(2025, 3, 14), P, True, "14 Mar 2025"),
        (None, M, False, ""),
        ("", Q, False, ""),
    ],
)
def test_period_labels(start: date | str | None, granularity: str, short: bool, label: str) -> None:
    assert periods.period_label(start, granularity, short=short) == label


@pytest.mark.parametrize(
    ("metric", "label"),
    [
        ("ae_4hr_type1_pct", "July 2025"),
        ("nof_segment", "Q2 2025/26"),
        ("cqc_overall", "1 July 2025"),
        ("not_a_metric", "July 2025"),  # unknown: a month, as most metrics are
        (None, "July 2025"),
    ],
)
def test_a_metrics_periods_are_labelled_by_its_granularity(metric: str | None, label: str) -> None:
    assert periods.metric_period(date(2025, 7, 1), metric) == label


@pytest.mark.parametrize(
    ("value", "unit", "label", "text"),
    [
        (52.1, "%", None, "52.1%"),
        (52.06, "%", None, "52.1%"),
        (60.0, "%", None, "60.0%"),
        (1204.0, "count", None, "1,204"),
        (133.0, "rank", None, "133"),
        (545.0, "seconds", None, "9 min 5 s"),  # one way, in emails and on pages
        (44.6, "seconds", None, "45 s"),
        (3900.0, "seconds", None, "1 h 5 min"),
        (3.22, "score", None, "3.22"),
        (3.2, "score", None, "3.2"),
        (-1.5, "", None, "-1.5"),
        (1.0, "flag", None, "yes"),
        (0.0, "flag", None, "no"),
        (1.0, "flag", "Yes", "Yes"),
        (4.0, "rating", "Inadequate", "Inadequate"),
        (3.0, "rating", None, "3"),
        (4.0, "segment", "Segment 4", "Segment 4"),
        (52.1, "%", "a label that is not words for a code", "52.1%"),
        (None, "%", None, "not published"),  # one word for a missing figure, everywhere
        (None, "seconds", None, "not published"),
        (None, "rating", "Not rated", "Not rated"),
    ],
)
def test_figures_are_written_in_their_unit(
    value: float | None, unit: str, label: str | None, text: str
) -> None:
    assert periods.figure(value, unit, label) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (60.0, "%", "60%"),  # whole percentages without decimals
        (62.5, "%", "62.5%"),
        (420.0, "seconds", "7 min"),  # a standard in whole minutes
        (450.0, "seconds", "7 min 30 s"),
        (1000.0, "count", "1,000"),
        (None, "%", None),
    ],
)
def test_thresholds(value: float | None, unit: str, text: str | None) -> None:
    assert periods.threshold(value, unit) == text


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (60.0, "%", "60%"),
        (480.0, "seconds", "8 min"),
        (90.0, "seconds", "90 s"),
        (1200, "count", "1,200"),
        (2.5, "score", "2.5"),
    ],
)
def test_chart_ticks(value: float, unit: str, text: str) -> None:
    assert periods.tick(value, unit) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (date(2025, 8, 14), "14 August 2025"),
        ("2025-08-14T08:30:00+00:00", "14 August 2025"),
        # A datetime is the day in London: 23:30 UTC on 14 August is 00:30 BST on the 15th.
        (datetime(2025, 8, 14, 23, 30, tzinfo=UTC), "15 August 2025"),
        (datetime(2025, 8, 14, 23, 30), "15 August 2025"),  # naive: UTC, as SQLite returns it
        (None, ""),
    ],
)
def test_days(value: date | datetime | str | None, text: str) -> None:
    assert periods.day(value) == text


@pytest.mark.parametrize(
    ("monday", "text"),
    [
        (date(2025, 8, 11), "11 to 17 August 2025"),
        (date(2025, 7, 28), "28 July to 3 August 2025"),
        (date(2025, 12, 29), "29 December 2025 to 4 January 2026"),
    ],
)
def test_week_labels(monday: date, text: str) -> None:
    assert periods.week_label(monday) == text


def test_the_catalogue_gives_unit_granularity_and_title() -> None:
    assert (periods.unit_of("amb_c2_mean_s"), periods.unit_of(None)) == ("seconds", "")
    assert periods.granularity_of("nof_rank") is Q
    assert periods.metric_title("rtt_18wk_pct") == "Elective: waiting under 18 weeks"
    assert (periods.metric_title("made_up"), periods.metric_title(None)) == ("made_up", "")
