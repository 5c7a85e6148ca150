"""Reference organisations and the region alias table."""

from __future__ import annotations

import csv

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor import orgs
from monitor.db import session_scope
from monitor.models import Organisation
from tests.conftest import REAL


@pytest.mark.parametrize(
    ("spelling", "code"),
    [
        # A&E Parent Org, with and without the trailing space the files carry.
        ("NHS ENGLAND EAST OF ENGLAND ", "Y61"),
        ("NHS ENGLAND LONDON", "Y56"),
        ("NHS ENGLAND NORTH EAST AND YORKSHIRE ", "Y63"),
        # Oversight Framework and AmbSYS regions.
        ("East", "Y61"),
        ("North East and Yorkshire", "Y63"),
        ("South West", "Y58"),
        # System mapping and finance reports.
        ("East of England Commissioning Region", "Y61"),
        ("Midlands Commissioning Region", "Y60"),
        ("North East & Yorkshire Region", "Y63"),
        # England.
        ("TOTAL", "ENG"),
        ("Total", "ENG"),
        ("Total ", "ENG"),
        ("Eng", "ENG"),
        ("England", "ENG"),
        ("Y59", "Y59"),
        ("Narnia", None),
    ],
)
def test_every_publisher_spelling_maps_to_its_code(spelling: str, code: str | None) -> None:
    assert orgs.code_for(spelling) == code


def test_every_region_spelling_in_the_real_files_is_known() -> None:
    spellings: set[str] = set()
    for path in (REAL / "ods").glob("System-Mapping.csv"):
        spellings |= {r["Region Name"] for r in csv.DictReader(path.open(encoding="utf-8-sig"))}
    with (REAL / "oversight" / "derived" / "trust_profiles.csv").open(encoding="utf-8-sig") as f:
        spellings |= {r["Region"] for r in csv.DictReader(f) if r["Region"]}
    with (REAL / "ambulance" / "ambsys.csv").open(encoding="utf-8-sig") as f:
        spellings |= {r["Region"] for r in csv.DictReader(f) if not r["Region"].startswith("Y")}
    unknown = sorted(s for s in spellings if orgs.code_for(s) is None)
    assert unknown == []


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("ISLE OF WIGHT NHS TRUST", "Isle of Wight NHS Trust"),
        ("Isle Of Wight NHS Trust", "Isle of Wight NHS Trust"),
        (
            "THE QUEEN ELIZABETH HOSPITAL, KING'S LYNN, NHS FOUNDATION TRUST",
            "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust",
        ),
        (
            "UNIVERSITY HOSPITALS OF NORTH MIDLANDS NHS TRUST",
            "University Hospitals of North Midlands NHS Trust",
        ),
        ("STOKE-ON-TRENT", "Stoke-on-Trent"),
    ],
)
def test_display_names_are_not_the_publishers_upper_case(name: str, display: str) -> None:
    assert orgs.nhs_titlecase(name) == display


def test_reference_list_covers_english_trusts_with_a_type() -> None:
    rows = orgs.reference_rows()
    by_code = {r["code"]: r for r in rows}
    rcx = by_code["RCX"]
    assert rcx["name"] == "The Queen Elizabeth Hospital, King's Lynn, NHS Foundation Trust"
    assert (rcx["kind"], rcx["trust_type"], rcx["region"], rcx["icb"]) == (
        "trust",
        "acute",
        "Y61",
        "QMM",
    )
    assert not [c for c in by_code if c.startswith("W")], "England only"
    trusts = [r for r in rows if r["kind"] == "trust"]
    assert len(trusts) > 200
    assert all(r["trust_type"] for r in trusts)
    ambulance = sorted(r["code"] for r in trusts if r["trust_type"] == "ambulance")
    assert ambulance == ["RRU", "RX6", "RX7", "RX8", "RX9", "RYA", "RYC", "RYD", "RYE", "RYF"]
    assert by_code["RYW"]["trust_type"] == "community"
    assert by_code["RW6"]["successor"] == "RM3" and by_code["RW6"]["closed"] is not None
    assert by_code["Y61"]["kind"] == "region" and by_code["ENG"]["kind"] == "england"


def test_loading_twice_changes_nothing(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        counts = orgs.load_reference(s)
    assert counts["added"] == 0 and counts["updated"] == 0
    assert counts["unchanged"] == len(orgs.reference_rows())


def test_unknown_codes_from_a_publication_become_other(engine: Engine) -> None:
    with session_scope(engine, write=True) as s:
        added = orgs.ensure_orgs(s, {"RCX": "X", "NEW01": "SOME WALK-IN CENTRE", "Y61": None})
    assert added == ["NEW01"]
    with session_scope(engine) as s:
        new = s.get(Organisation, "NEW01")
        assert new is not None and (new.kind, new.name) == ("other", "Some Walk-in Centre")
        # The reference list is untouched, and loading it again keeps the new organisation.
        assert s.get(Organisation, "RCX").name.startswith("The Queen Elizabeth")  # type: ignore[union-attr]
    with session_scope(engine, write=True) as s:
        orgs.load_reference(s)
        assert s.exec(select(Organisation).where(Organisation.code == "NEW01")).one()
