"""Federations of co-ops: moving hours between the co-ops' time banks (a mutual-credit clearing union).

Each co-op keeps its own ledger. Joining a federation opens the co-op's **clearing account** with
it (kind ``clearing``, in the co-op's own ledger). A move of minutes from an account of co-op A
to an account of co-op B (a client of A paying a volunteer of B for help, a member of A gifting
hours to family in B, a settlement from A's pot to B's pot) posts two ledger transactions:

* in A: ``from_account -m``, ``A's clearing +m``;
* in B: ``B's clearing -m``, ``to_account +m``;

in **one** database transaction under **one** idempotency key (per federation): both or
neither, and a retry with the same key and request returns the original move (``replayed``).
So every co-op still sums to zero and the clearing accounts of a federation sum to zero.

A co-op's **position** is its clearing account's balance: positive when its members paid more
minutes out to other co-ops than they took in (the federation owes the co-op hours), negative
when they took in more (the co-op owes). The federation sets each co-op a **limit**: the
position stays within ``-limit..+limit``; a move beyond it is refused
(:class:`FederationLimitExceeded`) and writes nothing. A limit may not be set below the
co-op's current position. Reversals post the exact opposite of both legs, atomically, once,
and obey the limits too (like every ledger reversal).

**Leaving**: refused while the co-op's position is not zero (:class:`PositionNotSettled`).
A position is settled by moves the other way or by a **settlement** (:meth:`Federations.settle`):
a pot-to-pot move from a co-op that owes to one that is owed. A co-op that left keeps its
(zero) clearing account and its history, and may join again.

Concurrency: the four accounts of a move (both members' accounts and both clearing accounts) are
locked in account-id order before anything is checked, so opposite moves between the same
co-ops queue instead of deadlocking; a membership is re-read after the locks, so a concurrent
leave or new limit is seen.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timebank import entries as ent
from timebank.entries import Leg, ProposedTransaction
from timebank.errors import (
    AccountNotFound,
    AlreadyReversed,
    FederationLimitExceeded,
    FederationNotFound,
    IdempotencyConflict,
    LedgerError,
    NotAFederationMember,
    NotReversible,
    PositionNotSettled,
    TransactionNotFound,
    ValidationError,
)
from timebank.models import (
    AccountKind,
    TxnKind,
    account_t,
    entry_t,
    fed_member_t,
    fed_move_t,
    federation_t,
    txn_t,
)
from timebank.service import Ledger, _aware, _today, _utcnow

MAX_FEDERATION_KEY_LENGTH = 180  # the ledger legs' keys add the prefix and the federation id
MAX_LIMIT_MINUTES = 100_000_000


class MoveKind(StrEnum):
    HELP = "help"  # a member of one co-op paid a volunteer of another for help received
    GIFT = "gift"  # hours given to a member (e.g. family) in another co-op
    SETTLEMENT = "settlement"  # pot to pot: settles two co-ops' positions
    REVERSAL = "reversal"


#: the kind of each leg's ledger transaction (so statements count help as time given/received)
LEDGER_KIND: dict[MoveKind, TxnKind] = {
    MoveKind.HELP: TxnKind.EXCHANGE,
    MoveKind.GIFT: TxnKind.GIFT,
    MoveKind.SETTLEMENT: TxnKind.SETTLEMENT,
    MoveKind.REVERSAL: TxnKind.REVERSAL,
}


@dataclass(frozen=True, slots=True)
class MembershipPublic:
    federation_id: str
    coop_id: str
    clearing_account_id: int
    limit: int
    #: the clearing account's balance: > 0 the federation owes the co-op, < 0 the co-op owes
    position: int
    joined_at: dt.datetime
    left_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.left_at is None


@dataclass(frozen=True, slots=True)
class FederationPublic:
    id: str
    name: str
    default_limit: int
    created_at: dt.datetime
    members: tuple[MembershipPublic, ...]


@dataclass(frozen=True, slots=True)
class FederalMovePublic:
    id: int
    federation_id: str
    kind: str
    from_coop_id: str
    to_coop_id: str
    #: the members' (or pots') accounts: minutes left ``from_account_id``, arrived in ``to_account_id``
    from_account_id: int
    to_account_id: int
    minutes: int
    from_transaction_id: int
    to_transaction_id: int
    reverses_id: int | None
    recorded_by: str
    service_date: dt.date
    memo: str
    posted_at: dt.datetime
    idempotency_key: str
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class SettlementLine:
    """A co-op's moves with one other co-op in a period (reversals count against their kind)."""

    counterparty_coop_id: str
    help_given_minutes: int  # our members helped theirs (minutes in)
    help_received_minutes: int  # their members helped ours (minutes out)
    gifts_in_minutes: int
    gifts_out_minutes: int
    settlement_in_minutes: int
    settlement_out_minutes: int
    minutes_in: int
    minutes_out: int
    net_minutes_in: int  # minutes_in - minutes_out
    moves: int


@dataclass(frozen=True, slots=True)
class SettlementStatement:
    federation_id: str
    coop_id: str
    start: dt.date
    end: dt.date
    opening_position: int
    closing_position: int
    lines: tuple[SettlementLine, ...]
    totals: SettlementLine = field(repr=False)


