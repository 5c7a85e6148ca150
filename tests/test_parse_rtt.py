"""RTT parser: generated Full CSV zips (the raw file is not available), the Incomplete-Provider
workbook rebuilt from real March 2026 figures, bad files, and discovery on a saved page."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date
from pathlib import Path

import pytest

from monitor.orgs import code_for
from monitor.sources import rtt
from monitor.sources.base import Figure, Parsed, ParseError
from tools import gen_rtt

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "data" / "real" / "rtt"
PAGES = Path(__file__).parent / "data" / "pages"
METRICS = ("rtt_waiting_list", "rtt_18wk_pct", "rtt_52wk_count", "rtt_52wk_pct")


def by_org(parsed: Parsed) -> dict[tuple[str, str], Figure]:
    return {(f.org, f.metric): f for f in parsed.figures}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> gen_rtt.Generated:
    """Four acute trusts (RCX's name has commas, so its lines are quoted) and one other."""
    path = tmp_path_factory.mktemp("rtt") / "Full-CSV-data-file-Jun26-ZIP-3M-6jPlxd.zip"
    return gen_rtt.write_full_csv_zip(path, providers=["R0A", "RAJ", "RCX", "RJ1"])


def small_csv(g: gen_rtt.Generated) -> str:
    with zipfile.ZipFile(g.path) as zf:
        return zf.read(g.member).decode()


def rezip(text: str, member: str = "20260630-RTT-June-2026-full-extract.csv") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, text)
    return buf.getvalue()


def test_small_zip_gives_each_providers_part_2_totals(small: gen_rtt.Generated) -> None:
    parsed = rtt.parse(small.path, region_of=small.regions)
    f = by_org(parsed)
    assert parsed.periods == [(date(2026, 6, 1), date(2026, 6, 30))]
    assert parsed.rows_read == small.rows
    for code, (waiting, within, over) in small.totals.items():
        assert f[code, "rtt_waiting_list"].value == waiting
        assert f[code, "rtt_52wk_count"].value == over
        pct = f[code, "rtt_18wk_pct"]
        assert (pct.numerator, pct.denominator) == (within, waiting)
        assert pct.value == pytest.approx(100 * within / waiting)
        assert f[code, "rtt_52wk_pct"].value == pytest.approx(100 * over / waiting)
        assert not pct.derived
    assert f["RCX", "rtt_waiting_list"].org_name == (
        "THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST"
    )


def test_small_zip_derives_england_and_regions(small: gen_rtt.Generated) -> None:
    f = by_org(rtt.parse(small.path, region_of=small.regions))
    assert f["ENG", "rtt_waiting_list"].value == sum(t[0] for t in small.totals.values())
    eng = f["ENG", "rtt_18wk_pct"]
    assert eng.derived and eng.org_name == "England"
    assert eng.numerator == sum(t[1] for t in small.totals.values())
    for region in set(small.regions.values()):
        members = [small.totals[c] for c, r in small.regions.items() if r == region]
        assert f[region, "rtt_52wk_count"].value == sum(t[2] for t in members)
        assert f[region, "rtt_18wk_pct"].derived
    # A provider missing from region_of (the generated NZ… one) counts for England only.
    regions = sum(f[r, "rtt_waiting_list"].value or 0 for r in set(small.regions.values()))
    assert regions == sum(small.totals[c][0] for c in small.regions)
    assert regions < (f["ENG", "rtt_waiting_list"].value or 0)


def test_bytes_path_and_extracted_csv_agree(small: gen_rtt.Generated, tmp_path: Path) -> None:
    from_path = rtt.parse(small.path)
    from_bytes = rtt.parse(small.path.read_bytes(), filename=small.path.name)
    extracted = tmp_path / small.member
    extracted.write_text(small_csv(small), newline="")
    from_csv = rtt.parse(extracted)
    assert from_path.figures == from_bytes.figures == from_csv.figures


