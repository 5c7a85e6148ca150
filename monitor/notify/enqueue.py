"""Adding rows to the outbox idempotently: a key already there is left alone."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlmodel import Session, col

from monitor.models import Outbox


def enqueue(db: Session | Connection, rows: Sequence[Outbox]) -> list[str]:
    """Insert the rows whose key is new; returns the keys inserted.

    One INSERT ... ON CONFLICT (key) DO NOTHING, so two processes queueing the same digest
    or incident at the same moment cannot both insert it, nor fail each other.
    """
    if not rows:
        return []
    dialect = db.get_bind().dialect if isinstance(db, Session) else db.dialect
    insert: Any = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
    values = [r.model_dump(exclude={"id"}) for r in rows]
    stmt = (
        insert(Outbox)
        .values(values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(col(Outbox.key))
    )
    return [k for (k,) in db.execute(stmt)]
