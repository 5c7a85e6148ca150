"""Plausibility: every metric declares the values it can take; a file with a figure outside
them is rejected whole, naming row and column, and the database is left as it was."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from monitor import config
from monitor.cli import app
from monitor.context import Context
from monitor.db import session_scope
from monitor.metrics import METRICS, UNIT_RANGES
from monitor.models import Observation, Publication
from monitor.sources.files import ingest_paths
from tests.conftest import REAL

AE_JULY = REAL / "ae" / "July-2025-CSV-9jfy4.csv"
AMBULANCE = REAL / "ambulance" / "ambsys.csv"
NOF_DATA = REAL / "oversight" / "nhs-oversight-framework-mental-health-and-community-trust-data.csv"


def edit_csv(path: Path, match: dict[str, str], column: str, value: str) -> tuple[bytes, int]:
    """The file with ``column`` set to ``value`` in the first row matching ``match``; the
    1-based row number (header = 1) that was changed."""
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in rows[0]]
    for n, r in enumerate(rows[1:], start=2):
        if all(r[header.index(k)].strip() == v for k, v in match.items()):
            r[header.index(column)] = value
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(rows)
            return out.getvalue().encode(), n
    raise AssertionError(f"no row matching {match}")


@pytest.fixture
def ctx(engine: Engine, tmp_path: Path) -> Context:
    p = tmp_path / "config.toml"
    p.write_text('[paths]\nvar = "var"\n')
    return Context(config.load(p), engine)


def stored(engine: Engine) -> list[tuple[object, ...]]:
    with session_scope(engine) as s:
        rows = s.exec(select(Observation).order_by(Observation.id)).all()
        return [(o.id, o.org, o.metric, o.period_start, o.value, o.superseded_by) for o in rows]


def test_every_metric_declares_its_valid_range() -> None:
    for m in METRICS.values():
        valid = m.valid
        assert valid is m.valid_range or valid is UNIT_RANGES[m.unit], m.id
    assert (0 in METRICS["ae_4hr_pct"].valid, 100 in METRICS["ae_4hr_pct"].valid) == (True, True)
    assert 100.1 not in METRICS["ae_4hr_pct"].valid and -0.1 not in METRICS["rtt_52wk_pct"].valid
    assert 0 in METRICS["ae_12hr_dta_count"].valid and -1 not in METRICS["rtt_waiting_list"].valid
    assert 0 not in METRICS["amb_c1_mean_s"].valid and 7 in METRICS["amb_c1_mean_s"].valid
    assert (
        4 in METRICS["nof_average_score"].valid and 4.01 not in METRICS["nof_average_score"].valid
    )
    assert 0 not in METRICS["cqc_overall"].valid and 5 not in METRICS["dspt_status"].valid
    assert 2 not in METRICS["nof_rsp_flag"].valid and 6 not in METRICS["nof_segment"].valid
    # Finance figures are signed percentages of income.
    assert -3.5 in METRICS["fin_variance_to_plan_pct"].valid


CASES = [
    # A type-1 four-hour figure over 100% (more waits over 4 hours than attendances, negative).
    (
        "ae",
        AE_JULY,
        {"Org Code": "RCX"},
        "Attendances over 4hrs Type 1",
        "-1370",
        "a count cannot be negative",
    ),
    # More type 1 waits over 4 hours than type 1 attendances: -1370% within 4 hours.
    (
        "ae",
        AE_JULY,
        {"Org Code": "RCX"},
        "Attendances over 4hrs Type 1",
        "999999",
        "attendances over 4 hours but only",
    ),
    (
        "ae",
        AE_JULY,
        {"Org Code": "RCX"},
        DTA := "Patients who have waited 12+ hrs from DTA to admission",
        "-3",
        "negative",
    ),
    # An ambulance mean of -5 seconds.
    ("ambulance", AMBULANCE, {"Org Code": "RYC", "Month": "1"}, "A25", "-5", "amb_c1_mean_s"),
    # 150 in a percentage metric; a segment of 7.
    (
        "oversight",
        NOF_DATA,
        {"Trust_code": "R1A", "Metric_ID": "OF0081"},
        "Value",
        "150",
        "fin_variance_to_plan_pct",
    ),
    (
        "oversight",
        NOF_DATA,
        {"Trust_code": "R1A", "Metric_ID": "OF5000"},
        "Value",
        "7",
        "nof_segment",
    ),
    # A negative RTT waiting list.
    (
        "rtt",
        REAL / "rtt" / "rtt_incomplete_provider_clean.csv",
        {"provider_code": "RCX", "treatment_function_code": "C_999"},
        "total_incomplete_pathways",
        "-24",
        "a count cannot be negative",
    ),
    # 1e16 attendances waiting 12 hours.
    ("ae", AE_JULY, {"Org Code": "RCX"}, DTA, "1e16", "valid range of a count (0 to 100,000,000)"),
]


@pytest.mark.parametrize(("source", "path", "match", "column", "value", "says"), CASES)
def test_an_implausible_figure_rejects_the_file_naming_row_and_column(
    ctx: Context,
    tmp_path: Path,
    source: str,
    path: Path,
    match: dict[str, str],
    column: str,
    value: str,
    says: str,
) -> None:
    bad, row = edit_csv(path, match, column, value)
    target = tmp_path / path.name
    target.write_bytes(bad)
    [report] = ingest_paths(ctx, source, [target])
    assert report.status == "rejected", report.as_json()
    assert report.error is not None
    assert f"{path.name}, row {row}, column {column!r}" in report.error, report.error
    assert says in report.error
    assert stored(ctx.engine) == []
    # Whole, the same file is ingested.
    target.write_bytes(path.read_bytes())
    [ok] = ingest_paths(ctx, source, [target])
    assert ok.status == "ingested" and ok.observations_written > 0


def test_a_bad_file_resolves_nothing_and_changes_nothing(ctx: Context, tmp_path: Path) -> None:
    """An implausible revision of a file already held leaves every stored figure as it was."""
    good = tmp_path / AE_JULY.name
    good.write_bytes(AE_JULY.read_bytes())
    published = datetime(2025, 8, 14, 9, 30, tzinfo=UTC)
    [ok] = ingest_paths(ctx, "ae", [good], published_at=published)
    assert ok.status == "ingested"
    before = stored(ctx.engine)
    bad, row = edit_csv(AE_JULY, {"Org Code": "RCX"}, "A&E attendances Type 1", "5")
    revised = tmp_path / "July-2025-revised.csv"
    revised.write_bytes(bad)
    [report] = ingest_paths(ctx, "ae", [revised], published_at=published)
    assert report.status == "rejected" and f"row {row}" in (report.error or "")
    assert stored(ctx.engine) == before
    with session_scope(ctx.engine) as s:
        assert [p.status for p in s.exec(select(Publication).order_by(Publication.id))] == [
            "ingested",
            "rejected",
        ]


def test_monitor_ingest_names_the_row_and_column(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(cfg), "init"]).exit_code == 0
    bad, row = edit_csv(AMBULANCE, {"Org Code": "RYC", "Month": "1"}, "A25", "-5")
    f = tmp_path / "ambsys.csv"
    f.write_bytes(bad)
    r = runner.invoke(app, ["--config", str(cfg), "ingest", "ambulance", str(f), "--json"])
    assert r.exit_code == 1
    [report] = json.loads(r.stdout)
    assert report["status"] == "rejected"
    assert f"ambsys.csv, row {row}, column 'A25'" in report["error"]
    assert "-5" in report["error"] and "more than 0" in report["error"]