def test_roll_up_rows_are_not_added_to_the_specialties(small: gen_rtt.Generated) -> None:
    """Summing every Part_2 row would count each pathway twice: once per specialty, once in
    its C_999 Total row. The parser's list is exactly half of that naive sum."""
    naive = 0
    for line in small_csv(small).splitlines()[1:]:
        if ",Part_2,Incomplete Pathways," in line:
            naive += int(line.rsplit(",", 1)[1])
    parsed = by_org(rtt.parse(small.path))
    assert 2 * parsed["ENG", "rtt_waiting_list"].value == naive


def test_region_from_a_parent_code_that_is_a_region(small: gen_rtt.Generated) -> None:
    """Older files gave the region as Provider Parent Org Code; an ICB code there can be mapped
    through region_of instead."""
    lines = small_csv(small).splitlines(keepends=True)
    rcx = [i for i, line in enumerate(lines) if ",RCX," in line]
    icb = lines[rcx[0]].split(",")[1]
    for i in rcx:
        lines[i] = lines[i].replace(f",{icb},", ",Y61,", 1)
    f = by_org(rtt.parse(rezip("".join(lines)), filename="old.zip"))
    assert f["Y61", "rtt_waiting_list"].value == small.totals["RCX"][0]
    parents = {line.split(",")[3]: line.split(",")[1] for line in lines[1:] if '"' not in line}
    other = next(c for c in small.totals if c not in small.regions)
    f = by_org(rtt.parse(small.path, region_of={parents[other]: "South West"}))
    in_icb = [c for c, p in parents.items() if p == parents[other]]
    assert f["Y58", "rtt_waiting_list"].value == sum(small.totals[c][0] for c in in_icb)


def rewrite(g: gen_rtt.Generated, change) -> str:  # type: ignore[no-untyped-def]
    import csv

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in csv.reader(io.StringIO(small_csv(g), newline="")):
        writer.writerow(change(row))
    return out.getvalue()


def test_columns_found_by_name_in_any_order(small: gen_rtt.Generated) -> None:
    reordered = rewrite(small, lambda row: row[-1:] + row[::-1][1:])
    parsed = rtt.parse(reordered.encode(), filename="reordered.csv")
    assert parsed.figures == rtt.parse(small.path).figures
    lines = reordered.splitlines(keepends=True)
    i = first_row(lines, ",Part_2,", ",C_999,")
    fields = lines[i].split(",")
    fields[3] = "x"  # now the "Gt 104 Weeks SUM 1" column
    lines[i] = ",".join(fields)
    with pytest.raises(ParseError) as err:
        rtt.parse("".join(lines).encode(), filename="r.csv")
    assert (err.value.row, err.value.column) == (i + 1, "Gt 104 Weeks SUM 1")
    assert err.value.reason == "expected a count, found 'x'"


def test_quoted_name_over_a_line_break(small: gen_rtt.Generated) -> None:
    split_name = rewrite(small, lambda row: [c.replace("HOSPITAL, ", "HOSPITAL,\n") for c in row])
    assert split_name.count("\n") > small.rows + 1
    parsed = rtt.parse(rezip(split_name), filename="split.zip")
    assert parsed.rows_read == small.rows
    f = by_org(parsed)
    assert f["RCX", "rtt_waiting_list"].value == small.totals["RCX"][0]
    assert f["RCX", "rtt_waiting_list"].org_name == (
        "THE QUEEN ELIZABETH HOSPITAL,\nKING'S LYNN, NHS FOUNDATION TRUST"
    )


def full_zip(cache: pytest.Cache) -> gen_rtt.Generated:
    """The full-size file, generated once per generator version and kept in pytest's cache."""
    version = hashlib.sha256(
        b"".join(p.read_bytes() for p in sorted((ROOT / "tools").glob("*rtt*.py")))
        + (REAL / "rtt_summary.json").read_bytes()
    ).hexdigest()[:12]
    path = cache.mkdir("rtt-full") / f"Full-CSV-data-file-Jun26-{version}.zip"
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists():
        for stale in path.parent.iterdir():
            stale.unlink()
        g = gen_rtt.write_full_csv_zip(path)
        meta.write_text(json.dumps({"member": g.member, "rows": g.rows}))
    info = json.loads(meta.read_text())
    return gen_rtt.Generated(path, info["member"], info["rows"], {}, {})


