"""The time bank seen from the API: accounts of members, visit credits, gifts, exchanges and
donations to the community pot.

The ledger (``timebank.Ledger``) is append-only and idempotent itself; this module maps the
co-op's members onto its accounts (``coop_id`` = str(co-op id), ``owner_ref`` = str(member id)).
"""

from __future__ import annotations

import base64
import datetime as dt

from sqlmodel import Session, SQLModel

from api.errors import Conflict, Forbidden, Invalid, NotFound
from api.models import DonationCreate, ExchangeCreate, GiftCreate, Member, Role, Visit, role_of, saved_id
from api.services.common import get_member
from timebank import (
    AccountKind,
    AccountNotFound,
    IdempotencyConflict,
    InsufficientBalance,
    Ledger,
    LimitExceeded,
    open_account_in,
)

#: the account kind of each role that has a time-bank account (a coordinator has none)
ACCOUNT_KIND: dict[Role, AccountKind] = {Role.volunteer: AccountKind.VOLUNTEER, Role.staff: AccountKind.STAFF,
                                         Role.client: AccountKind.CLIENT, Role.family: AccountKind.FAMILY}


class StatementLinePublic(SQLModel):
    entry_id: int
    transaction_id: int
    posted_at: dt.datetime
    service_date: dt.date
    kind: str
    memo: str
    reference: str | None
    minutes: int
    balance_after: int


class TimebankPublic(SQLModel):
    """The balance, the period's totals (of all its lines, whatever the page) and one page of lines."""

    member_id: int
    account_id: int
    balance: int
    start: dt.date
    end: dt.date
    opening_balance: int
    closing_balance: int
    given_minutes: int
    received_minutes: int
    other_in_minutes: int
    other_out_minutes: int
    #: lines in the whole period; ``lines`` holds at most ``limit`` of them
    line_count: int
    limit: int
    lines: list[StatementLinePublic]
    #: pass as ``cursor`` for the next page (same period); ``null`` on the last page
    next_cursor: str | None = None


class TransferPublic(SQLModel):
    transaction_id: int
    kind: str
    minutes: int
    from_member_id: int
    #: ``null`` for a donation: the community pot is no member's
    to_member_id: int | None
    replayed: bool
    balance: int


def open_member_account(session: Session, member: Member) -> None:
    """Open the member's account for their role, or give their account the kind of a new role
    (balance and history stay theirs), in the session's transaction: the member's write and
    the account commit or roll back together. A coordinator has none. Called when a member is
    created and when their role changes; nothing else opens a member's account."""
    kind = ACCOUNT_KIND.get(role_of(member))
    if kind is None:
        return
    open_account_in(session.connection(), str(member.coop_id), kind, owner_ref=str(saved_id(member)),
                    rekind=True)


def account_of(ledger: Ledger, member: Member) -> int:
    """The member's account id. Only reads: the account was opened with the member."""
    if ACCOUNT_KIND.get(role_of(member)) is None:
        raise Forbidden(f"a {role_of(member)} has no time bank account")
    try:
        return ledger.member_account(str(member.coop_id), str(saved_id(member))).id
    except AccountNotFound:
        raise NotFound(f"{member.full_name} has no time bank account yet") from None


def _cursor(start: dt.date, end: dt.date, after: int) -> str:
    raw = f"1:{start.isoformat()}:{end.isoformat()}:{after}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str) -> tuple[dt.date, dt.date, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, start, end, after = raw.split(":")
        if version != "1":
            raise ValueError(version)
        return dt.date.fromisoformat(start), dt.date.fromisoformat(end), int(after)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor: not a cursor from a previous page of this statement") from exc


def my_timebank(ledger: Ledger, actor: Member, start: dt.date | None, end: dt.date | None,
                today: dt.date, cursor: str | None = None, limit: int = 100) -> TimebankPublic:
    """Balance and statement of the caller's own account (no one reads another's), one page of
    at most ``limit`` lines; ``next_cursor`` continues the same period on the next page."""
    after = 0
    if cursor is not None:
        c_start, c_end, after = _read_cursor(cursor)
        if (start is not None and start != c_start) or (end is not None and end != c_end):
            raise Invalid("cursor: belongs to the period "
                          f"{c_start.isoformat()}..{c_end.isoformat()}; leave start and end out or "
                          "give the same ones")
        start, end = c_start, c_end
    end = end or today
    start = start or (end - dt.timedelta(days=90))
    if end < start:
        raise Invalid("end: must not be before start")
    if (end - start).days > 3660:
        raise Invalid("start: a statement covers at most ten years")
    account_id = account_of(ledger, actor)
    page = ledger.statement_page(account_id, start, end, after_entry_id=after, limit=limit)
    t = page.totals
    lines = [StatementLinePublic(entry_id=ln.entry_id, transaction_id=ln.transaction_id,
                                 posted_at=ln.posted_at, service_date=ln.service_date, kind=ln.kind,
                                 memo=ln.memo, reference=ln.reference, minutes=ln.minutes,
                                 balance_after=ln.balance_after) for ln in page.lines]
    return TimebankPublic(member_id=saved_id(actor), account_id=account_id,
                          balance=ledger.balance(account_id),
                          start=start, end=end, opening_balance=t.opening_balance,
                          closing_balance=t.closing_balance, given_minutes=t.given_minutes,
                          received_minutes=t.received_minutes, other_in_minutes=t.other_in_minutes,
                          other_out_minutes=t.other_out_minutes, line_count=t.lines, limit=limit,
                          lines=lines,
                          next_cursor=None if page.next_after is None else _cursor(start, end,
                                                                                   page.next_after))


