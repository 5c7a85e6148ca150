"""One bad file is that file's rejection: `monitor poll` against a stand-in publisher whose
files fail in every way a parser can, while the other files of the same poll are ingested."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Outbox, Publication, SourceState
from monitor.web import create_app
from tests.conftest import REAL
from tests.test_poll import INDEX, Publisher, publisher  # noqa: F401

OPS = ("ops@example.nhs.uk", "oncall@example.nhs.uk")
JULY = "July-2025-CSV-9jfy4.csv"


def cli(config_file: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["--config", str(config_file), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def config_file(tmp_path: Path, publisher: Publisher) -> Path:  # noqa: F811
    p = tmp_path / "config.toml"
    p.write_text(
        f'[paths]\nvar = "var"\n[http]\nretries = 0\n'
        f"[mail]\noperators = {json.dumps(list(OPS))}\n"
        f'[sources.ae]\nindex_url = "{publisher.base}{INDEX}"\n'
    )
    assert cli(p, "init")[0] == 0
    return p


def context(config_file: Path) -> Context:
    return Context.load(config_file)


def rejected(ctx: Context) -> list[Publication]:
    with session_scope(ctx.engine) as s:
        q = select(Publication).where(Publication.status == "rejected")
        return list(s.exec(q))


def operator_mail(ctx: Context) -> list[Outbox]:
    with session_scope(ctx.engine) as s:
        return list(s.exec(select(Outbox).where(Outbox.kind == "operator")))


def test_a_year_out_of_range_rejects_its_file_only_and_operators_hear_once(
    config_file: Path,
    publisher: Publisher,  # noqa: F811
) -> None:
    good = publisher.files[JULY]
    publisher.files[JULY] = good.replace(b"MSitAE-JULY-2025", b"MSitAE-JULY-0000")
    code, out, err = cli(config_file, "poll", "--json")
    assert code == 1, err
    report = json.loads(out)
    [ae] = report["polls"]
    assert (ae["outcome"], ae["counts"]["ingested"], ae["counts"]["rejected"]) == (
        "failed",
        4,
        1,
    )
    assert JULY in ae["error"] and "row 2" in ae["error"] and "'Period'" in ae["error"]
    ctx = context(config_file)
    [pub] = rejected(ctx)
    assert pub.filename == JULY and pub.reason is not None
    assert "year 0" in pub.reason and "row 2" in pub.reason and "column 'Period'" in pub.reason
    with session_scope(ctx.engine) as s:
        periods = {p for r in s.exec(select(Publication.periods)) if r for p in r}
        # August, the newest, was ingested beside the bad July file.
        assert "2025-08-01/2025-08-31" in periods and "2025-07-01/2025-07-31" not in periods
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is not None
        assert JULY in (state.last_error or "")
    # The send after the poll told every operator, once.
    told = [m for m in operator_mail(ctx) if m.key.startswith("operator:rejected:")]
    assert sorted(m.recipient for m in told) == sorted(OPS)
    # The same bad bytes again: still one rejection, nobody told again.
    code, _, _ = cli(config_file, "poll", "ae")
    assert code == 1
    assert cli(config_file, "send")[0] == 0
    assert len(rejected(ctx)) == 1
    told_again = [m for m in operator_mail(ctx) if m.key.startswith("operator:rejected:")]
    assert len(told_again) == len(OPS)
    # The sources page says the source is failing, and why.
    client = create_app(ctx).test_client()
    [row] = [r for r in client.get("/api/v1/sources").get_json()["sources"] if r["source"] == "ae"]
    assert row["failing"] and JULY in row["last_error"]
    page = client.get("/sources").get_data(as_text=True)
    assert "Failing" in page and "year 0" in page
    # The publisher corrects the file: it is ingested, and the source recovers.
    publisher.files[JULY] = good
    code, out, err = cli(config_file, "poll", "--json")
    assert code == 0, out + err
    with session_scope(ctx.engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is None


def damaged_zip(name: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, b"x" * 4000)
    return buf.getvalue()[:-30]


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        # Bytes that are not UTF-8 inside an otherwise good row: the row is named.
        (lambda b: b.replace(b"RCX", b"R\xffX", 1), "row 35, column 'Org Code': not UTF-8"),
        # A zip archive served in place of the CSV.
        (lambda b: damaged_zip("x.csv"), f"{JULY}, row 1: not UTF-8"),
        # JSON served in place of the CSV.
        (lambda b: b'{"error": "rate limited"}\n', JULY),
    ],
)
def test_any_damage_rejects_the_file_and_the_rest_of_the_poll_is_ingested(
    config_file: Path,
    publisher: Publisher,  # noqa: F811
    damage: object,
    named: str,
) -> None:
    assert callable(damage)
    publisher.files[JULY] = damage(publisher.files[JULY])
    code, out, _ = cli(config_file, "poll", "--json")
    [ae] = json.loads(out)["polls"]
    assert code == 1 and (ae["counts"]["ingested"], ae["counts"]["rejected"]) == (4, 1)
    [pub] = rejected(context(config_file))
    assert pub.filename == JULY and named in (pub.reason or "")


CANCER = REAL / "cancer" / "CWT-CRS-Oct-2023-Data-Extract-Provider.xlsx"


def test_a_workbook_cut_short_is_rejected_naming_where_it_stops(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    assert cli(cfg, "init")[0] == 0
    data = CANCER.read_bytes()
    cut = tmp_path / CANCER.name
    cut.write_bytes(data[: len(data) // 2])
    code, out, _ = cli(cfg, "ingest", "cancer", str(cut), "--json")
    [report] = json.loads(out)
    assert code == 1 and report["status"] == "rejected"
    error = report["error"]
    assert error.startswith(f"{CANCER.name}: truncated or damaged XLSX workbook")
    assert f"the file stops after {len(data) // 2:,} bytes, inside member 'xl/" in error
    assert "its ZIP directory is missing (truncated download?)" in error


def test_an_rtt_zip_cut_short_is_rejected_naming_its_csv(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    assert cli(cfg, "init")[0] == 0
    buf = io.BytesIO()
    member = "20260331-RTT-March-2026-full-extract.csv"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(REAL / "rtt" / "rtt_incomplete_provider_clean.csv", member)
    cut = tmp_path / "Full-CSV-data-file-Mar26-ZIP.zip"
    cut.write_bytes(buf.getvalue()[:60_000])
    code, out, _ = cli(cfg, "ingest", "rtt", str(cut), "--json")
    [report] = json.loads(out)
    assert code == 1 and report["status"] == "rejected"
    assert f"the file stops after 60,000 bytes, inside member {member!r}" in report["error"]


def test_a_poll_whose_only_new_file_is_bad_tells_the_operators_at_once(
    config_file: Path,
    publisher: Publisher,  # noqa: F811
) -> None:
    from tests.test_service import new_file

    assert cli(config_file, "poll")[0] == 0
    new_file(publisher)
    name = "September-2025-CSV-abc12.csv"
    publisher.files[name] = publisher.files[name].replace(
        b"MSitAE-SEPTEMBER-2025", b"MSitAE-SEPTEMBER-0000"
    )
    code, out, _ = cli(config_file, "poll", "--json")
    report = json.loads(out)
    assert code == 1 and report["evaluate"] is None and report["send"] is None
    ctx = context(config_file)
    told = [m for m in operator_mail(ctx) if m.key.startswith("operator:rejected:")]
    assert sorted(m.recipient for m in told) == sorted(OPS)
    assert name in str(told[0].payload)
