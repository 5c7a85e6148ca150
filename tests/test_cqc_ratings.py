"""CQC API bodies -> rating records, on the real Oldham snapshot."""

from __future__ import annotations

import json
from datetime import date

import pytest
from cqc_fake_api import SNAPSHOT, real_body, trust_provider_body

from monitor.sources.cqc.ratings import BodyError, parse_body
from monitor.sources.cqc.records import overall_figure
from monitor.sources.cqc.values import (
    Scope,
    UnknownRating,
    is_trust_code,
    normalise_domain,
    normalise_rating,
    region_code,
    service_label,
    service_name,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Outstanding", ("Outstanding", 1)),
        ("Good", ("Good", 2)),
        ("Requires improvement", ("Requires improvement", 3)),
        ("Requires Improvement", ("Requires improvement", 3)),
        ("REQUIRES  IMPROVEMENT ", ("Requires improvement", 3)),
        ("inadequate", ("Inadequate", 4)),
        ("Inspected but not rated", ("Inspected but not rated", None)),
        ("Insufficient evidence to rate", ("Insufficient evidence to rate", None)),
        ("Regulations met", ("Regulations met", None)),
        ("No published rating", None),
        ("", None),
        (None, None),
    ],
)
def test_rating_words(raw: str | None, expected: object) -> None:
    assert normalise_rating(raw) == expected


def test_unknown_rating_word_is_an_error_not_a_guess() -> None:
    with pytest.raises(UnknownRating, match="Very good"):
        normalise_rating("Very good")


@pytest.mark.parametrize("raw", ["Well-led", "Well led", "well-Led", "WELL-LED"])
def test_well_led_spellings(raw: str) -> None:
    assert normalise_domain(raw) == "Well-led"


def test_service_names() -> None:
    assert service_name("npimaternity") == "Maternity"
    assert service_name("urgent") == "Urgent and emergency services"
    assert service_label("Services for children & young people") == (
        "Services for children and young people"
    )
    assert service_label("Maternity") == "Maternity"
    assert service_label("Overall") == ""
    assert service_name("newservice", {"newservice": "Gynaecology"}) == "Gynaecology"


def test_regions_and_trust_codes() -> None:
    assert region_code("North West") == "Y62"
    assert region_code("Yorkshire and The Humber") == "Y63"
    assert region_code("West Midlands") == "Y60"
    assert region_code("North East and Yorkshire") == "Y63"
    assert [is_trust_code(c) for c in ("RCX", "RM3", "TAF", "1-101611810", "5J5", "RM317")] == [
        True, True, True, False, False, False,
    ]  # fmt: skip
    scope = Scope()
    assert scope.includes("RM3", "NHS Healthcare Organisation", "Y62")
    assert not scope.includes("1-101611810", "Social Care Org", "Y62")
    assert Scope(frozenset({"Y62"})).includes("1-101611810", "Social Care Org", "Y62")


def test_rm317_overall_is_inherited_from_rw603() -> None:
    body = parse_body(real_body("location", "RM317"))
    assert (body.kind, body.subject_id, body.provider_id) == ("location", "RM317", "RM3")
    overall = body.overall
    assert overall is not None
    assert (overall.rating, overall.ordinal, overall.report_date) == (
        "Requires improvement", 3, date(2021, 2, 10),
    )  # fmt: skip
    # The overall item has no organisationId of its own: its report is RW603's.
    assert overall.inherited and overall.inherited_from == "RW603"
    safe = next(r for r in body.records if r.current and r.service == "" and r.domain == "Safe")
    assert safe.inherited_from == "RW603"


def test_rm317_services_own_and_inherited() -> None:
    body = parse_body(real_body("location", "RM317"))
    cur = {(r.service, r.domain): r for r in body.records if r.current}
    maternity = cur[("Maternity", "Overall")]
    assert (maternity.rating, maternity.inherited) == ("Requires improvement", False)
    assert maternity.report_date == date(2022, 12, 22)
    assert maternity.report_link and maternity.report_link.endswith(
        "3f5b89b1-9a20-40d9-858b-d51732924a99"
    )
    eol = cur[("End of life care", "Overall")]
    assert (eol.rating, eol.ordinal, eol.inherited_from) == ("Outstanding", 1, "RW603")
    urgent_safe = cur[("Urgent and emergency services", "Safe")]
    assert urgent_safe.rating == "Requires improvement" and not urgent_safe.inherited
    assert cur[("Outpatients and diagnostic imaging", "Effective")].ordinal is None


