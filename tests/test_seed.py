"""The embedded default seeds itself from the real publications shipped with the project."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from monitor import config
from monitor.context import Context
from monitor.db import session_scope
from monitor.models import Observation, Publication, Rating
from monitor.sources.seed import manifest, seed
from monitor.web.queries import observations
from tests.conftest import REAL


def counts(engine: Engine) -> tuple[int, ...]:
    with session_scope(engine) as s:
        return tuple(
            s.exec(select(func.count()).select_from(m)).one()
            for m in (Publication, Observation, Rating)
        )


def test_the_manifest_lists_real_files_oldest_first_per_source() -> None:
    files = manifest(REAL)
    assert {f.source for f in files} >= {"ae", "cancer", "ambulance", "oversight"}
    ae = [f for f in files if f.source == "ae"]
    assert ae[-1].path.name == "August-2025-CSV-g5tyh-v2.0.csv"
    assert [f.published for f in ae] == sorted(f.published for f in ae)


def test_a_bad_manifest_entry_names_itself(tmp_path: Path) -> None:
    (tmp_path / "seed.toml").write_text(
        '[[file]]\nsource = "ae"\npath = "missing.csv"\npublished = 2025-08-14\n'
    )
    with pytest.raises(ValueError, match=r"seed.toml: file\[0\]: .*missing.csv does not exist"):
        manifest(tmp_path)


@pytest.mark.slow
def test_seeding_ingests_every_file_once_and_quietly(engine: Engine, tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\nvar = "var"\nsnapshot = "{REAL}"\n')
    ctx = Context(config.load(cfg), engine)
    first = seed(ctx)
    # RW603 is a deregistered location, kept for the rating RM317 inherited from it.
    assert {r.file: r.status for r in first if r.status != "ingested"} == {
        "location_RW603.json": "deregistered"
    }
    assert all(r.quiet for r in first)
    held = counts(engine)
    again = seed(ctx)
    assert {r.status for r in again} <= {"unchanged", "deregistered"}
    assert counts(engine) == held
    (july,) = [
        o
        for o in observations(engine, "RCX", metric="ae_4hr_type1_pct")
        if o["period_start"] == "2025-07-01"
    ]
    assert round(july["value"], 1) == 52.1
    assert july["published_at"].startswith("2025-08-14T08:30")  # 09:30 London time, in UTC
