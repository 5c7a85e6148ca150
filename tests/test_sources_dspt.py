"""DSPT status per organisation and edition: the three real layouts, the poller, the rules."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from typer.testing import CliRunner
from werkzeug import Request, Response

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import SourceState, utcnow
from monitor.rules.run import evaluate_db, list_alerts
from monitor.sources import dspt
from monitor.sources.base import Parsed, ParseError
from monitor.sources.fetch import Fetcher
from monitor.sources.files import ingest_paths
from monitor.sources.poll import PollReport, backfill, poll
from monitor.sources.seed import manifest, seed
from monitor.web.queries import observations
from monitor.web.sources_status import statuses
from tests.conftest import REAL, ROOT

DSPT = REAL / "dspt"
TRUSTS = "dspt_trusts_snapshot_16_11_23.csv"  # 2022/23, the download as NHSX kept it
ICBS = "dspt_icb_snapshot_16_11_23.csv"
METRIC = "dspt_metric_20220208.csv"  # 2020/21, NHSX's metric file
HISTORY = "dspt_RDY_assessment_history.csv"  # Dorset HealthCare's organisation page
Y2021, Y2023 = date(2021, 6, 30), date(2023, 6, 30)  # the 2020/21 and 2022/23 editions
DOWNLOAD = "/OrganisationSearch/DownloadSearchResults"


@cache
def parse(name: str) -> Parsed:
    return dspt.parse((DSPT / name).read_bytes(), filename=name)


def status(name: str, org: str, point: date) -> tuple[float | None, str | None]:
    (f,) = [f for f in parse(name).figures if f.org == org and f.period_start == point]
    return f.value, f.label


def labels(parsed: Parsed) -> Counter[tuple[date, str | None]]:
    return Counter((f.period_start, f.label) for f in parsed.figures)


# The three layouts ---------------------------------------------------------------------------


def test_the_2022_23_download_gives_one_point_per_trust_at_the_edition_deadline() -> None:
    p = parse(TRUSTS)
    assert (p.rows_read, len(p.figures), p.skipped) == (211, 211, [])
    assert labels(p) == {
        (Y2023, "Standards Met"): 138,
        (Y2023, "Approaching Standards"): 57,
        (Y2023, "Standards Exceeded"): 15,
        (Y2023, "Not Published"): 1,
    }
    assert {(f.granularity, f.period_end, f.metric) for f in p.figures} == {
        ("point", Y2023, "dspt_status")
    }
    for trust in ("RCX", "RJR", "RYW"):
        assert status(TRUSTS, trust, Y2023) == (3, "Approaching Standards")
    assert status(TRUSTS, "R0A", Y2023) == (2, "Standards Met")
    assert status(TRUSTS, "R0B", Y2023) == (1, "Standards Exceeded")
    # NHSX's undated "Not Published" belongs to the edition the file is about.
    assert status(TRUSTS, "RA4", Y2023) == (4, "Not Published")


def test_the_icb_download_keeps_the_icbs() -> None:
    p = parse(ICBS)
    assert (p.rows_read, len(p.figures), p.skipped) == (42, 42, [])
    assert labels(p) == {
        (Y2023, "Standards Met"): 34,
        (Y2023, "Standards Exceeded"): 7,
        (Y2023, "Approaching Standards"): 1,
    }
    assert status(ICBS, "QOP", Y2023) == (3, "Approaching Standards")


def test_the_2020_21_metric_file_reads_each_trusts_own_latest_status() -> None:
    p = parse(METRIC)
    assert (p.rows_read, len(p.figures)) == (357, 214)
    assert labels(p) == {
        (Y2021, "Standards Met"): 133,
        (Y2021, "Approaching Standards"): 61,
        (Y2021, "Standards Exceeded"): 15,
        (Y2021, "Standards Not Met"): 5,
    }
    for trust in ("RCX", "RJR", "RYW", "RDY"):
        assert status(METRIC, trust, Y2021) == (3, "Approaching Standards")
    # CCGs and CSUs are counted, not listed; closed trusts without a status of their own say
    # whose status NHSX's Final.Status carries instead.
    assert [(s.row, s.reason) for s in p.skipped] == [
        (2, "135 row(s) of CCGs (closed in July 2022) passed over (first at this row): "
            "the monitor follows NHS trusts and ICBs"),
        (137, "5 row(s) of sector 'CSU' passed over (first at this row): "
              "the monitor follows NHS trusts and ICBs"),
        (296, "RW6: no status published of its own (NHSX's Final.Status '20/21 Standards Met' "
              "is its successor RM3's)"),
        (297, "RW6: no status published of its own (NHSX's Final.Status '20/21 Standards Met' "
              "is its successor R0A's)"),
        (325, "RXH: no status published of its own (NHSX's Final.Status '20/21 Standards Met' "
              "is its successor RYR's)"),
    ]  # fmt: skip


def test_an_organisations_history_gives_each_editions_final_status() -> None:
    p = parse(HISTORY)
    assert (p.rows_read, len(p.figures)) == (16, 7)
    assert [(f.org, f.period_start.year, f.label) for f in p.figures] == [
        ("RDY", 2019, "Approaching Standards"),  # 2018-19: Not met on 29 March, then 5 April
        ("RDY", 2020, "Standards Met"),
        ("RDY", 2021, "Approaching Standards"),  # republished 28 July 2021, same status
        ("RDY", 2022, "Standards Met"),
        ("RDY", 2023, "Standards Met"),
        ("RDY", 2024, "Standards Met"),
        ("RDY", 2025, "Standards Met"),  # 2024-25 (version 7)
    ]
    reasons = Counter(s.reason for s in p.skipped)
    assert reasons == {
        "RDY: a baseline (interim) submission, not the edition's status": 7,
        "RDY: superseded within the edition by row 9": 1,
        "RDY: superseded within the edition by row 15": 1,
    }


def test_both_wordings_agree_where_they_overlap() -> None:
    """RDY's page (``2022-23 (version 5) - Standards met``) and the downloads say the same."""
    assert status(HISTORY, "RDY", Y2021) == status(METRIC, "RDY", Y2021)
    assert status(HISTORY, "RDY", Y2023) == status(TRUSTS, "RDY", Y2023) == (2, "Standards Met")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("22/23 Standards Met", (2022, 2, "Standards Met")),
        ("22/23 Approaching Standards", (2022, 3, "Approaching Standards")),
        ("20/21 Standards Not Met", (2020, 4, "Standards Not Met")),
        ("19/20 Standards Exceeded", (2019, 1, "Standards Exceeded")),
        ("Not Published", (None, 4, "Not Published")),
        ("2024-25 (version 7) - Standards met", (2024, 2, "Standards Met")),
        ("2020-21 (version 3) - Approaching standards", (2020, 3, "Approaching Standards")),
        ("2018-19 (version 1) - Standards not met", (2018, 4, "Standards Not Met")),
        ("2023-24 (version 6) - Baseline", (2023, None, "Baseline")),
    ],
)
def test_status_wordings(text: str, expected: tuple[int | None, int | None, str]) -> None:
    s = dspt.read_status(text, file="f.csv", row=2, column="Status")
    assert s is not None and (s.edition, s.value, s.label) == expected


