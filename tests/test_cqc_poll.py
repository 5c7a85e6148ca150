"""Polling CQC end to end: a real HTTP server replaying the real Oldham bodies, a real database.

Times are given to ``poll`` and the rate limiter runs on a fake clock: nothing sleeps.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cqc_fake_api import (
    HTML_403,
    KEY,
    FakeClock,
    FakeCqc,
    real_body,
    real_providers_listing,
    respond,
    settings_for,
    trust_provider_body,
)
from pytest_httpserver import HTTPServer
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from monitor.config import Settings
from monitor.models import CqcSubject, Observation, Publication, Rating, SourceState
from monitor.sources.cqc import PollResult, make_api, poll

T0 = datetime(2025, 3, 21, 0, 0, tzinfo=UTC)  # the back-fill
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)
T3 = T0 + timedelta(hours=3)
RM3_SITES = ("RM317", "RM3Y3", "G7F7V")


@pytest.fixture
def fake(httpserver: HTTPServer) -> FakeCqc:
    f = FakeCqc(httpserver).install()
    f.add_body("provider", "RM3", trust_provider_body("RM3"))
    for sid in (*RM3_SITES, "RW603", "RT203", "RT242", "RY210"):
        f.add_body("location", sid)
    for p in real_providers_listing()[:5]:
        f.add_body("provider", p["providerId"])
    f.listings["providers"] = [{"providerId": "RM3", "providerName": "NCA"}] + [
        {"providerId": "RT2", "providerName": "Pennine Care"},  # no body: answers 404
        *real_providers_listing(),
    ]
    return f


@pytest.fixture
def settings(fake: FakeCqc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TEST_CQC_KEY", KEY)
    return settings_for(fake.base_url, tmp_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def run(engine: Engine, settings: Settings, clock: FakeClock, now: datetime) -> PollResult:
    api = make_api(settings, clock=clock.clock, sleep=clock.sleep)
    try:
        return poll(engine, settings, api=api, now=now)
    finally:
        api.close()


def ratings(
    engine: Engine, subject: str | None = None, *, current: bool | None = None
) -> list[Rating]:
    with Session(engine) as s:
        stmt = select(Rating)
        if subject:
            stmt = stmt.where(col(Rating.subject_id) == subject)
        if current is not None:
            stmt = stmt.where(col(Rating.current).is_(current))
        return list(s.exec(stmt))


def state(engine: Engine) -> SourceState:
    with Session(engine) as s:
        st = s.get(SourceState, "cqc")
        assert st is not None
        return st


def test_first_poll_backfills_trusts_and_their_locations(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    result = run(engine, settings, clock, T0)
    assert result.status == "ok", result
    fetched = [p for p in fake.paths() if not p.endswith("/providers")]
    # Only trust-coded providers and the trust's registered locations are fetched.
    assert sorted(fetched) == sorted(
        ["/public/v1/providers/RM3", "/public/v1/providers/RT2"]
        + [f"/public/v1/locations/{s}" for s in RM3_SITES]
    )
    assert result.not_found == ["RT2"]
    st = state(engine)
    assert json.loads(st.cursor or "{}") == {"provider": T0.isoformat(), "location": T0.isoformat()}
    assert st.first_complete_ingest_at is not None and st.last_error is None
    assert st.last_publication_id is not None
    with Session(engine) as s:
        obs = s.exec(select(Observation).where(col(Observation.metric) == "cqc_overall")).all()
        pubs = s.exec(select(Publication)).all()
    assert [(o.org, o.value, o.label, str(o.period_start)) for o in obs] == [
        ("RM3", 3.0, "Requires improvement", "2021-02-10")
    ]
    assert all(p.quiet and p.trigger == "poll" for p in pubs)


def test_rm317_inherited_rating_is_stored_as_inherited(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    cur = {(r.service, r.domain): r for r in ratings(engine, "RM317", current=True)}
    overall = cur[("", "Overall")]
    assert (overall.rating, overall.ordinal, overall.org) == ("Requires improvement", 3, "RM3")
    assert overall.inherited and overall.inherited_from == "RW603"
    assert not cur[("Maternity", "Overall")].inherited
    assert cur[("End of life care", "Overall")].inherited_from == "RW603"
    # "any location's maternity service Inadequate" is a plain query over current rows.
    maternity = [
        (r.subject_id, r.rating)
        for r in ratings(engine, current=True)
        if r.service == "Maternity" and r.domain == "Overall"
    ]
    assert maternity == [("RM317", "Requires improvement")]


def test_changes_feed_fetches_listed_ids_and_skips_404(
    engine: Engine,
    settings: Settings,
    fake: FakeCqc,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run(engine, settings, clock, T0)
    when = T0 + timedelta(minutes=30)
    fake.list_change("location", when, "RM317", "RT203", "rxx99", "1-10024040008")
    fake.list_change("provider", when, "1-101612188")
    start = len(fake.log)
    with caplog.at_level(logging.WARNING):
        result = run(engine, settings, clock, T1)
    assert result.status == "ok"
    bodies = [p for p in fake.paths()[start:] if "/changes/" not in p]
    # Ids in upper case; care homes ("1-...") are not trusts' sites and are not fetched.
    assert bodies == [
        "/public/v1/locations/RM317", "/public/v1/locations/RT203", "/public/v1/locations/RXX99",
    ]  # fmt: skip
    assert result.not_found == ["RXX99"]
    assert "RXX99 answers 404" in caplog.text
    assert result.unchanged == 1  # RM317: same bytes as at the back-fill
    with Session(engine) as s:
        rt203 = s.get(CqcSubject, ("location", "RT203"))
    # Pennine Care's site: in scope, but CQC has published no rating for it.
    assert rt203 is not None and (rt203.provider_id, rt203.in_scope) == ("RT2", True)
    assert "No published rating" in (rt203.error or "")
    assert json.loads(state(engine).cursor or "{}")["location"] == T1.isoformat()


def test_unchanged_feed_makes_only_the_feed_requests(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    when = T0 + timedelta(minutes=30)
    fake.list_change("location", when, "RM317", "RT203", "RXX99", "RT242")
    fake.list_change("provider", when, "RM3")
    run(engine, settings, clock, T1)
    rows_before = len(ratings(engine))
    start = len(fake.log)
    result = run(engine, settings, clock, T2)
    requests = fake.paths()[start:]
    # The overlap window lists all five again; all were already listed and fetched.
    assert result.listed == 5
    assert sorted(requests) == sorted(
        ["/public/v1/changes/provider"] * 2 + ["/public/v1/changes/location"] * 2
    )
    assert result.requests == 4 and result.fetched == 0
    assert len(ratings(engine)) == rows_before


def test_a_late_listing_in_the_overlap_is_fetched_once(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    run(engine, settings, clock, T1)
    # Listed late: dated before the last poll's end, so only the overlap window shows it.
    fake.list_change("location", T0 + timedelta(minutes=40), "RT242")
    start = len(fake.log)
    run(engine, settings, clock, T2)
    assert "/public/v1/locations/RT242" in fake.paths()[start:]
    start = len(fake.log)
    run(engine, settings, clock, T3)
    assert all("/changes/" in p for p in fake.paths()[start:])


def test_429_with_retry_after_then_success(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    fake.list_change("location", T0 + timedelta(minutes=5), "RM317")
    fake.script["/locations/RM317"] = [respond(429, '{"statusCode": 429}', {"Retry-After": "12"})]
    result = run(engine, settings, clock, T1)
    assert result.status == "ok" and not result.failed
    assert 12 in clock.waits
    assert (result.fetched, result.unchanged) == (1, 1)
    assert fake.paths("/locations/").count("/public/v1/locations/RM317") == 3  # back-fill, 429, 200


def test_bad_input_is_logged_and_the_poll_goes_on(
    engine: Engine,
    settings: Settings,
    fake: FakeCqc,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    run(engine, settings, clock, T0)
    stored = {(r.subject_id, r.service, r.domain, r.report_date, r.rating) for r in ratings(engine)}
    rm3y3 = json.loads(real_body("location", "RM3Y3"))
    del rm3y3["currentRatings"]["overall"]  # a body without overall
    rm317 = json.loads(real_body("location", "RM317"))
    safe = rm317["currentRatings"]["overall"]["keyQuestionRatings"][0]
    assert safe["name"] == "Safe"
    safe["rating"] = "Superb"  # an unknown rating string
    fake.add_body("location", "RM3Y3", json.dumps(rm3y3).encode())
    fake.add_body("location", "RM317", json.dumps(rm317).encode())
    fake.add_body("location", "RT203", b'{"locationId": "RT203", "currentRatings": {"overall"')
    fake.script["/locations/RT242"] = [respond(403, HTML_403)]  # the gateway's HTML page
    when = T0 + timedelta(minutes=30)
    # RY210 (real) has no currentRatings at all.
    fake.list_change("location", when, "RM317", "RT242", "RM3Y3", "RT203", "RY210", "G7F7V")
    with caplog.at_level(logging.WARNING):
        result = run(engine, settings, clock, T1)
    assert result.status == "ok"
    failed = "\n".join(result.failed)
    assert "RT203: malformed JSON" in failed
    assert "RT242" in failed and "HTML page" in failed
    problems = "\n".join(result.problems)
    assert "RM3Y3: no current overall rating (currentRatings without overall)" in problems
    assert "RM317: whole organisation / Safe: unknown rating 'Superb'" in problems
    assert "RY210: no current overall rating (no currentRatings)" in problems
    for text in ("RT203 rejected: malformed JSON", "RT242 not fetched", "unknown rating 'Superb'"):
        assert text in caplog.text
    # The rest of the poll went on: G7F7V (listed last) was fetched.
    assert fake.paths()[-1] == "/public/v1/locations/G7F7V"
    # Nothing already stored was lost.
    after = {(r.subject_id, r.service, r.domain, r.report_date, r.rating) for r in ratings(engine)}
    assert stored <= after
    # The stored Safe rating of RM317 stays current: the unknown word did not replace it.
    cur = {(r.service, r.domain): r.rating for r in ratings(engine, "RM317", current=True)}
    assert cur[("", "Safe")] == "Requires improvement" and cur[("", "Overall")]
    # Failed ids are retried by the next poll even though the feed does not list them again.
    fake.add_body("location", "RT203")
    start = len(fake.log)
    run(engine, settings, clock, T2)
    assert {"/public/v1/locations/RT203", "/public/v1/locations/RT242"} <= set(fake.paths()[start:])


def test_a_deregistered_location_stops_being_current(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    fake.list_change("location", T0 + timedelta(minutes=1), "RW603")
    run(engine, settings, clock, T1)
    assert ratings(engine, "RW603", current=True) == []
    with Session(engine) as s:
        subj = s.get(CqcSubject, ("location", "RW603"))
    assert subj is not None and subj.registration_status == "Deregistered"


def test_a_failing_feed_keeps_the_cursor_and_the_poller_lives(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    fake.script["/changes/provider"] = [respond(500, "oops")] * 5  # 1 try + 4 retries
    result = run(engine, settings, clock, T1)
    assert result.status == "failed" and "provider changes feed" in (result.error or "")
    st = state(engine)
    cursor = json.loads(st.cursor or "{}")
    assert cursor["provider"] == T0.isoformat() and cursor["location"] == T1.isoformat()
    assert st.consecutive_failures == 1 and st.failing_since == T1
    assert run(engine, settings, clock, T2).status == "ok"
    assert state(engine).consecutive_failures == 0


def test_no_key_is_a_recorded_failure_not_a_crash(
    engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_CQC_KEY")
    result = poll(engine, settings, now=T0)
    assert result.status == "failed" and "TEST_CQC_KEY" in (result.error or "")
    assert "TEST_CQC_KEY" in (state(engine).last_error or "")


def test_polling_twice_changes_nothing(
    engine: Engine, settings: Settings, fake: FakeCqc, clock: FakeClock
) -> None:
    run(engine, settings, clock, T0)
    fake.list_change("location", T0 + timedelta(minutes=3), "RT203")
    run(engine, settings, clock, T1)
    with Session(engine) as s:
        before = (len(s.exec(select(Rating)).all()), len(s.exec(select(Publication)).all()))
    fake.list_change("location", T1 + timedelta(minutes=3), "RT203", "RM317")
    result = run(engine, settings, clock, T2)  # listed again: fetched, same bytes
    assert result.fetched == 2 and result.unchanged == 2
    with Session(engine) as s:
        after = (len(s.exec(select(Rating)).all()), len(s.exec(select(Publication)).all()))
    assert after == before


CARE_HOMES = ("1-10024040008", "1-1015412687", "1-109570155")


@pytest.mark.parametrize(("region", "kept"), [("Y62", True), ("Y56", False)])
def test_regions_widen_the_scope_to_every_provider_there(
    engine: Engine,
    fake: FakeCqc,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    region: str,
    kept: bool,
) -> None:
    monkeypatch.setenv("TEST_CQC_KEY", KEY)
    settings = settings_for(fake.base_url, tmp_path, f'regions = ["{region}"]')
    for sid in CARE_HOMES:  # Oldham (North West, Y62) locations from the real snapshot
        fake.add_body("location", sid)
    fake.listings["locations"] = [{"locationId": sid} for sid in CARE_HOMES]
    assert run(engine, settings, clock, T0).status == "ok"
    listings = [r for r in fake.log if r.path == "/public/v1/locations"]
    name = {"Y62": "North West", "Y56": "London"}[region]
    assert {r.args.get("region") for r in listings} == {name}
    stored = {r.subject_id for r in ratings(engine)}
    assert ("1-109570155" in stored) is kept  # the one of the three with ratings
    assert {"RM317"} <= stored  # trusts are always in scope
    with Session(engine) as s:
        subjects = [s.get(CqcSubject, ("location", sid)) for sid in CARE_HOMES]
    assert [(x.in_scope, x.region) for x in subjects if x] == [(kept, "Y62")] * 3
    # A later change to an organisation known to be outside the scope is not fetched.
    fake.list_change("location", T0 + timedelta(minutes=5), *CARE_HOMES)
    start = len(fake.log)
    run(engine, settings, clock, T1)
    fetched = [p for p in fake.paths()[start:] if "/changes/" not in p]
    assert fetched == ([f"/public/v1/locations/{s}" for s in CARE_HOMES] if kept else [])