def _fingerprint(payload: list[Any]) -> str:
    blob = json.dumps(payload, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def _leg_key(federation_id: str, key: str) -> str:
    return f"{ent.FEDERATION_KEY_PREFIX}{federation_id}:{key}"


def _clearing_name(federation_id: str) -> str:
    return f"clearing:{federation_id}"


def _check_id(errors: list[str], name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{name}: must be a non-empty string")
    elif len(value) > ent.MAX_REF_LENGTH:
        errors.append(f"{name}: longer than {ent.MAX_REF_LENGTH} characters")


def _check_limit(errors: list[str], name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        errors.append(f"{name}: must be an integer number of minutes, got {value!r}")
    elif value < 0:
        errors.append(f"{name}: must not be negative, got {value}")
    elif value > MAX_LIMIT_MINUTES:
        errors.append(f"{name}: {value} is beyond the {MAX_LIMIT_MINUTES} minute maximum")


def _check_key(errors: list[str], key: object) -> None:
    if not isinstance(key, str) or not key.strip():
        errors.append("idempotency_key: is required")
    elif len(key) > MAX_FEDERATION_KEY_LENGTH:
        errors.append(f"idempotency_key: longer than {MAX_FEDERATION_KEY_LENGTH} characters ({len(key)})")


def _signed(minutes: int) -> str:
    return f"{minutes:+d}"


class Federations:
    """Federations over one :class:`Ledger` (the co-ops' ledgers share its database)."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    # ------------------------------------------------------------------ federations and members

    def create(self, federation_id: str, name: str, *, default_limit: int) -> FederationPublic:
        """Create a federation (idempotent for the same id and name; another name is refused)."""
        errors: list[str] = []
        _check_id(errors, "federation_id", federation_id)
        if not isinstance(name, str) or not name.strip():
            errors.append("name: must not be empty")
        elif len(name) > 200:
            errors.append("name: longer than 200 characters")
        _check_limit(errors, "default_limit", default_limit)
        if errors:
            raise ValidationError(errors)

        def run(conn: Connection) -> None:
            row = conn.execute(sa.select(federation_t).where(federation_t.c.id == federation_id)).first()
            if row is None:
                conn.execute(
                    federation_t.insert().values(
                        id=federation_id, name=name, default_limit=default_limit, created_at=_utcnow()
                    )
                )
            elif row.name != name or row.default_limit != default_limit:
                raise ValidationError([f"federation_id: federation {federation_id!r} already exists"])

        self.ledger._write(run)
        return self.get(federation_id)

    def get(self, federation_id: str) -> FederationPublic:
        with self.ledger._read() as conn:
            row = self._federation(conn, federation_id)
            members = conn.execute(
                sa.select(fed_member_t, account_t.c.balance)
                .join(account_t, account_t.c.id == fed_member_t.c.clearing_account_id)
                .where(fed_member_t.c.federation_id == federation_id)
                .order_by(fed_member_t.c.coop_id)
            ).all()
        return FederationPublic(
            id=row.id,
            name=row.name,
            default_limit=int(row.default_limit),
            created_at=_aware(row.created_at),
            members=tuple(self._membership(m) for m in members),
        )

    def federations_of(self, coop_id: str) -> list[str]:
        """The federations the co-op is an active member of."""
        with self.ledger._read() as conn:
            rows = conn.execute(
                sa.select(fed_member_t.c.federation_id)
                .where(fed_member_t.c.coop_id == coop_id, fed_member_t.c.left_at.is_(None))
                .order_by(fed_member_t.c.federation_id)
            ).all()
        return [r.federation_id for r in rows]

    def membership(self, federation_id: str, coop_id: str) -> MembershipPublic:
        with self.ledger._read() as conn:
            self._federation(conn, federation_id)
            row = self._member_row(conn, federation_id, coop_id, active=False)
            balance = conn.execute(
                sa.select(account_t.c.balance).where(account_t.c.id == row.clearing_account_id)
            ).scalar_one()
        return self._membership(row, int(balance))

    def position(self, federation_id: str, coop_id: str) -> int:
        return self.membership(federation_id, coop_id).position

    def join(self, federation_id: str, coop_id: str, *, limit: int | None = None) -> MembershipPublic:
        """The co-op joins (or joins again): its clearing account is opened (kept from before if it
        was a member), its limit is ``limit`` or the federation's default."""
        errors: list[str] = []
        _check_id(errors, "federation_id", federation_id)
        _check_id(errors, "coop_id", coop_id)
        if limit is not None:
            _check_limit(errors, "limit", limit)
        if errors:
            raise ValidationError(errors)

        def run(conn: Connection) -> None:
            fed = self._federation(conn, federation_id)
            lim = int(fed.default_limit) if limit is None else limit
            row = conn.execute(
                sa.select(fed_member_t).where(
                    fed_member_t.c.federation_id == federation_id, fed_member_t.c.coop_id == coop_id
                )
            ).first()
            if row is not None:
                if row.left_at is None:
                    if limit is not None and limit != row.limit:
                        raise ValidationError(
                            [
                                f"coop_id: co-op {coop_id!r} is already a member of "
                                f"{federation_id!r}; change its limit with set_limit"
                            ]
                        )
                    return
                conn.execute(
                    fed_member_t.update()
                    .where(fed_member_t.c.federation_id == federation_id, fed_member_t.c.coop_id == coop_id)
                    .values(left_at=None, limit=lim, joined_at=_utcnow())
                )
                return
            name = _clearing_name(federation_id)
            acct = conn.execute(
                sa.select(account_t.c.id).where(account_t.c.coop_id == coop_id, account_t.c.name == name)
            ).first()
            if acct is None:
                result = conn.execute(
                    account_t.insert().values(
                        coop_id=coop_id,
                        kind=AccountKind.CLEARING.value,
                        owner_ref=None,
                        name=name,
                        balance=0,
                        created_at=_utcnow(),
                    )
                )
                pk = result.inserted_primary_key
                assert pk is not None
                acct_id = int(pk[0])
            else:
                acct_id = int(acct.id)
            conn.execute(
                fed_member_t.insert().values(
                    federation_id=federation_id,
                    coop_id=coop_id,
                    clearing_account_id=acct_id,
                    limit=lim,
                    joined_at=_utcnow(),
                    left_at=None,
                )
            )

        self.ledger._write(run)
        return self.membership(federation_id, coop_id)

    def set_limit(self, federation_id: str, coop_id: str, limit: int) -> MembershipPublic:
        """Set the co-op's limit; refused below its current position (it would be beyond it)."""
        errors: list[str] = []
        _check_limit(errors, "limit", limit)
        if errors:
            raise ValidationError(errors)

        def run(conn: Connection) -> None:
            self._federation(conn, federation_id)
            row = self._member_row(conn, federation_id, coop_id)
            balance = self._lock([row.clearing_account_id], conn)[row.clearing_account_id].balance
            if abs(balance) > limit:
                raise ValidationError(
                    [
                        f"limit: co-op {coop_id!r}'s position with {federation_id!r} is {_signed(balance)} "
                        f"minutes; a limit of {limit} would leave it beyond its limit (choose at least "
                        f"{abs(balance)}, or settle first)"
                    ]
                )
            conn.execute(
                fed_member_t.update()
                .where(fed_member_t.c.federation_id == federation_id, fed_member_t.c.coop_id == coop_id)
                .values(limit=limit)
            )

        self.ledger._write(run)
        return self.membership(federation_id, coop_id)

    def leave(self, federation_id: str, coop_id: str) -> MembershipPublic:
        """The co-op leaves; refused while its position is not zero (settle it first)."""

        def run(conn: Connection) -> None:
            self._federation(conn, federation_id)
            row = self._member_row(conn, federation_id, coop_id)
            balance = self._lock([row.clearing_account_id], conn)[row.clearing_account_id].balance
            if balance != 0:
                owes = "the federation owes it" if balance > 0 else "it owes the federation"
                raise PositionNotSettled(
                    f"coop_id: co-op {coop_id!r}'s position with {federation_id!r} is {_signed(balance)} "
                    f"minutes ({owes}); it can leave once the position is settled to zero (moves the "
                    "other way, or a settlement between pots)"
                )
            conn.execute(
                fed_member_t.update()
                .where(fed_member_t.c.federation_id == federation_id, fed_member_t.c.coop_id == coop_id)
                .values(left_at=_utcnow())
            )

        self.ledger._write(run)
        return self.membership(federation_id, coop_id)

    # ------------------------------------------------------------------ moves

    def help(
        self,
        federation_id: str,
        *,
        payer_coop_id: str,
        payer_id: int,
        volunteer_coop_id: str,
        volunteer_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        memo: str = "",
    ) -> FederalMovePublic:
        """A volunteer of one co-op helped a member of another: the member's account pays."""
        return self.move(
            federation_id,
            kind=MoveKind.HELP,
            from_coop_id=payer_coop_id,
            from_account_id=payer_id,
            to_coop_id=volunteer_coop_id,
            to_account_id=volunteer_id,
            minutes=minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            memo=memo,
        )

    def gift(
        self,
        federation_id: str,
        *,
        from_coop_id: str,
        from_id: int,
        to_coop_id: str,
        to_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        memo: str = "",
    ) -> FederalMovePublic:
        """A member gives hours to a member of another co-op (e.g. family)."""
        return self.move(
            federation_id,
            kind=MoveKind.GIFT,
            from_coop_id=from_coop_id,
            from_account_id=from_id,
            to_coop_id=to_coop_id,
            to_account_id=to_id,
            minutes=minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            memo=memo,
        )

    def settle(
        self,
        federation_id: str,
        *,
        from_coop_id: str,
        to_coop_id: str,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        memo: str = "",
    ) -> FederalMovePublic:
        """A settlement from one co-op's pot to another's: moves both positions towards zero
        (``from_coop_id`` is the co-op that owes, its position negative)."""
        pots = {
            c: self.ledger.pot(c).id for c in (from_coop_id, to_coop_id) if isinstance(c, str) and c.strip()
        }
        return self.move(
            federation_id,
            kind=MoveKind.SETTLEMENT,
            from_coop_id=from_coop_id,
            from_account_id=pots.get(from_coop_id, 0),
            to_coop_id=to_coop_id,
            to_account_id=pots.get(to_coop_id, 0),
            minutes=minutes,
            idempotency_key=idempotency_key,
            recorded_by=recorded_by,
            service_date=service_date,
            memo=memo or "settlement between co-ops",
        )

    def move(
        self,
        federation_id: str,
        *,
        kind: MoveKind | str,
        from_coop_id: str,
        from_account_id: int,
        to_coop_id: str,
        to_account_id: int,
        minutes: int,
        idempotency_key: str,
        recorded_by: str,
        service_date: dt.date | None = None,
        memo: str = "",
    ) -> FederalMovePublic:
        """Move ``minutes`` from an account of one member co-op to an account of another (see the
        module docstring): both ledgers, one database transaction, one idempotency key."""
        errors: list[str] = []
        _check_id(errors, "federation_id", federation_id)
        try:
            k = MoveKind(kind)
        except ValueError:
            k = MoveKind.REVERSAL
            errors.append(f"kind: {kind!r} is not one of help, gift, settlement")
        if k is MoveKind.REVERSAL and not errors:
            errors.append("kind: reverse a move with Federations.reverse")
        _check_id(errors, "from_coop_id", from_coop_id)
        _check_id(errors, "to_coop_id", to_coop_id)
        if not errors and from_coop_id == to_coop_id:
            errors.append(
                "to_coop_id: a move within one co-op is an ordinary ledger transaction "
                "(Ledger.exchange / gift), not a federal move"
            )
        for name, value in (("from_account_id", from_account_id), ("to_account_id", to_account_id)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                errors.append(f"{name}: must be a positive integer account id, got {value!r}")
        ent.validate_minutes(errors, "minutes", minutes, positive=True)
        _check_key(errors, idempotency_key)
        if not isinstance(recorded_by, str) or not recorded_by.strip():
            errors.append("recorded_by: is required")
        if not isinstance(memo, str) or len(memo) > ent.MAX_MEMO_LENGTH:
            errors.append(f"memo: a string of at most {ent.MAX_MEMO_LENGTH} characters")
        day = service_date if service_date is not None else _today()
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            errors.append(f"service_date: must be a date, got {day!r}")
        if errors:
            raise ValidationError(errors)
        request_hash = _fingerprint(
            [
                "move",
                federation_id,
                k.value,
                from_coop_id,
                from_account_id,
                to_coop_id,
                to_account_id,
                minutes,
                recorded_by,
                day.isoformat(),
                memo,
            ]
        )

        def run(conn: Connection) -> FederalMovePublic:
            replay = self._replay(conn, federation_id, idempotency_key, request_hash)
            if replay is not None:
                return replay
            self._federation(conn, federation_id)
            m_from = self._member_row(conn, federation_id, from_coop_id, field_name="from_coop_id")
            m_to = self._member_row(conn, federation_id, to_coop_id, field_name="to_coop_id")
            rows = self._lock(
                [from_account_id, to_account_id, m_from.clearing_account_id, m_to.clearing_account_id], conn
            )
            # a writer that held these locks may have committed the same key meanwhile
            replay = self._replay(conn, federation_id, idempotency_key, request_hash)
            if replay is not None:
                return replay
            for name, acct, coop in (
                ("from_account_id", from_account_id, from_coop_id),
                ("to_account_id", to_account_id, to_coop_id),
            ):
                r = rows.get(acct)
                if r is None or r.coop_id != coop:
                    raise AccountNotFound(f"{name}: no account {acct} in co-op {coop!r}")
                if r.kind == AccountKind.CLEARING.value:
                    raise ValidationError([f"{name}: account {acct} is a clearing account"])
                if k is MoveKind.SETTLEMENT and r.kind != AccountKind.POT.value:
                    raise ValidationError([f"{name}: a settlement moves minutes between the co-ops' pots"])
            # memberships again, under the locks: a concurrent leave or new limit is seen
            m_from = self._member_row(conn, federation_id, from_coop_id, field_name="from_coop_id")
            m_to = self._member_row(conn, federation_id, to_coop_id, field_name="to_coop_id")
            self._check_position(federation_id, m_from, rows, minutes)
            self._check_position(federation_id, m_to, rows, -minutes)
            leg_key = _leg_key(federation_id, idempotency_key)
            reference = f"federation:{federation_id}"
            p_from = ProposedTransaction(
                coop_id=from_coop_id,
                kind=LEDGER_KIND[k],
                legs=(Leg(from_account_id, -minutes), Leg(m_from.clearing_account_id, minutes)),
                recorded_by=recorded_by,
                idempotency_key=leg_key,
                service_date=day,
                memo=memo,
                reference=reference,
            )
            p_to = ProposedTransaction(
                coop_id=to_coop_id,
                kind=LEDGER_KIND[k],
                legs=(Leg(m_to.clearing_account_id, -minutes), Leg(to_account_id, minutes)),
                recorded_by=recorded_by,
                idempotency_key=leg_key,
                service_date=day,
                memo=memo,
                reference=reference,
            )
            return self._post_pair(
                conn, federation_id, k, p_from, p_to, minutes, idempotency_key, request_hash, reverses_id=None
            )

        return self.ledger._write(run)

    def reverse(
        self,
        federation_id: str,
        move_id: int,
        *,
        idempotency_key: str,
        recorded_by: str,
        memo: str = "",
        service_date: dt.date | None = None,
    ) -> FederalMovePublic:
        """Post the exact opposite of both legs of move ``move_id``, atomically; a move is
        reversed once, a reversal is not reversed, and both co-ops must still be members."""
        errors: list[str] = []
        _check_id(errors, "federation_id", federation_id)
        if not isinstance(move_id, int) or isinstance(move_id, bool) or move_id <= 0:
            errors.append(f"move_id: must be a positive integer, got {move_id!r}")
        _check_key(errors, idempotency_key)
        if not isinstance(recorded_by, str) or not recorded_by.strip():
            errors.append("recorded_by: is required")
        if not isinstance(memo, str) or len(memo) > ent.MAX_MEMO_LENGTH:
            errors.append(f"memo: a string of at most {ent.MAX_MEMO_LENGTH} characters")
        if errors:
            raise ValidationError(errors)
        request_hash = _fingerprint(
            [
                "reverse",
                federation_id,
                move_id,
                recorded_by,
                memo,
                service_date.isoformat() if service_date else None,
            ]
        )

        def run(conn: Connection) -> FederalMovePublic:
            replay = self._replay(conn, federation_id, idempotency_key, request_hash)
            if replay is not None:
                return replay
            self._federation(conn, federation_id)
            orig = conn.execute(
                sa.select(fed_move_t).where(
                    fed_move_t.c.id == move_id, fed_move_t.c.federation_id == federation_id
                )
            ).first()
            if orig is None:
                raise TransactionNotFound(f"move_id: no move {move_id} in federation {federation_id!r}")
            if orig.kind == MoveKind.REVERSAL.value:
                raise NotReversible(
                    f"move_id: move {move_id} is itself a reversal; make the move again instead"
                )
            prior = conn.execute(
                sa.select(fed_move_t.c.id).where(fed_move_t.c.reverses_id == move_id)
            ).first()
            if prior is not None:
                raise AlreadyReversed(f"move_id: move {move_id} was already reversed by move {prior.id}")
            t_from = self.ledger._load_transaction(
                conn, conn.execute(sa.select(txn_t).where(txn_t.c.id == orig.from_transaction_id)).one()
            )
            t_to = self.ledger._load_transaction(
                conn, conn.execute(sa.select(txn_t).where(txn_t.c.id == orig.to_transaction_id)).one()
            )
            m_a = self._member_row(
                conn,
                federation_id,
                orig.from_coop_id,
                field_name="move_id",
                why=f"move {move_id} cannot be reversed",
            )
            m_b = self._member_row(
                conn,
                federation_id,
                orig.to_coop_id,
                field_name="move_id",
                why=f"move {move_id} cannot be reversed",
            )
            rows = self._lock([leg.account_id for leg in t_from.legs + t_to.legs], conn)
            # a writer that held these locks may have committed the same key meanwhile
            replay = self._replay(conn, federation_id, idempotency_key, request_hash)
            if replay is not None:
                return replay
            prior = conn.execute(
                sa.select(fed_move_t.c.id).where(fed_move_t.c.reverses_id == move_id)
            ).first()
            if prior is not None:
                raise AlreadyReversed(f"move_id: move {move_id} was already reversed by move {prior.id}")
            m_a = self._member_row(
                conn,
                federation_id,
                orig.from_coop_id,
                field_name="move_id",
                why=f"move {move_id} cannot be reversed",
            )
            m_b = self._member_row(
                conn,
                federation_id,
                orig.to_coop_id,
                field_name="move_id",
                why=f"move {move_id} cannot be reversed",
            )
            m = int(orig.minutes)
            self._check_position(federation_id, m_b, rows, m)  # minutes go back from B to A
            self._check_position(federation_id, m_a, rows, -m)
            day = service_date if service_date is not None else orig.service_date
            text = memo or f"reversal of federal move {move_id}"
            key = _leg_key(federation_id, idempotency_key)
            p_b = ProposedTransaction(
                coop_id=orig.to_coop_id,
                kind=TxnKind.REVERSAL,
                legs=tuple(Leg(g.account_id, -g.minutes) for g in t_to.legs),
                recorded_by=recorded_by,
                idempotency_key=key,
                service_date=day,
                memo=text,
                reference=t_to.reference,
                reverses_id=t_to.id,
            )
            p_a = ProposedTransaction(
                coop_id=orig.from_coop_id,
                kind=TxnKind.REVERSAL,
                legs=tuple(Leg(g.account_id, -g.minutes) for g in t_from.legs),
                recorded_by=recorded_by,
                idempotency_key=key,
                service_date=day,
                memo=text,
                reference=t_from.reference,
                reverses_id=t_from.id,
            )
            return self._post_pair(
                conn,
                federation_id,
                MoveKind.REVERSAL,
                p_b,
                p_a,
                m,
                idempotency_key,
                request_hash,
                reverses_id=move_id,
            )

        return self.ledger._write(run)

    def move_by_id(self, move_id: int) -> FederalMovePublic:
        with self.ledger._read() as conn:
            row = conn.execute(sa.select(fed_move_t).where(fed_move_t.c.id == move_id)).first()
            if row is None:
                raise TransactionNotFound(f"move_id: no move {move_id}")
            return self._load_move(conn, row)

    def moves(
        self, federation_id: str, coop_id: str | None = None, *, after_id: int = 0, limit: int = 1000
    ) -> list[FederalMovePublic]:
        """The federation's moves (those of ``coop_id``, either side, when given), in id order."""
        with self.ledger._read() as conn:
            q = sa.select(fed_move_t).where(
                fed_move_t.c.federation_id == federation_id, fed_move_t.c.id > after_id
            )
            if coop_id is not None:
                q = q.where(sa.or_(fed_move_t.c.from_coop_id == coop_id, fed_move_t.c.to_coop_id == coop_id))
            rows = conn.execute(q.order_by(fed_move_t.c.id).limit(limit)).all()
            return [self._load_move(conn, r) for r in rows]

    # ------------------------------------------------------------------ statements

    def settlement(
        self, federation_id: str, coop_id: str, start: dt.date, end: dt.date
    ) -> SettlementStatement:
        """Per other co-op: minutes of help given and received, gifts and settlements in and out,
        netted, for moves *posted* on ``start``..``end`` (UTC dates, inclusive: a closed period's
        statement never changes). Reversals count against the kind they reverse, when posted.
        Opening and closing positions are the clearing account's balance before and after."""
        if not isinstance(start, dt.date) or not isinstance(end, dt.date) or end < start:
            raise ValidationError(
                [f"end: the period must be two dates with start <= end, got {start!r}..{end!r}"]
            )
        lo = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
        hi = dt.datetime(end.year, end.month, end.day, tzinfo=dt.UTC) + dt.timedelta(days=1)
        with self.ledger._read() as conn:
            self._federation(conn, federation_id)
            member = self._member_row(conn, federation_id, coop_id, active=False)
            orig = fed_move_t.alias("orig")
            rows = conn.execute(
                sa.select(
                    fed_move_t.c.kind,
                    fed_move_t.c.from_coop_id,
                    fed_move_t.c.to_coop_id,
                    fed_move_t.c.minutes,
                    orig.c.kind.label("orig_kind"),
                )
                .select_from(fed_move_t.outerjoin(orig, orig.c.id == fed_move_t.c.reverses_id))
                .where(
                    fed_move_t.c.federation_id == federation_id,
                    sa.or_(fed_move_t.c.from_coop_id == coop_id, fed_move_t.c.to_coop_id == coop_id),
                    fed_move_t.c.posted_at >= lo,
                    fed_move_t.c.posted_at < hi,
                )
            ).all()

            def position_before(t: dt.datetime) -> int:
                v = conn.execute(
                    sa.select(sa.func.coalesce(sa.func.sum(entry_t.c.amount), 0)).where(
                        entry_t.c.account_id == member.clearing_account_id, entry_t.c.posted_at < t
                    )
                ).scalar()
                return int(v or 0)

            opening, closing = position_before(lo), position_before(hi)
        acc: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            m = int(r.minutes)
            reversal = r.kind == MoveKind.REVERSAL.value
            kind = r.orig_kind if reversal else r.kind
            inward = r.to_coop_id == coop_id
            other = r.from_coop_id if inward else r.to_coop_id
            slot = acc[other]
            slot["moves"] += 1
            slot["in" if inward else "out"] += m
            # a reversal's minutes go the other way: it takes back from the column of its original
            column = ("in" if not inward else "out") if reversal else ("in" if inward else "out")
            sign = -1 if reversal else 1
            slot[f"{kind}_{column}"] += sign * m
        lines = [self._line(other, v) for other, v in sorted(acc.items())]
        total: dict[str, int] = defaultdict(int)
        for v in acc.values():
            for key, value in v.items():
                total[key] += value
        return SettlementStatement(
            federation_id=federation_id,
            coop_id=coop_id,
            start=start,
            end=end,
            opening_position=opening,
            closing_position=closing,
            lines=tuple(lines),
            totals=self._line("", total),
        )

    @staticmethod
    def _line(other: str, v: dict[str, int]) -> SettlementLine:
        return SettlementLine(
            counterparty_coop_id=other,
            help_given_minutes=v["help_in"],
            help_received_minutes=v["help_out"],
            gifts_in_minutes=v["gift_in"],
            gifts_out_minutes=v["gift_out"],
            settlement_in_minutes=v["settlement_in"],
            settlement_out_minutes=v["settlement_out"],
            minutes_in=v["in"],
            minutes_out=v["out"],
            net_minutes_in=v["in"] - v["out"],
            moves=v["moves"],
        )

    def settlement_csv(
        self,
        federation_id: str,
        coop_id: str,
        start: dt.date,
        end: dt.date,
        names: dict[str, str] | None = None,
    ) -> str:
        return settlement_to_csv(self.settlement(federation_id, coop_id, start, end), names)

    def reconcile(self, federation_id: str | None = None) -> list[str]:
        with self.ledger._read() as conn:
            return reconcile_federations(conn, None, federation_id)

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _federation(conn: Connection, federation_id: str) -> Any:
        row = conn.execute(sa.select(federation_t).where(federation_t.c.id == federation_id)).first()
        if row is None:
            raise FederationNotFound(f"federation_id: no federation {federation_id!r}")
        return row

    @staticmethod
    def _member_row(
        conn: Connection,
        federation_id: str,
        coop_id: str,
        *,
        field_name: str = "coop_id",
        active: bool = True,
        why: str = "",
    ) -> Any:
        row = conn.execute(
            sa.select(fed_member_t).where(
                fed_member_t.c.federation_id == federation_id, fed_member_t.c.coop_id == coop_id
            )
        ).first()
        if row is None or (active and row.left_at is not None):
            state = "is not" if row is None else "is no longer"
            tail = f": {why}" if why else ""
            raise NotAFederationMember(
                f"{field_name}: co-op {coop_id!r} {state} a member of federation {federation_id!r}{tail}"
            )
        return row

    @staticmethod
    def _membership(row: Any, balance: int | None = None) -> MembershipPublic:
        return MembershipPublic(
            federation_id=row.federation_id,
            coop_id=row.coop_id,
            clearing_account_id=row.clearing_account_id,
            limit=int(row.limit),
            position=int(row.balance if balance is None else balance),
            joined_at=_aware(row.joined_at),
            left_at=_aware(row.left_at) if row.left_at is not None else None,
        )

    @staticmethod
    def _lock(ids: list[int], conn: Connection) -> dict[int, Any]:
        """Lock the accounts in id order (PostgreSQL; SQLite holds the write lock already)."""
        rows = conn.execute(
            sa.select(account_t.c.id, account_t.c.coop_id, account_t.c.kind, account_t.c.balance)
            .where(account_t.c.id.in_(sorted(set(ids))))
            .order_by(account_t.c.id)
            .with_for_update()
        ).all()
        return {r.id: r for r in rows}

    @staticmethod
    def _check_position(federation_id: str, member: Any, rows: dict[int, Any], delta: int) -> None:
        balance = int(rows[member.clearing_account_id].balance)
        new = balance + delta
        if abs(new) > int(member.limit):
            raise FederationLimitExceeded(
                f"minutes: co-op {member.coop_id!r}'s position with federation {federation_id!r} is "
                f"{_signed(balance)} minutes; this move would make it {_signed(new)}, beyond its limit of "
                f"{member.limit} either way (nothing was posted)",
                coop_id=member.coop_id,
                account_id=member.clearing_account_id,
                balance=balance,
                new_balance=new,
                limit=int(member.limit),
            )

    def _replay(
        self, conn: Connection, federation_id: str, key: str, request_hash: str
    ) -> FederalMovePublic | None:
        row = conn.execute(
            sa.select(fed_move_t).where(
                fed_move_t.c.federation_id == federation_id, fed_move_t.c.idempotency_key == key
            )
        ).first()
        if row is None:
            return None
        if row.request_hash != request_hash:
            raise IdempotencyConflict(
                f"idempotency_key: {key!r} was already used for a different request "
                f"(move {row.id}, {row.kind})"
            )
        return self._load_move(conn, row, replayed=True)

    def _post_pair(
        self,
        conn: Connection,
        federation_id: str,
        kind: MoveKind,
        p_out: ProposedTransaction,
        p_in: ProposedTransaction,
        minutes: int,
        key: str,
        request_hash: str,
        reverses_id: int | None,
    ) -> FederalMovePublic:
        """Post the leg that pays out (``p_out``) and the leg that pays in, then the move row."""
        txns = []
        for p in (p_out, p_in):
            ent.check(p, allow_reserved_key=True)
            t = self.ledger._post_in(conn, p, p.fingerprint(), None, allow_clearing=True)
            if t.replayed:  # the move row and its legs are written together: cannot happen
                raise LedgerError(f"idempotency_key: leg {p.idempotency_key!r} exists without its move")
            txns.append(t)
        posted = max(t.posted_at for t in txns)
        result = conn.execute(
            fed_move_t.insert().values(
                federation_id=federation_id,
                kind=kind.value,
                from_coop_id=p_out.coop_id,
                to_coop_id=p_in.coop_id,
                minutes=minutes,
                from_transaction_id=txns[0].id,
                to_transaction_id=txns[1].id,
                reverses_id=reverses_id,
                recorded_by=p_out.recorded_by,
                service_date=p_out.service_date,
                memo=p_out.memo,
                posted_at=posted,
                idempotency_key=key,
                request_hash=request_hash,
            )
        )
        pk = result.inserted_primary_key
        assert pk is not None
        row = conn.execute(sa.select(fed_move_t).where(fed_move_t.c.id == int(pk[0]))).one()
        return self._load_move(conn, row)

    @staticmethod
    def _load_move(conn: Connection, row: Any, replayed: bool = False) -> FederalMovePublic:
        legs = conn.execute(
            sa.select(entry_t.c.transaction_id, entry_t.c.account_id, entry_t.c.amount)
            .join(account_t, account_t.c.id == entry_t.c.account_id)
            .where(
                entry_t.c.transaction_id.in_([row.from_transaction_id, row.to_transaction_id]),
                account_t.c.kind != AccountKind.CLEARING.value,
            )
        ).all()
        from_acct = next((g.account_id for g in legs if g.transaction_id == row.from_transaction_id), 0)
        to_acct = next((g.account_id for g in legs if g.transaction_id == row.to_transaction_id), 0)
        return FederalMovePublic(
            id=row.id,
            federation_id=row.federation_id,
            kind=row.kind,
            from_coop_id=row.from_coop_id,
            to_coop_id=row.to_coop_id,
            from_account_id=from_acct,
            to_account_id=to_acct,
            minutes=int(row.minutes),
            from_transaction_id=row.from_transaction_id,
            to_transaction_id=row.to_transaction_id,
            reverses_id=row.reverses_id,
            recorded_by=row.recorded_by,
            service_date=row.service_date,
            memo=row.memo,
            posted_at=_aware(row.posted_at),
            idempotency_key=row.idempotency_key,
            replayed=replayed,
        )


def _hours(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}:{m:02d}"


SETTLEMENT_COLUMNS = [
    "counterparty_coop_id",
    "counterparty",
    "help_given_minutes",
    "help_received_minutes",
    "gifts_in_minutes",
    "gifts_out_minutes",
    "settlement_in_minutes",
    "settlement_out_minutes",
    "minutes_in",
    "minutes_out",
    "net_minutes_in",
    "net_hours_in",
    "moves",
]


def settlement_to_csv(s: SettlementStatement, names: dict[str, str] | None = None) -> str:
    """CSV: a summary row (federation, co-op, period, opening and closing position), then one row
    per other co-op and a total row."""
    names = names or {}
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(
        [
            "federation_id",
            "coop_id",
            "period_start",
            "period_end",
            "opening_position_minutes",
            "closing_position_minutes",
        ]
    )
    w.writerow(
        [
            s.federation_id,
            s.coop_id,
            s.start.isoformat(),
            s.end.isoformat(),
            s.opening_position,
            s.closing_position,
        ]
    )
    w.writerow([])
    w.writerow(SETTLEMENT_COLUMNS)
    for ln in (*s.lines, s.totals):
        other = ln.counterparty_coop_id
        w.writerow(
            [
                other or "total",
                names.get(other, "") if other else "",
                ln.help_given_minutes,
                ln.help_received_minutes,
                ln.gifts_in_minutes,
                ln.gifts_out_minutes,
                ln.settlement_in_minutes,
                ln.settlement_out_minutes,
                ln.minutes_in,
                ln.minutes_out,
                ln.net_minutes_in,
                _hours(ln.net_minutes_in),
                ln.moves,
            ]
        )
    return buf.getvalue()


def reconcile_federations(
    conn: Connection, coop_id: str | None = None, federation_id: str | None = None
) -> list[str]:
    """The clearing invariants, as problems (empty when they hold):

    * the clearing accounts of each federation sum to zero, and each co-op's position is within
      its limit (a co-op that left: zero);
    * every clearing account belongs to one membership, and every entry on it belongs to a leg of
      a federal move;
    * every move's two ledger transactions are in its two co-ops, two legs each: the paying
      account and the co-op's clearing account ``+minutes`` in the first, the clearing account
      ``-minutes`` and the receiving account in the second;
    * every reversal move goes back the other way, by the same minutes, and its transactions
      reverse the original's.
    """
    problems: list[str] = []
    fq = sa.select(fed_member_t.c.federation_id).distinct()
    if coop_id is not None:
        fq = fq.where(fed_member_t.c.coop_id == coop_id)
    if federation_id is not None:
        fq = fq.where(fed_member_t.c.federation_id == federation_id)
    feds = [r.federation_id for r in conn.execute(fq)]
    if coop_id is None and federation_id is None:
        # clearing accounts without a membership (only visible unscoped)
        orphans = conn.execute(
            sa.select(account_t.c.id, account_t.c.coop_id)
            .outerjoin(fed_member_t, fed_member_t.c.clearing_account_id == account_t.c.id)
            .where(account_t.c.kind == AccountKind.CLEARING.value, fed_member_t.c.coop_id.is_(None))
        ).all()
        for r in orphans:
            problems.append(f"account {r.id} (co-op {r.coop_id}): a clearing account of no federation")
    for fid in feds:
        members = conn.execute(
            sa.select(
                fed_member_t,
                account_t.c.balance,
                account_t.c.coop_id.label("acct_coop"),
                account_t.c.kind,
                account_t.c.name,
            )
            .join(account_t, account_t.c.id == fed_member_t.c.clearing_account_id)
            .where(fed_member_t.c.federation_id == fid)
        ).all()
        clearing = {int(m.clearing_account_id): m for m in members}
        total = sum(int(m.balance) for m in members)
        if total != 0:
            problems.append(f"federation {fid}: clearing accounts sum to {total}, not zero")
        for m in members:
            if (
                m.acct_coop != m.coop_id
                or m.kind != AccountKind.CLEARING.value
                or m.name != _clearing_name(fid)
            ):
                problems.append(
                    f"federation {fid}: co-op {m.coop_id}'s clearing account {m.clearing_account_id} "
                    "is not its own clearing account"
                )
            if m.left_at is not None and int(m.balance) != 0:
                problems.append(f"federation {fid}: co-op {m.coop_id} left with a position of {m.balance}")
            if abs(int(m.balance)) > int(m.limit):
                problems.append(
                    f"federation {fid}: co-op {m.coop_id}'s position {m.balance} is beyond its "
                    f"limit {m.limit}"
                )
        moves = conn.execute(
            sa.select(fed_move_t).where(fed_move_t.c.federation_id == fid).order_by(fed_move_t.c.id)
        ).all()
        by_id = {r.id: r for r in moves}
        txn_ids = [t for r in moves for t in (r.from_transaction_id, r.to_transaction_id)]
        legs: dict[int, list[Any]] = defaultdict(list)
        txn_info: dict[int, Any] = {}
        for chunk_start in range(0, len(txn_ids), 500):
            chunk = txn_ids[chunk_start : chunk_start + 500]
            for e in conn.execute(
                sa.select(entry_t.c.transaction_id, entry_t.c.account_id, entry_t.c.amount).where(
                    entry_t.c.transaction_id.in_(chunk)
                )
            ):
                legs[e.transaction_id].append(e)
            for t in conn.execute(
                sa.select(txn_t.c.id, txn_t.c.coop_id, txn_t.c.reverses_id).where(txn_t.c.id.in_(chunk))
            ):
                txn_info[t.id] = t
        for r in moves:
            mins = int(r.minutes)
            pairs = (
                (r.from_transaction_id, r.from_coop_id, mins),
                (r.to_transaction_id, r.to_coop_id, -mins),
            )
            for tid, coop, clearing_amount in pairs:
                info = txn_info.get(tid)
                lg = legs.get(tid, [])
                own = [g for g in lg if g.account_id in clearing]
                ok = (
                    info is not None
                    and info.coop_id == coop
                    and len(lg) == 2
                    and len(own) == 1
                    and clearing[own[0].account_id].coop_id == coop
                    and int(own[0].amount) == clearing_amount
                )
                if not ok:
                    problems.append(
                        f"federal move {r.id}: transaction {tid} is not a {_signed(clearing_amount)} "
                        f"leg through co-op {coop}'s clearing account"
                    )
            if r.reverses_id is not None:
                o = by_id.get(r.reverses_id)
                fine = (
                    o is not None
                    and o.from_coop_id == r.to_coop_id
                    and o.to_coop_id == r.from_coop_id
                    and int(o.minutes) == mins
                    and getattr(txn_info.get(r.from_transaction_id), "reverses_id", None)
                    == o.to_transaction_id
                    and getattr(txn_info.get(r.to_transaction_id), "reverses_id", None)
                    == o.from_transaction_id
                )
                if not fine:
                    problems.append(f"federal move {r.id}: does not mirror move {r.reverses_id} it reverses")
        # every entry on a clearing account is a leg of one of the federation's moves
        referenced = set(txn_ids)
        if clearing:
            stray = conn.execute(
                sa.select(entry_t.c.id, entry_t.c.transaction_id, entry_t.c.account_id).where(
                    entry_t.c.account_id.in_(sorted(clearing))
                )
            ).all()
            for e in stray:
                if e.transaction_id not in referenced:
                    problems.append(
                        f"entry {e.id}: on clearing account {e.account_id} but transaction "
                        f"{e.transaction_id} is no federal move of {fid}"
                    )
    return problems