def test_full_size_file_reproduces_the_published_summary(request: pytest.FixtureRequest) -> None:
    """Every acute trust's waiting list, % within 18 weeks and 52-week waits in June 2026, the
    regions and England, as rtt_summary.json has them from the real Full CSV."""
    g = full_zip(request.config.cache)
    assert g.rows > 180_000
    assert zipfile.ZipFile(g.path).getinfo(g.member).file_size > 75_000_000
    summary = json.loads((REAL / "rtt_summary.json").read_text())
    region_of = {t["code"]: t["region"] for t in summary["trusts"]}  # names: code_for maps them
    parsed = rtt.parse(g.path, region_of=region_of)
    f = by_org(parsed)
    assert parsed.rows_read == g.rows
    for t in summary["trusts"]:
        assert f[t["code"], "rtt_waiting_list"].value == t["waiting_list"], t["code"]
        assert round(f[t["code"], "rtt_18wk_pct"].value, 1) == t["pct_within_18wk"], t["code"]
        assert f[t["code"], "rtt_52wk_count"].value == t["over_52wk"], t["code"]
    for r in summary["regions"]:
        code = code_for(r["region"])
        assert code is not None
        assert f[code, "rtt_waiting_list"].value == r["waiting_list"]
        assert round(f[code, "rtt_18wk_pct"].value, 1) == r["pct_within_18wk"]
        assert f[code, "rtt_52wk_count"].value == r["over_52wk"]
    nat = summary["national_all_providers"]
    assert f["ENG", "rtt_waiting_list"].value == nat["waiting_list"]
    assert round(f["ENG", "rtt_18wk_pct"].value, 1) == nat["pct_within_18wk"]
    assert f["ENG", "rtt_52wk_count"].value == nat["over_52wk"]
    acute = [f[t["code"], "rtt_18wk_pct"] for t in summary["trusts"]]
    within = sum(p.numerator or 0 for p in acute) / sum(p.denominator or 0 for p in acute)
    assert round(100 * within, 1) == summary["national_acute"]["pct_within_18wk"]


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rtt") / "Incomplete-Provider-Mar26-XLSX-9M-77252.xlsx"
    gen_rtt.write_incomplete_provider_xlsx(path)
    return path


def real_provider_totals() -> list[dict[str, str]]:
    import csv

    with (REAL / "rtt_incomplete_provider_clean.csv").open(newline="") as fh:
        return [r for r in csv.DictReader(fh) if r["treatment_function_code"] == "C_999"]


def test_incomplete_provider_workbook_gives_the_published_figures(workbook: Path) -> None:
    """The workbook is rebuilt from the real March 2026 sheet (cleaned copy); each trust's
    figures must equal NHS England's published ones, percentages included."""
    parsed = rtt.parse(workbook)
    f = by_org(parsed)
    assert parsed.periods == [(date(2026, 3, 1), date(2026, 3, 31))]
    assert parsed.rows_read == 3600
    real = real_provider_totals()
    assert len(real) == 150
    for r in real:
        code = r["provider_code"]
        assert f[code, "rtt_waiting_list"].value == int(r["total_incomplete_pathways"])
        assert f[code, "rtt_18wk_pct"].value == pytest.approx(100 * float(r["pct_within_18_weeks"]))
        assert f[code, "rtt_52wk_count"].value == int(r["total_52_plus"])
        assert f[code, "rtt_52wk_pct"].value == pytest.approx(100 * float(r["pct_52_plus"]))
        assert f[code, "rtt_waiting_list"].org_name == r["provider_name"]
    # The sheet lists NHS trusts only: their sum is not England's, so none is derived.
    assert parsed.orgs == {r["provider_code"] for r in real}
    assert rtt.parse(workbook.read_bytes(), filename=workbook.name).figures == parsed.figures