def test_rm317_history_is_kept_and_dated() -> None:
    body = parse_body(real_body("location", "RM317"))
    history = [r for r in body.records if not r.current]
    assert {r.report_date for r in history} >= {date(2016, 8, 12), date(2018, 3, 1)}
    inadequate_2016 = [
        r for r in history if r.service == "" and r.domain == "Overall" and r.ordinal == 4
    ]
    assert inadequate_2016 and inadequate_2016[0].report_date == date(2016, 8, 12)
    assert inadequate_2016[0].inherited_from == "RW603"
    assert len({r.key for r in body.records}) == len(body.records)


def test_rw603_is_the_deregistered_predecessor_with_its_own_ratings() -> None:
    body = parse_body(real_body("location", "RW603"))
    assert body.deregistered and body.provider_id == "RW6"
    assert body.overall is not None and not body.overall.inherited


def test_single_assessment_framework_blocks() -> None:
    body = parse_body(real_body("location", "1-569934227"))
    cur = {(r.service, r.domain): r for r in body.records if r.current}
    gp = cur[("General Practice", "Overall")]
    assert (gp.rating, gp.report_date) == ("Good", date(2024, 5, 10))
    assert cur[("General Practice", "Responsive")].score == 75
    # No overall in currentRatings: the one assessment group is the location's overall.
    assert body.overall is not None and body.overall.rating == "Good"
    assert cur[("Families, children and young people", "Overall")].ordinal == 3
    assert body.problems == []


def test_dental_assessment_regulations_met_is_not_on_the_scale() -> None:
    body = parse_body(real_body("location", "1-16561595022"))
    dental = [r for r in body.records if r.service == "Dental"]
    assert dental and {r.rating for r in dental} == {"Regulations met"}
    assert {r.ordinal for r in dental} == {None}
    assert body.overall is None
    assert "no current overall rating" in body.problems[0]


def test_every_real_body_parses() -> None:
    files = sorted(SNAPSHOT.glob("*_details/*.json"))
    assert len(files) == 471
    for f in files:
        body = parse_body(f.read_bytes())
        assert body.subject_id


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"locationId": "RM317", "currentRatings": {', "malformed JSON"),
        (b"<!DOCTYPE html><html><body>403 Forbidden</body></html>", "HTML page"),
        (b"[1, 2]", "not an object"),
        (b'{"name": "no id"}', "no locationId or providerId"),
    ],
)
def test_bad_bodies_are_rejected_with_the_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BodyError, match=reason):
        parse_body(raw)


def test_body_without_current_ratings_or_overall_says_so() -> None:
    body = json.loads(real_body("location", "RM317"))
    no_current = {k: v for k, v in body.items() if k != "currentRatings"}
    parsed = parse_body(json.dumps(no_current))
    assert parsed.overall is None and "no currentRatings" in parsed.problems[0]
    assert all(not r.current for r in parsed.records)  # history is still read
    no_overall = json.loads(json.dumps(body))
    del no_overall["currentRatings"]["overall"]
    parsed = parse_body(json.dumps(no_overall))
    assert parsed.overall is None and "currentRatings without overall" in parsed.problems[0]
    assert any(r.current and r.service == "Maternity" for r in parsed.records)


def test_unknown_rating_word_drops_that_rating_only() -> None:
    body = json.loads(real_body("location", "RM317"))
    body["currentRatings"]["overall"]["keyQuestionRatings"][0]["rating"] = "Superb"
    parsed = parse_body(json.dumps(body))
    assert any("unknown rating 'Superb'" in p for p in parsed.problems)
    assert parsed.overall is not None
    assert not any(r.current and r.service == "" and r.domain == "Safe" for r in parsed.records)


def test_trust_cqc_overall_figure() -> None:
    body = parse_body(trust_provider_body("RM3"))
    fig = overall_figure(body.records)
    assert fig is not None
    assert (fig.org, fig.metric, fig.value, fig.label) == (
        "RM3",
        "cqc_overall",
        3.0,
        "Requires improvement",
    )
    assert fig.period_start == fig.period_end == date(2021, 2, 10)
    assert str(fig.granularity) == "point"
    # Locations are not trusts: no cqc_overall from them.
    assert overall_figure(parse_body(real_body("location", "RM317")).records) is None
