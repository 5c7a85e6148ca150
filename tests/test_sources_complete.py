"""Completeness: a file cut short is rejected, whether it stops mid-row or at a line end.

Each publisher's parser knows what a whole file looks like (a TOTAL row equal to the sum of
the providers, England's incidents equal to its trusts', every trust's total row, a row of each
segmentation metric for every trust a quarter lists); a file of a layout read before is also
compared with the previous publication of that layout. The real files are cut here.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Observation, Publication
from monitor.sources import ambulance, oversight, rtt
from monitor.sources.files import ingest_paths
from tests.conftest import REAL

RTT_CLEAN = REAL / "rtt" / "rtt_incomplete_provider_clean.csv"
NOF_DATA = REAL / "oversight" / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"
NOF_LEAGUE = (
    REAL
    / "oversight"
    / "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"
)
AMBULANCE = REAL / "ambulance" / "ambsys.csv"
AMBULANCE_XLSX = REAL / "ambulance" / "AmbSYS-Time-Series-until-20250831.xlsx"
AE_JULY = REAL / "ae" / "July-2025-CSV-9jfy4.csv"


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text('[paths]\nvar = "var"\n')
    return Context(config.load(p), engine)


def lines_kept(path: Path, n: int) -> bytes:
    """The file cut at a line end: its header and first ``n`` data rows."""
    data = path.read_bytes()
    keep = data.splitlines(keepends=True)[: n + 1]
    return b"".join(keep)


def ingest_bytes(
    ctx: Context, source: str, data: bytes, name: str, published: datetime | None = None
) -> dict[str, object]:
    f = ctx.var.parent / name
    f.write_bytes(data)
    [report] = ingest_paths(ctx, source, [f], published_at=published)
    return report.as_json()


def observations(ctx: Context) -> int:
    with session_scope(ctx.engine) as s:
        return len(s.exec(select(Observation.id)).all())


def test_rtt_cut_mid_row_is_rejected(ctx: Context) -> None:
    whole = rtt.parse(RTT_CLEAN.read_bytes(), filename=RTT_CLEAN.name)
    assert len(whole.figures) == 632
    data = RTT_CLEAN.read_bytes()
    # Cut inside the row where a cut gave 380 of the 632 figures.
    at = data.index(b"\n", len(data) * 6 // 10) + 40
    report = ingest_bytes(ctx, "rtt", data[:at], RTT_CLEAN.name)
    assert report["status"] == "rejected"
    assert "truncated" in str(report["error"]) and RTT_CLEAN.name in str(report["error"])
    assert observations(ctx) == 0


def test_rtt_cut_at_a_line_end_is_rejected_naming_the_trust_without_its_total(
    ctx: Context,
) -> None:
    rows = list(csv.DictReader(io.StringIO(RTT_CLEAN.read_text(encoding="utf-8-sig"))))
    # Stop after a specialty row of the 80th trust: its C_999 total row never came.
    n = next(
        i
        for i, r in enumerate(rows, start=1)
        if r["treatment_function_code"] == "C_300"
        and sum(x["treatment_function_code"] == "C_999" for x in rows[:i]) == 79
    )
    report = ingest_bytes(ctx, "rtt", lines_kept(RTT_CLEAN, n), RTT_CLEAN.name)
    assert report["status"] == "rejected"
    assert f"trust {rows[n - 1]['provider_code']} has no C_999" in str(report["error"])
    assert "column 'treatment_function_code'" in str(report["error"])


def nof_row(quarter: str, metric_id: str, nth: int) -> int:
    """The data row number (1-based, header not counted) of a quarter's nth row of a metric."""
    rows = csv.DictReader(io.StringIO(NOF_DATA.read_text(encoding="utf-8-sig")))
    hits = [
        i
        for i, r in enumerate(rows, start=1)
        if (r["Quarter"], r["Metric_ID"]) == (quarter, metric_id)
    ]
    return hits[nth]


@pytest.mark.parametrize(
    ("quarter", "metric_id"),
    [
        # In the third quarter, before its segmentation rows.
        ("Q3 2025/26", "OF0005"),
        # Part-way through the third quarter's segments.
        ("Q3 2025/26", "OF5000"),
        # Part-way through the second quarter's planned deficit rows.
        ("Q2 2025/26", "OF0079"),
    ],
)
def test_oversight_cut_at_a_line_end_is_rejected(
    ctx: Context, quarter: str, metric_id: str
) -> None:
    whole = oversight.parse(NOF_DATA.read_bytes(), filename="x")
    assert whole.rows_read == 6639 and len(whole.figures) == 1403
    cut = lines_kept(NOF_DATA, nof_row(quarter, metric_id, 30))
    report = ingest_bytes(ctx, "oversight", cut, NOF_DATA.name)
    assert report["status"] == "rejected"
    error = str(report["error"])
    assert quarter in error and "truncated" in error and "column 'Metric_ID'" in error
    assert observations(ctx) == 0