def test_an_edition_is_a_point_at_its_deadline_named_as_the_dspt_names_it() -> None:
    assert dspt.edition_point(2022) == Y2023
    assert dspt.edition_label(Y2023) == "2022/23"
    assert dspt.edition_label(dspt.edition_point(2024)) == "2024/25"


# Rejections: each names the file, row and column ---------------------------------------------


def _edited(name: str, old: str, new: str) -> bytes:
    raw = (DSPT / name).read_text(encoding="utf-8")
    assert old in raw
    return raw.replace(old, new, 1).encode()


RYW_ROW = 206  # RYW's line in the 2022/23 trusts file (the header is row 1)
RYW_OLD = (
    "Birmingham Community Healthcare NHS Foundation Trust,22/23 Approaching Standards,27/06/2023"
)


@pytest.mark.parametrize(
    ("name", "data", "row", "column", "words"),
    [
        (TRUSTS, _edited(TRUSTS, RYW_OLD, RYW_OLD.replace("Approaching", "Nearly")), RYW_ROW,
         "Status", "unknown DSPT status '22/23 Nearly Standards'"),
        (TRUSTS, _edited(TRUSTS, RYW_OLD, RYW_OLD.replace("22/23", "22/24")), RYW_ROW,
         "Status", "edition 22/24"),
        (TRUSTS, _edited(TRUSTS, RYW_OLD, RYW_OLD.replace("22/23 ", "")), RYW_ROW,
         "Status", "names no edition"),
        (TRUSTS, _edited(TRUSTS, RYW_OLD, RYW_OLD.replace("27/06/2023", "31/06/2023")), RYW_ROW,
         "Date Of Publication", "'31/06/2023'"),
        (TRUSTS, _edited(TRUSTS, "206,RYW,", "206,,"), RYW_ROW, "Code",
         "no organisation code"),
        (TRUSTS, _edited(TRUSTS, ",Code,", ",ODS code,"), 1, "Code", "missing column(s) 'Code'"),
        (METRIC, _edited(METRIC, 'Birmingham Community Healthcare NHS Foundation Trust","20/21 A',
                         'Birmingham Community Healthcare NHS Foundation Trust","20/21 '), 356,
         "Latest.Status",
         "unknown DSPT status '20/21 pproaching Standards'"),
        (HISTORY, _edited(HISTORY, "30 June 2025", "30 Juno 2025"), 2, "Date Published",
         "'30 Juno 2025'"),
        (HISTORY, _edited(HISTORY, '"2022-23 (version 5) - Standards met","30 June 2023"',
                          '"2022-23 (version 5) - Standards met","30 June 2023"\n'
                          '"2022-23 (version 5) - Approaching standards","30 June 2023"'), 6,
         "Status", "two statuses for edition 2022/23 published on the same day"),
        (TRUSTS, b",Code,Organisation Name,Status,Date Of Publication,Primary Sector\n"
                 b"0,RA4,YEOVIL,Not Published,28/06/2022,NHS Trust\n", 2, "Status",
         "'Not Published' without an edition"),
        ("ae.csv", (REAL / "ae" / "July-2025-CSV-9jfy4.csv").read_bytes(), 1, "Status",
         "not a DSPT file"),
        (TRUSTS, b"<!DOCTYPE html><html><body>Service unavailable</body></html>\n", 1, None,
         "HTML page"),
        (TRUSTS, (DSPT / TRUSTS).read_bytes()[:20000], 116, "Date Of Publication",
         "truncated"),
    ],
)  # fmt: skip
def test_bad_input_is_rejected_naming_file_row_and_column(
    name: str, data: bytes, row: int, column: str | None, words: str
) -> None:
    with pytest.raises(ParseError) as e:
        dspt.parse(data, filename=name)
    assert (e.value.file, e.value.row, e.value.column) == (name, row, column)
    assert words in str(e.value) and name in str(e.value)


