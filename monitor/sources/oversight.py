"""NHS Oversight Framework: the trust data CSV and the league-table CSV (quarterly).

Every row belongs to the financial quarter in its ``Quarter`` column ("Q3 2025/26" is
October-December 2025), whatever its ``Reporting_date`` says. The data CSV alone gives every
metric but the deficit flag; the league table (monitor/sources/league.py) gives segment, rank,
average score (with their likely ranges as labels) and the deficit flag. Either file ingests
on its own, for any trust type. A third party's derived file of positions is read by
monitor/sources/league_derived.py.

Segments, ranks and scores are not additive, so no England or regional figures are derived.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import replace
from datetime import date

from monitor.sources import discover as disc
from monitor.sources.base import Figure, Parsed, ParseError, Skipped
from monitor.sources.discover import Link
from monitor.sources.league import (
    TRUST_COLUMNS,
    parse_league_table,
    quarter_bounds,
    quarter_figure,
    trust_code,
    with_peer_group,
)
from monitor.sources.league_derived import is_profiles, parse_profiles
from monitor.sources.tabular import csv_rows, number, reject_html

SOURCE = "oversight"

DATA_REQUIRED = (*TRUST_COLUMNS, "Metric_ID", "Value", "Rank")

# Metric_ID in the data CSV -> metric id. OF5000 also gives the rank (its Rank column).
DATA_METRICS = {
    "OF5000": "nof_segment",
    "OF5002": "nof_average_score",
    "OF5003": "nof_unadjusted_segment",
    "OF5004": "nof_financial_override_flag",
    "OF5007": "nof_rsp_flag",
    "OF0079": "fin_planned_deficit_pct",
    "OF0081": "fin_variance_to_plan_pct",
}
SEGMENT_ID = "OF5000"
RSP_ID = "OF5007"
_SEGMENT_UNITS = ("nof_segment", "nof_unadjusted_segment")


def parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    """Figures from a NOF data CSV, a league-table CSV or trustpulse's derived trust profiles,
    told apart by their columns."""
    reject_html(data, filename, "CSV")
    end = data.find(b"\n")
    head = data[: end if end >= 0 else len(data)].decode("utf-8-sig", errors="replace")
    columns = {c.strip() for c in head.split(",")}
    if "Metric_ID" in columns:
        return _parse_data(data, filename=filename)
    if "Segment" in columns or "Trust_in_financial_deficit" in columns:
        return parse_league_table(data, filename=filename)
    if is_profiles(columns):
        return parse_profiles(data, filename=filename)
    raise ParseError(
        "neither a NOF data CSV (no 'Metric_ID' column) nor a league table (no 'Segment' column)",
        file=filename,
        row=1,
        column="Metric_ID",
    )


def _parse_data(data: bytes, *, filename: str) -> Parsed:
    """The long data CSV: one row per trust, metric and quarter.

    1. Keep the rows of the metrics tracked; others are read and passed over.
    2. An empty Value is a skipped reason, text where a number belongs an error.
    3. OF5000 rows also give ``nof_rank`` (their Rank), with the number of trusts ranked in the
       same quarter and trust type as the denominator.
    4. The Recovery Support Programme flags of each quarter (``_rsp_not_listed``).
    """
    parsed = Parsed()
    ranked: list[tuple[Hashable, Figure]] = []
    trust_types: set[str] = set()
    # quarter -> metric id -> trust -> the row listing it
    listed: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for row, rec in csv_rows(data, filename=filename, required=DATA_REQUIRED):
        parsed.rows_read += 1
        metric_id = rec["Metric_ID"].upper()
        trust_types.add(rec["Trust_type"])
        listed[rec["Quarter"]][metric_id][rec["Trust_code"].strip().upper()] = row
        metric = DATA_METRICS.get(metric_id)
        if metric is None:
            continue
        org = trust_code(rec["Trust_code"], file=filename, row=row)
        quarter = quarter_bounds(rec["Quarter"], file=filename, row=row)
        if not rec["Value"]:
            parsed.skipped.append(
                Skipped(row, f"{org} {rec['Quarter']}: no {rec['Metric_ID']} value published")
            )
            continue
        value = number(rec["Value"], file=filename, row=row, column="Value")
        figure = quarter_figure(
            org,
            quarter,
            rec["Trust_name"],
            metric=metric,
            value=value,
            label=f"Segment {value:g}" if metric in _SEGMENT_UNITS else None,
            row=row,
            column="Value",
        )
        parsed.figures.append(figure)
        if metric_id == SEGMENT_ID:
            if not rec["Rank"]:
                parsed.skipped.append(Skipped(row, f"{org} {rec['Quarter']}: no rank published"))
                continue
            rank = number(rec["Rank"], file=filename, row=row, column="Rank")
            figure = replace(figure, metric="nof_rank", value=rank, label=None, column="Rank")
            ranked.append(((rec["Quarter"], rec["Trust_type"]), figure))
    if not parsed.rows_read:
        raise ParseError("no data rows", file=filename, row=2)
    check_quarters_whole(listed, filename)
    parsed.layout = f"NOF data CSV ({', '.join(sorted(trust_types))})"
    parsed.figures.extend(with_peer_group(ranked))
    parsed.figures.extend(_rsp_not_listed(parsed.figures))
    return parsed


# The segmentation: every trust a quarter lists has a row of each (its value may be blank).
SEGMENTATION = ("OF5000", "OF5002", "OF5003", "OF5004")


def check_quarters_whole(listed: dict[str, dict[str, dict[str, int]]], filename: str) -> None:
    """ParseError when a quarter lists a trust without a row of each SEGMENTATION metric, or
    without a row of a tracked metric the quarter has (every real file lists each for every
    trust, with a blank value where none is published): the file stops part-way (a file cut at
    a line end is otherwise valid CSV). A file cut between two untracked metrics' rows is not
    seen here."""
    for quarter, by_metric in listed.items():
        trusts = {t: r for rows in by_metric.values() for t, r in rows.items()}
        # The Recovery Support Programme's rows may list only the trusts in it.
        tracked = [m for m in DATA_METRICS if m in by_metric and m not in (*SEGMENTATION, RSP_ID)]
        for metric_id in (*SEGMENTATION, *tracked):
            missing = sorted(set(trusts) - set(by_metric.get(metric_id, {})))
            if missing:
                raise ParseError(
                    f"{quarter}: {len(missing)} of {len(trusts)} trusts have no {metric_id} "
                    f"row (first {missing[0]}, listed at row {trusts[missing[0]]}): the file "
                    "is incomplete (truncated?)",
                    file=filename,
                    column="Metric_ID",
                )


def _rsp_not_listed(figures: list[Figure]) -> list[Figure]:
    """``nof_rsp_flag`` = 0 for trusts a quarter positions but does not list in the programme.

    The file gives OF5007 quarter by quarter. Where a quarter gives it for some trusts, a trust
    positioned (OF5000) in that quarter without an OF5007 row is not in the programme that
    quarter. Where a quarter gives it for no trust at all (the 2025/26 files from Q3 on), the
    file says nothing about the programme, and nothing is inferred: a 0 would claim trusts had
    left it.
    """
    positioned: dict[date, dict[str, Figure]] = defaultdict(dict)
    flagged: dict[date, set[str]] = defaultdict(set)
    for f in figures:
        if f.metric == "nof_segment":
            positioned[f.period_start][f.org] = f
        elif f.metric == "nof_rsp_flag":
            flagged[f.period_start].add(f.org)
    return [
        replace(f, metric="nof_rsp_flag", value=0.0, label=None)
        for quarter, listed in flagged.items()
        for org, f in sorted(positioned[quarter].items())
        if org not in listed
    ]


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
