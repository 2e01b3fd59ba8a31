"""solve runs carry the lease of the worker solving them

A run's outcome (progress, rota, failure) is written only while the worker's ``lease_id``
is still the run's: recovery after a crash revokes it, so an orphaned worker's late answer
changes nothing.

Revision ID: 0003
Revises: 0002
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.add_column(sa.Column('lease_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('solverun', schema=None) as batch_op:
        batch_op.drop_column('lease_id')
