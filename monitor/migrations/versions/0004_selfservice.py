"""self-service subscriptions: pausing, and sign-up attempts for the limits

Revision ID: 0004_selfservice
Revises: 0003
Create Date: 2026-12-02 09:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0004_selfservice'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paused_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table('signupattempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('client', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('signupattempt', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_signupattempt_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_signupattempt_client'), ['client'], unique=False)
        batch_op.create_index(batch_op.f('ix_signupattempt_email'), ['email'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signupattempt', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signupattempt_email'))
        batch_op.drop_index(batch_op.f('ix_signupattempt_client'))
        batch_op.drop_index(batch_op.f('ix_signupattempt_at'))
    op.drop_table('signupattempt')
    with op.batch_alter_table('subscription', schema=None) as batch_op:
        batch_op.drop_column('paused_at')