def test_a_history_whose_file_name_names_no_organisation_is_rejected() -> None:
    with pytest.raises(ParseError, match="put its ODS code in the file name") as e:
        dspt.parse((DSPT / HISTORY).read_bytes(), filename="assessment_history.csv")
    assert e.value.file == "assessment_history.csv"
    assert dspt.org_of_history("dspt_rdy_public_dspt_rdy_assessment_history.csv") == "RDY"


# Ingest on both databases ---------------------------------------------------------------------


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    url = engine.url.render_as_string(hide_password=False)
    p.write_text(
        f"[database]\nurl = '{url}'\n[paths]\nvar = 'var'\nrules = '{ROOT / 'rules'}'\n"
        f"templates = '{ROOT / 'templates'}'\n[http]\nretries = 0\n"
    )
    return Context(config.load(p), engine)


def current(engine: Engine, org: str) -> list[tuple[str, float, str]]:
    rows = observations(engine, org, metric="dspt_status")
    return [(r["period_start"], r["value"], r["label"]) for r in rows]


def test_ingesting_twice_changes_nothing_and_another_layout_revises_nothing(ctx: Context) -> None:
    first = ingest_paths(ctx, "dspt", [DSPT / TRUSTS, DSPT / METRIC])
    assert [(r.status, r.observations_written) for r in first] == [
        ("ingested", 211),
        ("ingested", 214),
    ]
    assert first[0].new_orgs == ["TAF"]  # Camden and Islington, not in the reference list
    again = ingest_paths(ctx, "dspt", [DSPT / TRUSTS, DSPT / METRIC])
    assert [r.status for r in again] == ["unchanged", "unchanged"]
    # RDY's page repeats 2020/21 and 2022/23 in the other wording: the same figures, no
    # revision; it adds the five editions the downloads lack.
    (history,) = ingest_paths(ctx, "dspt", [DSPT / HISTORY])
    assert (history.observations_written, history.revisions) == (5, 0)
    assert current(ctx.engine, "RDY") == [
        ("2019-06-30", 3, "Approaching Standards"),
        ("2020-06-30", 2, "Standards Met"),
        ("2021-06-30", 3, "Approaching Standards"),
        ("2022-06-30", 2, "Standards Met"),
        ("2023-06-30", 2, "Standards Met"),
        ("2024-06-30", 2, "Standards Met"),
        ("2025-06-30", 2, "Standards Met"),
    ]
    assert current(ctx.engine, "RYW") == [
        ("2021-06-30", 3, "Approaching Standards"),
        ("2023-06-30", 3, "Approaching Standards"),
    ]


