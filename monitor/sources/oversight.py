"""NHS Oversight Framework: the trust data CSV and the league-table CSV (quarterly).

Every row belongs to the financial quarter in its ``Quarter`` column ("Q3 2025/26" is
October-December 2025), whatever its ``Reporting_date`` says. The data CSV alone gives every
metric but the deficit flag; the league table gives segment, rank, average score (with their
likely ranges as labels) and the deficit flag. Either file ingests on its own.

Segments, ranks and scores are not additive, so no England or regional figures are derived.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import date

from monitor.metrics import Granularity
from monitor.sources import discover as disc
from monitor.sources.base import Figure, Parsed, ParseError, Skipped, financial_quarter_bounds
from monitor.sources.discover import Link
from monitor.sources.tabular import csv_rows, number, reject_html

SOURCE = "oversight"

TRUST_COLUMNS = ("Quarter", "Trust_type", "Trust_code", "Trust_name")
DATA_REQUIRED = (*TRUST_COLUMNS, "Metric_ID", "Value", "Rank")
LEAGUE_REQUIRED = (
    *TRUST_COLUMNS,
    "Average_score",
    "Likely_range_of_average_score",
    "Segment",
    "Trust_in_financial_deficit",
    "Rank",
    "Likely_range_of_rank",
)

# Metric_ID in the data CSV -> metric id. OF5000 also gives the rank (its Rank column).
DATA_METRICS = {
    "OF5000": "nof_segment",
    "OF5002": "nof_average_score",
    "OF5007": "nof_rsp_flag",
    "OF0079": "fin_planned_deficit_pct",
    "OF0081": "fin_variance_to_plan_pct",
}
SEGMENT_ID = "OF5000"

_QUARTER = re.compile(r"^Q([1-4])\s+(\d{4})/(\d{2})$")
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


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """Figures from a NOF data CSV or league-table CSV, told apart by their columns."""
    reject_html(data, filename, "CSV")
    head = data[:4096].decode("utf-8-sig", errors="replace").splitlines()[0] if data else ""
    columns = {c.strip() for c in head.split(",")}
    if "Metric_ID" in columns:
        return _parse_data(data, filename=filename)
    if "Segment" in columns or "Trust_in_financial_deficit" in columns:
        return _parse_league(data, filename=filename)
    raise ParseError(
        "neither a NOF data CSV (no 'Metric_ID' column) nor a league table (no 'Segment' column)",
        file=filename,
        row=1,
        column="Metric_ID",
    )


def _org(rec: dict[str, str], *, file: str, row: int) -> str:
    code = rec["Trust_code"].upper()
    if not code:
        raise ParseError("no trust code", file=file, row=row, column="Trust_code")
    return code


def _parse_data(data: bytes, *, filename: str) -> Parsed:
    """The long data CSV: one row per trust, metric and quarter.

    1. Keep the rows of the five metrics tracked; others are read and passed over.
    2. An empty Value is a skipped reason, text where a number belongs an error.
    3. OF5000 rows also give ``nof_rank`` (their Rank), with the number of trusts ranked in the
       same quarter and trust type as the denominator.
    """
    parsed = Parsed()
    ranked: list[tuple[tuple[str, str], Figure]] = []
    for row, rec in csv_rows(data, filename=filename, required=DATA_REQUIRED):
        parsed.rows_read += 1
        metric = DATA_METRICS.get(rec["Metric_ID"].upper())
        if metric is None:
            continue
        org = _org(rec, file=filename, row=row)
        start, end = quarter_bounds(rec["Quarter"], file=filename, row=row)
        name = rec["Trust_name"] or None
        if not rec["Value"]:
            parsed.skipped.append(
                Skipped(row, f"{org} {rec['Quarter']}: no {rec['Metric_ID']} value published")
            )
            continue
        value = number(rec["Value"], file=filename, row=row, column="Value")
        label = f"Segment {value:g}" if metric == "nof_segment" else None
        parsed.figures.append(
            Figure(
                org=org,
                metric=metric,
                period_start=start,
                period_end=end,
                granularity=Granularity.QUARTER,
                value=value,
                label=label,
                org_name=name,
            )
        )
        if rec["Metric_ID"].upper() == SEGMENT_ID:
            if not rec["Rank"]:
                parsed.skipped.append(Skipped(row, f"{org} {rec['Quarter']}: no rank published"))
                continue
            rank = number(rec["Rank"], file=filename, row=row, column="Rank")
            figure = Figure(
                org=org,
                metric="nof_rank",
                period_start=start,
                period_end=end,
                granularity=Granularity.QUARTER,
                value=rank,
                org_name=name,
            )
            ranked.append(((rec["Quarter"], rec["Trust_type"]), figure))
    parsed.figures.extend(_with_peer_group(ranked))
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    return parsed


def _with_peer_group(ranked: list[tuple[tuple[str, str], Figure]]) -> list[Figure]:
    """Rank figures with the size of their league (trusts ranked, same quarter and type)."""
    sizes = Counter(key for key, _ in ranked)
    return [replace(f, denominator=float(sizes[key])) for key, f in ranked]


def _parse_league(data: bytes, *, filename: str) -> Parsed:
    """The league table: one row per trust for the quarter."""
    parsed = Parsed()
    ranked: list[tuple[tuple[str, str], Figure]] = []
    for row, rec in csv_rows(data, filename=filename, required=LEAGUE_REQUIRED):
        parsed.rows_read += 1
        org = _org(rec, file=filename, row=row)
        start, end = quarter_bounds(rec["Quarter"], file=filename, row=row)
        name = rec["Trust_name"] or None

        def fig(metric: str, value: float, label: str | None) -> Figure:
            return Figure(
                org=org,  # noqa: B023 - called only within this iteration
                metric=metric,
                period_start=start,  # noqa: B023
                period_end=end,  # noqa: B023
                granularity=Granularity.QUARTER,
                value=value,
                label=label,
                org_name=name,  # noqa: B023
            )

        segment = number(rec["Segment"], file=filename, row=row, column="Segment")
        parsed.figures.append(fig("nof_segment", segment, f"Segment {segment:g}"))
        score = number(rec["Average_score"], file=filename, row=row, column="Average_score")
        parsed.figures.append(
            fig("nof_average_score", score, rec["Likely_range_of_average_score"] or None)
        )
        deficit = _YES_NO.get(rec["Trust_in_financial_deficit"].lower())
        if deficit is None:
            raise ParseError(
                f"expected Yes or No, found {rec['Trust_in_financial_deficit']!r}",
                file=filename,
                row=row,
                column="Trust_in_financial_deficit",
            )
        parsed.figures.append(fig("nof_deficit_flag", deficit, rec["Trust_in_financial_deficit"]))
        rank = number(rec["Rank"], file=filename, row=row, column="Rank")
        ranked.append(
            (
                (rec["Quarter"], rec["Trust_type"]),
                fig("nof_rank", rank, rec["Likely_range_of_rank"]),
            )
        )
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    parsed.figures.extend(_with_peer_group(ranked))
    return parsed


_NOF_FILE = re.compile(r"nhs-oversight-framework-.*(?:data|league-table)", re.IGNORECASE)


def _dataset(name: str) -> str:
    """The file's dataset without quarter or version: 'acute-trust-league-table' from
    'nhs-oversight-framework-acute-trust-league-table-q2-25-26-v2.csv'."""
    stem = re.sub(r"\.csv$", "", name, flags=re.IGNORECASE).lower()
    stem = re.sub(r"^.*?nhs-oversight-framework-", "", stem)
    stem = re.sub(r"-q[1-4]-\d{2,4}-\d{2}.*$", "", stem)
    return re.sub(r"-(?:v\d+(?:\.\d+)?|revised)$", "", stem)


def discover(html: str, base_url: str) -> list[Link]:
    """The NOF data and league-table CSVs on the segmentation and league tables page.

    One link per dataset (acute / non-acute / ambulance / mental health and community, data or
    league table) and quarter, the newest version; the quarter is read from the link text or
    the file name ("q2-25-26") where either gives it.
    """
    found = []
    for raw in disc.article_links(html, base_url):
        name = disc.file_name(raw.url)
        if disc.file_kind(raw.url) != "csv" or not _NOF_FILE.search(name):
            continue
        found.append(
            disc.make_link(
                raw,
                dataset=_dataset(name),
                period=lambda text, fname: disc.quarter_period(text, fname),
            )
        )
    return disc.newest_versions(found)
