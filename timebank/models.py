"""Ledger tables (SQLModel): co-op policy, per-kind limits, accounts, transactions and entries.

Accounts are keyed by ``coop_id`` (a string owned by the API's co-op table) and ``owner_ref``
(the member id), deliberately without foreign keys into ``api/`` tables.

``tb_transaction`` and ``tb_entry`` are append-only: the database refuses UPDATE and DELETE on them
(triggers installed by :func:`timebank.db.create_schema`). ``tb_account.balance`` is a running
balance kept in the same database transaction as the entries; :meth:`Ledger.reconcile` proves it
equal to the sum of entries.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Index, Table, UniqueConstraint
from sqlmodel import Field, SQLModel


class AccountKind(StrEnum):
    VOLUNTEER = "volunteer"
    STAFF = "staff"  # a staff member who volunteers
    CLIENT = "client"
    FAMILY = "family"
    POT = "pot"  # the co-op's community pot (one per co-op)
    SYSTEM = "system"  # named system accounts, e.g. "welcome" hours
    CLEARING = "clearing"  # the co-op's clearing account with a federation (timebank.federation)


MEMBER_KINDS = frozenset({AccountKind.VOLUNTEER, AccountKind.STAFF, AccountKind.CLIENT, AccountKind.FAMILY})


class TxnKind(StrEnum):
    VISIT_CREDIT = "visit_credit"
    EXCHANGE = "exchange"
    GIFT = "gift"
    DONATION = "donation"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    SETTLEMENT = "settlement"  # pot-to-pot settlement between two co-ops of a federation


class CreditSource(StrEnum):
    POT = "pot"  # visit credits are paid from the community pot (default)
    CLIENT = "client"  # visit credits are paid by the client's own account


# --------------------------------------------------------------------------- policy


class CoopPolicyBase(SQLModel):
    coop_id: str = Field(primary_key=True, max_length=100)
    visit_credit_source: str = Field(default=CreditSource.POT.value, max_length=20)


class CoopPolicy(CoopPolicyBase, table=True):
    __tablename__ = "tb_coop_policy"


class CoopPolicyPublic(CoopPolicyBase):
    pass


class AccountLimitBase(SQLModel):
    """Floor and cap (minutes) for one account kind in one co-op; ``None`` means unbounded."""

    coop_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=20)
    floor: int | None = Field(default=None, sa_type=BigInteger)
    cap: int | None = Field(default=None, sa_type=BigInteger)


class AccountLimit(AccountLimitBase, table=True):
    __tablename__ = "tb_account_limit"


class AccountLimitPublic(AccountLimitBase):
    pass


# --------------------------------------------------------------------------- accounts


class AccountBase(SQLModel):
    coop_id: str = Field(max_length=100, index=True)
    kind: str = Field(max_length=20)
    owner_ref: str | None = Field(default=None, max_length=100)
    name: str = Field(max_length=200)


class Account(AccountBase, table=True):
    __tablename__ = "tb_account"
    __table_args__ = (
        # one account per member per co-op; one pot; system accounts unique by name
        UniqueConstraint("coop_id", "name", name="uq_tb_account_coop_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    balance: int = Field(default=0, sa_type=BigInteger)  # running balance, same db transaction as entries
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    # posting time of the account's latest entry: keeps posted_at non-decreasing per account
    last_posted_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class AccountCreate(SQLModel):
    coop_id: str
    kind: AccountKind
    owner_ref: str | None = None
    name: str | None = None


class AccountPublic(AccountBase):
    id: int
    balance: int


# --------------------------------------------------------------------------- transactions


class LedgerTransactionBase(SQLModel):
    coop_id: str = Field(max_length=100)
    kind: str = Field(max_length=20)
    recorded_by: str = Field(max_length=100)
    on_behalf_of: str | None = Field(default=None, max_length=100)
    service_date: dt.date
    memo: str = Field(default="", max_length=1000)
    reference: str | None = Field(default=None, max_length=200)
    reverses_id: int | None = Field(default=None, foreign_key="tb_transaction.id")


class LedgerTransaction(LedgerTransactionBase, table=True):
    __tablename__ = "tb_transaction"
    __table_args__ = (
        UniqueConstraint("coop_id", "idempotency_key", name="uq_tb_transaction_idem"),
        # a transaction can be reversed once: enforced by the database too
        UniqueConstraint("reverses_id", name="uq_tb_transaction_reverses"),
        Index("ix_tb_transaction_coop_service", "coop_id", "service_date"),
    )

    id: int | None = Field(default=None, primary_key=True)
    posted_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    idempotency_key: str = Field(max_length=300)
    request_hash: str = Field(max_length=64)


class LegPublic(SQLModel):
    account_id: int
    minutes: int


class LedgerTransactionPublic(LedgerTransactionBase):
    id: int
    posted_at: dt.datetime
    idempotency_key: str
    legs: list[LegPublic]
    replayed: bool = False  # True when an idempotent retry returned the original transaction


# --------------------------------------------------------------------------- entries


class EntryBase(SQLModel):
    transaction_id: int = Field(foreign_key="tb_transaction.id")
    account_id: int = Field(foreign_key="tb_account.id")
    amount: int = Field(sa_type=BigInteger)  # minutes; > 0 credits the account, < 0 debits it


class Entry(EntryBase, table=True):
    __tablename__ = "tb_entry"
    __table_args__ = (
        Index("ix_tb_entry_account_id", "account_id", "id"),
        Index("ix_tb_entry_account_posted", "account_id", "posted_at", "id"),
        Index("ix_tb_entry_transaction", "transaction_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    coop_id: str = Field(max_length=100)
    balance_after: int = Field(sa_type=BigInteger)  # the account's balance after this entry
    posted_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class EntryPublic(EntryBase):
    id: int
    balance_after: int
    posted_at: dt.datetime


# --------------------------------------------------------------------------- federations


class FederationBase(SQLModel):
    """A federation of co-ops: a mutual-credit clearing union of their time banks."""

    id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    #: the limit (minutes) a co-op joining without one of its own gets
    default_limit: int = Field(sa_type=BigInteger)


class Federation(FederationBase, table=True):
    __tablename__ = "tb_federation"
    created_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class FederationMemberBase(SQLModel):
    """A co-op's membership of a federation: its clearing account and its limit.

    ``limit``: the co-op's position (its clearing account's balance) stays within
    ``-limit..+limit``. ``left_at`` is set while the co-op is out (it may join again)."""

    federation_id: str = Field(primary_key=True, max_length=100, foreign_key="tb_federation.id")
    coop_id: str = Field(primary_key=True, max_length=100)
    clearing_account_id: int = Field(foreign_key="tb_account.id")
    limit: int = Field(sa_type=BigInteger)


class FederationMember(FederationMemberBase, table=True):
    __tablename__ = "tb_federation_member"
    __table_args__ = (Index("ix_tb_federation_member_coop", "coop_id"),)
    joined_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    left_at: dt.datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))


class FederalMove(SQLModel, table=True):
    """One cross-co-op move: the two ledger transactions (one in each co-op, each through the
    co-op's clearing account) posted in one database transaction under one idempotency key.
    Append-only, like transactions and entries; a reversal is a new move (``reverses_id``)."""

    __tablename__ = "tb_federal_move"
    __table_args__ = (
        UniqueConstraint("federation_id", "idempotency_key", name="uq_tb_federal_move_idem"),
        UniqueConstraint("reverses_id", name="uq_tb_federal_move_reverses"),
        Index("ix_tb_federal_move_from", "federation_id", "from_coop_id", "posted_at"),
        Index("ix_tb_federal_move_to", "federation_id", "to_coop_id", "posted_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    federation_id: str = Field(max_length=100, foreign_key="tb_federation.id")
    kind: str = Field(max_length=20)  # help, gift, settlement, reversal
    #: minutes leave an account of ``from_coop_id`` and arrive in one of ``to_coop_id``
    from_coop_id: str = Field(max_length=100)
    to_coop_id: str = Field(max_length=100)
    minutes: int = Field(sa_type=BigInteger)
    from_transaction_id: int = Field(foreign_key="tb_transaction.id")
    to_transaction_id: int = Field(foreign_key="tb_transaction.id")
    reverses_id: int | None = Field(default=None, foreign_key="tb_federal_move.id")
    recorded_by: str = Field(max_length=100)
    service_date: dt.date
    memo: str = Field(default="", max_length=1000)
    posted_at: dt.datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    idempotency_key: str = Field(max_length=300)
    request_hash: str = Field(max_length=64)


def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


policy_t = _table(CoopPolicy)
limit_t = _table(AccountLimit)
account_t = _table(Account)
txn_t = _table(LedgerTransaction)
entry_t = _table(Entry)
federation_t = _table(Federation)
fed_member_t = _table(FederationMember)
fed_move_t = _table(FederalMove)

LEDGER_TABLES: list[Table] = [policy_t, limit_t, account_t, txn_t, entry_t, federation_t, fed_member_t,
                              fed_move_t]
IMMUTABLE_TABLES: list[Table] = [txn_t, entry_t, fed_move_t]


def ledger_tables() -> list[Table]:
    """The ledger's own tables, for an application that shares its database with the ledger
    (it creates, migrates or leaves out exactly these, without knowing how they are named)."""
    return list(LEDGER_TABLES)
