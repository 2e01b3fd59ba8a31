"""The time bank's public API: :class:`Ledger`.

Every write method runs one short database transaction of its own (``BEGIN IMMEDIATE`` on SQLite,
row locks on the touched accounts taken in account-id order on PostgreSQL), checks idempotency,
co-op membership and limits under that lock, appends the transaction and its entries, moves the
running balances, and commits. Transient failures (SQLite busy, PostgreSQL serialization failure
or deadlock) are retried from the start by :func:`timebank.retry.run_with_retry`. A refused or
failed write changes nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from timebank import entries as ent
from timebank import statements as st
from timebank.db import READ_ONLY, create_schema
from timebank.db import create_engine as _create_engine
from timebank.entries import Leg, ProposedTransaction
from timebank.errors import (
    AccountNotFound,
    AlreadyReversed,
    CrossCoopTransfer,
    IdempotencyConflict,
    InsufficientBalance,
    LedgerError,
    LimitExceeded,
    NotReversible,
    TransactionNotFound,
    ValidationError,
)
from timebank.models import (
    MEMBER_KINDS,
    AccountKind,
    AccountPublic,
    CreditSource,
    EntryPublic,
    LedgerTransactionPublic,
    LegPublic,
    TxnKind,
    account_t,
    entry_t,
    limit_t,
    policy_t,
    txn_t,
)
from timebank.retry import run_with_retry

T = TypeVar("T")

DEFAULT_MEMBER_CAP = 750 * 60  # at most 750 hours saved


@dataclass(frozen=True, slots=True)
class Limits:
    """Floor and cap of an account kind, in minutes; ``None`` means unbounded on that side."""

    floor: int | None = 0
    cap: int | None = None


DEFAULT_LIMITS: Mapping[AccountKind, Limits] = {
    AccountKind.VOLUNTEER: Limits(0, DEFAULT_MEMBER_CAP),
    AccountKind.STAFF: Limits(0, DEFAULT_MEMBER_CAP),
    AccountKind.CLIENT: Limits(0, DEFAULT_MEMBER_CAP),
    AccountKind.FAMILY: Limits(0, DEFAULT_MEMBER_CAP),
    AccountKind.POT: Limits(None, None),
    AccountKind.SYSTEM: Limits(None, None),
    # a clearing account's bound is the federation's limit (timebank.federation), not a policy
    AccountKind.CLEARING: Limits(None, None),
}


@dataclass(frozen=True, slots=True)
class Policy:
    """A co-op's ledger policy: where visit credits come from and the limits per account kind."""

    coop_id: str
    visit_credit_source: CreditSource
    limits: Mapping[AccountKind, Limits]


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Result of :meth:`Ledger.reconcile`; ``ok`` is True when ``problems`` is empty."""

    problems: list[str]
    accounts: int
    transactions: int
    entries: int
    coop_totals: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


_SQLITE_WRITE_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()
_SQLITE_LOCKS_GUARD = threading.Lock()


def _sqlite_write_lock(engine: Engine) -> threading.Lock:
    """One in-process lock per SQLite engine.

    SQLite allows one writer at a time anyway; queueing this process's writers on a Python lock
    hands the database lock over at once instead of through SQLite's sleeping busy handler.
    Writers in other processes still queue on ``BEGIN IMMEDIATE`` + ``busy_timeout``.
    """
    with _SQLITE_LOCKS_GUARD:
        lock = _SQLITE_WRITE_LOCKS.get(engine)
        if lock is None:
            lock = _SQLITE_WRITE_LOCKS[engine] = threading.Lock()
        return lock


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _today() -> dt.date:
    return _utcnow().date()


def _member_name(owner_ref: str) -> str:
    return f"member:{owner_ref}"


def _account_public(row: Any) -> AccountPublic:
    return AccountPublic(
        id=row.id,
        coop_id=row.coop_id,
        kind=row.kind,
        owner_ref=row.owner_ref,
        name=row.name,
        balance=row.balance,
    )


def _account_key(
    coop_id: str, kind: AccountKind | str, owner_ref: str | None, name: str | None
) -> tuple[AccountKind, str]:
    """The account's kind and its unique name in the co-op; every fault at once."""
    errors: list[str] = []
    if not isinstance(coop_id, str) or not coop_id.strip():
        errors.append("coop_id: must be a non-empty string")
    elif len(coop_id) > ent.MAX_REF_LENGTH:
        errors.append(f"coop_id: longer than {ent.MAX_REF_LENGTH} characters")
    try:
        k = AccountKind(kind)
    except ValueError:
        raise ValidationError(
            [*errors, f"kind: {kind!r} is not one of {[x.value for x in AccountKind]}"]
        ) from None
    if k is AccountKind.CLEARING:
        raise ValidationError(
            [*errors, "kind: a clearing account is opened by joining a federation (timebank.federation)"]
        )
    key: str = ""
    if k in MEMBER_KINDS:
        if not isinstance(owner_ref, str) or not owner_ref.strip():
            errors.append(f"owner_ref: a {k.value} account needs the member id")
        elif len(owner_ref) > ent.MAX_REF_LENGTH:
            errors.append(f"owner_ref: longer than {ent.MAX_REF_LENGTH} characters")
        else:
            key = _member_name(owner_ref)
        if name is not None:
            errors.append("name: member accounts are named after their owner_ref; leave name empty")
    elif k is AccountKind.POT:
        if owner_ref is not None or name is not None:
            errors.append("owner_ref/name: the community pot takes neither (one pot per co-op)")
        key = "pot"
    else:
        if owner_ref is not None:
            errors.append("owner_ref: system accounts belong to no member")
        if not isinstance(name, str) or not name.strip():
            errors.append("name: a system account needs a name (e.g. 'welcome')")
        elif len(name) > 150:
            errors.append("name: longer than 150 characters")
        else:
            key = f"system:{name}"
    if errors:
        raise ValidationError(errors)
    return k, key


