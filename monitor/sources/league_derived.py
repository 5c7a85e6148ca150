"""League positions from a third party's file: trustpulse's ``trust_profiles.csv``.

NHS England's acute league table is not in the project. trustpulse (github.com/larsen-analyst/
trustpulse) read NHS England's Q3 2025/26 acute league table and data CSVs and joined them onto
its list of trusts, one wide row per trust (provenance in data/real/SOURCES.md). Its columns
give, per acute trust, the league's segment, rank, average score and deficit flag
(``lt_segment``, ``lt_rank``, ``lt_avg_score``, ``lt_in_deficit``), and for the trusts of every
type it holds the data CSV's adjusted segment (``overall_adjusted_segment``, OF5000) and finance
(``planned_surplus_deficit_pct``, OF0079; ``variance_to_financial_plan_pct``, OF0081).

Every figure is marked ``derived``: it is not NHS England's file, so NHS England's own figure
for the same trust and quarter replaces it whenever one is ingested, and it never replaces
one (monitor/sources/ingest.py). The file gives no likely ranges and no override flag.

Its trust list came from A&E returns, so the five specialist acute trusts without an A&E
department are not in it: 129 of the 134 trusts ranked. The league's size is still read from
its ranks (``league.peer_group_size``): the last rank, 134, held by one trust.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace

from monitor.sources.base import Figure, Parsed, ParseError, Skipped
from monitor.sources.league import quarter_bounds, quarter_figure, trust_code, with_peer_group
from monitor.sources.tabular import csv_rows, number

PROVENANCE = (
    "trustpulse's trust_profiles.csv (github.com/larsen-analyst/trustpulse), "
    "a third party's processing of NHS England's files"
)
LEAGUE_COLUMNS = ("lt_segment", "lt_rank", "lt_avg_score", "lt_in_deficit")
REQUIRED = (
    "org_code",
    "org_name",
    "data_month",
    "Trust_type",
    *LEAGUE_COLUMNS,
    "overall_adjusted_segment",
    "planned_surplus_deficit_pct",
    "variance_to_financial_plan_pct",
)
FINANCE = {
    "planned_surplus_deficit_pct": "fin_planned_deficit_pct",
    "variance_to_financial_plan_pct": "fin_variance_to_plan_pct",
}
# The file does not say which quarter its Oversight Framework columns are; trustpulse's league
# table ingest (pipeline/ingest/league_tables.py) names its source file, by data month.
QUARTERS = {"2026-03": "Q3 2025/26"}


def is_profiles(columns: set[str]) -> bool:
    """True for the header of trustpulse's trust_profiles.csv."""
    return {"org_code", "lt_rank", "overall_adjusted_segment"} <= columns


def parse_profiles(data: bytes, *, filename: str) -> Parsed:
    """Every Oversight Framework position in trust_profiles.csv, marked derived.

    1. The quarter comes from ``data_month`` (QUARTERS); an unknown month is an error rather
       than a guess.
    2. A row with the league's columns gives segment, rank, average score and deficit flag; a
       row with only the adjusted segment (trusts of other types) gives that.
    3. Finance figures where present; rows with no position at all are skipped, with why.
    4. Ranks get the size of their league (trust type and quarter) as denominator.
    """
    parsed = Parsed(layout="derived trust profiles CSV")
    ranked: list[tuple[Hashable, Figure]] = []
    for row, rec in csv_rows(data, filename=filename, required=REQUIRED):
        parsed.rows_read += 1
        org = trust_code(rec["org_code"], file=filename, row=row, column="org_code")
        quarter = _quarter(rec["data_month"], file=filename, row=row)
        if not rec["lt_rank"] and not rec["overall_adjusted_segment"]:
            parsed.skipped.append(Skipped(row, f"{org}: no Oversight Framework position"))
            continue
        bounds = quarter_bounds(quarter, file=filename, row=row)
        base = quarter_figure(org, bounds, rec["org_name"], derived=True)

        def cell(column: str) -> float:
            return number(rec[column], file=filename, row=row, column=column)  # noqa: B023

        if rec["lt_rank"]:
            parsed.figures += _league_figures(base, cell, file=filename, row=row)
            rank = replace(base, metric="nof_rank", value=cell("lt_rank"))
            ranked.append(((quarter, rec["Trust_type"]), rank))
        else:
            segment = cell("overall_adjusted_segment")
            parsed.figures.append(
                replace(base, metric="nof_segment", value=segment, label=f"Segment {segment:g}")
            )
        parsed.figures += [
            replace(base, metric=metric, value=cell(column))
            for column, metric in FINANCE.items()
            if rec[column]
        ]
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    parsed.figures.extend(with_peer_group(ranked))
    return parsed


def _quarter(month: str, *, file: str, row: int) -> str:
    quarter = QUARTERS.get(month.strip())
    if quarter is None:
        raise ParseError(
            f"data_month {month!r}: the quarter of this file's league columns is known only "
            f"for {', '.join(QUARTERS)}",
            file=file,
            row=row,
            column="data_month",
        )
    return quarter


def _league_figures(
    base: Figure, cell: Callable[[str], float], *, file: str, row: int
) -> list[Figure]:
    """Segment, average score and deficit flag from the ``lt_*`` columns."""
    segment = cell("lt_segment")
    deficit = cell("lt_in_deficit")
    if deficit not in (0.0, 1.0):
        raise ParseError(
            f"expected 1 or 0, found {deficit:g}", file=file, row=row, column="lt_in_deficit"
        )
    return [
        replace(base, metric="nof_segment", value=segment, label=f"Segment {segment:g}"),
        replace(base, metric="nof_average_score", value=cell("lt_avg_score")),
        replace(base, metric="nof_deficit_flag", value=deficit, label="Yes" if deficit else "No"),
    ]
