"""Oversight Framework league positions: the league-table CSV of any trust type, peer groups and
likely ranges.

NHS England publishes one league table per trust type and quarter (acute, ambulance, mental
health and community), all in the same layout; ``Trust_type`` says which league a row is in.
A league ranks trusts by segment, then average score, with tied trusts sharing a rank
(competition ranking: two trusts at 4, none at 5). The size of the league (``nof_rank``'s
denominator) is the number of trusts ranked of that type in that quarter.

Likely ranges ("14 to 60", "1.64 to 2.39") are stored as the label of the figure they qualify,
in the publisher's words: the range is revised whenever its figure is, and it is never a
series of its own for rules or charts to pick up. ``likely_range`` reads it back as numbers.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from dataclasses import replace
from datetime import date
from typing import Any

from monitor.metrics import Granularity
from monitor.sources.base import (
    Figure,
    Parsed,
    ParseError,
    financial_quarter_bounds,
    period_figure,
)
from monitor.sources.tabular import csv_rows, number

TRUST_COLUMNS = ("Quarter", "Trust_type", "Trust_code", "Trust_name")
LEAGUE_REQUIRED = (
    *TRUST_COLUMNS,
    "Average_score",
    "Likely_range_of_average_score",
    "Segment",
    "Trust_in_financial_deficit",
    "Rank",
    "Likely_range_of_rank",
)

_QUARTER = re.compile(r"^Q([1-4])\s+(\d{4})/(\d{2})$")
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:to|-|–)\s*(-?\d+(?:\.\d+)?)\s*$", re.IGNORECASE)
_YES_NO = {"yes": 1.0, "no": 0.0}


def quarter_bounds(text: str, *, file: str, row: int) -> tuple[date, date]:
    """The bounds of a quarter as the files write it: 'Q3 2025/26' -> 2025-10-01, 2025-12-31."""
    m = _QUARTER.match(text.strip())
    if not m or (int(m.group(2)) + 1) % 100 != int(m.group(3)):
        raise ParseError(
            f"expected a quarter like 'Q3 2025/26', found {text!r}",
            file=file,
            row=row,
            column="Quarter",
        )
    return financial_quarter_bounds(int(m.group(2)), int(m.group(1)))


def quarter_figure(
    org: str,
    quarter: tuple[date, date],
    name: str,
    *,
    metric: str = "",
    value: float | None = None,
    **fields: Any,
) -> Figure:
    """A trust's figure for a quarter (its bounds, as :func:`quarter_bounds` reads them);
    without metric and value, the base that ``replace`` makes each of a row's figures from."""
    return period_figure(
        org, metric, quarter, Granularity.QUARTER, value, org_name=name or None, **fields
    )


def likely_range(label: str | None) -> tuple[float, float] | None:
    """The two ends of a likely range label ("14 to 60" -> (14.0, 60.0)); None if it is not one."""
    m = _RANGE.match(label or "")
    if not m:
        return None
    low, high = float(m.group(1)), float(m.group(2))
    return (low, high) if low <= high else None


def range_label(text: str, *, file: str, row: int, column: str) -> str | None:
    """A likely range as published, checked to be one ("A to B", A <= B); None when blank."""
    if not text:
        return None
    if likely_range(text) is None:
        raise ParseError(
            f"expected a likely range like '14 to 60', found {text!r}",
            file=file,
            row=row,
            column=column,
        )
    return text


def peer_group_size(ranks: Iterable[float]) -> int:
    """How many trusts a league ranks, from the ranks of those listed.

    In a competition ranking the last rank shared by k trusts means last + k - 1 trusts. A
    complete file lists them all, so this is its row count; a file missing trusts (a third
    party's extract) still shows the league's size through its last rank.
    """
    counts = Counter(ranks)
    if not counts:
        return 0
    last = max(counts)
    return max(sum(counts.values()), int(last) + counts[last] - 1)


def with_peer_group(ranked: list[tuple[Hashable, Figure]]) -> list[Figure]:
    """Rank figures with the size of their league (key: quarter and trust type) as denominator."""
    ranks: dict[Hashable, list[float]] = defaultdict(list)
    for key, f in ranked:
        ranks[key].append(f.value or 0.0)
    sizes = {key: peer_group_size(values) for key, values in ranks.items()}
    return [replace(f, denominator=float(sizes[key])) for key, f in ranked]


def parse_league_table(data: bytes, *, filename: str) -> Parsed:
    """The league table of one trust type: one row per trust for the quarter.

    Each row gives ``nof_segment``, ``nof_average_score`` (its likely range as label),
    ``nof_deficit_flag`` ("Yes"/"No") and ``nof_rank`` (its likely range as label, the size
    of the league as denominator).
    """
    parsed = Parsed()
    ranked: list[tuple[Hashable, Figure]] = []
    for row, rec in csv_rows(data, filename=filename, required=LEAGUE_REQUIRED):
        parsed.rows_read += 1
        org = trust_code(rec["Trust_code"], file=filename, row=row)
        quarter = quarter_bounds(rec["Quarter"], file=filename, row=row)
        base = quarter_figure(org, quarter, rec["Trust_name"], row=row)

        def cell(column: str) -> float:
            return number(rec[column], file=filename, row=row, column=column)  # noqa: B023

        def likely(column: str) -> str | None:
            return range_label(rec[column], file=filename, row=row, column=column)  # noqa: B023

        segment = cell("Segment")
        parsed.figures += [
            replace(
                base,
                metric="nof_segment",
                value=segment,
                label=f"Segment {segment:g}",
                column="Segment",
            ),
            replace(
                base,
                metric="nof_average_score",
                value=cell("Average_score"),
                label=likely("Likely_range_of_average_score"),
                column="Average_score",
            ),
            deficit_figure(base, rec["Trust_in_financial_deficit"], file=filename, row=row),
        ]
        rank = replace(
            base,
            metric="nof_rank",
            value=cell("Rank"),
            label=likely("Likely_range_of_rank"),
            column="Rank",
        )
        ranked.append(((rec["Quarter"], rec["Trust_type"]), rank))
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    parsed.figures.extend(with_peer_group(ranked))
    leagues = sorted({str(key[1]) for key, _ in ranked if isinstance(key, tuple)})
    parsed.layout = f"league table CSV ({', '.join(leagues)})"
    return parsed


def trust_code(text: str, *, file: str, row: int, column: str = "Trust_code") -> str:
    """A trust's ODS code, upper case; a blank code is an error."""
    code = text.strip().upper()
    if not code:
        raise ParseError("no trust code", file=file, row=row, column=column)
    return code


def deficit_figure(base: Figure, text: str, *, file: str, row: int) -> Figure:
    """``nof_deficit_flag`` from the league table's "Yes"/"No"."""
    value = _YES_NO.get(text.lower())
    if value is None:
        raise ParseError(
            f"expected Yes or No, found {text!r}",
            file=file,
            row=row,
            column="Trust_in_financial_deficit",
        )
    return replace(base, metric="nof_deficit_flag", value=value, label=text.capitalize())