def _open_account(
    conn: Connection, coop_id: str, k: AccountKind, key: str, owner_ref: str | None, rekind: bool
) -> AccountPublic:
    row = conn.execute(
        sa.select(account_t).where(account_t.c.coop_id == coop_id, account_t.c.name == key)
    ).first()
    if row is None:
        conn.execute(
            account_t.insert().values(
                coop_id=coop_id,
                kind=k.value,
                owner_ref=owner_ref,
                name=key,
                balance=0,
                created_at=_utcnow(),
            )
        )
        row = conn.execute(
            sa.select(account_t).where(account_t.c.coop_id == coop_id, account_t.c.name == key)
        ).one()
    elif row.kind != k.value:
        if not (rekind and k in MEMBER_KINDS and AccountKind(row.kind) in MEMBER_KINDS):
            raise ValidationError(
                [f"kind: {key} in co-op {coop_id} already has a {row.kind} account "
                 f"(asked for {k.value})"]
            )
        conn.execute(account_t.update().where(account_t.c.id == row.id).values(kind=k.value))
        row = conn.execute(sa.select(account_t).where(account_t.c.id == row.id)).one()
    return _account_public(row)


def open_account_in(
    conn: Connection,
    coop_id: str,
    kind: AccountKind | str,
    owner_ref: str | None = None,
    name: str | None = None,
    *,
    rekind: bool = False,
) -> AccountPublic:
    """Open (or return the existing) account inside the caller's transaction on the ledger's
    database: the caller commits, and a rollback undoes the account with the caller's own writes
    (the API opens a member's account in the transaction that creates the member).

    ``rekind``: a member's existing account of another member kind takes ``kind`` (the member's
    role changed; balance and history stay theirs) instead of being refused.
    """
    k, key = _account_key(coop_id, kind, owner_ref, name)
    return _open_account(conn, coop_id, k, key, owner_ref, rekind)


