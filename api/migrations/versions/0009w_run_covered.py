"""solve runs carry the covered-visits count of their progress

The worker writes, with the objective and the bound, how many of the week's visits the best
rota so far covers (``covered_visits`` of ``total_visits``), so the progress view shows it.

Revision ID: 0009w
Revises: 0009p
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009w'
down_revision: str | None = '0009p'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.add_column(sa.Column('covered_visits', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('total_visits', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.drop_column('total_visits')
        batch_op.drop_column('covered_visits')