def small_workbook(path: Path, rows: list[list[object]], *, period: str | None) -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Provider"
    if period:
        ws["B4"], ws["C4"] = "Period:", period
    for j, name in enumerate(gen_rtt.XLSX_COLUMNS, start=2):
        ws.cell(14, j, name)
    for i, row in enumerate(rows, start=15):
        for j, value in enumerate(row, start=2):
            ws.cell(i, j, value)
    wb.save(path)
    return path


TRUST = ["Y61", "RCX", "THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST"]
SPECIALTY = [*TRUST, "C_100", "General Surgery Service", 60, 40, 0.667, 9.1, 30.2, 2, 0, 0, 0.03]
TOTAL_ROW = [*TRUST, "C_999", "Total", 100, 70, 0.7, 8.0, 28.0, 3, 0, 0, 0.03]
OTHER = [*TRUST, "C_101", "Urology Service", 40, 30, 0.75, "-", "-", 1, 0, 0, 0.025]


def test_workbook_month_from_file_name_and_zero_list(tmp_path: Path) -> None:
    empty = ["Y58", "RA9", "TORBAY AND SOUTH DEVON NHS FOUNDATION TRUST", "C_999", "Total"]
    path = small_workbook(
        tmp_path / "Incomplete-Provider-Apr26-XLSX-9M-x1.xlsx",
        [SPECIALTY, OTHER, TOTAL_ROW, [*empty, 0, 0, "-", "-", "-", 0, 0, 0, "-"]],
        period=None,
    )
    parsed = rtt.parse(path)
    f = by_org(parsed)
    assert parsed.periods == [(date(2026, 4, 1), date(2026, 4, 30))]
    assert f["RCX", "rtt_18wk_pct"].value == 70.0
    assert f["RA9", "rtt_waiting_list"].value == 0
    assert ("RA9", "rtt_18wk_pct") not in f
    assert [s.reason for s in parsed.skipped] == ["RA9: no incomplete pathways, so no percentages"]


def csv_with(g: gen_rtt.Generated, change) -> bytes:  # type: ignore[no-untyped-def]
    lines = small_csv(g).splitlines(keepends=True)
    change(lines)
    return "".join(lines).encode()


def first_row(lines: list[str], *parts: str) -> int:
    return next(i for i, line in enumerate(lines) if all(p in line for p in parts))


def replace_cell(lines: list[str], i: int, column: str, value: str) -> None:
    fields = lines[i].rstrip("\r\n").split(",")
    fields[gen_rtt.HEADER.index(column)] = value
    lines[i] = ",".join(fields) + "\r\n"


def _drop_total_all(lines: list[str]) -> None:
    for i, line in enumerate(lines):
        lines[i] = line.rstrip("\r\n").rsplit(",", 1)[0] + "\r\n"


def _rename_provider_code(lines: list[str]) -> None:
    lines[0] = lines[0].replace("Provider Org Code", "Provider Code")


def _text_in_rollup(lines: list[str]) -> None:
    i = first_row(lines, ",RAJ,", ",Part_2,", ",C_999,")
    replace_cell(lines, i, "Gt 05 To 06 Weeks SUM 1", "12a")


def _text_in_specialty(lines: list[str]) -> None:
    i = first_row(lines, ",RAJ,", ",Part_2,", ",C_110,")
    replace_cell(lines, i, "Gt 40 To 41 Weeks SUM 1", "n/a")


def _bands_disagree(lines: list[str]) -> None:
    i = first_row(lines, ",RAJ,", ",Part_2,", ",C_999,")
    replace_cell(lines, i, "Total All", "1")


def _specialties_disagree(lines: list[str]) -> None:
    i = first_row(lines, ",RAJ,", ",Part_2,", ",C_110,")
    fields = lines[i].rstrip("\r\n").split(",")
    replace_cell(lines, i, "Total All", str(int(fields[-1]) + 5))


def _short_row(lines: list[str]) -> None:
    i = first_row(lines, ",RAJ,", ",Part_2,")
    lines[i] = lines[i].rstrip("\r\n").rsplit(",", 2)[0] + "\r\n"


