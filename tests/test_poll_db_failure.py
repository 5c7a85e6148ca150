"""The database failing while one polled file is stored: not that file's rejection, nothing of it
kept, the poll's other files ingested, and the file fetched and stored again at the next poll.

The failure is the database's own: a trigger refuses every figure of July 2025, as a constraint
would, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from monitor.context import Context
from monitor.db import is_sqlite, session_scope
from monitor.models import HttpCache, Observation, Outbox, Publication, SourceState
from monitor.sources.poll import poll
from tests.test_poll import Publisher, ctx, fetcher, publisher  # noqa: F401  (fixtures)

JULY = "July-2025-CSV-9jfy4.csv"

_SQLITE = (
    "CREATE TRIGGER refuse_july BEFORE INSERT ON observation "
    "WHEN NEW.period_start = '2025-07-01' BEGIN SELECT RAISE(ABORT, 'July is refused'); END"
)
_POSTGRES = (
    "CREATE FUNCTION refuse_july() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "RAISE EXCEPTION 'July is refused' USING ERRCODE = 'check_violation'; END $$",
    "CREATE TRIGGER refuse_july BEFORE INSERT ON observation FOR EACH ROW "
    "WHEN (NEW.period_start = DATE '2025-07-01') EXECUTE FUNCTION refuse_july()",
)


@pytest.fixture
def refusing(ctx: Context) -> Iterator[None]:  # noqa: F811
    """The database refuses July's figures until the test lifts it (``lift``)."""
    sqlite = is_sqlite(ctx.engine)
    with ctx.engine.begin() as c:
        for stmt in (_SQLITE,) if sqlite else _POSTGRES:
            c.execute(text(stmt))
    try:
        yield
    finally:
        lift(ctx)


def lift(context: Context) -> None:
    """Drop the trigger (and on PostgreSQL its function)."""
    with context.engine.begin() as c:
        if is_sqlite(context.engine):
            c.execute(text("DROP TRIGGER IF EXISTS refuse_july"))
        else:
            c.execute(text("DROP TRIGGER IF EXISTS refuse_july ON observation"))
            c.execute(text("DROP FUNCTION IF EXISTS refuse_july()"))


def july_bodies_sent(publisher: Publisher) -> int:  # noqa: F811
    return sum(n for path, n in publisher.bodies_sent.items() if path.endswith(JULY))


@pytest.mark.usefixtures("refusing")
def test_a_database_failure_storing_one_file_keeps_nothing_of_it_and_it_is_stored_next_poll(
    ctx: Context,  # noqa: F811
    publisher: Publisher,  # noqa: F811
) -> None:
    first = poll(ctx, "ae", fetcher=fetcher(ctx))
    # The other files of the poll are ingested; July is neither ingested nor rejected.
    assert len(first.ingested) == 4
    assert all(r.status == "ingested" for r in first.ingested)
    assert all(r.file != JULY for r in first.ingested)
    [error] = first.errors
    assert JULY in error and "July is refused" in error
    assert not first.ok
    with session_scope(ctx.engine) as s:
        pubs = list(s.exec(select(Publication)))
        assert JULY not in {p.filename for p in pubs}
        assert not [p for p in pubs if p.status == "rejected"]
        july_figures = s.exec(
            select(Observation).where(col(Observation.period_start) == date(2025, 7, 1))
        ).all()
        assert july_figures == []
        # Its validators are not kept, so the next poll fetches its body again.
        assert not [h for h in s.exec(select(HttpCache)) if h.url.endswith(JULY)]
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is not None
        assert JULY in (state.last_error or "")
        # Not a rejected file: the operators' rejection email is not queued.
        assert not s.exec(
            select(Outbox).where(col(Outbox.key).startswith("operator:rejected:"))
        ).all()

    lift(ctx)
    sent_before = july_bodies_sent(publisher)
    second = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert second.ok
    assert [(r.file, r.periods) for r in second.ingested] == [(JULY, ["2025-07-01/2025-07-31"])]
    assert july_bodies_sent(publisher) == sent_before + 1
    with session_scope(ctx.engine) as s:
        [pub] = s.exec(select(Publication).where(Publication.filename == JULY)).all()
        assert pub.status == "ingested" and (pub.observations_written or 0) > 0
        state = s.get(SourceState, "ae")
        assert state is not None and state.failing_since is None and state.last_error is None
    # And once more: nothing changes.
    third = poll(ctx, "ae", fetcher=fetcher(ctx))
    assert third.ok and third.ingested == []
