"""The weekly digest: sections per recipient, the regional table, once a week."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import select
from typer.testing import CliRunner

from monitor.cli import app
from monitor.db import session_scope
from monitor.models import Outbox
from monitor.notify import digest
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af

EAST = "east.oversight@example.nhs.uk"
BOARD = "board@qehkl.nhs.uk"
# ISO week 33 of 2025 is Monday 11 to Sunday 17 August; its digest goes out on Monday 18th.
W33 = datetime(2025, 8, 11, tzinfo=UTC)


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Any:
    s = af.settings(tmp_path, engine)
    with session_scope(engine, write=True) as session:
        subs.add(session, s, subs.Request(EAST, "region", "Y61", digest_only=True))
        subs.add(session, s, subs.Request(BOARD, "org", "RCX"))
        subs.add(session, s, subs.Request("london@example.nhs.uk", "region", "Y56"))
    return s


@pytest.fixture
def week(engine: Engine) -> None:
    """A week in the East of England: two new alerts (one critical), one open for weeks,
    one resolved, one from before that ended before the week, one superseded."""
    pub = af.publication(engine)
    af.alert(engine, "RCX", pub, fired_at=W33 + timedelta(days=3, hours=8))
    af.alert(engine, "RDE", pub, severity="critical", fired_at=W33 + timedelta(days=3))
    af.alert(engine, "RWH", pub, fired_at=W33 - timedelta(weeks=5))
    af.alert(
        engine,
        "RC9",
        pub,
        kind="resolved",
        fired_at=W33 - timedelta(weeks=9),
        ended_at=W33 + timedelta(days=3),
    )
    af.alert(
        engine,
        "RCX",
        pub,
        kind="resolved",
        rule="old_rule",
        fired_at=W33 - timedelta(weeks=9),
        ended_at=W33 - timedelta(days=1),
    )
    af.alert(
        engine,
        "RCX",
        pub,
        rule="ae_type1_below_70",
        superseded_by=1,
        fired_at=W33 + timedelta(days=3),
    )


def test_a_regional_digest_has_each_section_and_a_table_by_trust(
    engine: Engine, settings: Any, week: None
) -> None:
    with session_scope(engine) as s:
        built = digest.build(s, settings, "2025-W33", now=W33 + timedelta(days=7, hours=6))
    assert set(built) == {EAST, BOARD}  # London has nothing to report: no digest
    east = built[EAST]
    assert (east["week"], east["week_label"]) == ("2025-W33", "11 to 17 August 2025")
    assert [i["org_code"] for i in east["new"]] == ["RDE", "RCX"]  # critical first
    assert [i["org_code"] for i in east["still_open"]] == ["RWH"]
    assert east["still_open"][0]["open_for"].startswith("6 weeks; in breach since")
    assert [(i["org_code"], i["ended_text"]) for i in east["resolved"]] == [
        ("RC9", "resolved 14 August 2025")
    ]
    assert [(t["org_code"], t["worst_severity"]) for t in east["trusts"]] == [
        ("RDE", "critical"),
        ("RWH", "high"),  # then by name: East and North Hertfordshire ...
        ("RCX", "high"),  # ... The Queen Elizabeth Hospital
    ]
    board = built[BOARD]
    assert [i["org_code"] for i in board["new"]] == ["RCX"] and board["trusts"] == []
    assert board["still_open"] == [] and board["resolved"] == []


def test_a_digest_run_twice_in_one_week_sends_once(
    engine: Engine, settings: Any, week: None
) -> None:
    monday = W33 + timedelta(days=7, hours=6)  # Monday 18 August 07:00 in London (BST)
    first = digest.queue(engine, settings, now=monday)
    assert sorted(first) == [f"digest:2025-W33:{BOARD}", f"digest:2025-W33:{EAST}"]
    assert digest.queue(engine, settings, now=monday + timedelta(days=2)) == []
    assert digest.queue(engine, settings, week="2025-W33", now=monday) == []
    runner = CliRunner()
    for _ in range(2):
        r = runner.invoke(
            app, ["--config", str(settings.config_path), "digest", "--week", "2025-W33"]
        )
        assert r.exit_code == 0, r.stderr
    mails = sorted((settings.mail.maildir / "new").glob("*.eml"))
    assert len(mails) == 2  # one each, however often the digest runs
    east = next(m.read_text() for m in mails if f"To: {EAST}" in m.read_text())
    subject = " ".join(email.message_from_string(east)["Subject"].split())  # unfolded
    assert subject == (
        "Weekly digest, East of England, 11 to 17 August 2025: 2 new, 1 still open, 1 resolved"
    )
    with session_scope(engine) as s:
        assert {r.status for r in s.exec(select(Outbox))} == {"sent"}


@pytest.mark.parametrize(
    ("now", "due"),
    [
        (datetime(2025, 8, 18, 5, 59, tzinfo=UTC), "2025-W32"),  # 06:59 BST: not yet
        (datetime(2025, 8, 18, 6, 0, tzinfo=UTC), "2025-W33"),  # 07:00 BST
        (datetime(2025, 8, 21, 12, 0, tzinfo=UTC), "2025-W33"),  # later that week
        (datetime(2026, 1, 5, 7, 0, tzinfo=UTC), "2026-W01"),  # 07:00 GMT, across the year
        (datetime(2026, 1, 5, 6, 59, tzinfo=UTC), "2025-W52"),
    ],
)
def test_the_week_due_follows_london_time(tmp_path: Path, now: datetime, due: str) -> None:
    assert digest.due_week(af.settings(tmp_path), now) == due


def test_week_names() -> None:
    assert digest.parse_week("2025-W33").isoformat() == "2025-08-11"
    assert digest.week_name(digest.parse_week("2026-W01")) == "2026-W01"
    for bad in ("2025-33", "2025-W54", "W33"):
        with pytest.raises(ValueError, match="ISO week"):
            digest.parse_week(bad)


def test_digest_preview_writes_files_and_queues_nothing(
    tmp_path: Path, engine: Engine, settings: Any, week: None
) -> None:
    out = tmp_path / "preview"
    r = CliRunner().invoke(
        app,
        [
            "--config",
            str(settings.config_path),
            "digest",
            "--week",
            "2025-W33",
            "--preview",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.stderr
    assert len(list(out.glob("*.eml"))) == 2
    html = next(out.glob(f"*{EAST}*.html")).read_text()
    assert "Open alerts by trust" in html and "East Suffolk and North Essex" in html
    with session_scope(engine) as s:
        assert s.exec(select(Outbox)).all() == []
    bad = CliRunner().invoke(app, ["--config", str(settings.config_path), "digest", "--week", "x"])
    assert bad.exit_code == 2 and "not an ISO week" in bad.stderr


def test_nothing_published_before_the_week_is_listed_as_new(engine: Engine, settings: Any) -> None:
    """An alert that first fired in week 34 on July's figures, published on 14 August (week
    33): it is open, but it is not news in week 34's digest."""
    pub = af.publication(engine)
    w34 = W33 + timedelta(weeks=1)
    af.alert(engine, "RCX", pub, fired_at=w34 + timedelta(days=1))
    af.alert(engine, "RDE", pub, fired_at=W33 + timedelta(days=3))  # fired in the week it came
    with session_scope(engine) as s:
        built = digest.build(s, settings, "2025-W34", now=w34 + timedelta(days=7, hours=6))
        w33 = digest.build(s, settings, "2025-W33", now=w34 + timedelta(hours=6))
    east = built[EAST]
    assert east["new"] == []
    assert {i["org_code"] for i in east["still_open"]} == {"RCX", "RDE"}
    # In week 33, RDE fired on a figure published that week: new.
    assert [i["org_code"] for i in w33[EAST]["new"]] == ["RDE"]
    assert east["scope_name"] == "East of England"