def _bad_period(lines: list[str]) -> None:
    i = first_row(lines, ",Part_2,", ",C_999,")
    lines[i] = lines[i].replace("RTT-June-2026", "RTT-Jnue-2026")


def _cut_short(lines: list[str]) -> None:
    lines[-1] = lines[-1][:40]


def _unclosed_quote(lines: list[str]) -> None:
    lines[-1] = lines[-1].replace(",Part_", ',"Part_', 1)


def _no_part_2(lines: list[str]) -> None:
    lines[1:] = [line for line in lines[1:] if ",Part_2," not in line]


def row_of(g: gen_rtt.Generated, *parts: str) -> int:
    return first_row(small_csv(g).splitlines(), *parts) + 1


@pytest.mark.parametrize(
    ("change", "row", "column", "message"),
    [
        (_drop_total_all, lambda g: 1, "Total All", "missing column(s) 'Total All'"),
        (_rename_provider_code, lambda g: 1, "Provider Org Code", "missing column(s)"),
        (
            _text_in_rollup,
            lambda g: row_of(g, ",RAJ,", ",Part_2,", ",C_999,"),
            "Gt 05 To 06 Weeks SUM 1",
            "expected a count, found '12a'",
        ),
        (
            _text_in_specialty,
            lambda g: row_of(g, ",RAJ,", ",Part_2,", ",C_110,"),
            "Gt 40 To 41 Weeks SUM 1",
            "expected a count, found 'n/a'",
        ),
        (
            _bands_disagree,
            lambda g: row_of(g, ",RAJ,", ",Part_2,", ",C_999,"),
            "Total All",
            "the week bands add up to",
        ),
        (
            _specialties_disagree,
            lambda g: row_of(g, ",RAJ,", ",Part_2,", ",C_999,"),
            "Total All",
            "provider RAJ: its specialty rows add up to",
        ),
        (
            _short_row,
            lambda g: row_of(g, ",RAJ,", ",Part_2,"),
            None,
            "row has 119 fields but the header names 121",
        ),
        (
            _bad_period,
            lambda g: row_of(g, ",Part_2,", ",C_999,"),
            "Period",
            "expected a period like 'RTT-June-2026', found 'RTT-Jnue-2026'",
        ),
        (_cut_short, lambda g: g.rows + 1, None, "the last row is cut short"),
        (_unclosed_quote, lambda g: g.rows + 1, None, "a quoted field is never closed"),
        (_no_part_2, lambda g: None, "RTT Part Type", "no incomplete-pathway (Part_2) rows"),
    ],
)
def test_bad_full_csv_names_file_row_and_column(
    small: gen_rtt.Generated,
    change,
    row,
    column,
    message,  # type: ignore[no-untyped-def]
) -> None:
    data = csv_with(small, change)
    for source, name in ((data, "broken.csv"), (rezip(data.decode()), "broken.zip")):
        with pytest.raises(ParseError) as err:
            rtt.parse(source, filename=name)
        e = err.value
        assert message in e.reason
        assert e.file is not None and e.file.startswith(name)
        assert (e.row, e.column) == (row(small), column), str(e)
        assert name in str(e)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<!DOCTYPE html><html><body>Page not found</body></html>", "this is an HTML page"),
        (b"", "the file is empty"),
        (b"Provider,Waiting\r\nRCX,5\r\n", "missing column\\(s\\) 'Period'"),
        (b"\x00\x01binary", "not an RTT Full CSV zip"),
    ],
)
def test_not_an_rtt_file(data: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message) as err:
        rtt.parse(data, filename="download.zip")
    assert err.value.file == "download.zip"