def test_ambulance_cut_at_a_line_end_is_rejected(ctx: Context) -> None:
    assert len(ambulance.parse(AMBULANCE.read_bytes(), filename="x").figures) >= 228
    report = ingest_bytes(ctx, "ambulance", lines_kept(AMBULANCE, 36), AMBULANCE.name)
    assert report["status"] == "rejected"
    error = str(report["error"])
    assert "February 2026 has no row for Y62, Y63" in error and "truncated" in error
    assert "row 38" in error and "column 'Org Code'" in error
    # One trust's rows missing from every month: England is not the sum of the others.
    lines = AMBULANCE.read_bytes().splitlines(keepends=True)
    dropped = b"".join(line for line in lines if b",R1F," not in line)
    report = ingest_bytes(ctx, "ambulance", dropped, AMBULANCE.name)
    assert report["status"] == "rejected"
    error = str(report["error"])
    assert "January 2026 incidents (82634) are not the sum of its ambulance trusts'" in error
    assert "row 2, column 'A8'" in error


def ambulance_workbook_without(trust: str | None) -> bytes:
    """The real AmbSYS workbook's Raw sheet (its values), less ``trust``'s rows, as XLSX."""
    source = openpyxl.load_workbook(AMBULANCE_XLSX, read_only=True, data_only=True)
    rows = [list(r) for r in source[ambulance.RAW_SHEET].iter_rows(values_only=True)]
    source.close()
    header = next(r for r in rows if "Area" in r and "A8" in r)
    area = header.index("Area")
    out = openpyxl.Workbook()
    sheet = out.active
    assert sheet is not None
    sheet.title = ambulance.RAW_SHEET
    for r in rows:
        if trust is None or len(r) <= area or str(r[area]).strip() != trust:
            sheet.append(r)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def test_ambulance_workbook_without_a_trust_is_rejected(ctx: Context) -> None:
    whole = ambulance.parse(ambulance_workbook_without(None), filename=AMBULANCE_XLSX.name)
    assert len(whole.periods) == 97
    # The Isle of Wight's rows gone from every month: England is not the sum of the others.
    dropped = ambulance_workbook_without("R1F")
    report = ingest_bytes(ctx, "ambulance", dropped, AMBULANCE_XLSX.name)
    assert report["status"] == "rejected"
    error = str(report["error"])
    assert (
        "England's April 2018 incidents (54279) are not the sum of its ambulance trusts' (54244)"
        in error
    )
    assert AMBULANCE_XLSX.name in error and "row 14, column 'A8'" in error
    assert observations(ctx) == 0


def test_ae_without_some_providers_is_rejected_by_its_total_row(ctx: Context) -> None:
    lines = AE_JULY.read_bytes().splitlines(keepends=True)
    cut = b"".join(lines[:100] + lines[-1:])  # providers after row 100 lost, TOTAL kept
    report = ingest_bytes(ctx, "ae", cut, AE_JULY.name)
    assert report["status"] == "rejected"
    assert "TOTAL row" in str(report["error"]) and "not the sum of the providers" in str(
        report["error"]
    )


def test_a_league_table_much_shorter_than_the_previous_one_is_rejected(ctx: Context) -> None:
    first = ingest_bytes(
        ctx,
        "oversight",
        NOF_LEAGUE.read_bytes(),
        NOF_LEAGUE.name,
        datetime(2026, 5, 14, tzinfo=UTC),
    )
    assert first["status"] == "ingested"
    before = observations(ctx)
    # The next quarter's table, cut at a line end after 40 of its 61 trusts.
    later = lines_kept(NOF_LEAGUE, 40).replace(b"Q4 2025/26", b"Q1 2026/27")
    report = ingest_bytes(
        ctx, "oversight", later, "league-q1.csv", datetime(2026, 8, 13, tzinfo=UTC)
    )
    assert report["status"] == "rejected"
    error = str(report["error"])
    assert "only 40 rows per period" in error and "had 61" in error
    assert NOF_LEAGUE.name in error
    assert observations(ctx) == before
    # Whole, it is ingested: a trust or two fewer is within the tolerance.
    whole = lines_kept(NOF_LEAGUE, 58).replace(b"Q4 2025/26", b"Q1 2026/27")
    report = ingest_bytes(
        ctx, "oversight", whole, "league-q1-whole.csv", datetime(2026, 8, 14, tzinfo=UTC)
    )
    assert report["status"] == "ingested", report["error"]
    with session_scope(ctx.engine) as s:
        layouts = s.exec(select(Publication.layout).where(Publication.status == "ingested"))
        assert set(layouts) == {"league table CSV (Mental health and community trust)"}


def test_an_older_shorter_file_back_filled_later_is_compared_with_nothing_newer(
    ctx: Context,
) -> None:
    """A back-fill reaches files older than those held: an old league table with fewer trusts
    (before a merger) is not judged against today's."""
    first = ingest_bytes(
        ctx,
        "oversight",
        NOF_LEAGUE.read_bytes(),
        NOF_LEAGUE.name,
        datetime(2026, 5, 14, tzinfo=UTC),
    )
    assert first["status"] == "ingested"
    older = lines_kept(NOF_LEAGUE, 40).replace(b"Q4 2025/26", b"Q4 2023/24")
    report = ingest_bytes(
        ctx, "oversight", older, "league-2023.csv", datetime(2024, 5, 9, tzinfo=UTC)
    )
    assert report["status"] == "ingested", report["error"]
