"""each publication records when an evaluation with it as its cause committed, so that the
service's catching-up evaluation finds the ones never evaluated (not those fetched since the
latest evaluation began: two sources polled at once let one's evaluation pass for the other's)

Revision ID: 0010_evaluated_publications
Revises: 0009_current_figures
Create Date: 2026-12-07 21:40:00.000000

"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate writes sqlmodel.sql.sqltypes.UTCDateTime)
from alembic import op


revision: str = '0010_evaluated_publications'
down_revision: str | None = '0009_current_figures'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('evaluated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    # What the time-based rule held evaluated: those fetched before the start of the latest
    # evaluation that succeeded. The rest are still the next catching-up evaluation's to send.
    op.execute(
        "UPDATE publication SET evaluated_at = fetched_at WHERE fetched_at < ("
        "SELECT max(started_at) FROM jobrun WHERE job = 'evaluate' AND outcome = 'ok')"
    )


def downgrade() -> None:
    with op.batch_alter_table('publication', schema=None) as batch_op:
        batch_op.drop_column('evaluated_at')
