"""a visit keeps its id across rota versions

``weekvisit`` holds one row per visit of a co-op's week (co-op, week, problem-file key); its
id is the visit id the API shows. Each rota version's ``visit`` row records that version's
assignment and points at it (``week_visit_id``). Existing visits are grouped by week and key,
and each group keeps the id of its first row, so links made before the upgrade keep working
for the first version's visits.

Revision ID: 0005
Revises: 0004
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'weekvisit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('coop_id', sa.Integer(), nullable=False),
        sa.Column('week_start', sa.Date(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(['coop_id'], ['coop.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('coop_id', 'week_start', 'key', name='uq_weekvisit_key'),
    )
    with op.batch_alter_table('weekvisit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_weekvisit_coop_id'), ['coop_id'], unique=False)
    # SQLite: a plain ADD COLUMN ... REFERENCES (a batch rebuild of ``visit`` would trip the
    # foreign keys of the ``visitcarer`` rows pointing at it)
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE visit ADD COLUMN week_visit_id INTEGER REFERENCES weekvisit (id)")
    else:
        op.add_column('visit', sa.Column('week_visit_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_visit_week_visit_id', 'visit', 'weekvisit', ['week_visit_id'], ['id'])

    op.execute(
        "INSERT INTO weekvisit (id, coop_id, week_start, key) "
        "SELECT MIN(v.id), v.coop_id, r.week_start, v.key FROM visit v JOIN rota r ON r.id = v.rota_id "
        "GROUP BY v.coop_id, r.week_start, v.key")
    op.execute(
        "UPDATE visit SET week_visit_id = (SELECT w.id FROM weekvisit w JOIN rota r "
        "ON r.week_start = w.week_start AND r.coop_id = w.coop_id "
        "WHERE r.id = visit.rota_id AND w.key = visit.key)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('weekvisit', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM weekvisit), 0) + 1, false)")

    op.create_index(op.f('ix_visit_week_visit_id'), 'visit', ['week_visit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_visit_week_visit_id'), table_name='visit')
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table('visit', schema=None) as batch_op:
            batch_op.drop_column('week_visit_id')
    else:
        op.drop_constraint('fk_visit_week_visit_id', 'visit', type_='foreignkey')
        op.drop_column('visit', 'week_visit_id')
    with op.batch_alter_table('weekvisit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_weekvisit_coop_id'))
    op.drop_table('weekvisit')