# The poller, against a local server serving the real files ----------------------------------


class DownloadServer:
    """The organisation search's download at one address, whose bytes change in place."""

    def __init__(self, server: HTTPServer, *, etags: bool = True) -> None:
        self.body = b""
        self.etags = etags
        self.sent = 0
        self.url = server.url_for(DOWNLOAD)
        server.expect_request(DOWNLOAD).respond_with_handler(self.handle)

    def serve(self, data: bytes) -> None:
        self.body = data

    def handle(self, request: Request) -> Response:
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if self.etags and request.headers.get("If-None-Match") == etag:
            return Response(status=304, headers={"ETag": etag})
        self.sent += 1
        headers = {"ETag": etag} if self.etags else {}
        return Response(self.body, headers=headers, content_type="text/csv")


def polling(ctx: Context, download: DownloadServer) -> Context:
    path = ctx.settings.config_path
    assert path is not None
    path.write_text(
        path.read_text() + f"[sources.dspt]\nindex_url = '{download.url}'\nevery_minutes = 1440\n"
    )
    return Context(config.load(path), ctx.engine)


def poll_once(ctx: Context) -> PollReport:
    report = poll(ctx, "dspt", fetcher=Fetcher(ctx.settings.http, sleep=lambda s: None))
    assert report.ok, report.error
    return report


@pytest.mark.parametrize("etags", [True, False], ids=["conditional", "no-validators"])
def test_polling_the_download_ingests_then_the_same_bytes_change_nothing(
    ctx: Context, httpserver: HTTPServer, etags: bool
) -> None:
    download = DownloadServer(httpserver, etags=etags)
    download.serve((DSPT / TRUSTS).read_bytes())
    ctx = polling(ctx, download)
    first = poll_once(ctx)
    [pub] = first.ingested
    assert (pub.status, pub.observations_written, pub.quiet) == ("ingested", 211, True)
    second = poll_once(ctx)
    if etags:  # answered 304: no body, nothing parsed
        assert (second.files_unchanged, second.ingested, download.sent) == (1, [], 1)
    else:  # the same bytes again: recognised by their hash
        assert [r.status for r in second.ingested] == ["unchanged"] and download.sent == 2
    assert current(ctx.engine, "RYW") == [("2023-06-30", 3, "Approaching Standards")]


