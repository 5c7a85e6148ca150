"""Ingest: whole or nothing, the same bytes once, revisions kept beside what they replace.

The parser here reads a tiny "org,metric,month,value" format so that these tests are about
storage only; each publisher's parser is tested on its real files elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import func, select

from monitor.db import session_scope
from monitor.metrics import Granularity
from monitor.models import Observation, Organisation, Publication, SourceState
from monitor.sources.base import Figure, Parsed, ParseError, month_bounds
from monitor.sources.ingest import FileInput, ingest_file
from monitor.web.queries import observations


def toy_parse(data: bytes, *, filename: str, region_of: Mapping[str, str] | None = None) -> Parsed:
    out = Parsed()
    for i, line in enumerate(data.decode().splitlines(), start=1):
        org, metric, month, value = line.split(",")
        try:
            v = float(value)
        except ValueError:
            raise ParseError(
                f"{value!r} is not a number", file=filename, row=i, column="value"
            ) from None
        start, end = month_bounds(int(month[:4]), int(month[5:]))
        out.figures.append(
            Figure(
                org=org,
                metric=metric,
                period_start=start,
                period_end=end,
                granularity=Granularity.MONTH,
                value=v,
                org_name=f"{org} HOSPITAL",
            )
        )
        out.rows_read += 1
    return out


def item(text: str, name: str = "f.csv", trigger: str = "ingest", day: int = 1) -> FileInput:
    return FileInput(
        source="ae",
        data=text.encode(),
        filename=name,
        url=f"https://example.org/{name}",
        trigger=trigger,
        published_at=datetime(2025, 8, day, 9, 30, tzinfo=UTC),
    )


JULY = "RCX,ae_4hr_type1_pct,2025-07,52.1\nRGT,ae_4hr_type1_pct,2025-07,60.6\n"


def count(engine: Engine, model: type) -> int:
    with session_scope(engine) as s:
        return s.exec(select(func.count()).select_from(model)).one()


def test_a_file_is_ingested_once(engine: Engine, tmp_path: Path) -> None:
    first = ingest_file(engine, item(JULY), toy_parse, archive_dir=tmp_path)
    assert (first.status, first.observations_written, first.periods) == (
        "ingested",
        2,
        ["2025-07-01/2025-07-31"],
    )
    again = ingest_file(engine, item(JULY, name="copy.csv"), toy_parse, archive_dir=tmp_path)
    assert (again.status, again.publication_id) == ("unchanged", first.publication_id)
    assert count(engine, Publication) == 1 and count(engine, Observation) == 2
    with session_scope(engine) as s:
        pub = s.get(Publication, first.publication_id)
        assert pub is not None and pub.archive_path
        assert Path(pub.archive_path).read_bytes() == JULY.encode()


def test_a_revision_supersedes_and_keeps_both_versions(engine: Engine) -> None:
    ingest_file(engine, item(JULY), toy_parse)
    revised = JULY.replace("52.1", "52.4") + "RCX,ae_4hr_type1_pct,2025-08,55.0\n"
    r = ingest_file(engine, item(revised, name="revised.csv", day=14), toy_parse)
    # RGT's July figure is identical: nothing new. RCX July is revised; August is new.
    assert (r.observations_written, r.revisions) == (2, 1)
    assert r.affected == {("ae_4hr_type1_pct", "RCX")}
    current = observations(engine, "RCX", metric="ae_4hr_type1_pct")
    assert [(o["period_start"], o["value"]) for o in current] == [
        ("2025-07-01", 52.4),
        ("2025-08-01", 55.0),
    ]
    history = observations(engine, "RCX", metric="ae_4hr_type1_pct", all_versions=True)
    july = [o for o in history if o["period_start"] == "2025-07-01"]
    assert [(o["value"], o["publication_url"].rsplit("/", 1)[1]) for o in july] == [
        (52.1, "f.csv"),
        (52.4, "revised.csv"),
    ]
    assert july[0]["superseded_by"] == r.publication_id and july[1]["superseded_by"] is None


def test_a_bad_file_is_rejected_whole_and_names_row_and_column(engine: Engine) -> None:
    ingest_file(engine, item(JULY), toy_parse)
    bad = "RCX,ae_4hr_type1_pct,2025-08,50.0\nRGT,ae_4hr_type1_pct,2025-08,n/a\n"
    r = ingest_file(engine, item(bad, name="bad.csv"), toy_parse)
    assert r.status == "rejected"
    assert r.error == "bad.csv, row 2, column 'value': 'n/a' is not a number"
    # Nothing from it was stored: RCX's August figure (row 1 was fine) is not there.
    assert count(engine, Observation) == 2
    with session_scope(engine) as s:
        pub = s.exec(select(Publication).where(Publication.status == "rejected")).one()
        assert pub.reason == r.error


def test_a_rejected_file_can_be_retried_and_then_ingests(engine: Engine) -> None:
    def flaky(data: bytes, **kw: object) -> Parsed:
        raise ParseError("truncated download")

    assert ingest_file(engine, item(JULY), flaky).status == "rejected"
    assert ingest_file(engine, item(JULY), toy_parse).status == "ingested"


def test_unknown_organisations_are_added_as_other(engine: Engine) -> None:
    r = ingest_file(engine, item("NEW99,ae_4hr_pct,2025-07,80\n"), toy_parse)
    assert r.new_orgs == ["NEW99"]
    with session_scope(engine) as s:
        org = s.get(Organisation, "NEW99")
        assert org is not None and (org.kind, org.name) == ("other", "New99 Hospital")


@pytest.mark.parametrize(
    ("trigger", "first_quiet", "second_quiet"),
    [
        ("poll", True, False),  # the source's first ingest is quiet; later polls are not
        ("backfill", True, True),
        ("ingest", True, True),
    ],
)
def test_only_polls_after_the_first_ingest_are_emailed(
    engine: Engine, trigger: str, first_quiet: bool, second_quiet: bool
) -> None:
    a = ingest_file(engine, item(JULY, trigger=trigger), toy_parse)
    b = ingest_file(engine, item(JULY.replace("52.1", "40"), trigger=trigger), toy_parse)
    assert (a.quiet, b.quiet) == (first_quiet, second_quiet)
    with session_scope(engine) as s:
        state = s.get(SourceState, "ae")
        assert state is not None and state.first_complete_ingest_at is not None
        assert state.last_publication_id == b.publication_id


def test_two_figures_for_one_key_reject_the_file(engine: Engine) -> None:
    dup = "RCX,ae_4hr_pct,2025-07,50\nRCX,ae_4hr_pct,2025-07,51\n"
    r = ingest_file(engine, item(dup), toy_parse)
    assert r.status == "rejected" and "two figures for RCX ae_4hr_pct 2025-07-01" in (r.error or "")
