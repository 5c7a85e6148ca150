"""CQC: the poller's subject table (changes-feed memory, scope) and Rating.score

Rating.score holds the single assessment framework's percentage score of a key question.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 07:56:35.216502

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.AutoString)
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cqcsubject',
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('subject_id', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('provider_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('type', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('registration_status', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('in_scope', sa.Boolean(), nullable=False),
    sa.Column('listed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('fetched_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('kind', 'subject_id')
    )
    with op.batch_alter_table('cqcsubject', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cqcsubject_provider_id'), ['provider_id'], unique=False)

    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('rating', schema=None) as batch_op:
        batch_op.drop_column('score')

    with op.batch_alter_table('cqcsubject', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cqcsubject_provider_id'))

    op.drop_table('cqcsubject')
