"""time bank ledger: accounts, transactions, entries and their append-only triggers

The ledger's tables belong to the ``timebank`` library, which also creates them itself
for standalone use; this revision puts them under the service's migrations so that
``alembic upgrade head`` alone builds the whole database (triggers included, on SQLite and
PostgreSQL). Creating them is idempotent, so a database whose ledger the library already
made upgrades cleanly.

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

from alembic import op

from timebank.db import install_immutability_triggers
from timebank.models import LEDGER_TABLES

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    conn = op.get_bind()
    LEDGER_TABLES[0].metadata.create_all(conn, tables=LEDGER_TABLES)
    install_immutability_triggers(conn)


def downgrade() -> None:
    # Ledger history is never destroyed by a schema downgrade: refuse rather than drop it.
    raise RuntimeError("downgrading below 0002 would drop the time bank ledger; restore a backup instead")
