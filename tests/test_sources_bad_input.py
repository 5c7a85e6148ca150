"""Bad input to every parser: each error names the file, and the row and column where known."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest

from monitor.sources import ae, ambulance, cancer, oversight
from monitor.sources.base import ParseError

REAL = Path(__file__).resolve().parents[1] / "data" / "real"

AE_FILE = REAL / "ae" / "July-2025-CSV-9jfy4.csv"
AMB_FILE = REAL / "ambulance" / "ambsys.csv"
NOF_DATA = REAL / "oversight" / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"
NOF_LEAGUE = (
    REAL
    / "oversight"
    / "nhs-oversight-framework-mental-health-and-community-trust-league-table.csv"
)
CANCER_FILE = REAL / "cancer" / "CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx"

HTML_PAGE = b"""<!DOCTYPE html>
<html lang="en-GB"><head><title>Page not found - NHS England</title></head>
<body><main><h1>Page not found</h1></main></body></html>
"""


def replace_header(data: bytes, old: str, new: str) -> bytes:
    header, rest = data.split(b"\n", 1)
    assert old.encode() in header
    return header.replace(old.encode(), new.encode(), 1) + b"\n" + rest


def replace_cell(data: bytes, line: int, column: str, text: str) -> bytes:
    """Put ``text`` in ``column`` of the given 1-based line (simple, unquoted rows only)."""
    lines = data.split(b"\n")
    header = lines[0].decode("utf-8-sig").rstrip("\r").split(",")
    cells = lines[line - 1].decode().split(",")
    cells[header.index(column)] = text
    lines[line - 1] = ",".join(cells).encode()
    return b"\n".join(lines)


def cut_mid_row(data: bytes, line: int) -> bytes:
    """The file cut off part-way through the given 1-based line."""
    lines = data.split(b"\n")
    return b"\n".join(lines[: line - 1]) + b"\n" + lines[line - 1][:15]


def cut_in_last_field(data: bytes, line: int) -> bytes:
    """The file cut inside the last number of the given line: every field there, no newline."""
    lines = data.split(b"\n")
    return b"\n".join(lines[:line]).rstrip(b"\r")[:-1]


def cancer_workbook(edit: Callable[[list[list[object]]], None]) -> bytes:
    """The first rows of the real Oct-2023 extract, edited, written back as XLSX."""
    source = openpyxl.load_workbook(CANCER_FILE, read_only=True)
    rows = [list(r) for r in source.active.iter_rows(max_row=40, values_only=True)]
    source.close()
    edit(rows)
    out = openpyxl.Workbook()
    sheet = out.active
    sheet.title = cancer.EXTRACT_SHEET
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def rename_cancer_column(rows: list[list[object]]) -> None:
    rows[0][rows[0].index("WITHIN STANDARD")] = "WITHIN TARGET"


def text_in_cancer_count(rows: list[list[object]]) -> None:
    rows[5][rows[0].index("TOTAL TREATED")] = "n/a"


AE = AE_FILE.read_bytes()
AMB = AMB_FILE.read_bytes()
DATA = NOF_DATA.read_bytes()
LEAGUE = NOF_LEAGUE.read_bytes()

# (case, parser, bytes, file name, expected message part, row, column)
CASES = [
    (
        "A&E missing column",
        ae.parse,
        replace_header(AE, "Attendances over 4hrs Type 1", "Over 4 hours Type 1"),
        "ae.csv",
        "missing column(s) 'Attendances over 4hrs Type 1'",
        1,
        "Attendances over 4hrs Type 1",
    ),
    ("A&E HTML page", ae.parse, HTML_PAGE, "ae.csv", "HTML page, not a CSV", 1, None),
    ("A&E cut mid-row", ae.parse, cut_mid_row(AE, 40), "ae.csv", "truncated", 40, "Org Code"),
    (
        "A&E cut before TOTAL",
        ae.parse,
        b"\n".join(AE.split(b"\n")[:100]) + b"\n",
        "ae.csv",
        "no TOTAL row",
        101,
        "Org Code",
    ),
    (
        "A&E text in a count",
        ae.parse,
        replace_cell(AE, 7, "A&E attendances Type 1", "twelve"),
        "ae.csv",
        "expected a number, found 'twelve'",
        7,
        "A&E attendances Type 1",
    ),
    (
        "A&E bad period",
        ae.parse,
        replace_cell(AE, 3, "Period", "July 2025"),
        "ae.csv",
        "expected a period like 'MSitAE-JULY-2025'",
        3,
        "Period",
    ),
    (
        "ambulance missing column",
        ambulance.parse,
        replace_header(AMB, "A25", "A25x"),
        "ambsys.csv",
        "missing column(s) 'A25'",
        1,
        "A25",
    ),
    ("ambulance HTML page", ambulance.parse, HTML_PAGE, "ambsys.csv", "HTML page", 1, None),
    (
        "ambulance text in a count",
        ambulance.parse,
        replace_cell(AMB, 4, "A8", "lots"),
        "ambsys.csv",
        "expected a number, found 'lots'",
        4,
        "A8",
    ),
    (
        "ambulance cut inside the last number",
        ambulance.parse,
        cut_in_last_field(AMB, 20),
        "ambsys.csv",
        "no line ending (truncated file?)",
        20,
        None,
    ),
    (
        "ambulance workbook cut short",
        ambulance.parse,
        (REAL / "ambulance" / "AmbSYS-Time-Series-until-20250831.xlsx").read_bytes()[:500_000],
        "AmbSYS.xlsx",
        "truncated or damaged XLSX",
        None,
        None,
    ),
    (
        "cancer missing column",
        cancer.parse,
        cancer_workbook(rename_cancer_column),
        "cwt.xlsx",
        "missing column(s) 'WITHIN STANDARD'",
        1,
        "WITHIN STANDARD",
    ),
    (
        "cancer text in a count",
        cancer.parse,
        cancer_workbook(text_in_cancer_count),
        "cwt.xlsx",
        "expected a number, found 'n/a'",
        6,
        "TOTAL TREATED",
    ),
    ("cancer HTML page", cancer.parse, HTML_PAGE, "cwt.xlsx", "HTML page, not a XLSX", 1, None),
    (
        "cancer truncated workbook",
        cancer.parse,
        CANCER_FILE.read_bytes()[:200_000],
        "cwt.xlsx",
        "truncated or damaged XLSX",
        None,
        None,
    ),
    (
        "cancer CSV given instead",
        cancer.parse,
        AE,
        "cwt.xlsx",
        "not an XLSX workbook",
        None,
        None,
    ),
    (
        "oversight missing column",
        oversight.parse,
        replace_header(DATA, "Value", "Metric_value"),
        "nof.csv",
        "missing column(s) 'Value'",
        1,
        "Value",
    ),
    (
        "oversight text in a value",
        oversight.parse,
        replace_cell(DATA, 1879, "Value", "high"),  # an OF5000 (segment) row
        "nof.csv",
        "expected a number, found 'high'",
        1879,
        "Value",
    ),
    ("oversight HTML page", oversight.parse, HTML_PAGE, "nof.csv", "HTML page", 1, None),
    (
        "oversight cut mid-row",
        oversight.parse,
        cut_mid_row(DATA, 300),
        "nof.csv",
        "truncated",
        300,
        "Trust_type",
    ),
    (
        "oversight bad quarter",
        oversight.parse,
        replace_cell(LEAGUE, 5, "Quarter", "2025/26 Q4"),
        "league.csv",
        "expected a quarter like 'Q3 2025/26'",
        5,
        "Quarter",
    ),
    (
        "oversight deficit flag not Yes/No",
        oversight.parse,
        replace_cell(LEAGUE, 3, "Trust_in_financial_deficit", "Maybe"),
        "league.csv",
        "expected Yes or No, found 'Maybe'",
        3,
        "Trust_in_financial_deficit",
    ),
    (
        "oversight neither file",
        oversight.parse,
        b"Quarter,Trust_code\r\nQ1 2025/26,RYW\r\n",
        "nof.csv",
        "neither a NOF data CSV",
        1,
        "Metric_ID",
    ),
]


@pytest.mark.parametrize(
    ("parser", "data", "filename", "message", "row", "column"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_is_rejected_naming_file_row_and_column(
    parser, data, filename, message, row, column
):
    with pytest.raises(ParseError) as caught:
        parser(data, filename=filename)
    err = caught.value
    assert message in err.reason
    assert (err.file, err.row, err.column) == (filename, row, column)
    text = str(err)
    assert text.startswith(filename)
    if row is not None:
        assert f"row {row}" in text
    if column is not None:
        assert repr(column) in text


@pytest.mark.parametrize("parser", [ae.parse, ambulance.parse, oversight.parse, cancer.parse])
def test_empty_file_is_rejected(parser):
    with pytest.raises(ParseError) as caught:
        parser(b"", filename="empty")
    assert caught.value.file == "empty"
