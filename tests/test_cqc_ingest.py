"""``monitor ingest cqc FILE...``: the bulk ratings ODS and saved API bodies, into a database."""

from __future__ import annotations

import io
import json
import sys
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cqc_fake_api import KEY, SNAPSHOT, FakeClock, FakeCqc, settings_for, trust_provider_body
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.db import session_scope
from monitor.models import Observation, Publication, Rating, SourceState
from monitor.sources.cqc import ingest_files, make_api, poll
from monitor.sources.cqc.records import RatingRecord, overall_figure
from monitor.sources.cqc.store import store_overall, store_snapshots

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import gen_cqc_ods as gen  # noqa: E402

NOW = datetime(2026, 9, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return gen.generate(tmp_path_factory.mktemp("bulk"), rows=3000, published=date(2026, 9, 1))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for("http://127.0.0.1:9/public/v1", tmp_path)


def count(engine: Engine, model: type) -> int:
    with Session(engine) as s:
        return len(s.exec(select(model)).all())


def test_bulk_file_ingest(engine: Engine, settings: Settings, bulk: Path) -> None:
    [rep] = ingest_files(engine, settings, [bulk], now=NOW)
    assert rep.status == "ingested", rep.error
    assert rep.rows_read == 3000 and rep.ratings_written > 0
    with Session(engine) as s:
        rows = s.exec(select(Rating)).all()
        obs = s.exec(select(Observation)).all()
        pub = s.exec(select(Publication)).one()
        state = s.get(SourceState, "cqc")
    assert {r.org for r in rows} == {"RCX", "RM3", "RW6"}
    assert all(r.current for r in rows)
    rm317 = [r for r in rows if r.subject_id == "RM317" and r.service == ""]
    assert rm317 and all(r.inherited and r.inherited_from is None for r in rm317)
    # One cqc_overall per trust whose Providers-sheet overall is on the four-point scale.
    trust_overall = {
        r.subject_id: r
        for r in rows
        if r.subject_type == "provider" and r.service == "" and r.domain == "Overall"
    }
    scaled = {k: v for k, v in trust_overall.items() if v.ordinal is not None}
    assert {o.org: (o.value, o.label) for o in obs} == {
        k: (float(v.ordinal or 0), v.rating) for k, v in scaled.items()
    }
    assert all(o.period_start == scaled[o.org].report_date for o in obs)
    assert (pub.status, pub.quiet, pub.trigger) == ("ingested", True, "ingest")
    assert pub.published_at == datetime(2026, 9, 1, tzinfo=UTC)
    assert rep.as_json()["source"] == "cqc"
    # A file ingested before any poll starts the changes feed from the file's date.
    assert state is not None
    assert json.loads(state.cursor or "{}")["location"] == "2026-09-01T00:00:00+00:00"


def test_the_same_file_twice_is_unchanged(engine: Engine, settings: Settings, bulk: Path) -> None:
    [first] = ingest_files(engine, settings, [bulk], now=NOW)
    before = count(engine, Rating), count(engine, Observation)
    [rep] = ingest_files(engine, settings, [bulk], now=NOW)
    assert rep.status == "unchanged"
    assert rep.publication_id == first.publication_id is not None  # the CLI names it
    assert (count(engine, Rating), count(engine, Observation)) == before


def test_a_bad_file_is_rejected_whole(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    # Good Locations rows, then a Providers sheet whose header lacks a column: nothing stored.
    loc_row = dict.fromkeys(gen.LOCATION_COLUMNS, "")
    loc_row.update({"Location ID": "RCX01", "Provider ID": "RCX", "Domain": "Overall",
                    "Latest Rating": "Good", "Service / Population Group": "Overall"})  # fmt: skip
    providers = [c for c in gen.PROVIDER_COLUMNS if c != "Latest Rating"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", gen.MIMETYPE)
        zf.writestr(
            "content.xml",
            f'<?xml version="1.0"?><office:document-content {gen.NS}><office:body>'
            '<office:spreadsheet><table:table table:name="Locations">'
            + gen._row(list(gen.LOCATION_COLUMNS)) + gen._row(list(loc_row.values()))
            + '</table:table><table:table table:name="Providers">' + gen._row(providers)
            + "</table:table></office:spreadsheet></office:body></office:document-content>",
        )  # fmt: skip
    bad = tmp_path / "05_January_2026_Latest_ratings.ods"
    bad.write_bytes(buf.getvalue())
    junk = tmp_path / "junk.ods"
    junk.write_bytes(b"<html>Service unavailable</html>")
    reports = ingest_files(engine, settings, [bad, junk], now=NOW)
    assert [r.status for r in reports] == ["rejected", "rejected"]
    assert "sheet Providers" in (reports[0].error or "") and "Latest Rating" in (
        reports[0].error or ""
    )
    assert "not an ODS file" in (reports[1].error or "")
    assert count(engine, Rating) == 0
    with Session(engine) as s:
        pubs = s.exec(select(Publication)).all()
        state = s.get(SourceState, "cqc")
    assert {p.status for p in pubs} == {"rejected"} and all(p.reason for p in pubs)
    assert state is None or not state.cursor


def test_a_file_cut_short_or_damaged_is_rejected_whole(
    engine: Engine, settings: Settings, bulk: Path, tmp_path: Path
) -> None:
    # A download cut off mid-file, saved as a zip again (content.xml ends mid-row), and a zip
    # whose content.xml is damaged inside: each is rejected with the reason, nothing stored.
    with zipfile.ZipFile(bulk) as zf:
        xml = zf.read("content.xml")
    cut = tmp_path / "05_January_2026_Latest_ratings.ods"
    with zipfile.ZipFile(cut, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("mimetype", gen.MIMETYPE)
        zf.writestr("content.xml", xml[: len(xml) // 2])
    damaged = tmp_path / "06_January_2026_Latest_ratings.ods"
    data = bytearray(bulk.read_bytes())
    with zipfile.ZipFile(bulk) as zf:
        info = zf.getinfo("content.xml")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)
    damaged.write_bytes(bytes(data))
    reports = ingest_files(engine, settings, [cut, damaged], now=NOW)
    assert [r.status for r in reports] == ["rejected", "rejected"], reports
    assert "content.xml is not well-formed XML" in (reports[0].error or "")
    assert "line" in (reports[0].error or "") and cut.name in (reports[0].error or "")
    assert "content.xml" in (reports[1].error or "")
    assert count(engine, Rating) == 0 and count(engine, Observation) == 0
    with Session(engine) as s:
        assert {p.status for p in s.exec(select(Publication)).all()} == {"rejected"}


def test_saved_api_bodies(engine: Engine, settings: Settings, tmp_path: Path) -> None:
    rm3 = tmp_path / "provider_RM3.json"
    rm3.write_bytes(trust_provider_body("RM3"))
    files = [
        rm3,
        SNAPSHOT / "location_details" / "location_RM317.json",
        SNAPSHOT / "location_details" / "location_1-10024040008.json",  # a care home
        SNAPSHOT / "locations.json",  # a list page, not a body
    ]
    reports = ingest_files(engine, settings, files, now=NOW)
    assert [r.status for r in reports] == ["ingested", "ingested", "out_of_scope", "rejected"]
    assert "not a provider or location body" in (reports[3].error or "")
    assert reports[0].observations_written == 1 and reports[1].observations_written == 0
    with Session(engine) as s:
        obs = s.exec(select(Observation)).one()
        rm317 = s.exec(
            select(Rating).where(col(Rating.subject_id) == "RM317", col(Rating.domain) == "Overall",
                                 col(Rating.service) == "", col(Rating.current).is_(True))
        ).one()  # fmt: skip
    assert (obs.org, obs.value, obs.label, obs.derived) == (
        "RM3",
        3.0,
        "Requires improvement",
        False,
    )
    assert (rm317.inherited, rm317.inherited_from) == (True, "RW603")


def test_poll_after_a_bulk_file_reads_the_feed_from_the_files_date(
    engine: Engine,
    bulk: Path,
    httpserver: HTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = FakeCqc(httpserver).install()
    monkeypatch.setenv("TEST_CQC_KEY", KEY)
    settings = settings_for(fake.base_url, tmp_path)
    ingest_files(engine, settings, [bulk], now=NOW)
    clock = FakeClock()
    api = make_api(settings, clock=clock.clock, sleep=clock.sleep)
    result = poll(engine, settings, api=api, now=NOW)
    assert result.status == "ok"
    assert (
        sorted(fake.paths())
        == ["/public/v1/changes/location"] * 2 + ["/public/v1/changes/provider"] * 2
    )
    assert fake.log[0].args["startTimestamp"] == "2026-09-01T00:00:00Z"


def _rec(service: str, rating: str, ordinal: int | None, when: date, **kw: object) -> RatingRecord:
    base = RatingRecord(
        subject_type="location",
        subject_id="RM317",
        subject_name="Royal Oldham Hospital",
        org="RM3",
        service=service,
        domain="Overall",
        rating=rating,
        ordinal=ordinal,
        report_date=when,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def _current(engine: Engine) -> dict[str, tuple[str, date | None]]:
    with Session(engine) as s:
        rows = s.exec(select(Rating).where(col(Rating.current).is_(True))).all()
    return {r.service: (r.rating, r.report_date) for r in rows}


def test_snapshots_keep_history_and_one_current_rating(engine: Engine) -> None:
    d1, d2, d3 = date(2020, 1, 1), date(2022, 12, 22), date(2024, 6, 1)
    old = [_rec("", "Good", 2, d1), _rec("Maternity and gynaecology", "Good", 2, d1)]
    # A new report: overall down to Requires improvement, maternity now its own service.
    new = [_rec("", "Requires improvement", 3, d2), _rec("Maternity", "Inadequate", 4, d2)]
    newer = [_rec("", "Good", 2, d3), _rec("Maternity", "Inadequate", 4, d2)]
    with session_scope(engine, write=True) as s:
        store_snapshots(s, [old], None)
    with session_scope(engine, write=True) as s:
        c = store_snapshots(s, [new], None)
    assert (c.written, c.retired) == (2, 2)
    assert _current(engine) == {"": ("Requires improvement", d2), "Maternity": ("Inadequate", d2)}
    assert count(engine, Rating) == 4  # history kept
    with session_scope(engine, write=True) as s:
        # An older file read later does not undo the newer ratings.
        c = store_snapshots(s, [old], None)
    assert (c.written, c.retired, c.made_current) == (0, 0, 0)
    assert _current(engine) == {"": ("Requires improvement", d2), "Maternity": ("Inadequate", d2)}
    with session_scope(engine, write=True) as s:
        store_snapshots(s, [newer], None)
        again = store_snapshots(s, [newer], None)
    assert (again.written, again.retired, again.made_current) == (0, 0, 0)
    assert _current(engine)[""] == ("Good", d3)


def test_the_api_fills_in_whom_a_bulk_rating_was_inherited_from(engine: Engine) -> None:
    when = date(2021, 2, 10)
    with session_scope(engine, write=True) as s:
        bulk = _rec("", "Requires improvement", 3, when, inherited=True)
        store_snapshots(s, [[bulk]], None)
        store_snapshots(s, [[replace(bulk, inherited_from="RW603")]], None)
    with Session(engine) as s:
        row = s.exec(select(Rating)).one()
    assert (row.inherited, row.inherited_from) == (True, "RW603")


def test_cqc_overall_revisions_and_inherited_trust_ratings(engine: Engine) -> None:
    when = date(2023, 5, 1)
    trust = RatingRecord(
        subject_type="provider",
        subject_id="RCX",
        subject_name="QEH King's Lynn",
        org="RCX",
        service="",
        domain="Overall",
        rating="Inadequate",
        ordinal=4,
        report_date=when,
    )
    pubs = []
    with session_scope(engine, write=True) as s:
        for n in range(3):
            pub = Publication(source="cqc", url=f"file:///{n}", filename=str(n), sha256=str(n) * 64,
                              published_at=datetime(2023, 5, 1, tzinfo=UTC))  # fmt: skip
            s.add(pub)
            s.flush()
            pubs.append(pub.id)
        fig = overall_figure([trust])
        corrected = overall_figure([replace(trust, rating="Requires improvement", ordinal=3)])
        merged = replace(trust, report_date=date(2024, 1, 1), inherited=True, inherited_from="R1X")
        inherited = overall_figure([merged])
        assert fig and corrected and inherited and inherited.derived
        first = store_overall(s, [fig], pubs[0])
        assert (first.written, first.revisions, first.affected) == (1, 0, {("cqc_overall", "RCX")})
        assert store_overall(s, [fig], pubs[1]).written == 0  # identical: nothing
        again = store_overall(s, [corrected, inherited], pubs[2])
        assert (again.written, again.revisions) == (2, 1)
    with Session(engine) as s:
        obs = s.exec(select(Observation).order_by(col(Observation.id))).all()
    # The Inadequate row is superseded by the publication that corrected it; both are kept.
    assert [(o.value, o.superseded_by, o.derived) for o in obs] == [
        (4.0, pubs[2], False), (3.0, None, False), (4.0, None, True),
    ]  # fmt: skip


def test_monitor_ingest_cqc_command(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    cfg = tmp_path / "config.toml"
    cfg.write_text("[paths]\nvar = 'var'\n")
    rm3 = tmp_path / "provider_RM3.json"
    rm3.write_bytes(trust_provider_body("RM3"))
    bad = tmp_path / "location_RM317.json"
    bad.write_text("<!DOCTYPE html><html><body>403 Forbidden</body></html>")
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(cfg), "init"]).exit_code == 0
    r = runner.invoke(app, ["--config", str(cfg), "ingest", "cqc", str(rm3), str(bad), "--json"])
    assert r.exit_code == 1  # one file was rejected
    ok, rejected = json.loads(r.stdout)
    assert (ok["status"], ok["observations_written"], ok["periods"]) == (
        "ingested", 1, ["2021-02-10/2021-02-10"],
    )  # fmt: skip
    assert ok["ratings_written"] == 6 and ok["source"] == "cqc"
    assert rejected["status"] == "rejected" and "HTML page" in rejected["error"]
    r = runner.invoke(app, ["--config", str(cfg), "observations", "RM3", "--json"])
    (row,) = json.loads(r.stdout)
    assert (row["metric"], row["value"], row["label"]) == (
        "cqc_overall",
        3.0,
        "Requires improvement",
    )


def test_the_rules_read_stored_ratings_as_cqc_means_them(tmp_path: Path) -> None:
    """RM3 and its Royal Oldham Hospital through `monitor ingest cqc` and `monitor evaluate`:
    the trust's Requires improvement and the hospital's maternity rating (context) fire; the
    hospital's ratings inherited from RW603 are not read as a downgrade."""
    from typer.testing import CliRunner

    from monitor.cli import app

    cfg = tmp_path / "config.toml"
    cfg.write_text(f"[paths]\nvar = 'var'\nrules = '{ROOT / 'rules'}'\n")
    rm3 = tmp_path / "provider_RM3.json"
    rm3.write_bytes(trust_provider_body("RM3"))
    rm317 = SNAPSHOT / "location_details" / "location_RM317.json"
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(cfg), "init"]).exit_code == 0
    r = runner.invoke(app, ["--config", str(cfg), "ingest", "cqc", str(rm3), str(rm317)])
    assert r.exit_code == 0, r.stdout
    r = runner.invoke(app, ["--config", str(cfg), "evaluate", "--dry-run", "--json"])
    events = {
        (e["rule"], e["org"], e["event"], e["period_start"]) for e in json.loads(r.stdout)["events"]
    }
    # The maternity rule is context (most maternity services nationally are rated Requires
    # improvement or worse): it fires, but opens no alert.
    assert events == {("cqc_overall_ri_or_inadequate", "RM3", "fired", "2021-02-10")}
    from monitor.context import Context
    from tools.census import take

    ctx = Context.load(cfg)
    maternity = {r.rule: r for r in take(ctx).rules}["cqc_maternity_ri_or_inadequate"]
    assert (maternity.role, maternity.applies, maternity.fires) == ("context", 1, 1)
    ctx.engine.dispose()
