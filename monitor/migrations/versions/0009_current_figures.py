"""the superseded_by index holds superseded rows only, so that queries for current figures
use the metric and organisation indexes (SQLite's planner chose it for ``IS NULL``, reading
every current row, a cost that grew with history)

Revision ID: 0009_current_figures
Revises: 0008_robust
Create Date: 2026-12-07 21:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0009_current_figures'
down_revision: str | None = '0008_robust'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOT_NULL = sa.text('superseded_by IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index('ix_observation_superseded_by')
        batch_op.create_index(
            'ix_observation_superseded_by', ['superseded_by'], unique=False,
            sqlite_where=_NOT_NULL, postgresql_where=_NOT_NULL,
        )


def downgrade() -> None:
    with op.batch_alter_table('observation', schema=None) as batch_op:
        batch_op.drop_index('ix_observation_superseded_by')
        batch_op.create_index('ix_observation_superseded_by', ['superseded_by'], unique=False)
