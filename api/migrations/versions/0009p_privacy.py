"""privacy: erasure markers and legal holds, the co-op's retention policy, one access-log entry
per request with its records in ``accesslogsubject`` (append-only, as ``accesslog``)

Frozen DDL. Existing co-ops get the defaults (erasure refused with an open balance; visit details
and client records kept 8 years, members' details 6). Existing log entries keep their single
record in their own columns; new entries list every record they touched in ``accesslogsubject``.

Revision ID: 0009p
Revises: 0008
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0009p'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COOP_COLUMNS = (('erase_with_open_balance', sa.Boolean(), sa.false()),
                ('retention_visit_days', sa.Integer(), sa.text('2922')),
                ('retention_client_days', sa.Integer(), sa.text('2922')),
                ('retention_member_days', sa.Integer(), sa.text('2192')))


def upgrade() -> None:
    # the server defaults fill the existing rows and stay (SQLite cannot drop one in place);
    # the models give every new row its value
    for name, type_, default in COOP_COLUMNS:
        op.add_column('coop', sa.Column(name, type_, nullable=False, server_default=default))
    for table in ('member', 'client'):
        op.add_column(table, sa.Column('erased_at', sa.DateTime(), nullable=True))
        op.add_column(table, sa.Column('legal_hold', sqlmodel.sql.sqltypes.AutoString(length=500),
                                       nullable=True))
    op.add_column('rota', sa.Column('pseudonymised_at', sa.DateTime(), nullable=True))
    op.create_table('accesslogsubject',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('coop_id', sa.Integer(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('record_kind', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=True),
    sa.Column('client_id', sa.Integer(), nullable=True),
    sa.Column('subject_member_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['entry_id'], ['accesslog.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_accesslogsubject_entry_id', 'accesslogsubject', ['entry_id'], unique=False)
    op.create_index('ix_accesslogsubject_client_id', 'accesslogsubject', ['client_id'], unique=False)
    op.create_index('ix_accesslogsubject_subject_member_id', 'accesslogsubject', ['subject_member_id'],
                    unique=False)
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        for verb in ('UPDATE', 'DELETE'):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS accesslogsubject_no_{verb.lower()} BEFORE {verb} "
                f"ON accesslogsubject "
                f"BEGIN SELECT RAISE(ABORT, 'accesslogsubject is append-only, {verb} refused'); END"
            )
    elif conn.dialect.name == 'postgresql':
        # the function is 0008's (accesslog_refuse_change)
        conn.exec_driver_sql(
            "CREATE TRIGGER accesslogsubject_append_only BEFORE UPDATE OR DELETE ON accesslogsubject "
            "FOR EACH ROW EXECUTE FUNCTION accesslog_refuse_change()"
        )
        conn.exec_driver_sql(
            "CREATE TRIGGER accesslogsubject_no_truncate BEFORE TRUNCATE ON accesslogsubject "
            "FOR EACH STATEMENT EXECUTE FUNCTION accesslog_refuse_change()"
        )
    else:
        raise RuntimeError(f"0009p: unsupported database dialect {conn.dialect.name!r}")


def downgrade() -> None:
    op.drop_table('accesslogsubject')
    op.drop_column('rota', 'pseudonymised_at')
    for table in ('member', 'client'):
        with op.batch_alter_table(table) as batch:
            batch.drop_column('legal_hold')
            batch.drop_column('erased_at')
    with op.batch_alter_table('coop') as batch:
        for name, _type, _default in COOP_COLUMNS:
            batch.drop_column(name)