def test_a_new_editions_download_adds_figures(ctx: Context, httpserver: HTTPServer) -> None:
    download = DownloadServer(httpserver)
    ctx = polling(ctx, download)
    download.serve((DSPT / METRIC).read_bytes())
    poll_once(ctx)
    download.serve((DSPT / TRUSTS).read_bytes())
    [report] = poll_once(ctx).ingested
    assert (report.periods, report.observations_written, report.revisions) == (
        ["2023-06-30/2023-06-30"], 211, 0
    )  # fmt: skip
    assert current(ctx.engine, "RCX") == [
        ("2021-06-30", 3, "Approaching Standards"),
        ("2023-06-30", 3, "Approaching Standards"),
    ]


def test_a_revised_status_for_the_same_edition_supersedes_and_keeps_the_old_one(
    ctx: Context, httpserver: HTTPServer
) -> None:
    download = DownloadServer(httpserver)
    ctx = polling(ctx, download)
    download.serve((DSPT / TRUSTS).read_bytes())
    poll_once(ctx)
    # The real file as it would read had RYW republished its 2022/23 assessment at Standards Met.
    revised = RYW_OLD.replace("Approaching Standards,27/06/2023", "Standards Met,28/07/2023")
    download.serve(_edited(TRUSTS, RYW_OLD, revised))
    [report] = poll_once(ctx).ingested
    assert (report.observations_written, report.revisions) == (1, 1)
    assert current(ctx.engine, "RYW") == [("2023-06-30", 2, "Standards Met")]
    versions = observations(ctx.engine, "RYW", metric="dspt_status", all_versions=True)
    assert [(v["label"], v["superseded_by"] is not None) for v in versions] == [
        ("Approaching Standards", True),
        ("Standards Met", False),
    ]


def test_a_daily_poll_that_finds_nothing_new_keeps_the_source_up_to_date(
    ctx: Context, httpserver: HTTPServer
) -> None:
    download = DownloadServer(httpserver)
    download.serve((DSPT / TRUSTS).read_bytes())
    ctx = polling(ctx, download)
    poll_once(ctx)
    with session_scope(ctx.engine, write=True) as s:  # as a week later: the last change is old
        state = s.get(SourceState, "dspt")
        assert state is not None
        state.last_success_at = utcnow() - timedelta(days=7)
    assert poll_once(ctx).files_unchanged == 1
    [dspt_status] = [st for st in statuses(ctx.engine, ctx.settings) if st.name == "dspt"]
    assert dspt_status.level == "ok", dspt_status.message


def test_backfill_fetches_the_one_download(ctx: Context, httpserver: HTTPServer) -> None:
    download = DownloadServer(httpserver)
    download.serve((DSPT / ICBS).read_bytes())
    report = backfill(polling(ctx, download), "dspt")
    assert [(r.status, r.observations_written) for r in report.ingested] == [("ingested", 42)]


# The rules, on the real files ---------------------------------------------------------------


def test_the_rules_fire_for_trusts_below_standards_met_and_for_falls(ctx: Context) -> None:
    ingest_paths(ctx, "dspt", [DSPT / METRIC, DSPT / TRUSTS])
    events = evaluate_db(ctx).as_json()["events"]
    alerts = {(a["org"], a["rule"]): a for a in list_alerts(ctx) if a["rule"].startswith("dspt_")}
    ryw = alerts[("RYW", "dspt_below_standards_met")]
    assert (ryw["state"], ryw["severity"], ryw["value"], ryw["period_start"]) == (
        "firing", "low", 3, "2023-06-30"
    )  # fmt: skip
    assert ("RYW", "dspt_fell") not in alerts  # Approaching in both editions: no fall
    assert not [k for k in alerts if k[0] == "R0A"]  # Standards Met in both
    # R1L went from Exceeded to Met: a fall, but still meeting the standard.
    assert alerts[("R1L", "dspt_fell")]["state"] == "firing"
    assert ("R1L", "dspt_below_standards_met") not in alerts
    # RAS went from Exceeded to Approaching: both rules fire, the fall under the breach.
    assert {r for o, r in alerts if o == "RAS"} == {"dspt_fell", "dspt_below_standards_met"}
    [fall] = [e for e in events if (e["org"], e["rule"]) == ("RAS", "dspt_fell")]
    assert (fall["superseded_by"], fall["notify"]) == ("dspt_below_standards_met", False)
    # 24 trusts fell; one of them, RA4, closed into RH5 on 31 March 2023, and a trust merged
    # into its successor opens no alerts (monitor/mergers.py).
    assert len([k for k in alerts if k[1] == "dspt_fell"]) == 23
    assert not [k for k in alerts if k[0] == "RA4"]
    for trust in ("RCX", "RJR"):
        assert alerts[(trust, "dspt_below_standards_met")]["period_start"] == "2023-06-30"
    below = Counter(
        a["period_start"] for a in alerts.values() if a["rule"] == "dspt_below_standards_met"
    )
    # 2022/23: 56 trusts Approaching (TAF, Approaching, is not in the reference list of
    # trusts). RA4, Not Published in 2022/23, closed into RH5, and RBZ, Approaching in 2020/21,
    # merged into RH8 in 2022: merged trusts open no alerts (monitor/mergers.py).
    assert below == {"2023-06-30": 56}
    assert not [k for k in alerts if k[0] in ("RA4", "RBZ")]


