"""federations: member co-ops with their clearing accounts and limits, and the moves between them

The time bank's federation tables (``timebank.federation``): ``tb_federation``,
``tb_federation_member`` (a co-op's clearing account and limit, ``left_at`` while it is out)
and ``tb_federal_move`` (one cross-co-op move: its two ledger transactions under one
idempotency key), append-only like the ledger's transactions and entries: triggers refuse
UPDATE and DELETE on SQLite and PostgreSQL (and TRUNCATE on PostgreSQL). Frozen DDL, like
0002; idempotent (a database whose ledger library already made them upgrades cleanly).

The API's side: ``federation`` (id and name), ``federationinvite`` (an officer invited a
co-op) and ``officervote`` (each member co-op's current vote for an officer), ``coveroffer`` (shared
cover: a carer lent to another member co-op for a day).

A downgrade drops them only while no move has been made and no clearing account opened (the
moves are ledger history).

Revision ID: 0009f
Revises: 0009w
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0009f'
down_revision: str | None = '0009w'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ('tb_federal_move',)


def upgrade() -> None:
    conn = op.get_bind()
    existing = set(sa.inspect(conn).get_table_names())
    if 'tb_federation' not in existing:
        op.create_table('tb_federation',
        sa.Column('id', sa.String(length=100), nullable=False),
        sa.Column('name', sa.String(length=200), nullable=False),
        sa.Column('default_limit', sa.BigInteger(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id')
        )
    if 'tb_federation_member' not in existing:
        op.create_table('tb_federation_member',
        sa.Column('federation_id', sa.String(length=100), nullable=False),
        sa.Column('coop_id', sa.String(length=100), nullable=False),
        sa.Column('clearing_account_id', sa.Integer(), nullable=False),
        sa.Column('limit', sa.BigInteger(), nullable=False),
        sa.Column('joined_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['federation_id'], ['tb_federation.id'], ),
        sa.ForeignKeyConstraint(['clearing_account_id'], ['tb_account.id'], ),
        sa.PrimaryKeyConstraint('federation_id', 'coop_id')
        )
        op.create_index('ix_tb_federation_member_coop', 'tb_federation_member', ['coop_id'], unique=False)
    if 'tb_federal_move' not in existing:
        op.create_table('tb_federal_move',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('federation_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('from_coop_id', sa.String(length=100), nullable=False),
        sa.Column('to_coop_id', sa.String(length=100), nullable=False),
        sa.Column('minutes', sa.BigInteger(), nullable=False),
        sa.Column('from_transaction_id', sa.Integer(), nullable=False),
        sa.Column('to_transaction_id', sa.Integer(), nullable=False),
        sa.Column('reverses_id', sa.Integer(), nullable=True),
        sa.Column('recorded_by', sa.String(length=100), nullable=False),
        sa.Column('service_date', sa.Date(), nullable=False),
        sa.Column('memo', sa.String(length=1000), nullable=False),
        sa.Column('posted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('idempotency_key', sa.String(length=300), nullable=False),
        sa.Column('request_hash', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['federation_id'], ['tb_federation.id'], ),
        sa.ForeignKeyConstraint(['from_transaction_id'], ['tb_transaction.id'], ),
        sa.ForeignKeyConstraint(['to_transaction_id'], ['tb_transaction.id'], ),
        sa.ForeignKeyConstraint(['reverses_id'], ['tb_federal_move.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('federation_id', 'idempotency_key', name='uq_tb_federal_move_idem'),
        sa.UniqueConstraint('reverses_id', name='uq_tb_federal_move_reverses')
        )
        op.create_index('ix_tb_federal_move_from', 'tb_federal_move', ['federation_id', 'from_coop_id',
                                                                      'posted_at'], unique=False)
        op.create_index('ix_tb_federal_move_to', 'tb_federal_move', ['federation_id', 'to_coop_id',
                                                                    'posted_at'], unique=False)
    _append_only_triggers(conn)
    # the API's side: federations, invitations and officer votes
    op.create_table('federation',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('federationinvite',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('federation_id', sa.Integer(), nullable=False),
    sa.Column('coop_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['coop_id'], ['coop.id'], ),
    sa.ForeignKeyConstraint(['federation_id'], ['federation.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('federation_id', 'coop_id', name='uq_federation_invite')
    )
    op.create_index('ix_federationinvite_federation_id', 'federationinvite', ['federation_id'], unique=False)
    op.create_table('officervote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('federation_id', sa.Integer(), nullable=False),
    sa.Column('coop_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['coop_id'], ['coop.id'], ),
    sa.ForeignKeyConstraint(['federation_id'], ['federation.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('federation_id', 'coop_id', name='uq_officer_vote')
    )
    op.create_index('ix_officervote_federation_id', 'officervote', ['federation_id'], unique=False)
    op.create_table('coveroffer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('federation_id', sa.Integer(), nullable=False),
    sa.Column('lending_coop_id', sa.Integer(), nullable=False),
    sa.Column('borrowing_coop_id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['borrowing_coop_id'], ['coop.id'], ),
    sa.ForeignKeyConstraint(['federation_id'], ['federation.id'], ),
    sa.ForeignKeyConstraint(['lending_coop_id'], ['coop.id'], ),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('member_id', 'day', name='uq_cover_offer_day')
    )
    op.create_index('ix_coveroffer_federation_id', 'coveroffer', ['federation_id'], unique=False)
    op.create_index('ix_coveroffer_borrowing_coop_id', 'coveroffer', ['borrowing_coop_id'], unique=False)


def _append_only_triggers(conn: sa.Connection) -> None:
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
        raise RuntimeError(f"0009f: unsupported database dialect {conn.dialect.name!r}")


def downgrade() -> None:
    conn = op.get_bind()
    moves = conn.execute(sa.text('SELECT COUNT(*) FROM tb_federal_move')).scalar()
    clearing = conn.execute(sa.text("SELECT COUNT(*) FROM tb_account WHERE kind = 'clearing'")).scalar()
    if moves or clearing:
        raise RuntimeError("downgrading below 0009f would drop federal moves or clearing accounts "
                           "(time bank history); restore a backup instead")
    op.drop_index('ix_coveroffer_borrowing_coop_id', table_name='coveroffer')
    op.drop_index('ix_coveroffer_federation_id', table_name='coveroffer')
    op.drop_table('coveroffer')
    op.drop_index('ix_officervote_federation_id', table_name='officervote')
    op.drop_table('officervote')
    op.drop_index('ix_federationinvite_federation_id', table_name='federationinvite')
    op.drop_table('federationinvite')
    op.drop_table('federation')
    if conn.dialect.name == 'sqlite':
        for verb in ('update', 'delete'):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS tb_federal_move_no_{verb}")
    op.drop_table('tb_federal_move')
    op.drop_index('ix_tb_federation_member_coop', table_name='tb_federation_member')
    op.drop_table('tb_federation_member')
    op.drop_table('tb_federation')
