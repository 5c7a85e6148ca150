"""`monitor spc ORG METRIC`: the command a user runs, on SQLite and PostgreSQL holding the
real A&E publications ingested by `monitor ingest`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from monitor.cli import app
from monitor.spc import TOO_FEW_POINTS
from tests.alert_fixtures import settings
from tests.conftest import REAL

runner = CliRunner()
AE_FILES = sorted((REAL / "ae").glob("*.csv"))
POINT_KEYS = ["period_start", "value", "mean", "lpl", "upl", "special_cause", "point_type"]


def run(config: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(config), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def config(engine: Engine, tmp_path: Path) -> Path:
    """A config on the test database, with every real A&E file ingested through the CLI."""
    settings(tmp_path, engine)
    path = tmp_path / "config.toml"
    code, out, err = run(path, "ingest", "ae", *map(str, AE_FILES), "--json")
    assert code == 0, err
    assert {r["status"] for r in json.loads(out)} == {"ingested"}
    return path


def test_kings_lynn_type_1_chart_follows_the_contract(config: Path) -> None:
    code, out, _ = run(config, "spc", "rcx", "ae_4hr_type1_pct", "--json")
    assert code == 0
    result = json.loads(out)
    assert list(result) == ["org", "metric", "points", "variation", "assurance", "target"]
    assert (result["org"], result["metric"], result["target"]) == ("RCX", "ae_4hr_type1_pct", 78)
    points = result["points"]
    assert all(list(p) == POINT_KEYS for p in points)
    assert [p["period_start"] for p in points] == [
        "2023-09-01",
        *(f"2024-{m:02d}-01" for m in range(8, 13)),
        *(f"2025-{m:02d}-01" for m in range(1, 9)),
    ]
    # The limits worked by hand in tests/test_spc_engine.py from the same published figures.
    assert {(round(p["mean"], 4), round(p["lpl"], 4), round(p["upl"], 4)) for p in points} == {
        (55.4853, 47.3400, 63.6305)
    }
    signals = [(p["period_start"], p["special_cause"], p["point_type"]) for p in points]
    assert [s for s in signals if s[1] != "Common Cause"] == [
        ("2024-08-01", "Above UCL", "special_cause_improvement")
    ]
    assert (result["variation"], result["assurance"]) == ("common_cause", "consistent_fail")

    # Without --json, the same chart as a table.
    code, out, _ = run(config, "spc", "RCX", "ae_4hr_type1_pct")
    assert code == 0
    assert "variation: common_cause   assurance: consistent_fail" in out
    assert "target: 78 (2025/26 priorities and operational planning guidance" in out
    assert "no figure for 10 months between 2023-09 and 2024-08" in out
    assert "2024-08-01      65.34      55.49      47.34      63.63  Above UCL" in out


def test_a_revised_figure_replaces_the_one_it_revises(config: Path, tmp_path: Path) -> None:
    # A revised August 2025 file: RCX's type 1 waits over 4 hours cut by 1,000, and the TOTAL
    # row with them (a file whose TOTAL is not its providers' sum is rejected as incomplete).
    original = REAL / "ae" / "August-2025-CSV-g5tyh-v2.0.csv"
    rows = list(csv.reader(original.read_text(encoding="utf-8-sig").splitlines()))
    over = rows[0].index("Attendances over 4hrs Type 1")
    for row in [r for r in rows if r[1] in ("RCX", "TOTAL")]:
        row[over] = str(int(row[over]) - 1000)
    revised = tmp_path / "August-2025-revised.csv"
    with revised.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    code, _, err = run(config, "ingest", "ae", str(revised))
    assert code == 0, err

    code, out, _ = run(config, "spc", "RCX", "ae_4hr_type1_pct", "--json")
    points = json.loads(out)["points"]
    assert len(points) == 14  # one figure per month: the superseded one is not charted
    assert points[-1]["period_start"] == "2025-08-01"
    assert points[-1]["value"] == pytest.approx(100 * (1 - (3245 - 1000) / 6802))


def test_a_short_series_prints_no_points_and_unknown_names_exit_2(config: Path) -> None:
    # (One test, so that the 14 files are ingested once per database.)
    # Cancer figures were never ingested here: no points at all.
    code, out, _ = run(config, "spc", "RCX", "cancer_62d_pct", "--json")
    assert code == 0
    assert json.loads(out) == {
        "org": "RCX",
        "metric": "cancer_62d_pct",
        "points": [],
        "variation": None,
        "assurance": None,
        "target": 75,
        "reason": TOO_FEW_POINTS,
    }
    code, out, _ = run(config, "spc", "RCX", "cancer_62d_pct")
    assert code == 0 and "too few points: 0 held, limits need at least 12" in out

    for args, message in [
        (["ZZZ99", "ae_4hr_pct"], "no organisation 'ZZZ99'"),
        (["RCX", "ae_4hr_percent"], "unknown metric 'ae_4hr_percent'"),
    ]:
        code, out, err = run(config, "spc", *args, "--json")
        assert (code, out) == (2, ""), args
        assert message in err
