"""one leader and sessions that end: job slots, server-side sessions, login failures

Revision ID: 0008_robust
Revises: 0007_channels
Create Date: 2026-12-07 11:00:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0008_robust'
down_revision: str | None = '0007_channels'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('jobslot',
    sa.Column('job', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('slot', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('pid', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('job', 'slot')
    )
    with op.batch_alter_table('jobslot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobslot_claimed_at'), ['claimed_at'], unique=False)
    op.create_table('websession',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_websession_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_websession_username'), ['username'], unique=False)
    op.create_table('loginfailure',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('loginfailure', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_loginfailure_last_at'), ['last_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('loginfailure', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_loginfailure_last_at'))
    op.drop_table('loginfailure')
    with op.batch_alter_table('websession', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_websession_username'))
        batch_op.drop_index(batch_op.f('ix_websession_expires_at'))
    op.drop_table('websession')
    with op.batch_alter_table('jobslot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobslot_claimed_at'))
    op.drop_table('jobslot')
