"""every member with a time-bank role has their account

Accounts used to be opened on first use, ``GET /me/timebank`` included (a write inside a read,
and a 422 for a member whose role had changed since). Now the API opens a member's account when
it creates the member or changes their role, in the same transaction; this revision does it for
the members who are already there: an account for each staff, volunteer, client and family
member without one, and the member's current role as the kind of an account opened under an
older role (its balance and entries are untouched).

Revision ID: 0007
Revises: 0006
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: member roles that have an account, each the account kind of the same name
ACCOUNT_ROLES = ("staff", "volunteer", "client", "family")

_member = sa.table('member', sa.column('id', sa.Integer), sa.column('coop_id', sa.Integer),
                   sa.column('role', sa.String))
_account = sa.table('tb_account', sa.column('id', sa.Integer), sa.column('coop_id', sa.String),
                    sa.column('kind', sa.String), sa.column('owner_ref', sa.String),
                    sa.column('name', sa.String), sa.column('balance', sa.BigInteger),
                    sa.column('created_at', sa.DateTime(timezone=True)))


def upgrade() -> None:
    conn = op.get_bind()
    accounts = {(coop, name): (account_id, kind) for account_id, coop, name, kind in conn.execute(
        sa.select(_account.c.id, _account.c.coop_id, _account.c.name, _account.c.kind))}
    now = dt.datetime.now(dt.UTC)
    for member_id, coop_id, role in conn.execute(
            sa.select(_member.c.id, _member.c.coop_id, _member.c.role)
            .where(_member.c.role.in_(ACCOUNT_ROLES)).order_by(_member.c.id)):
        coop, name = str(coop_id), f"member:{member_id}"
        found = accounts.get((coop, name))
        if found is None:
            conn.execute(_account.insert().values(coop_id=coop, kind=role, owner_ref=str(member_id),
                                                  name=name, balance=0, created_at=now))
        elif found[1] != role and found[1] in ACCOUNT_ROLES:
            conn.execute(_account.update().where(_account.c.id == found[0]).values(kind=role))


def downgrade() -> None:
    """Nothing to undo: the accounts are the ledger's (an account is never deleted)."""
