"""time bank ledger: accounts, transactions, entries and their append-only triggers

The ledger's tables belong to the ``timebank`` library, which also creates them itself
for standalone use; this revision puts them under the service's migrations so that
``alembic upgrade head`` alone builds the whole database (triggers included, on SQLite and
PostgreSQL).

The tables and triggers are written out here as they were when this revision was made
(frozen DDL): nothing is read from ``timebank.models`` or ``timebank.db``, so a later change
to the ledger's models needs a new revision and never changes what 0002 builds.
``tests/api/test_migrations_match_models.py`` holds the head revision equal to the models.

Creating them is idempotent (a table that already exists is left alone, the triggers are
created if missing or replaced), so a database whose ledger the library already made
upgrades cleanly.

Revision ID: 0002
Revises: 0001
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ('tb_transaction', 'tb_entry')


def upgrade() -> None:
    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    if 'tb_coop_policy' not in existing:
        op.create_table('tb_coop_policy',
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('visit_credit_source', sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint('coop_id')
        )
    if 'tb_account_limit' not in existing:
        op.create_table('tb_account_limit',
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('floor', sa.BigInteger(), nullable=True),
        sa.Column('cap', sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint('coop_id', 'kind')
        )
    if 'tb_account' not in existing:
        op.create_table('tb_account',
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('owner_ref', sa.String(length=100), nullable=True),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('balance', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_posted_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('coop_id', 'name', name='uq_tb_account_coop_name')
        )
        op.create_index('ix_tb_account_coop_id', 'tb_account', ['coop_id'], unique=False)
    if 'tb_transaction' not in existing:
        op.create_table('tb_transaction',
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('on_behalf_of', sa.String(length=100), nullable=True),
        sa.Column('service_date', sa.Date(), nullable=False),
        sa.Column('memo', sa.String(length=1000), nullable=False),
        sa.Column('reference', sa.String(length=200), nullable=True),
        sa.Column('reverses_id', sa.Integer(), nullable=True),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('idempotency_key', sa.String(length=300), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('coop_id', 'idempotency_key', name='uq_tb_transaction_idem'),
        sa.UniqueConstraint('reverses_id', name='uq_tb_transaction_reverses'),
        sa.ForeignKeyConstraint(['reverses_id'], ['tb_transaction.id'], )
        )
        op.create_index('ix_tb_transaction_coop_service', 'tb_transaction', ['coop_id', 'service_date'],
                        unique=False)
    if 'tb_entry' not in existing:
        op.create_table('tb_entry',
        sa.Column('transaction_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('balance_after', sa.BigInteger(), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['transaction_id'], ['tb_transaction.id'], ),
        sa.ForeignKeyConstraint(['account_id'], ['tb_account.id'], ),
        sa.PrimaryKeyConstraint('id')
        )
        op.create_index('ix_tb_entry_account_id', 'tb_entry', ['account_id', 'id'], unique=False)
        op.create_index('ix_tb_entry_account_posted', 'tb_entry', ['account_id', 'posted_at', 'id'],
                        unique=False)
        op.create_index('ix_tb_entry_transaction', 'tb_entry', ['transaction_id'], unique=False)
    _append_only_triggers(conn)


def _append_only_triggers(conn: sa.Connection) -> None:
    """The database refuses UPDATE and DELETE (and, on PostgreSQL, TRUNCATE) on the ledger's
    transactions and entries."""
    if conn.dialect.name == 'sqlite':
        for table in APPEND_ONLY:
            for verb in ('UPDATE', 'DELETE'):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, 'timebank: {table} is append-only, {verb} refused'); END"
                )
    elif conn.dialect.name == 'postgresql':
        # driver-level SQL: '%%' reaches PostgreSQL as '%'
        conn.exec_driver_sql(
            """
            CREATE OR REPLACE FUNCTION timebank_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'timebank: %% is append-only, %% refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        for table in APPEND_ONLY:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION timebank_refuse_change()"
            )
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION timebank_refuse_change()"
            )
    else:
        raise RuntimeError(f"0002: unsupported database dialect {conn.dialect.name!r} (SQLite or PostgreSQL)")


def downgrade() -> None:
    # Ledger history is never destroyed by a schema downgrade: refuse rather than drop it.
    raise RuntimeError("downgrading below 0002 would drop the time bank ledger; restore a backup instead")
