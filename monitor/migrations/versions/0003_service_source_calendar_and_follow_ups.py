"""service: source calendar (expected publication, lateness) and follow-up polls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 08:10:16.454183

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sourcestate', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expected_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('late_since', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('follow_up_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sourcestate', schema=None) as batch_op:
        batch_op.drop_column('follow_up_until')
        batch_op.drop_column('follow_up_at')
        batch_op.drop_column('late_since')
        batch_op.drop_column('expected_at')
