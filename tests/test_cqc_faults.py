"""CQC cases from real bodies: "No action" is an outcome, a deregistered location seen for the
first time keeps its history, and a trust's page shows the trust's own ratings only."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cqc_fake_api import SNAPSHOT, settings_for, trust_provider_body
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.models import Rating
from monitor.sources.cqc import ingest_files
from monitor.sources.cqc.store import trust_ratings
from monitor.sources.cqc.values import normalise_rating
from monitor.web import create_app
from tests.web_fixtures import make_ctx

NOW = datetime(2026, 9, 3, 9, 0, tzinfo=UTC)
LOCATIONS = SNAPSHOT / "location_details"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return settings_for("http://127.0.0.1:9/public/v1", tmp_path)


def whole_org(engine: Engine, subject: str) -> list[Rating]:
    with Session(engine) as s:
        q = select(Rating).where(col(Rating.subject_id) == subject, col(Rating.service) == "")
        return list(s.exec(q))


def test_no_action_is_an_outcome_and_the_key_questions_stay(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    assert normalise_rating("No action") == ("No action", None)
    assert normalise_rating("no  ACTION") == ("No action", None)
    # The real Royal Oldham Hospital body, its overall outcome reading "No action".
    body = json.loads((LOCATIONS / "location_RM317.json").read_bytes())
    body["currentRatings"]["overall"]["rating"] = "No action"
    f = tmp_path / "location_RM317.json"
    f.write_text(json.dumps(body))
    [report] = ingest_files(engine, settings, [f], now=NOW)
    assert report.status == "ingested", report.error
    assert not [s for s in report.skipped if "unknown" in str(s["reason"])]
    current = {(r.domain, r.rating, r.ordinal) for r in whole_org(engine, "RM317") if r.current}
    assert current == {
        ("Overall", "No action", None),
        ("Safe", "Requires improvement", 3),
        ("Effective", "Good", 2),
        ("Caring", "Good", 2),
        ("Responsive", "Requires improvement", 3),
        ("Well-led", "Good", 2),
    }


def test_a_deregistered_location_seen_for_the_first_time_keeps_its_history(
    engine: Engine, settings: Settings
) -> None:
    rw603 = LOCATIONS / "location_RW603.json"
    assert json.loads(rw603.read_bytes())["registrationStatus"] == "Deregistered"
    [report] = ingest_files(engine, settings, [rw603], now=NOW)
    assert report.status == "deregistered"
    rows = whole_org(engine, "RW603")
    assert {r.domain for r in rows} >= {"Overall", "Safe", "Effective", "Caring", "Well-led"}
    assert not any(r.current for r in rows)  # history, no longer current
    # The same body again changes nothing.
    [again] = ingest_files(engine, settings, [rw603], now=NOW)
    assert again.status == "deregistered" and len(whole_org(engine, "RW603")) == len(rows)


def test_the_trust_page_shows_the_trusts_own_ratings_not_a_hospitals(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    # Only the Royal Oldham Hospital (RM317, RM3's location) is known: its overall is
    # "Requires improvement", inherited from RW603, and is not the trust's rating.
    [report] = ingest_files(engine, settings, [LOCATIONS / "location_RM317.json"], now=NOW)
    assert report.status == "ingested"
    with Session(engine) as s:
        assert trust_ratings(s, "RM3") == []
    (tmp_path / "web").mkdir()
    app = create_app(make_ctx(tmp_path / "web", engine))
    app.config["TESTING"] = True
    app.extensions["monitor"].data_version.ttl = 0  # see each write at once
    page = app.test_client().get("/orgs/RM3").get_data(as_text=True)
    assert 'id="ratings-table"' not in page
    assert "No CQC rating of this organisation itself has been recorded" in page
    # The trust's own provider body arrives: its ratings, and only they, are shown.
    rm3 = tmp_path / "provider_RM3.json"
    body = json.loads(trust_provider_body("RM3"))
    body["currentRatings"]["overall"]["rating"] = "Good"
    rm3.write_text(json.dumps(body))
    [report] = ingest_files(engine, settings, [rm3], now=NOW)
    assert report.status == "ingested", report.error
    with Session(engine) as s:
        own = trust_ratings(s, "RM3")
        assert [(r.domain, r.subject_id) for r in own][0] == ("Overall", "RM3")
        assert own[0].rating == "Good" and all(r.subject_type == "provider" for r in own)
    page = app.test_client().get("/orgs/RM3").get_data(as_text=True)
    table = page[
        page.index('id="ratings-table"') : page.index("</table>", page.index('id="ratings-table"'))
    ]
    assert "Good" in table and "Overall" in table
    assert table.count("Requires improvement") == 2  # Safe and Responsive, the trust's own


@pytest.mark.parametrize(
    "damage",
    [
        # Key questions that are not a list.
        lambda b: b["currentRatings"]["overall"].update(keyQuestionRatings=5),
        # A rating that is a number, not a word.
        lambda b: b["currentRatings"]["overall"].update(rating=3),
    ],
)
def test_a_body_of_an_unexpected_shape_is_rejected_and_the_others_ingested(
    tmp_path: Path, damage: object
) -> None:
    from typer.testing import CliRunner

    from monitor.cli import app

    cfg = tmp_path / "config.toml"
    cfg.write_text('[paths]\nvar = "var"\n')
    runner = CliRunner()
    assert runner.invoke(app, ["--config", str(cfg), "init"]).exit_code == 0
    body = json.loads((LOCATIONS / "location_RM317.json").read_bytes())
    assert callable(damage)
    damage(body)
    bad = tmp_path / "location_RM317.json"
    bad.write_text(json.dumps(body))
    good = LOCATIONS / "location_RM3Y3.json"
    r = runner.invoke(app, ["--config", str(cfg), "ingest", "cqc", str(bad), str(good), "--json"])
    assert r.exit_code == 1, r.output
    first, second = json.loads(r.stdout)
    assert first["status"] == "rejected"
    assert first["error"].startswith("location_RM317.json: not a body the monitor can read")
    assert second["status"] == "ingested", second
