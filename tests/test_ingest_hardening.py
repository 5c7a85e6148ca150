"""`monitor ingest` under the operator's limits: max_mb, a second ingest of the same bytes at
the same moment, and files only their owner can read."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.db import is_sqlite
from monitor.models import Observation, Publication
from monitor.sources import ae
from monitor.sources.ingest import FileInput, IngestReport, ingest_file, sha256_of
from tests.conftest import REAL

JULY = REAL / "ae" / "July-2025-CSV-9jfy4.csv"


def cli(config_file: Path, *args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(app, ["--config", str(config_file), *args])
    return r.exit_code, r.stdout, r.stderr


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The commonest umask, under which files are readable by every local user."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_the_database_and_var_are_the_owners_only(tmp_path: Path, umask_022: None) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    assert cli(cfg, "init")[0] == 0
    var = tmp_path / "var"
    assert mode(var) == 0o700
    assert mode(var / "monitor.db") == 0o600
    code, _, err = cli(cfg, "ingest", "ae", str(JULY), "--published", "2025-08-14")
    assert code == 0, err
    assert mode(var / "publications") == 0o700
    for p in var.rglob("*"):
        assert mode(p) & 0o077 == 0, f"{p} is readable by others: {oct(mode(p))}"
    # A database made readable by others (by an older version) is made the owner's again.
    os.chmod(var / "monitor.db", 0o644)
    assert cli(cfg, "observations", "RCX", "--metric", "ae_4hr_type1_pct")[0] == 0
    assert mode(var / "monitor.db") == 0o600


def test_monitor_ingest_refuses_a_file_over_max_mb_unread(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n[http]\nmax_mb = 1\n')
    assert cli(cfg, "init")[0] == 0
    big = tmp_path / "Monthly-AE-huge.csv"
    with big.open("wb") as f:
        f.truncate(120 * 1024 * 1024)  # 120 MB, sparse: a parser reading it would take long
    code, out, _ = cli(cfg, "ingest", "ae", str(big), str(JULY), "--json")
    assert code == 1
    huge, july = json.loads(out)
    assert huge["status"] == "rejected"
    assert huge["error"] == (
        "Monthly-AE-huge.csv: 125,829,120 bytes is more than the 1,048,576-byte limit "
        "([http] max_mb = 1)"
    )
    assert july["status"] == "ingested"


def test_a_second_ingest_of_the_same_bytes_at_the_same_moment_is_already_ingested(
    engine: Engine, tmp_path: Path
) -> None:
    """Another process stores the same bytes while this one is parsing them: this one reports
    "unchanged" (already ingested), never an IntegrityError."""
    data = JULY.read_bytes()
    sha, size = sha256_of(data)
    published = datetime(2025, 8, 14, 8, 30, tzinfo=UTC)
    item = FileInput(
        source="ae", data=data, filename=JULY.name, url="https://example.org/july.csv",
        published_at=published,
    )  # fmt: skip
    archive = tmp_path / "var" / "publications"
    result: list[IngestReport | BaseException] = []

    def second() -> None:
        try:
            result.append(ingest_file(engine, item, ae.parse, archive_dir=archive))
        except BaseException as e:
            result.append(e)

    with engine.connect() as conn:
        if is_sqlite(engine):
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with Session(bind=conn) as s:
            # The first ingest's transaction, not yet committed: its publication row.
            s.add(
                Publication(
                    source="ae", url=item.url, filename=JULY.name, sha256=sha, size=size,
                    published_at=published, status="ingested",
                )
            )  # fmt: skip
            s.flush()
            t = threading.Thread(target=second)
            t.start()
            # The second has parsed the file (it did not see the uncommitted row) once it has
            # archived its copy; then it waits for the write lock, or for the row's commit.
            while not any(archive.rglob("*.csv")) and t.is_alive():
                time.sleep(0.01)
            s.commit()
        t.join()
    [outcome] = result
    assert isinstance(outcome, IngestReport), outcome
    assert outcome.status == "unchanged" and outcome.publication_id is not None
    with Session(engine) as s:
        assert len(s.exec(select(Publication)).all()) == 1
        assert s.exec(select(Observation)).first() is None
