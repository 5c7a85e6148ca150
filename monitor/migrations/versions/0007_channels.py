"""chat channels: a subscription's channel and webhook URL; job runs indexed by finish time

Revision ID: 0007_channels
Revises: 0006_boardpack
Create Date: 2026-12-07 11:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0007_channels'
down_revision: str | None = '0006_boardpack'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), server_default='email', nullable=False))
        batch_op.add_column(sa.Column('webhook_url', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    # /metrics counts the job runs finished since its checkpoint.
    with op.batch_alter_table('jobrun', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobrun_finished_at'), ['finished_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobrun', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobrun_finished_at'))
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_column('webhook_url')
        batch_op.drop_column('channel')
