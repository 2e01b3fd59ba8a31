"""solve runs carry a heartbeat, attempts and their worker; solve workers are recorded

A run is no longer failed because it is "running at start-up": its lease holder writes
``heartbeat_at``, and a run whose heartbeat is stale lost its worker (taken over while it has
attempts left, else failed). ``solveworker`` lists the worker processes seen (for /health).

Revision ID: 0009c
Revises: 0009f
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0009c'
down_revision: str | None = '0009f'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('enqueued_at', sa.DateTime(), nullable=True))
    op.create_table('solveworker',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('seen_at', sa.DateTime(), nullable=False),
    sa.Column('concurrency', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('solveworker')
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.drop_column('enqueued_at')
        batch_op.drop_column('worker')
        batch_op.drop_column('attempts')
        batch_op.drop_column('heartbeat_at')
