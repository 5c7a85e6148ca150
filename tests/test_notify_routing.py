"""Routing: alert events x subscriptions -> outbox rows, grouped per publication and recipient."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from monitor.db import session_scope
from monitor.models import AlertEvent, Outbox
from monitor.notify import routing
from monitor.notify import subscriptions as subs
from tests import alert_fixtures as af

EAST = "east.oversight@example.nhs.uk"
BOARD = "board@qehkl.nhs.uk"


@pytest.fixture
def settings(tmp_path: Path, engine: Engine) -> Any:
    s = af.settings(tmp_path, engine)
    with session_scope(engine, write=True) as session:
        for email, scope, code, kw in (
            (EAST, "region", "Y61", {"min_severity": "high"}),
            (BOARD, "org", "RCX", {}),
            ("digest@example.nhs.uk", "region", "Y61", {"digest_only": True}),
            ("london@example.nhs.uk", "region", "Y56", {}),
            ("norfolk@example.nhs.uk", "icb", "QMM", {}),
        ):
            subs.add(session, s, subs.Request(email, scope, code, **kw))
    return s


def outbox(engine: Engine) -> dict[str, dict[str, Any]]:
    with session_scope(engine) as s:
        return {r.key: r.payload for r in s.exec(select(Outbox).order_by(col(Outbox.id)))}


def test_a_region_gets_one_email_per_publication_a_trust_board_its_own(
    engine: Engine, settings: Any
) -> None:
    pub = af.publication(engine)
    ids = [af.alert(engine, org, pub)[1] for org in ("RCX", "RDE", "RC9", "RWH")]
    keys = af.route(engine, settings, ids)
    rcx = ids[0]
    assert sorted(keys) == sorted(
        [
            f"group:{pub}:{EAST}",  # four East of England trusts: one email
            f"event:{rcx}:{BOARD}",  # the board of RCX: its own trust only
            f"event:{rcx}:norfolk@example.nhs.uk",  # RCX is the only trust here in QMM
        ]
    )
    box = outbox(engine)
    assert box[f"group:{pub}:{EAST}"]["events"] == sorted(ids)
    assert box[f"group:{pub}:{EAST}"]["publication_id"] == pub
    # Nobody in London hears about the East of England, and digest-only means digest only.
    assert not [k for k in box if "london" in k or "digest@" in k]


def test_routing_the_same_events_again_writes_nothing(engine: Engine, settings: Any) -> None:
    pub = af.publication(engine)
    ids = [af.alert(engine, org, pub)[1] for org in ("RCX", "RDE")]
    first = af.route(engine, settings, ids)
    assert af.route(engine, settings, ids) == []
    assert af.route(engine, settings, ids[:1]) == []
    assert sorted(outbox(engine)) == sorted(first)


def test_events_of_one_publication_routed_in_two_calls_still_make_one_group(
    engine: Engine, settings: Any
) -> None:
    pub = af.publication(engine)
    rcx = af.alert(engine, "RCX", pub)[1]
    rde = af.alert(engine, "RDE", pub)[1]
    rwh = af.alert(engine, "RWH", pub)[1]
    assert af.route(engine, settings, [rcx]) == [
        f"event:{rcx}:{BOARD}",
        f"event:{rcx}:{EAST}",
        f"event:{rcx}:norfolk@example.nhs.uk",
    ]
    af.route(engine, settings, [rde])
    af.route(engine, settings, [rwh])
    box = outbox(engine)
    assert box[f"group:{pub}:{EAST}"]["events"] == sorted([rcx, rde, rwh])
    assert f"event:{rcx}:{EAST}" not in box  # folded in while it was still waiting


def test_a_group_already_on_its_way_is_not_changed(engine: Engine, settings: Any) -> None:
    pub = af.publication(engine)
    ids = [af.alert(engine, org, pub)[1] for org in ("RCX", "RDE")]
    af.route(engine, settings, ids)
    with session_scope(engine, write=True) as s:
        row = s.exec(select(Outbox).where(Outbox.key == f"group:{pub}:{EAST}")).one()
        row.status = "sent"
    late = af.alert(engine, "RWH", pub)[1]
    assert af.route(engine, settings, [late]) == [f"event:{late}:{EAST}"]
    assert outbox(engine)[f"group:{pub}:{EAST}"]["events"] == sorted(ids)


@pytest.mark.parametrize(
    ("kw", "why"),
    [
        ({"notify": False}, "quiet: back-fill, first ingest, acknowledged or silenced"),
        ({"superseded_by": 99}, "superseded by another open alert for the trust"),
        ({"kind": "updated"}, "updates are for the digest"),
        ({"kind": "acknowledged"}, "recorded only"),
    ],
)
def test_events_that_are_not_emailed(
    engine: Engine, settings: Any, kw: dict[str, Any], why: str
) -> None:
    pub = af.publication(engine)
    _, event = af.alert(engine, "RCX", pub, **kw)
    assert af.route(engine, settings, [event]) == [], why


def test_severity_trust_type_and_rule_filters_apply(
    tmp_path: Path, engine: Engine, settings: Any
) -> None:
    with session_scope(engine, write=True) as s:
        for email, kw in (
            ("critical-only@example.nhs.uk", {"min_severity": "critical"}),
            ("mental-health@example.nhs.uk", {"trust_type": "mental health"}),
            ("acute@example.nhs.uk", {"trust_type": "acute"}),
            ("cancer-only@example.nhs.uk", {"rules": ("cancer_62d_below_85",)}),
            ("ae-only@example.nhs.uk", {"rules": (af.RULE,)}),
        ):
            subs.add(s, settings, subs.Request(email, "region", "Y61", **kw))
    pub = af.publication(engine)
    _, medium = af.alert(engine, "RDE", pub, severity="medium")
    keys = af.route(engine, settings, [medium])
    who = {k.split(":")[2] for k in keys}
    assert who == {"acute@example.nhs.uk", "ae-only@example.nhs.uk"}
    # EAST wants high and above; mental-health wants other trusts; cancer-only other rules.
    _, critical = af.alert(engine, "RCX", pub, severity="critical", rule="ae_type1_below_40")
    who = {k.split(":")[2] for k in af.route(engine, settings, [critical])}
    assert who == {
        EAST,
        BOARD,
        "norfolk@example.nhs.uk",
        "critical-only@example.nhs.uk",
        "acute@example.nhs.uk",
    }


def test_ended_and_unconfirmed_subscriptions_get_nothing(
    tmp_path: Path, engine: Engine, settings: Any
) -> None:
    with session_scope(engine, write=True) as s:
        subs.remove(s, BOARD)
        subs.remove(s, "norfolk@example.nhs.uk")
    waiting = af.settings(tmp_path / "opt-in", engine, subscriptions={"double_opt_in": True})
    with session_scope(engine, write=True) as s:
        subs.add(s, waiting, subs.Request("unconfirmed@example.nhs.uk", "org", "RCX"))
    pub = af.publication(engine)
    _, event = af.alert(engine, "RCX", pub)
    assert af.route(engine, settings, [event]) == [f"event:{event}:{EAST}"]


def test_routing_is_part_of_the_callers_transaction(engine: Engine, settings: Any) -> None:
    pub = af.publication(engine)
    _, event = af.alert(engine, "RCX", pub)
    with pytest.raises(RuntimeError), session_scope(engine, write=True) as s:
        rows = routing.route(s, [s.get_one(AlertEvent, event)], settings=settings)
        assert rows
        s.flush()
        raise RuntimeError("the lifecycle failed after routing")
    assert outbox(engine) == {}  # rolled back with the alert events


def test_an_event_without_a_publication_is_emailed_on_its_own(
    engine: Engine, settings: Any
) -> None:
    a = af.alert(engine, "RCX", None)[1]
    b = af.alert(engine, "RDE", None)[1]
    keys = af.route(engine, settings, [a, b])
    assert f"event:{a}:{EAST}" in keys and f"event:{b}:{EAST}" in keys
