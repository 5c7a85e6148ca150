"""The streaming reader of CQC's bulk "Latest ratings" ODS.

The real file is not available, so these read files made by tools/gen_cqc_ods.py in the
documented layout (a small one; the bench reads the full-size one), and tiny hand-written ODS
documents for the encodings a spreadsheet program may use.
"""

from __future__ import annotations

import gc
import io
import sys
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from monitor.sources.base import ParseError
from monitor.sources.cqc.ods import OdsReport, iter_rows, ratings_from_ods
from monitor.sources.cqc.values import Scope

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import gen_cqc_ods as gen  # noqa: E402


@pytest.fixture(scope="session")
def small_ods(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gen.generate(tmp_path_factory.mktemp("ods"), rows=3000, published=date(2026, 9, 1))


def ods_bytes(*sheets: tuple[str, str]) -> bytes:
    """A minimal valid ODS whose content.xml holds the given (name, rows XML) sheets."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), gen.MIMETYPE)
        zf.writestr("META-INF/manifest.xml", gen.MANIFEST)
        body = "".join(f'<table:table table:name="{n}">{rows}</table:table>' for n, rows in sheets)
        zf.writestr(
            "content.xml",
            f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {gen.NS}>'
            f"<office:body><office:spreadsheet>{body}</office:spreadsheet></office:body>"
            "</office:document-content>",
        )
    return buf.getvalue()


def provider_row(pid: str, domain: str, rating: str, **over: object) -> str:
    values: dict[str, object] = dict.fromkeys(gen.PROVIDER_COLUMNS, "")
    values.update(
        {
            "Provider ID": pid, "Provider Name": f"Trust {pid}",
            "Provider Type": "NHS Healthcare Organisation", "Provider NHS Region": "North West",
            "Service / Population Group": "Overall", "Domain": domain, "Latest Rating": rating,
            "Publication Date": date(2024, 3, 5), "Inherited Rating (Y/N)": "N",
            "URL": f"https://www.cqc.org.uk/provider/{pid}", "Brand ID": "-", "Brand Name": "-",
        }
    )  # fmt: skip
    values.update({k.replace("_", " "): v for k, v in over.items()})
    return gen._row(list(values.values()))


def test_generated_file_is_a_valid_ods(small_ods: Path) -> None:
    with zipfile.ZipFile(small_ods) as zf:
        first = zf.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED
        assert zf.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet"
        assert "META-INF/manifest.xml" in zf.namelist()
    assert small_ods.name == "01_September_2026_Latest_ratings.ods"


def test_rows_skip_the_banner_and_the_empty_tail(small_ods: Path) -> None:
    rows = list(iter_rows(small_ods))
    sheets = Counter(r.sheet for r in rows)
    assert set(sheets) == {"Locations", "Providers"}
    first = rows[0]
    assert first.number == 1 and first.values[0].startswith("From 2026 CQC publishes")
    header = rows[1]
    assert header.number == 2 and header.values == list(gen.LOCATION_COLUMNS)
    # Equal neighbours were written as one repeated cell ("-", "-" brands; id = ODS code).
    assert all(len(r.values) == 28 for r in rows[1:] if r.sheet == "Locations")
    assert sheets["Locations"] + sheets["Providers"] == 3000 + 4


def test_records_of_every_row(small_ods: Path) -> None:
    report = OdsReport()
    records = list(ratings_from_ods(small_ods, None, report))
    assert report.rows_read == 3000
    assert report.sheets == {"Locations": "location", "Providers": "provider"}
    assert len(records) + report.not_rated == 3000
    assert {r.domain for r in records} == {
        "Overall",
        "Safe",
        "Effective",
        "Caring",
        "Responsive",
        "Well-led",
    }
    assert {r.rating for r in records} <= {
        "Outstanding", "Good", "Requires improvement", "Inadequate",
        "Inspected but not rated", "Insufficient evidence to rate",
    }  # fmt: skip
    assert {r.subject_type for r in records} == {"location", "provider"}


def test_trust_scope_finds_real_trust_codes_and_rm317(small_ods: Path) -> None:
    report = OdsReport()
    records = list(ratings_from_ods(small_ods, Scope(), report))
    providers = {r.subject_id for r in records if r.subject_type == "provider"}
    assert {"RCX", "RM3", "RW6"} <= providers
    assert all(r.org[0] in "RT" and len(r.org) == 3 for r in records)
    rm317 = [r for r in records if r.subject_id == "RM317" and r.service == ""]
    assert rm317 and all(r.inherited and r.org == "RM3" for r in rm317)
    assert report.out_of_scope > 0
    mat = [r for r in records if r.service == "Maternity"]
    assert mat and all(isinstance(r.report_date, date) for r in mat)
    assert {r.service for r in records if r.subject_type == "location"} >= {
        "", "Urgent and emergency services", "Services for children and young people",
    }  # fmt: skip


def test_regions_widen_the_scope(small_ods: Path) -> None:
    everyone = list(ratings_from_ods(small_ods, Scope(frozenset({"Y62"}))))
    assert any(r.org.startswith("1-") for r in everyone)


def test_encodings_a_spreadsheet_program_writes() -> None:
    header = gen._row(list(gen.PROVIDER_COLUMNS))
    spaced = (
        '<table:table-row><table:table-cell office:value-type="string"><text:p>RCX</text:p>'
        '</table:table-cell><table:table-cell/><table:table-cell office:value-type="string">'
        '<text:p>The<text:s/>Queen<text:s text:c="2"/>Elizabeth <text:span>Hospital</text:span>'
        "</text:p></table:table-cell></table:table-row>"
    )
    repeated = provider_row("RCX", "Safe", "Inadequate").replace(
        "<table:table-row>", '<table:table-row table:number-rows-repeated="2">', 1
    )
    data = ods_bytes(
        ("Providers", gen._banner(21) + header + repeated + provider_row("RCX", "Caring", "GOOD")
         + gen._trailer(21)),
        ("Notes", spaced),
    )  # fmt: skip
    rows = list(iter_rows(io.BytesIO(data)))
    assert [r.number for r in rows if r.sheet == "Providers"] == [1, 2, 3, 4, 5]
    assert rows[-1].values == ["RCX", "", "The Queen  Elizabeth Hospital"]
    records = list(ratings_from_ods(io.BytesIO(data), Scope()))
    assert [(r.domain, r.rating) for r in records] == [
        ("Safe", "Inadequate"), ("Safe", "Inadequate"), ("Caring", "Good"),
    ]  # fmt: skip
    assert records[0].report_date == date(2024, 3, 5)


def test_rows_in_header_rows_and_row_groups_are_read_in_order() -> None:
    # Spreadsheet programs wrap rows: a frozen header in table:table-header-rows, grouped
    # (collapsible) rows in nested table:table-row-group elements.
    header = gen._row(list(gen.PROVIDER_COLUMNS))
    safe, caring, led = (provider_row("RCX", d, "Good") for d in ("Safe", "Caring", "Well-led"))
    grouped = (
        f"<table:table-header-rows>{header}</table:table-header-rows>"
        f"<table:table-row-group>{safe}<table:table-row-group>{caring}</table:table-row-group>"
        f"</table:table-row-group>{led}"
    )
    data = ods_bytes(("Providers", grouped), ("Notes", gen._row(["after", "the groups"])))
    rows = list(iter_rows(io.BytesIO(data)))
    assert [(r.sheet, r.number, r.values[0]) for r in rows] == [
        ("Providers", 1, "Provider ID"), ("Providers", 2, "RCX"), ("Providers", 3, "RCX"),
        ("Providers", 4, "RCX"), ("Notes", 1, "after"),
    ]  # fmt: skip
    records = list(ratings_from_ods(io.BytesIO(data), Scope()))
    assert [r.domain for r in records] == ["Safe", "Caring", "Well-led"]


def test_the_rows_do_not_depend_on_where_the_chunks_of_xml_end(small_ods: Path) -> None:
    # Rows are read as the parser finishes them, chunk by chunk: a chunk may end anywhere,
    # inside a cell, between two sheets or inside a row group.
    whole = [(r.sheet, r.number, r.values) for r in iter_rows(small_ods)]
    grouped = ods_bytes(
        ("Providers", "<table:table-row-group>" + gen._row(["a"]) + "<table:table-row-group>"
         + gen._row(["b"]) + "</table:table-row-group></table:table-row-group>" + gen._row(["c"])),
        ("Empty", ""),
        ("Last", gen._row(["d"])),
    )  # fmt: skip
    grouped_whole = [(r.sheet, r.number, r.values) for r in iter_rows(io.BytesIO(grouped))]
    assert [v for _, _, v in grouped_whole] == [["a"], ["b"], ["c"], ["d"]]
    for size in (1, 7, 4096):
        grouped_rows = [
            (r.sheet, r.number, r.values) for r in iter_rows(io.BytesIO(grouped), chunk=size)
        ]
        assert grouped_rows == grouped_whole, size
        if size > 1:  # the small file a byte at a time would take a minute
            rows = [(r.sheet, r.number, r.values) for r in iter_rows(small_ods, chunk=size)]
            assert rows == whole, size


def test_reading_a_file_leaves_the_garbage_collector_as_it_was(small_ods: Path) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    rows = iter_rows(small_ods)
    next(rows)
    assert gc.get_threshold()[0] > before[0][0]  # young collections are rarer while it streams
    rows.close()  # a reader that stops early
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
    list(iter_rows(small_ods))
    assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_an_odf_document_that_is_not_a_spreadsheet_is_a_parse_error() -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("content.xml", f"<office:document-content {gen.NS}><office:body>"
                    "<office:text><text:p>A letter</text:p></office:text></office:body>"
                    "</office:document-content>")  # fmt: skip
    with pytest.raises(ParseError, match="not a spreadsheet"):
        list(iter_rows(io.BytesIO(buf.getvalue())))


def test_unknown_rating_rows_are_skipped_with_the_row_number() -> None:
    header = gen._row(list(gen.PROVIDER_COLUMNS))
    data = ods_bytes(
        ("Providers", header + provider_row("RCX", "Safe", "Very good")
         + provider_row("RCX", "Overall", "Inadequate")),
    )  # fmt: skip
    report = OdsReport()
    records = list(ratings_from_ods(io.BytesIO(data), Scope(), report))
    assert [r.rating for r in records] == ["Inadequate"]
    assert report.skipped[0].row == 2 and "Very good" in report.skipped[0].reason


def test_a_header_without_needed_columns_is_a_parse_error() -> None:
    cols = [c for c in gen.PROVIDER_COLUMNS if c != "Latest Rating"]
    data = ods_bytes(("Providers", gen._row(cols)))
    with pytest.raises(ParseError, match="Latest Rating"):
        list(ratings_from_ods(io.BytesIO(data)))


def test_a_file_with_neither_sheet_is_a_parse_error() -> None:
    data = ods_bytes(("Sheet1", gen._row(["Something", "else"])))
    with pytest.raises(ParseError, match="no Locations or Providers header"):
        list(ratings_from_ods(io.BytesIO(data)))


def test_not_a_zip_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="not an ODS file"):
        list(iter_rows(io.BytesIO(b"<html>not a spreadsheet</html>")))


def test_generator_is_deterministic(tmp_path: Path) -> None:
    a = gen.generate(tmp_path / "a", rows=500)
    b = gen.generate(tmp_path / "b", rows=500)
    assert a.read_bytes() == b.read_bytes()