def test_truncated_and_damaged_zips(small: gen_rtt.Generated) -> None:
    data = small.path.read_bytes()
    with pytest.raises(ParseError, match="not a complete zip file") as err:
        rtt.parse(data[: len(data) // 2], filename="half.zip")
    assert err.value.file == "half.zip"
    # Damage the compressed CSV itself: the error says how far reading got.
    damaged = bytearray(data)
    middle = len(data) // 2
    damaged[middle : middle + 64] = bytes(64)
    with pytest.raises(ParseError, match="damaged or cut short") as err:
        rtt.parse(bytes(damaged), filename="damaged.zip")
    assert err.value.row is not None and err.value.row > 1
    with pytest.raises(ParseError, match="holds no CSV"):
        rtt.parse(rezip("x", member="readme.txt"), filename="other.zip")


def test_bad_workbooks(tmp_path: Path) -> None:
    wrong = small_workbook(tmp_path / "a.xlsx", [TOTAL_ROW], period="March 2026")
    from openpyxl import load_workbook

    wb = load_workbook(wrong)
    wb["Provider"].title = "IS Provider"
    wb.save(wrong)
    with pytest.raises(ParseError, match="no sheet 'Provider'; the workbook has IS Provider"):
        rtt.parse(wrong)
    text = small_workbook(
        tmp_path / "b.xlsx",
        [SPECIALTY, [*TOTAL_ROW[:5], "many", *TOTAL_ROW[6:]]],
        period="May 2026",
    )
    with pytest.raises(ParseError) as err:
        rtt.parse(text)
    assert (err.value.file, err.value.row, err.value.column) == (
        "b.xlsx",
        16,
        "Total number of incomplete pathways",
    )
    no_month = small_workbook(tmp_path / "c.xlsx", [TOTAL_ROW], period=None)
    with pytest.raises(ParseError, match="cannot tell which month"):
        rtt.parse(no_month)
    mismatch = small_workbook(tmp_path / "d.xlsx", [SPECIALTY, TOTAL_ROW], period="March 2026")
    with pytest.raises(
        ParseError, match=r"add up to 60 incomplete pathways but its C_999 \(Total\) rows to 100"
    ):
        rtt.parse(mismatch)
    cut = wrong.read_bytes()[:2000]
    with pytest.raises(ParseError, match="not a complete zip|damaged workbook"):
        rtt.parse(cut, filename="cut.xlsx")


YEAR_PAGE = "https://www.england.nhs.uk/statistics/statistical-work-areas/rtt-waiting-times/rtt-data-2026-27/"
UPLOADS = "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2"


def test_discover_finds_newest_full_csv_and_provider_workbook() -> None:
    links = rtt.discover((PAGES / "rtt-data-2026-27.html").read_text(), YEAR_PAGE)
    full = [link for link in links if link.dataset == "full-csv"]
    provider = [link for link in links if link.dataset == "incomplete-provider"]
    assert full[0].url == f"{UPLOADS}/2026/08/Full-CSV-data-file-Jun26-ZIP-3M-6jPlxd.zip"
    assert full[0].text == "Full CSV data file Jun26 (ZIP, 3M)"
    assert (full[0].period, full[0].kind, full[0].revised) == (date(2026, 6, 1), "zip", False)
    assert provider[0].url == f"{UPLOADS}/2026/08/Incomplete-Provider-Jun26-XLSX-9M-6jPlxd.xlsx"
    assert provider[0].kind == "xlsx"
    assert [link.period for link in full] == [date(2026, m, 1) for m in (6, 5, 4)]
    assert [link.period for link in provider] == [date(2026, m, 1) for m in (6, 5, 4)]
    # April was revised: the revised files replace the originals; a relative link is resolved.
    assert full[-1].revised and provider[-1].revised
    assert full[-1].url == f"{UPLOADS}/2026/08/Full-CSV-data-file-Apr26-ZIP-3M-revised-Rv4pQa.zip"
    # Commissioner, admitted and time-series files are not picked, nor the sidebar's old file.
    assert len(links) == 6
    assert not any("Jul25" in link.url for link in links)


def test_yearly_pages_from_the_landing_page() -> None:
    html = (PAGES / "rtt-waiting-times.html").read_text()
    base = "https://www.england.nhs.uk/statistics/statistical-work-areas/rtt-waiting-times/"
    assert rtt.yearly_pages(html, base) == [
        f"{base}rtt-data-{y}/" for y in ("2026-27", "2025-26", "2024-25")
    ]
