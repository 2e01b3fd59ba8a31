"""the access log: who read or wrote a client's record or a member's personal details

An append-only table, as the ledger's transactions and entries: the database refuses UPDATE and
DELETE on it (and TRUNCATE on PostgreSQL), so the log of who saw care data cannot be edited by
the service either. Frozen DDL, like 0002. A downgrade below 0008 drops the log with its
entries (back it up first).

Revision ID: 0008
Revises: 0007
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('accesslog',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('coop_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('actor_role', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('record_kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('subject_member_id', sa.Integer(), nullable=True),
    sa.Column('endpoint', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.ForeignKeyConstraint(['coop_id'], ['coop.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_accesslog_coop_id_id', 'accesslog', ['coop_id', 'id'], unique=False)
    op.create_index('ix_accesslog_client_id', 'accesslog', ['client_id'], unique=False)
    op.create_index('ix_accesslog_subject_member_id', 'accesslog', ['subject_member_id'], unique=False)
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS accesslog_no_{verb.lower()} BEFORE {verb} ON accesslog "
                f"BEGIN SELECT RAISE(ABORT, 'accesslog is append-only, {verb} refused'); END"
            )
    elif conn.dialect.name == 'postgresql':
        # driver-level SQL: '%%' reaches PostgreSQL as '%'
        conn.exec_driver_sql(
            """
            CREATE OR REPLACE FUNCTION accesslog_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '%% is append-only, %% refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER accesslog_append_only BEFORE UPDATE OR DELETE ON accesslog "
            "FOR EACH ROW EXECUTE FUNCTION accesslog_refuse_change()"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER accesslog_no_truncate BEFORE TRUNCATE ON accesslog "
            "FOR EACH STATEMENT EXECUTE FUNCTION accesslog_refuse_change()"
        )
    else:
        raise RuntimeError(f"0008: unsupported database dialect {conn.dialect.name!r} (SQLite or PostgreSQL)")


def downgrade() -> None:
    # Dropping the table drops its triggers with it (and its entries: back the log up first).
    op.drop_table('accesslog')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS accesslog_refuse_change()")
