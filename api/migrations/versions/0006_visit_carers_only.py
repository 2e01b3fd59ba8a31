"""a visit's carers are its visitcarer rows only

``visit.carer_ids`` (JSON) repeated the ``visitcarer`` rows and was kept in step by hand. The rows
stay (a carer's week is one indexed query) and the list is derived from them, ordered by
``role_index``. Before the column goes, each visit's rows are made to say what its JSON said
(the JSON is what the API showed and the rota file holds): missing rows are added, rows of
carers no longer listed are removed, and role indexes follow the list's order.

Revision ID: 0006
Revises: 0005
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_visit = sa.table('visit', sa.column('id', sa.Integer), sa.column('carer_ids', sa.JSON))
_carer = sa.table('visitcarer', sa.column('id', sa.Integer), sa.column('visit_id', sa.Integer),
                  sa.column('member_id', sa.Integer), sa.column('role_index', sa.Integer))


def _listed(raw: Any) -> list[int]:
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return [int(m) for m in dict.fromkeys(value or [])]


def upgrade() -> None:
    conn = op.get_bind()
    rows: dict[int, list[tuple[int, int, int]]] = {}
    for row_id, visit_id, member_id, role_index in conn.execute(
            sa.select(_carer.c.id, _carer.c.visit_id, _carer.c.member_id, _carer.c.role_index)):
        rows.setdefault(visit_id, []).append((row_id, member_id, role_index))
    for visit_id, raw in conn.execute(sa.select(_visit.c.id, _visit.c.carer_ids)):
        listed = _listed(raw)
        have = sorted(rows.get(visit_id, []), key=lambda r: (r[2], r[0]))
        if [m for _, m, _ in have] == listed and [i for _, _, i in have] == list(range(len(listed))):
            continue
        conn.execute(_carer.delete().where(_carer.c.visit_id == visit_id))
        if listed:
            conn.execute(_carer.insert(), [{"visit_id": visit_id, "member_id": m, "role_index": i}
                                           for i, m in enumerate(listed)])
    if conn.dialect.name == "sqlite":
        # SQLite 3.35+ drops a plain column in place (a batch rebuild of ``visit`` would trip the
        # foreign keys of the rows pointing at it, as 0005 notes)
        op.execute("ALTER TABLE visit DROP COLUMN carer_ids")
    else:
        op.drop_column('visit', 'carer_ids')


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        op.execute("ALTER TABLE visit ADD COLUMN carer_ids JSON NOT NULL DEFAULT '[]'")
    else:
        op.add_column('visit', sa.Column('carer_ids', sa.JSON(), nullable=False,
                                         server_default=sa.text("'[]'")))
        op.alter_column('visit', 'carer_ids', server_default=None)
    lists: dict[int, list[int]] = {}
    for visit_id, member_id in conn.execute(sa.select(_carer.c.visit_id, _carer.c.member_id)
                                            .order_by(_carer.c.visit_id, _carer.c.role_index, _carer.c.id)):
        lists.setdefault(visit_id, []).append(member_id)
    for visit_id, members in lists.items():
        conn.execute(_visit.update().where(_visit.c.id == visit_id).values(carer_ids=members))