# The commands, as a user runs them -----------------------------------------------------------


def cli(ctx: Context, *args: str) -> tuple[int, str]:
    r = CliRunner().invoke(app, ["--config", str(ctx.settings.config_path), *args])
    return r.exit_code, r.stdout


def test_monitor_ingest_dspt_and_monitor_poll_dspt(ctx: Context, httpserver: HTTPServer) -> None:
    code, out = cli(
        ctx, "ingest", "dspt", str(DSPT / METRIC), "--published", "2022-02-08", "--json"
    )
    [report] = json.loads(out)
    assert code == 0 and (report["status"], report["observations_written"]) == ("ingested", 214)
    download = DownloadServer(httpserver)
    download.serve((DSPT / TRUSTS).read_bytes())
    ctx = polling(ctx, download)
    code, out = cli(ctx, "poll", "dspt", "--json")
    result = json.loads(out)
    assert code == 0, out
    [p] = result["polls"]
    assert (p["job"], p["outcome"], p["counts"]["ingested"]) == ("poll:dspt", "ok", 1)
    assert result["evaluate"]["outcome"] == "ok"
    [alert] = list_alerts(ctx, org="RYW", rule="dspt_below_standards_met")
    assert (alert["state"], alert["period_start"]) == ("firing", "2023-06-30")
    # RYW republishes at Standards Met: the next poll resolves its alert.
    revised = RYW_OLD.replace("Approaching Standards,27/06/2023", "Standards Met,28/07/2023")
    download.serve(_edited(TRUSTS, RYW_OLD, revised))
    code, out = cli(ctx, "poll", "dspt")
    assert code == 0 and out.split()[:2] == ["poll:dspt", "ok"]
    assert list_alerts(ctx, org="RYW", rule="dspt_below_standards_met") == []
    [resolved] = list_alerts(ctx, state="resolved", org="RYW", rule="dspt_below_standards_met")
    assert resolved["id"] == alert["id"]


# The embedded default's seed ------------------------------------------------------------------


def test_the_seed_shows_ryw_approaching_standards_for_2020_21_and_2022_23(
    ctx: Context, tmp_path: Path
) -> None:
    entries = [f for f in manifest(REAL) if f.source == "dspt"]
    assert [f.path.name for f in entries] == [METRIC, TRUSTS]
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    (snapshot / "seed.toml").write_text(
        "".join(
            f'[[file]]\nsource = "dspt"\npath = "{f.path}"\npublished = {f.published}\n'
            for f in entries
        )
    )
    path = ctx.settings.config_path
    assert path is not None
    path.write_text(path.read_text().replace("[paths]\n", f"[paths]\nsnapshot = '{snapshot}'\n"))
    reports = seed(Context(config.load(path), ctx.engine))
    assert [(r.status, r.quiet) for r in reports] == [("ingested", True), ("ingested", True)]
    assert current(ctx.engine, "RYW") == [
        ("2021-06-30", 3, "Approaching Standards"),
        ("2023-06-30", 3, "Approaching Standards"),
    ]
