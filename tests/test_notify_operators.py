"""Operators hear once per incident: a source failing or late, a publication rejected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select

from monitor.db import session_scope
from monitor.models import Outbox, Publication, SourceState
from monitor.notify import operators
from monitor.sources.timetable import expectation
from tests import alert_fixtures as af

OPS = ("ops@example.nhs.uk", "oncall@example.nhs.uk")
NOW = datetime(2025, 8, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Any:
    return af.settings(tmp_path, engine, mail={"operators": list(OPS)})


def state(engine: Engine, **kw: Any) -> None:
    with session_scope(engine, write=True) as s:
        row = s.get(SourceState, "ae") or SourceState(source="ae")
        for k, v in kw.items():
            setattr(row, k, v)
        s.add(row)


def operator_mail(engine: Engine) -> list[Outbox]:
    with session_scope(engine) as s:
        return list(s.exec(select(Outbox).where(Outbox.kind == "operator")))


def test_a_failing_source_is_told_once_per_incident(engine: Engine, settings: Any) -> None:
    since = NOW - timedelta(hours=1)
    state(engine, failing_since=since, consecutive_failures=1, last_error="HTTP 503")
    assert operators.queue_incidents(engine, settings, now=NOW) == []  # one blip: not yet
    state(engine, consecutive_failures=2)
    keys = operators.queue_incidents(engine, settings, now=NOW)
    assert sorted(keys) == sorted(f"operator:source:ae:{since.isoformat()}:{op}" for op in OPS)
    state(engine, consecutive_failures=7)  # still the same incident
    assert operators.queue_incidents(engine, settings, now=NOW + timedelta(hours=3)) == []
    state(engine, failing_since=NOW + timedelta(days=1), consecutive_failures=2)  # a new one
    assert len(operators.queue_incidents(engine, settings, now=NOW + timedelta(days=1))) == 2
    mail = operator_mail(engine)[0]
    assert mail.payload["title"] == "The ae source is failing"
    assert ["Last error", "HTTP 503"] in mail.payload["details"]


def test_a_late_source_is_told_once(engine: Engine, settings: Any) -> None:
    # A&E publishes on the second Thursday at 09:30: 14 August 2025; grace is 3 days.
    assert expectation("ae", settings.source("ae"), NOW, None).expected_at is None  # no schedule
    s2 = af.settings(
        settings.config_path.parent / "late",
        engine,
        mail={"operators": list(OPS)},
    )
    ae = s2.source("ae").model_copy(
        update={"schedule": {"day": "2nd thu", "hour": 9, "minute": 30}}
    )
    s2 = s2.model_copy(update={"sources": {"ae": ae}})
    expected = expectation("ae", s2.source("ae"), NOW, None).expected_at
    assert expected is not None and expected.isoformat() == "2025-08-14T09:30:00+01:00"
    state(engine, first_complete_ingest_at=NOW - timedelta(days=60))
    pub = af.publication(engine)
    with session_scope(engine, write=True) as s:
        p = s.get_one(Publication, pub)
        p.published_at = datetime(2025, 7, 10, 8, 30, tzinfo=UTC)  # June's file; July's due
    keys = operators.queue_incidents(engine, s2, now=NOW)
    assert sorted(keys) == sorted(f"operator:late:ae:2025-08-14:{op}" for op in OPS)
    assert operators.queue_incidents(engine, s2, now=NOW + timedelta(days=2)) == []
    with session_scope(engine, write=True) as s:
        s.get_one(Publication, pub).published_at = datetime(2025, 8, 14, 8, 30, tzinfo=UTC)
    assert operators.queue_incidents(engine, s2, now=NOW + timedelta(days=9)) == []


def test_a_rejected_publication_is_told_once(engine: Engine, settings: Any) -> None:
    with session_scope(engine, write=True) as s:
        for trigger in ("poll", "ingest"):
            s.add(
                Publication(
                    source="ae",
                    url=f"https://example.org/{trigger}.csv",
                    filename=f"{trigger}.csv",
                    sha256=trigger * 8,
                    published_at=NOW,
                    fetched_at=NOW - timedelta(hours=1),
                    status="rejected",
                    trigger=trigger,
                    reason="row 7, column 'A&E attendances Type 1': 'x' is not a number",
                )
            )
    keys = operators.queue_incidents(engine, settings, now=NOW)
    assert len(keys) == 2 and all(k.startswith("operator:rejected:") for k in keys)
    assert operators.queue_incidents(engine, settings, now=NOW) == []
    (first, _) = operator_mail(engine)
    assert "row 7" in str(first.payload["details"])


def test_without_operators_nothing_is_queued(tmp_path: Path, engine: Engine) -> None:
    state(engine, failing_since=NOW, consecutive_failures=5)
    assert operators.queue_incidents(engine, af.settings(tmp_path, engine), now=NOW) == []