class Ledger:
    """The time bank over one SQLAlchemy engine (SQLite file or PostgreSQL).

    Thread-safe: share one ``Ledger`` per process; each call uses its own connection.
    """

    def __init__(self, engine: Engine, *, retry_attempts: int = 12) -> None:
        if engine.dialect.name not in ("sqlite", "postgresql"):
            raise ValueError(f"engine: unsupported dialect {engine.dialect.name!r} (SQLite or PostgreSQL)")
        self.engine = engine
        self.retry_attempts = retry_attempts
        self._write_lock: threading.Lock | None = (
            _sqlite_write_lock(engine) if engine.dialect.name == "sqlite" else None
        )

    @classmethod
    def from_url(cls, url: str, **engine_kwargs: Any) -> Ledger:
        """A ledger on a new engine configured by :func:`timebank.db.create_engine`."""
        return cls(_create_engine(url, **engine_kwargs))

    def create_schema(self) -> None:
        """Create the ledger tables and append-only triggers (idempotent)."""
        create_schema(self.engine)

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(**{READ_ONLY: True})
            with conn.begin():
                yield conn

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Run ``fn`` in one write transaction, retried on transient failures.

        A unique-constraint race (two writers inserting the same idempotency key or reversing the
        same transaction at once) is also re-run: the second run sees the winner and answers
        from it (replay, conflict or AlreadyReversed).
        """

        def once() -> T:
            if self._write_lock is None:
                with self.engine.begin() as conn:
                    return fn(conn)
            with self._write_lock, self.engine.begin() as conn:
                return fn(conn)

        integrity_retries = 3
        while True:
            try:
                return run_with_retry(once, attempts=self.retry_attempts)
            except IntegrityError as exc:
                integrity_retries -= 1
                if integrity_retries <= 0:
                    raise LedgerError(f"database refused the write: {exc.orig}") from exc

    # ------------------------------------------------------------------ policy

    def set_policy(
        self,
        coop_id: str,
        *,
        visit_credit_source: CreditSource | str | None = None,
        limits: Mapping[AccountKind | str, Limits] | None = None,
    ) -> Policy:
        """Set a co-op's visit credit source and/or per-kind limits (unnamed kinds keep theirs)."""
        errors: list[str] = []
        if not isinstance(coop_id, str) or not coop_id.strip():
            errors.append("coop_id: must be a non-empty string")
        source: CreditSource | None = None
        if visit_credit_source is not None:
            try:
                source = CreditSource(visit_credit_source)
            except ValueError:
                errors.append(
                    f"visit_credit_source: {visit_credit_source!r} is not one of "
                    f"{[s.value for s in CreditSource]}"
                )
        parsed: dict[AccountKind, Limits] = {}
        for kind, lim in (limits or {}).items():
            try:
                k = AccountKind(kind)
            except ValueError:
                errors.append(f"limits: {kind!r} is not an account kind ({[k.value for k in AccountKind]})")
                continue
            if k is AccountKind.CLEARING:
                errors.append("limits[clearing]: a clearing account's limit is set by its federation")
                continue
            for side in ("floor", "cap"):
                v = getattr(lim, side)
                if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                    errors.append(f"limits[{k.value}].{side}: must be an integer number of minutes or None")
            if isinstance(lim.floor, int) and isinstance(lim.cap, int) and lim.floor > lim.cap:
                errors.append(f"limits[{k.value}]: floor {lim.floor} is above cap {lim.cap}")
            parsed[k] = lim
        if errors:
            raise ValidationError(errors)

        def run(conn: Connection) -> None:
            exists = conn.execute(sa.select(policy_t.c.coop_id).where(policy_t.c.coop_id == coop_id)).first()
            if exists is None:
                conn.execute(
                    policy_t.insert().values(
                        coop_id=coop_id, visit_credit_source=(source or CreditSource.POT).value
                    )
                )
            elif source is not None:
                conn.execute(
                    policy_t.update()
                    .where(policy_t.c.coop_id == coop_id)
                    .values(visit_credit_source=source.value)
                )
            for k, lim in parsed.items():
                conn.execute(limit_t.delete().where(limit_t.c.coop_id == coop_id, limit_t.c.kind == k.value))
                conn.execute(
                    limit_t.insert().values(coop_id=coop_id, kind=k.value, floor=lim.floor, cap=lim.cap)
                )

        self._write(run)
        return self.policy(coop_id)

    def policy(self, coop_id: str) -> Policy:
        """The co-op's policy (defaults when none was set)."""
        with self._read() as conn:
            return self._policy(conn, coop_id)

    @staticmethod
    def _policy(conn: Connection, coop_id: str) -> Policy:
        row = conn.execute(
            sa.select(policy_t.c.visit_credit_source).where(policy_t.c.coop_id == coop_id)
        ).first()
        source = CreditSource(row.visit_credit_source) if row is not None else CreditSource.POT
        return Policy(coop_id, source, Ledger._limits(conn, coop_id))

    # ------------------------------------------------------------------ accounts

    def open_account(
        self,
        coop_id: str,
        kind: AccountKind | str,
        owner_ref: str | None = None,
        name: str | None = None,
        *,
        rekind: bool = False,
    ) -> AccountPublic:
        """Open (or return the existing) account, in a write transaction of its own
        (:func:`open_account_in` opens one inside the caller's transaction).

        Members (volunteer, staff, client, family) need ``owner_ref`` (their member id) and get
        one account per co-op; the pot takes neither; system accounts need a ``name``.
        ``rekind``: see :func:`open_account_in`.
        """
        k, key = _account_key(coop_id, kind, owner_ref, name)
        return self._write(lambda conn: _open_account(conn, coop_id, k, key, owner_ref, rekind))

    def pot(self, coop_id: str) -> AccountPublic:
        """The co-op's community pot (opened on first use)."""
        return self.open_account(coop_id, AccountKind.POT)

    def account(self, account_id: int) -> AccountPublic:
        with self._read() as conn:
            row = conn.execute(sa.select(account_t).where(account_t.c.id == account_id)).first()
        if row is None:
            raise AccountNotFound(f"account_id: no account {account_id}")
        return _account_public(row)

    def member_account(self, coop_id: str, owner_ref: str) -> AccountPublic:
        """The account of member ``owner_ref`` in co-op ``coop_id``."""
        with self._read() as conn:
            row = self._member_row(conn, coop_id, owner_ref)
        return _account_public(row)

    @staticmethod
    def _member_row(conn: Connection, coop_id: str, owner_ref: str, field_name: str = "owner_ref") -> Any:
        row = conn.execute(
            sa.select(account_t).where(
                account_t.c.coop_id == coop_id, account_t.c.name == _member_name(owner_ref)
            )
        ).first()
        if row is None:
            raise AccountNotFound(f"{field_name}: member {owner_ref!r} has no account in co-op {coop_id!r}")
        return row

    def accounts(self, coop_id: str) -> list[AccountPublic]:
        with self._read() as conn:
            rows = conn.execute(
                sa.select(account_t).where(account_t.c.coop_id == coop_id).order_by(account_t.c.id)
            ).all()
        return [_account_public(r) for r in rows]

    # ------------------------------------------------------------------ writes

    def post(self, proposed: ProposedTransaction) -> LedgerTransactionPublic:
        """Post any validated transaction (the general form behind the helpers below)."""
        ent.check(proposed)
        if str(proposed.kind) == TxnKind.REVERSAL.value:
            raise ValidationError(["kind: use Ledger.reverse() to post a reversal"])
        return self._post(proposed, proposed.fingerprint())

    def _post(
        self, p: ProposedTransaction, request_hash: str, on_conflict: Callable[[Any], str] | None = None
    ) -> LedgerTransactionPublic:
        return self._write(lambda conn: self._post_in(conn, p, request_hash, on_conflict))

    def _post_in(
        self,
        conn: Connection,
        p: ProposedTransaction,
        request_hash: str,
        on_conflict: Callable[[Any], str] | None,
        *,
        allow_clearing: bool = False,
    ) -> LedgerTransactionPublic:
        """Write ``p`` inside the open transaction ``conn`` (or replay the original).

        Checks that need no lock come first (idempotency, reversal, limits); the unique constraints
        on ``(coop_id, idempotency_key)`` and ``reverses_id`` back them up if a concurrent writer
        gets in between: the loser's INSERT fails, the whole transaction is re-run and then finds
        the winner here. Only the balance check and the writes happen under the account locks, so
        the locks are held for as few statements as possible.
        """
        replay = self._precheck(conn, p, request_hash, on_conflict)
        if replay is not None:
            return replay
        limits = self._limits(conn, p.coop_id)

        ids = sorted({leg.account_id for leg in p.legs})
        # Row locks in account-id order (PostgreSQL); SQLite already holds the write lock.
        rows = conn.execute(
            sa.select(
                account_t.c.id,
                account_t.c.coop_id,
                account_t.c.kind,
                account_t.c.balance,
                account_t.c.last_posted_at,
            )
            .where(account_t.c.id.in_(ids))
            .order_by(account_t.c.id)
            .with_for_update()
        ).all()
        by_id = {r.id: r for r in rows}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise AccountNotFound(f"legs.account_id: no account {', '.join(map(str, missing))}")
        foreign = [r for r in rows if r.coop_id != p.coop_id]
        if foreign:
            desc = ", ".join(f"account {r.id} belongs to co-op {r.coop_id!r}" for r in foreign)
            raise CrossCoopTransfer(
                f"legs.account_id: a transaction of co-op {p.coop_id!r} may only move minutes between "
                f"that co-op's accounts ({desc})"
            )
        clearing = [r.id for r in rows if r.kind == AccountKind.CLEARING.value]
        if clearing and not allow_clearing:
            raise ValidationError(
                [
                    f"legs.account_id: account {clearing[0]} is co-op {p.coop_id!r}'s clearing account "
                    "with a federation; only a move between co-ops posts to it (timebank.federation; "
                    "a federal move is reversed as a whole there)"
                ]
            )

        try:
            new_balance = self._check_limits(p, by_id, limits)
        except LimitExceeded:
            # While this writer waited for the locks another one may have committed the same key
            # or reversed the same transaction: report that rather than the limit.
            replay = self._precheck(conn, p, request_hash, on_conflict)
            if replay is not None:
                return replay
            raise

        # posted_at never goes backwards on an account, so entry order by id == order by posted_at
        now = _utcnow()
        for r in rows:
            if r.last_posted_at is not None:
                now = max(now, _aware(r.last_posted_at))
        result = conn.execute(
            txn_t.insert().values(
                coop_id=p.coop_id,
                kind=str(p.kind),
                recorded_by=p.recorded_by,
                on_behalf_of=p.on_behalf_of,
                service_date=p.service_date,
                memo=p.memo,
                reference=p.reference,
                reverses_id=p.reverses_id,
                posted_at=now,
                idempotency_key=p.idempotency_key,
                request_hash=request_hash,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        txn_id = int(pk[0])
        conn.execute(
            entry_t.insert(),
            [
                {
                    "transaction_id": txn_id,
                    "account_id": leg.account_id,
                    "amount": leg.minutes,
                    "coop_id": p.coop_id,
                    "balance_after": new_balance[leg.account_id],
                    "posted_at": now,
                }
                for leg in p.legs
            ],
        )
        # one UPDATE for all legs' running balances
        delta = sa.case({leg.account_id: leg.minutes for leg in p.legs}, value=account_t.c.id)
        conn.execute(
            account_t.update()
            .where(account_t.c.id.in_(ids))
            .values(balance=account_t.c.balance + delta, last_posted_at=now)
        )
        return LedgerTransactionPublic(
            id=txn_id,
            coop_id=p.coop_id,
            kind=str(p.kind),
            recorded_by=p.recorded_by,
            on_behalf_of=p.on_behalf_of,
            service_date=p.service_date,
            memo=p.memo,
            reference=p.reference,
            reverses_id=p.reverses_id,
            posted_at=now,
            idempotency_key=p.idempotency_key,
            legs=[LegPublic(account_id=leg.account_id, minutes=leg.minutes) for leg in p.legs],
        )

    def _precheck(
        self,
        conn: Connection,
        p: ProposedTransaction,
        request_hash: str,
        on_conflict: Callable[[Any], str] | None,
    ) -> LedgerTransactionPublic | None:
        """Idempotency and reversal checks: the replayed original, None to go on, or an error."""
        existing = conn.execute(
            sa.select(txn_t).where(txn_t.c.coop_id == p.coop_id, txn_t.c.idempotency_key == p.idempotency_key)
        ).first()
        if existing is not None:
            if existing.request_hash == request_hash:
                return self._load_transaction(conn, existing).model_copy(update={"replayed": True})
            msg = (
                on_conflict(existing)
                if on_conflict
                else (
                    f"idempotency_key: {p.idempotency_key!r} was already used for a different request "
                    f"(transaction {existing.id}, {existing.kind})"
                )
            )
            raise IdempotencyConflict(msg)

        if p.reverses_id is not None:
            original = conn.execute(sa.select(txn_t).where(txn_t.c.id == p.reverses_id)).first()
            if original is None or original.coop_id != p.coop_id:
                raise TransactionNotFound(
                    f"reverses_id: no transaction {p.reverses_id} in co-op {p.coop_id!r}"
                )
            prior = conn.execute(sa.select(txn_t.c.id).where(txn_t.c.reverses_id == p.reverses_id)).first()
            if prior is not None:
                raise AlreadyReversed(
                    f"reverses_id: transaction {p.reverses_id} was already reversed by transaction {prior.id}"
                )
        return None

    @staticmethod
    def _check_limits(
        p: ProposedTransaction, by_id: dict[int, Any], limits: Mapping[AccountKind, Limits]
    ) -> dict[int, int]:
        """New balance per account, or the first floor / cap a leg would break."""
        new_balance: dict[int, int] = {}
        for leg in p.legs:
            r = by_id[leg.account_id]
            lim = limits.get(AccountKind(r.kind), Limits(None, None))
            new = r.balance + leg.minutes
            if leg.minutes < 0 and lim.floor is not None and new < lim.floor:
                raise InsufficientBalance(
                    f"legs.minutes: account {r.id} ({r.kind}) has {r.balance} minutes; debiting "
                    f"{-leg.minutes} would leave {new}, below its floor of {lim.floor}",
                    account_id=r.id,
                    balance=r.balance,
                    new_balance=new,
                    limit=lim.floor,
                    which="floor",
                )
            if leg.minutes > 0 and lim.cap is not None and new > lim.cap:
                raise LimitExceeded(
                    f"legs.minutes: account {r.id} ({r.kind}) has {r.balance} minutes; crediting "
                    f"{leg.minutes} would make {new}, above its cap of {lim.cap}",
                    account_id=r.id,
                    balance=r.balance,
                    new_balance=new,
                    limit=lim.cap,
                    which="cap",
                )
            new_balance[r.id] = new
        return new_balance

    @staticmethod
    def _limits(conn: Connection, coop_id: str) -> dict[AccountKind, Limits]:
        limits = dict(DEFAULT_LIMITS)
        for lim in conn.execute(
            sa.select(limit_t.c.kind, limit_t.c.floor, limit_t.c.cap).where(limit_t.c.coop_id == coop_id)
        ):
            limits[AccountKind(lim.kind)] = Limits(lim.floor, lim.cap)
        return limits

    def credit_visit(
        self,
        coop_id: str,
        *,
        visit_id: str,
        volunteer_ref: str,
        minutes: int,
        service_date: dt.date,
        recorded_by: str,
        client_ref: str | None = None,
        on_behalf_of: str | None = None,
        memo: str = "",
    ) -> LedgerTransactionPublic:
        """Credit a volunteer ``minutes`` for a completed visit (1 minute given = 1 minute credit).

        The debit goes to the community pot or to the client's account, by co-op policy.
        Idempotent per (visit, volunteer): any re-run returns the original transaction with
        ``replayed=True``; a re-run with different minutes raises :class:`IdempotencyConflict`.
        """
        errors: list[str] = []
        for name, value in (("visit_id", visit_id), ("volunteer_ref", volunteer_ref)):
            if not isinstance(value, str) or not value.strip():
                errors.append(f"{name}: must be a non-empty string")
            elif len(value) > ent.MAX_REF_LENGTH:
                errors.append(f"{name}: longer than {ent.MAX_REF_LENGTH} characters")
        ent.validate_minutes(errors, "minutes", minutes, positive=True)
        if client_ref is not None and (not isinstance(client_ref, str) or not client_ref.strip()):
            errors.append("client_ref: must be a non-empty string when given")
        if errors:
            raise ValidationError(errors)

        with self._read() as conn:
            policy = self._policy(conn, coop_id)
            volunteer = self._member_row(conn, coop_id, volunteer_ref, "volunteer_ref")
            if volunteer.kind not in (AccountKind.VOLUNTEER.value, AccountKind.STAFF.value):
                raise ValidationError(
                    [
                        f"volunteer_ref: member {volunteer_ref!r} has a {volunteer.kind} account, "
                        "not a volunteer's"
                    ]
                )
            if policy.visit_credit_source is CreditSource.CLIENT:
                if client_ref is None:
                    raise ValidationError(
                        [f"client_ref: co-op {coop_id!r} pays visit credits from the client's account"]
                    )
                source_id = self._member_row(conn, coop_id, client_ref, "client_ref").id
            else:
                pot = conn.execute(
                    sa.select(account_t.c.id).where(account_t.c.coop_id == coop_id, account_t.c.name == "pot")
                ).first()
                source_id = pot.id if pot is not None else None
        if source_id is None:
            source_id = self.pot(coop_id).id
        if source_id == volunteer.id:
            raise ValidationError(["client_ref: a volunteer cannot be credited from their own account"])

        key = ent.RESERVED_KEY_PREFIX + json.dumps([visit_id, volunteer_ref], separators=(",", ":"))
        request_hash = hashlib.sha256(
            json.dumps(["visit-credit", visit_id, volunteer_ref, minutes]).encode()
        ).hexdigest()
        p = ProposedTransaction(
            coop_id=coop_id,
            kind=TxnKind.VISIT_CREDIT,
            legs=(Leg(source_id, -minutes), Leg(volunteer.id, minutes)),
            recorded_by=recorded_by,
            idempotency_key=key,
            service_date=service_date,
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=visit_id,
        )
        ent.check(p, allow_reserved_key=True)

        def conflict(existing: Any) -> str:
            return (
                f"minutes: visit {visit_id!r} was already credited to {volunteer_ref!r} by transaction "
                f"{existing.id} with different minutes; reverse it and post an adjustment to correct it"
            )

        return self._post(p, request_hash, conflict)

    def _simple(
        self,
        kind: TxnKind,
        coop_id: str,
        debit_id: int,
        credit_id: int,
        minutes: int,
        *,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None,
        on_behalf_of: str | None,
        memo: str,
        reference: str | None,
        debit_field: str,
        credit_field: str,
    ) -> LedgerTransactionPublic:
        errors: list[str] = []
        ent.validate_minutes(errors, "minutes", minutes, positive=True)
        for name, value in ((debit_field, debit_id), (credit_field, credit_id)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                errors.append(f"{name}: must be a positive integer account id, got {value!r}")
        if not errors and debit_id == credit_id:
            errors.append(f"{credit_field}: cannot be the same account as {debit_field} ({debit_id})")
        p = ProposedTransaction(
            coop_id=coop_id,
            kind=kind,
            legs=(Leg(debit_id, -minutes), Leg(credit_id, minutes)) if not errors else (),
            recorded_by=recorded_by,
            idempotency_key=idempotency_key,
            service_date=service_date if service_date is not None else _today(),
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=reference,
        )
        problems = errors + (
            [e for e in ent.validate(p) if not e.startswith("legs")] if errors else ent.validate(p)
        )
        if problems:
            raise ValidationError(problems)
        return self._post(p, p.fingerprint())

    def exchange(
        self,
        coop_id: str,
        *,
        payer_id: int,
        payee_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        on_behalf_of: str | None = None,
        memo: str = "",
        reference: str | None = None,
    ) -> LedgerTransactionPublic:
        """A member pays another member ``minutes`` for help received."""
        return self._simple(
            TxnKind.EXCHANGE,
            coop_id,
            payer_id,
            payee_id,
            minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=reference,
            debit_field="payer_id",
            credit_field="payee_id",
        )

    transfer = exchange

    def gift(
        self,
        coop_id: str,
        *,
        from_id: int,
        to_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        on_behalf_of: str | None = None,
        memo: str = "",
        reference: str | None = None,
    ) -> LedgerTransactionPublic:
        """Gift hours to another account (e.g. to family)."""
        return self._simple(
            TxnKind.GIFT,
            coop_id,
            from_id,
            to_id,
            minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=reference,
            debit_field="from_id",
            credit_field="to_id",
        )

    def donate(
        self,
        coop_id: str,
        *,
        from_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        on_behalf_of: str | None = None,
        memo: str = "",
        reference: str | None = None,
    ) -> LedgerTransactionPublic:
        """Donate hours to the co-op's community pot."""
        pot_id = self.pot(coop_id).id if isinstance(coop_id, str) and coop_id.strip() else 0
        return self._simple(
            TxnKind.DONATION,
            coop_id,
            from_id,
            pot_id,
            minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=reference,
            debit_field="from_id",
            credit_field="pot",
        )

    def adjust(
        self,
        coop_id: str,
        *,
        legs: Sequence[Leg | tuple[int, int]],
        idempotency_key: str,
        recorded_by: str,
        memo: str,
        service_date: dt.date | None = None,
        on_behalf_of: str | None = None,
        reference: str | None = None,
    ) -> LedgerTransactionPublic:
        """A staff adjustment of two or more legs (summing to zero); ``memo`` must say why."""
        legs_t = tuple(leg if isinstance(leg, Leg) else Leg(*leg) for leg in legs)
        p = ProposedTransaction(
            coop_id=coop_id,
            kind=TxnKind.ADJUSTMENT,
            legs=legs_t,
            recorded_by=recorded_by,
            idempotency_key=idempotency_key,
            service_date=service_date if service_date is not None else _today(),
            on_behalf_of=on_behalf_of,
            memo=memo,
            reference=reference,
        )
        problems = ent.validate(p)
        if not isinstance(memo, str) or not memo.strip():
            problems.append("memo: an adjustment must say why it was made")
        if problems:
            raise ValidationError(problems)
        return self._post(p, p.fingerprint())

    def reverse(
        self,
        transaction_id: int,
        *,
        idempotency_key: str,
        recorded_by: str,
        memo: str = "",
        on_behalf_of: str | None = None,
        service_date: dt.date | None = None,
    ) -> LedgerTransactionPublic:
        """Post the exact opposite of ``transaction_id``; a transaction can be reversed once.

        Raises :class:`AlreadyReversed` for a second reversal, :class:`NotReversible` for a reversal
        of a reversal, and the usual limit errors when the reversal would break a floor or cap.
        """
        original = self.transaction(transaction_id)
        if original.kind == TxnKind.REVERSAL.value:
            raise NotReversible(
                f"transaction_id: {transaction_id} is itself a reversal; post the original again instead"
            )
        p = ProposedTransaction(
            coop_id=original.coop_id,
            kind=TxnKind.REVERSAL,
            legs=tuple(Leg(leg.account_id, -leg.minutes) for leg in original.legs),
            recorded_by=recorded_by,
            idempotency_key=idempotency_key,
            service_date=service_date if service_date is not None else original.service_date,
            on_behalf_of=on_behalf_of,
            memo=memo or f"reversal of transaction {transaction_id}",
            reference=original.reference,
            reverses_id=transaction_id,
        )
        ent.check(p)
        return self._post(p, p.fingerprint())

    # ------------------------------------------------------------------ reads

    def transaction(self, transaction_id: int) -> LedgerTransactionPublic:
        with self._read() as conn:
            t = conn.execute(sa.select(txn_t).where(txn_t.c.id == transaction_id)).first()
            if t is None:
                raise TransactionNotFound(f"transaction_id: no transaction {transaction_id}")
            return self._load_transaction(conn, t)

    @staticmethod
    def _load_transaction(conn: Connection, t: Any) -> LedgerTransactionPublic:
        legs = conn.execute(
            sa.select(entry_t.c.account_id, entry_t.c.amount)
            .where(entry_t.c.transaction_id == t.id)
            .order_by(entry_t.c.id)
        ).all()
        return LedgerTransactionPublic(
            id=t.id,
            coop_id=t.coop_id,
            kind=t.kind,
            recorded_by=t.recorded_by,
            on_behalf_of=t.on_behalf_of,
            service_date=t.service_date,
            memo=t.memo,
            reference=t.reference,
            reverses_id=t.reverses_id,
            posted_at=_aware(t.posted_at),
            idempotency_key=t.idempotency_key,
            legs=[LegPublic(account_id=leg.account_id, minutes=leg.amount) for leg in legs],
        )

    def balance(self, account_id: int) -> int:
        """The running balance (minutes); :meth:`reconcile` proves it equals the sum of entries."""
        with self._read() as conn:
            value = conn.execute(sa.select(account_t.c.balance).where(account_t.c.id == account_id)).scalar()
        if value is None:
            raise AccountNotFound(f"account_id: no account {account_id}")
        return int(value)

    def balance_from_entries(self, account_id: int) -> int:
        """The balance recomputed as the sum of the account's entries (a full scan; for checks)."""
        with self._read() as conn:
            value = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(entry_t.c.amount), 0)).where(
                    entry_t.c.account_id == account_id
                )
            ).scalar()
        return int(value or 0)

    def entries(self, account_id: int, *, after_id: int = 0, limit: int = 1000) -> list[EntryPublic]:
        """The account's entries in posting order, paged by entry id."""
        with self._read() as conn:
            rows = conn.execute(
                sa.select(entry_t)
                .where(entry_t.c.account_id == account_id, entry_t.c.id > after_id)
                .order_by(entry_t.c.id)
                .limit(limit)
            ).all()
        return [
            EntryPublic(
                id=r.id,
                transaction_id=r.transaction_id,
                account_id=r.account_id,
                amount=r.amount,
                balance_after=r.balance_after,
                posted_at=_aware(r.posted_at),
            )
            for r in rows
        ]

    def coop_total(self, coop_id: str) -> int:
        """Sum of every balance in the co-op: always zero."""
        with self._read() as conn:
            value = conn.execute(
                sa.select(sa.func.coalesce(sa.func.sum(account_t.c.balance), 0)).where(
                    account_t.c.coop_id == coop_id
                )
            ).scalar()
        return int(value or 0)

    def statement(self, account_id: int, start: dt.date, end: dt.date) -> st.Statement:
        """Statement of ``account_id`` for entries posted on ``start``..``end`` (inclusive, UTC dates)."""
        account = self.account(account_id)
        with self._read() as conn:
            return st.build_statement(conn, account, start, end)

    def statement_page(
        self, account_id: int, start: dt.date, end: dt.date, *, after_entry_id: int = 0, limit: int = 100
    ) -> st.StatementPage:
        """One page of the statement: the period's totals (summed in the database, the same on
        every page), up to ``limit`` lines after entry ``after_entry_id``, and the entry id the
        next page starts after (``None`` on the last page)."""
        account = self.account(account_id)
        with self._read() as conn:
            return st.build_statement_page(conn, account, start, end, after_entry_id=after_entry_id,
                                           limit=limit)

    def statement_csv(self, account_id: int, start: dt.date, end: dt.date) -> str:
        return st.statement_to_csv(self.statement(account_id, start, end))

    def hours_by_kind_month(
        self, coop_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> list[st.KindMonthRow]:
        """Minutes moved per service month and transaction kind (reversals shown separately)."""
        with self._read() as conn:
            return st.hours_by_kind_month(conn, coop_id, start, end)

    def hours_by_kind_month_csv(
        self, coop_id: str, start: dt.date | None = None, end: dt.date | None = None
    ) -> str:
        return st.kind_month_to_csv(self.hours_by_kind_month(coop_id, start, end))

    def reconcile(self, coop_id: str | None = None) -> ReconcileReport:
        """Prove the books: running balances equal the sum of entries and the last ``balance_after``,
        every ``balance_after`` chain adds up, every transaction balances within one co-op, every
        reversal mirrors its original, and every co-op sums to zero; and, for federations (those
        of ``coop_id`` when given), the clearing invariants
        (:func:`timebank.federation.reconcile_federations`)."""
        from timebank.federation import reconcile_federations

        with self._read() as conn:
            problems, counts, totals = st.reconcile(conn, coop_id)
            problems += reconcile_federations(conn, coop_id)
        return ReconcileReport(
            problems=problems,
            accounts=counts[0],
            transactions=counts[1],
            entries=counts[2],
            coop_totals=totals,
        )