def checked_key(idempotency_key: str, most: int = 200) -> str:
    """The ``Idempotency-Key`` header, stripped; refused when blank or longer than ``most``."""
    key = idempotency_key.strip()
    if not key or len(key) > most:
        raise Invalid(f"Idempotency-Key: a non-empty header of at most {most} characters is required")
    return key


def _refused(exc: Exception, kind: str, key: str, minutes: int, to_name: str) -> Conflict:
    """A ledger refusal of the caller's gift, exchange or donation, in the caller's terms."""
    if isinstance(exc, InsufficientBalance):
        return Conflict(f"minutes: you have {exc.balance} minutes in the time bank; giving {minutes} "
                        f"would leave {exc.new_balance}, below the lowest balance allowed ({exc.limit})")
    if isinstance(exc, LimitExceeded):
        return Conflict(f"minutes: {to_name} has {exc.balance} minutes in the time bank; "
                        f"{minutes} more would make {exc.new_balance}, above the most an account "
                        f"may hold ({exc.limit})")
    return Conflict(f"Idempotency-Key: '{key}' was already used for a different {kind}; send a new "
                    f"key for a new {kind} (the same request with the same key returns the original)")


def donate(ledger: Ledger, actor: Member, data: DonationCreate, idempotency_key: str) -> TransferPublic:
    """Hours from the caller's own account to the co-op's community pot. The ``Idempotency-Key``
    makes a retry (a double click) return the original donation instead of giving twice."""
    key = checked_key(idempotency_key)
    from_account = account_of(ledger, actor)
    try:
        txn = ledger.donate(str(actor.coop_id), from_id=from_account, minutes=data.minutes,
                            idempotency_key=f"api:donation:{actor.id}:{key}", recorded_by=str(actor.id),
                            memo=data.note or "")
    except (InsufficientBalance, IdempotencyConflict) as exc:
        raise _refused(exc, "donation", key, data.minutes, "the community pot") from None
    return TransferPublic(transaction_id=txn.id, kind="donation", minutes=data.minutes,
                          from_member_id=saved_id(actor), to_member_id=None, replayed=txn.replayed,
                          balance=ledger.balance(from_account))


def transfer(session: Session, ledger: Ledger, actor: Member, kind: str, data: GiftCreate | ExchangeCreate,
             idempotency_key: str) -> TransferPublic:
    """A gift (hours given away) or an exchange (paying another member for help received),
    from the caller's own account. The ``Idempotency-Key`` makes a retry return the original."""
    key = checked_key(idempotency_key)
    to = get_member(session, data.to_member_id, actor)
    if to.id == actor.id:
        raise Invalid("to_member_id: cannot transfer to yourself")
    if not to.is_active:
        raise Invalid(f"to_member_id: member {to.id} is not active")
    from_account = account_of(ledger, actor)
    if role_of(to) not in ACCOUNT_KIND:
        raise Invalid(f"to_member_id: a {role_of(to)} has no time bank account")
    to_account = account_of(ledger, to)
    scoped = f"api:{kind}:{actor.id}:{key}"
    memo = data.note or ""
    try:
        if kind == "gift":
            txn = ledger.gift(str(actor.coop_id), from_id=from_account, to_id=to_account,
                              minutes=data.minutes, idempotency_key=scoped, recorded_by=str(actor.id),
                              memo=memo)
        else:
            txn = ledger.exchange(str(actor.coop_id), payer_id=from_account, payee_id=to_account,
                                  minutes=data.minutes, idempotency_key=scoped, recorded_by=str(actor.id),
                                  memo=memo)
    except (LimitExceeded, IdempotencyConflict) as exc:
        raise _refused(exc, kind, key, data.minutes, to.full_name) from None
    return TransferPublic(transaction_id=txn.id, kind=kind, minutes=data.minutes,
                          from_member_id=saved_id(actor), to_member_id=saved_id(to), replayed=txn.replayed,
                          balance=ledger.balance(from_account))


def credit_visit(ledger: Ledger, session: Session, visit: Visit, recorded_by: str) -> int:
    """Credit every volunteer on a completed visit (idempotent per visit and volunteer). The
    memo names the day, not the visit's label: the ledger is immutable, so it must hold no care
    data (a label such as 'insulin' is a client's health data) that erasure could not remove."""
    minutes = visit.duration_minutes
    if visit.actual_start and visit.actual_end:
        minutes = max(1, int((visit.actual_end - visit.actual_start).total_seconds() // 60))
    credited = 0
    worked = visit.actual_start or visit.start
    if worked is None:
        raise ValueError(f"visit {visit.key}: a visit without a start cannot be credited")
    for mid in visit.carer_ids:
        member = session.get(Member, mid)
        if member is None or role_of(member) != "volunteer":
            continue
        if member.coop_id != visit.coop_id:  # lent by another co-op (shared cover, issue 13)
            from api.services.federation import credit_borrowed_volunteer

            credit_borrowed_volunteer(ledger, visit, member, minutes, worked.date(), recorded_by)
            credited += 1
            continue
        ledger.credit_visit(str(visit.coop_id), visit_id=visit.key, volunteer_ref=str(member.id),
                            minutes=minutes, service_date=worked.date(),
                            recorded_by=recorded_by, memo=f"visit on {worked:%Y-%m-%d}")
        credited += 1
    return credited
