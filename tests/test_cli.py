"""The `monitor` command: init, orgs, ingest, config errors and a second runner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from monitor.cli import app
from monitor.orgs import reference_rows
from tests.conftest import REAL

runner = CliRunner()


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    p = tmp_path / "config.toml"
    p.write_text("[paths]\nvar = 'var'\n")
    return p


def monitor(config_file: Path, *args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, ["--config", str(config_file), *args])
    return r.exit_code, r.stdout, r.stderr


def test_init_twice_is_harmless(config_file: Path) -> None:
    n = len(reference_rows())
    code, out, _ = monitor(config_file, "init")
    assert code == 0 and f"organisations: {n} added, 0 updated" in out
    code, out, _ = monitor(config_file, "init", "--json")
    result = json.loads(out)
    assert code == 0
    assert result["schema_before"] == result["schema"]
    assert result["organisations"] == {"added": 0, "updated": 0, "unchanged": n}
    assert (config_file.parent / "var" / "monitor.db").exists()


def test_orgs_shows_the_queen_elizabeth_hospital_in_the_east_of_england(
    config_file: Path,
) -> None:
    monitor(config_file, "init")
    code, out, _ = monitor(config_file, "orgs", "rcx", "--json")
    org = json.loads(out)
    assert code == 0
    assert org["name"] == "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    assert (org["region"], org["region_name"], org["icb"], org["trust_type"]) == (
        "Y61",
        "East of England",
        "QMM",
        "acute",
    )
    code, out, _ = monitor(config_file, "orgs", "--region", "Y61", "--kind", "trust", "--json")
    assert "RCX" in {o["code"] for o in json.loads(out)}
    code, _, err = monitor(config_file, "orgs", "XYZ")
    assert code == 1 and "no organisation 'XYZ'" in err


def test_a_misspelt_key_stops_the_command_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[web]\nbase_ulr = 'http://x'\n")
    code, _, err = monitor(bad, "init")
    assert code == 2
    assert f"{bad}: 1 problem(s):" in err and "web.base_ulr: unknown key" in err


def test_poll_without_an_enabled_source_says_so_and_exits_2(config_file: Path) -> None:
    code, out, err = monitor(config_file, "poll")
    assert (code, out) == (2, "")
    assert "no source is enabled in the config ([sources.<name>])" in err


def test_run_keeps_going_until_stopped_and_refuses_a_second_runner(config_file: Path) -> None:
    cmd = [sys.executable, "-m", "monitor.cli", "--config", str(config_file), "run", "--no-web"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        assert first.stderr is not None
        for line in first.stderr:  # wait by reading its log, not by sleeping
            lines.append(line)
            if "Ctrl-C to stop" in line:
                break
        second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
        assert second.returncode == 3
        assert "already runs on this database" in second.stderr
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == 0, "".join(lines)


def test_ingest_reports_each_file_and_fails_on_a_rejected_one(
    config_file: Path, tmp_path: Path
) -> None:
    monitor(config_file, "init")
    july = REAL / "ae" / "July-2025-CSV-9jfy4.csv"
    broken = tmp_path / "August-2025-CSV.csv"
    broken.write_text("<!DOCTYPE html><html><body>Access denied</body></html>\n")
    code, out, _ = monitor(
        config_file, "ingest", "ae", str(july), str(broken), "--published", "2025-08-14", "--json"
    )
    reports = json.loads(out)
    assert code == 1
    ok, bad = reports
    assert (ok["status"], ok["periods"], ok["rows_read"]) == (
        "ingested",
        ["2025-07-01/2025-07-31"],
        202,
    )
    assert ok["observations_written"] > 500 and ok["orgs"] > 200
    assert {"row", "reason"} <= set(ok["skipped"][0])
    assert bad["status"] == "rejected" and "August-2025-CSV.csv" in bad["error"]
    code, out, _ = monitor(
        config_file, "observations", "RCX", "--metric", "ae_4hr_type1_pct", "--json"
    )
    (row,) = json.loads(out)
    assert round(row["value"], 1) == 52.1
    assert row["publication_url"] == july.resolve().as_uri()
    assert row["published_at"].startswith("2025-08-14")
    assert row["source"] == "ae" and row["granularity"] == "month"
    code, _, err = monitor(config_file, "ingest", "nhs111", str(july))
    assert code == 2 and "unknown source 'nhs111'" in err
