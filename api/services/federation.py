"""Federations of co-ops seen from the API (issue 13): membership, officers, moving hours between
the co-ops' time banks, settlement statements and the federal view.

The ledger side is ``timebank.federation`` (federation id ``str(Federation.id)``, co-op ids
``str(Coop.id)``). Here: who may do what with which data.

* **Officers** are elected: each member co-op's coordinator casts (and may change) its co-op's
  one vote for a candidate, a member of a member co-op; a candidate with the votes of more
  than half of the member co-ops is an officer (so a federation of one co-op has its founder
  as officer, one of two needs both votes). Nothing is cached: leaving co-ops' votes stop
  counting at once. An officer keeps their role in their own co-op; the ``officer`` scope is
  checked against the votes at every request (``api.deps``).
* **Joining** needs an officer's invitation of the co-op; a co-op is in one federation at a time.
  **Leaving** is refused while the co-op's position is not zero; officers settle positions
  with pot-to-pot settlements.
* **An officer sees aggregates only**: co-op names, limits, positions, settlement statements and
  the federal view, never a member's or client's name or record. **A co-op sees only its own
  members**: other co-ops' members appear as ids only where a move names them (the member a
  gift is for), never with a name, and another co-op's statement is a 404.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound
from api.models import (
    Coop,
    CoverOffer,
    CoverOfferCreate,
    CoverOfferPublic,
    FederalGiftCreate,
    FederalHelpCreate,
    FederalMovePublic,
    FederalViewPublic,
    FederalViewRow,
    Federation,
    FederationCoopPublic,
    FederationCreate,
    FederationInvite,
    FederationPublic,
    Member,
    OfficerPublic,
    OfficerVote,
    Priority,
    Rota,
    RotaStatus,
    SettlementCreate,
    SettlementLinePublic,
    SettlementStatementPublic,
    Visit,
    VisitStatus,
    role_of,
    saved_id,
)
from api.services import bank
from timebank import (
    AlreadyReversed,
    FederationLimitExceeded,
    Federations,
    IdempotencyConflict,
    InsufficientBalance,
    Ledger,
    LimitExceeded,
    MembershipPublic,
    NotAFederationMember,
    NotReversible,
    PositionNotSettled,
    TransactionNotFound,
    ValidationError,
)
from timebank.federation import SettlementLine

#: no figure of the federal view is shown over fewer people than this
MIN_PEOPLE = 5
PRIORITIES = [p.value for p in Priority]


def _fx(ledger: Ledger) -> Federations:
    return Federations(ledger)


def _fid(fed: Federation) -> str:
    return str(saved_id(fed))


def memberships(ledger: Ledger, fed: Federation) -> dict[int, MembershipPublic]:
    """Every co-op that is or was a member, by co-op id."""
    return {int(m.coop_id): m for m in _fx(ledger).get(_fid(fed)).members}


def _active(ledger: Ledger, fed: Federation) -> dict[int, MembershipPublic]:
    return {c: m for c, m in memberships(ledger, fed).items() if m.active}


def officer_votes(session: Session, ledger: Ledger, fed: Federation) -> tuple[dict[int, int], int]:
    """Votes per candidate (member id) from the member co-ops, and the votes an officer needs."""
    active = _active(ledger, fed)
    votes = session.exec(select(OfficerVote).where(OfficerVote.federation_id == saved_id(fed))).all()
    counted: dict[int, int] = defaultdict(int)
    for v in votes:
        if v.coop_id in active:
            counted[v.member_id] += 1
    return dict(counted), len(active) // 2 + 1


def officers(session: Session, ledger: Ledger, fed: Federation) -> list[OfficerPublic]:
    counted, needed = officer_votes(session, ledger, fed)
    active = _active(ledger, fed)
    out = []
    for member_id, n in sorted(counted.items()):
        m = session.get(Member, member_id)
        if n >= needed and m is not None and m.is_active and m.coop_id in active:
            out.append(OfficerPublic(member_id=member_id, coop_id=m.coop_id, votes=n))
    return out


def is_officer(session: Session, ledger: Ledger, member: Member, federation_id: int | None) -> bool:
    """Is ``member`` an officer of ``federation_id`` (of any federation when None)?"""
    if federation_id is None:
        ids = [saved_id(f) for f in session.exec(select(Federation)).all()]
    else:
        ids = [federation_id]
    for fid in ids:
        fed = session.get(Federation, fid)
        if fed is not None and any(o.member_id == member.id for o in officers(session, ledger, fed)):
            return True
    return False


def get_federation(session: Session, ledger: Ledger, federation_id: int, actor: Member) -> Federation:
    """The federation, if the caller's co-op is a member (or was: its statement stays readable)
    or the caller is its officer; else a 404, as for one that does not exist."""
    fed = session.get(Federation, federation_id)
    if fed is not None and (
        actor.coop_id in memberships(ledger, fed) or is_officer(session, ledger, actor, federation_id)
    ):
        return fed
    raise NotFound(f"federation {federation_id} not found")


def _coop_name(session: Session, coop_id: int) -> str:
    coop = session.get(Coop, coop_id)
    return coop.name if coop is not None else f"co-op {coop_id}"


def federation_public(session: Session, ledger: Ledger, fed: Federation) -> FederationPublic:
    info = _fx(ledger).get(_fid(fed))
    _counted, needed = officer_votes(session, ledger, fed)
    coops = [
        FederationCoopPublic(
            coop_id=int(m.coop_id),
            name=_coop_name(session, int(m.coop_id)),
            limit_minutes=m.limit,
            position_minutes=m.position,
            active=m.active,
        )
        for m in info.members
    ]
    return FederationPublic(
        id=saved_id(fed),
        name=fed.name,
        default_limit_minutes=info.default_limit,
        coops=coops,
        officers=officers(session, ledger, fed),
        votes_needed=needed,
    )


def show(session: Session, ledger: Ledger, actor: Member, federation_id: int) -> FederationPublic:
    return federation_public(session, ledger, get_federation(session, ledger, federation_id, actor))


def _not_in_another(ledger: Ledger, coop_id: int) -> None:
    current = _fx(ledger).federations_of(str(coop_id))
    if current:
        raise Conflict(
            f"coop: your co-op is already a member of federation {current[0]}; "
            "a co-op is in one federation at a time (leave it first)"
        )


def create(session: Session, ledger: Ledger, actor: Member, data: FederationCreate) -> FederationPublic:
    """A coordinator founds a federation: their co-op is its first member and votes for them,
    so the founder is its first officer until the member co-ops vote otherwise."""
    _not_in_another(ledger, actor.coop_id)
    fed = Federation(name=data.name)
    session.add(fed)
    session.commit()  # the ledger writes in its own transactions (SQLite: one writer at a time)
    fx = _fx(ledger)
    fx.create(_fid(fed), data.name, default_limit=data.default_limit_minutes)
    fx.join(_fid(fed), str(actor.coop_id))
    session.add(OfficerVote(federation_id=saved_id(fed), coop_id=actor.coop_id, member_id=saved_id(actor)))
    session.commit()
    return federation_public(session, ledger, fed)


def invite(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, coop_id: int
) -> FederationPublic:
    fed = get_federation(session, ledger, federation_id, actor)
    if session.get(Coop, coop_id) is None:
        raise NotFound(f"coop_id: no co-op {coop_id}")
    m = memberships(ledger, fed).get(coop_id)
    if m is not None and m.active:
        raise Conflict(f"coop_id: co-op {coop_id} is already a member")
    exists = session.exec(
        select(FederationInvite).where(
            FederationInvite.federation_id == federation_id, FederationInvite.coop_id == coop_id
        )
    ).first()
    if exists is None:
        session.add(FederationInvite(federation_id=federation_id, coop_id=coop_id))
        session.commit()
    return federation_public(session, ledger, fed)


def join(session: Session, ledger: Ledger, actor: Member, federation_id: int) -> FederationPublic:
    fed = session.get(Federation, federation_id)
    if fed is not None:
        m = memberships(ledger, fed).get(actor.coop_id)
        if m is not None and m.active:  # already a member (the founder needs no invitation)
            return federation_public(session, ledger, fed)
    invited = (
        fed is not None
        and session.exec(
            select(FederationInvite).where(
                FederationInvite.federation_id == federation_id, FederationInvite.coop_id == actor.coop_id
            )
        ).first()
    )
    if fed is None or not invited:
        raise NotFound(f"federation {federation_id} not found (or your co-op is not invited to it)")
    _not_in_another(ledger, actor.coop_id)
    _fx(ledger).join(_fid(fed), str(actor.coop_id))
    return federation_public(session, ledger, fed)


def _member_coop(ledger: Ledger, fed: Federation, coop_id: int, name: str = "coop_id") -> MembershipPublic:
    m = _active(ledger, fed).get(coop_id)
    if m is None:
        raise NotFound(f"{name}: co-op {coop_id} is not a member of federation {saved_id(fed)}")
    return m


def leave(session: Session, ledger: Ledger, actor: Member, federation_id: int) -> FederationPublic:
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, actor.coop_id)
    try:
        _fx(ledger).leave(_fid(fed), str(actor.coop_id))
    except PositionNotSettled:
        pos = _fx(ledger).position(_fid(fed), str(actor.coop_id))
        owes = "the federation owes your co-op" if pos > 0 else "your co-op owes the federation"
        raise Conflict(
            f"coop: your co-op's position is {pos:+d} minutes ({owes}); it can leave once "
            "the position is settled to zero (an officer records a settlement between "
            "pots, or moves the other way)"
        ) from None
    return federation_public(session, ledger, fed)


def set_limit(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, coop_id: int, limit: int
) -> FederationPublic:
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, coop_id)
    try:
        _fx(ledger).set_limit(_fid(fed), str(coop_id), limit)
    except ValidationError as exc:
        raise Invalid(
            "limit_minutes: "
            + exc.errors[0]
            .split(": ", 1)[-1]
            .replace(f"co-op '{coop_id}'", _coop_name(session, coop_id))
            .replace(f"'{_fid(fed)}'", "the federation")
        ) from None
    return federation_public(session, ledger, fed)


def vote(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, member_id: int
) -> FederationPublic:
    """The caller's co-op votes for ``member_id`` (a member of a member co-op) as officer."""
    fed = get_federation(session, ledger, federation_id, actor)
    active = _active(ledger, fed)
    if actor.coop_id not in active:
        raise NotFound(f"federation {federation_id}: your co-op is not a member")
    candidate = session.get(Member, member_id)
    if candidate is None or not candidate.is_active or candidate.coop_id not in active:
        raise NotFound(f"member_id: no member {member_id} in a member co-op of the federation")
    row = session.exec(
        select(OfficerVote).where(
            OfficerVote.federation_id == federation_id, OfficerVote.coop_id == actor.coop_id
        )
    ).first()
    if row is None:
        row = OfficerVote(federation_id=federation_id, coop_id=actor.coop_id, member_id=member_id)
    row.member_id = member_id
    session.add(row)
    session.commit()
    return federation_public(session, ledger, fed)


# ----------------------------------------------------------------------------- moves
def _key(idempotency_key: str) -> str:
    # shorter than the co-op's own moves: the ledger key adds the federation's prefix
    return bank.checked_key(idempotency_key, most=120)


def _other_member(
    session: Session, ledger: Ledger, fed: Federation, actor: Member, member_id: int, field: str
) -> Member:
    """A member of another member co-op (any other id: the same 404, whatever the reason)."""
    other = session.get(Member, member_id)
    active = _active(ledger, fed)
    if other is None or not other.is_active or other.coop_id not in active:
        raise NotFound(f"{field}: no member {member_id} in another co-op of the federation")
    if other.coop_id == actor.coop_id:
        raise Invalid(
            f"{field}: member {member_id} is in your own co-op; use /timebank/gifts or /timebank/exchanges"
        )
    return other


def _move_errors(session: Session, exc: Exception, minutes: int, what: str) -> Exception:
    """A ledger refusal in the caller's terms (co-op names, never the ledger's ids or fields)."""
    if isinstance(exc, FederationLimitExceeded):
        name = _coop_name(session, int(exc.coop_id))
        return Conflict(
            f"minutes: {name}'s position with the federation is {exc.balance:+d} minutes; "
            f"{minutes} more would make it {exc.new_balance:+d}, beyond its limit of "
            f"{exc.limit} minutes either way; nothing was moved"
        )
    if isinstance(exc, InsufficientBalance):
        return Conflict(
            f"minutes: the paying account has {exc.balance} minutes in the time bank; "
            f"{minutes} would leave {exc.new_balance}, below the lowest balance allowed "
            f"({exc.limit}); nothing was moved"
        )
    if isinstance(exc, LimitExceeded):
        return Conflict(
            f"minutes: the receiving account has {exc.balance} minutes; {minutes} more would "
            f"make {exc.new_balance}, above the most an account may hold ({exc.limit}); "
            "nothing was moved"
        )
    if isinstance(exc, IdempotencyConflict):
        return Conflict(
            f"Idempotency-Key: already used for a different {what}; send a new key for a new "
            f"{what} (the same request with the same key returns the original)"
        )
    if isinstance(exc, NotAFederationMember):
        return Conflict(f"coop: a co-op of this {what} is no longer a member of the federation")
    return exc


def _public(move: Any, balance: int | None = None) -> FederalMovePublic:
    return FederalMovePublic(
        move_id=move.id,
        kind=move.kind,
        minutes=move.minutes,
        from_coop_id=int(move.from_coop_id),
        to_coop_id=int(move.to_coop_id),
        replayed=move.replayed,
        reverses_move_id=move.reverses_id,
        balance=balance,
    )


def gift(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    data: FederalGiftCreate,
    idempotency_key: str,
) -> FederalMovePublic:
    """The caller gives hours to a member of another co-op of the federation."""
    key = _key(idempotency_key)
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, actor.coop_id, "coop")
    from_account = bank.account_of(ledger, actor)
    to = _other_member(session, ledger, fed, actor, data.to_member_id, "to_member_id")
    if role_of(to) not in bank.ACCOUNT_KIND:
        raise Invalid(f"to_member_id: a {role_of(to)} has no time bank account")
    to_account = bank.account_of(ledger, to)
    try:
        move = _fx(ledger).gift(
            _fid(fed),
            from_coop_id=str(actor.coop_id),
            from_id=from_account,
            to_coop_id=str(to.coop_id),
            to_id=to_account,
            minutes=data.minutes,
            idempotency_key=f"api:gift:{actor.id}:{key}",
            recorded_by=str(actor.id),
            memo=data.note or "",
        )
    except (LimitExceeded, IdempotencyConflict, NotAFederationMember) as exc:
        raise _move_errors(session, exc, data.minutes, "gift") from None
    return _public(move, ledger.balance(from_account))


def help_received(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    data: FederalHelpCreate,
    idempotency_key: str,
) -> FederalMovePublic:
    """The caller pays a volunteer (or staff volunteering) of another co-op for help received."""
    key = _key(idempotency_key)
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, actor.coop_id, "coop")
    payer = bank.account_of(ledger, actor)
    vol = _other_member(session, ledger, fed, actor, data.volunteer_member_id, "volunteer_member_id")
    if role_of(vol) not in ("volunteer", "staff"):
        raise Invalid(f"volunteer_member_id: member {vol.id} is not a volunteer")
    to_account = bank.account_of(ledger, vol)
    try:
        move = _fx(ledger).help(
            _fid(fed),
            payer_coop_id=str(actor.coop_id),
            payer_id=payer,
            volunteer_coop_id=str(vol.coop_id),
            volunteer_id=to_account,
            minutes=data.minutes,
            idempotency_key=f"api:help:{actor.id}:{key}",
            recorded_by=str(actor.id),
            memo=data.note or "",
        )
    except (LimitExceeded, IdempotencyConflict, NotAFederationMember) as exc:
        raise _move_errors(session, exc, data.minutes, "payment for help") from None
    return _public(move, ledger.balance(payer))


def settle(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    data: SettlementCreate,
    idempotency_key: str,
) -> FederalMovePublic:
    key = _key(idempotency_key)
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, data.from_coop_id, "from_coop_id")
    _member_coop(ledger, fed, data.to_coop_id, "to_coop_id")
    if data.from_coop_id == data.to_coop_id:
        raise Invalid("to_coop_id: a settlement is between two different co-ops")
    try:
        move = _fx(ledger).settle(
            _fid(fed),
            from_coop_id=str(data.from_coop_id),
            to_coop_id=str(data.to_coop_id),
            minutes=data.minutes,
            idempotency_key=f"api:settle:{key}",
            recorded_by=str(actor.id),
            memo=data.note or "",
        )
    except (LimitExceeded, IdempotencyConflict, NotAFederationMember) as exc:
        raise _move_errors(session, exc, data.minutes, "settlement") from None
    return _public(move)


def reverse(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, move_id: int, idempotency_key: str
) -> FederalMovePublic:
    """Reverse a move (both co-ops' legs at once): an officer, or a coordinator of either co-op."""
    key = _key(idempotency_key)
    fed = get_federation(session, ledger, federation_id, actor)
    fx = _fx(ledger)
    try:
        move = fx.move_by_id(move_id)
    except TransactionNotFound:
        move = None
    party = move is not None and str(actor.coop_id) in (move.from_coop_id, move.to_coop_id)
    if (
        move is None
        or move.federation_id != _fid(fed)
        or not (party or is_officer(session, ledger, actor, federation_id))
    ):
        raise NotFound(f"move_id: no move {move_id} of your co-op in federation {federation_id}")
    try:
        rev = fx.reverse(_fid(fed), move_id, idempotency_key=f"api:reverse:{key}", recorded_by=str(actor.id))
    except (AlreadyReversed, NotReversible) as exc:
        raise Conflict(f"move_id: {str(exc).split(': ', 1)[-1]}") from None
    except (LimitExceeded, IdempotencyConflict, NotAFederationMember) as exc:
        raise _move_errors(session, exc, move.minutes, "reversal") from None
    return _public(rev)


# ----------------------------------------------------------------------------- statements
def _statement_coop(
    session: Session, ledger: Ledger, actor: Member, fed: Federation, coop_id: int | None,
    field: str = "coop_id",
) -> int:
    """An officer reads any member co-op's statement (default: their own co-op's, if a member);
    anyone else only their own co-op's."""
    if coop_id is None:
        coop_id = actor.coop_id
        if coop_id not in memberships(ledger, fed):
            raise Invalid(f"{field}: name the co-op whose statement to read")
    elif coop_id != actor.coop_id and not is_officer(session, ledger, actor, saved_id(fed)):
        raise NotFound(f"{field}: no statement of co-op {coop_id} for you")
    if coop_id not in memberships(ledger, fed):
        raise NotFound(f"{field}: co-op {coop_id} is not a member of federation {saved_id(fed)}")
    return coop_id


def _period(start: dt.date | None, end: dt.date | None, today: dt.date) -> tuple[dt.date, dt.date]:
    end = end or today
    start = start or end.replace(day=1)
    for name, day in (("start", start), ("end", end)):
        if not dt.date(2000, 1, 1) <= day <= dt.date(2200, 1, 1):
            raise Invalid(f"{name}: {day.isoformat()} is out of range (2000-01-01 to 2200-01-01)")
    if end < start:
        raise Invalid("end: must not be before start")
    if (end - start).days > 3660:
        raise Invalid("start: a statement covers at most ten years")
    return start, end


def _line(session: Session, ln: SettlementLine) -> SettlementLinePublic:
    other = int(ln.counterparty_coop_id) if ln.counterparty_coop_id else None
    return SettlementLinePublic(
        counterparty_coop_id=other,
        counterparty=_coop_name(session, other) if other else "total",
        help_given_minutes=ln.help_given_minutes,
        help_received_minutes=ln.help_received_minutes,
        gifts_in_minutes=ln.gifts_in_minutes,
        gifts_out_minutes=ln.gifts_out_minutes,
        settlement_in_minutes=ln.settlement_in_minutes,
        settlement_out_minutes=ln.settlement_out_minutes,
        minutes_in=ln.minutes_in,
        minutes_out=ln.minutes_out,
        net_minutes_in=ln.net_minutes_in,
        moves=ln.moves,
    )


def statement(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    coop_id: int | None,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> SettlementStatementPublic:
    """Per other co-op: hours received from and given to it in the period (posting dates), netted."""
    fed = get_federation(session, ledger, federation_id, actor)
    cid = _statement_coop(session, ledger, actor, fed, coop_id)
    lo, hi = _period(start, end, today)
    s = _fx(ledger).settlement(_fid(fed), str(cid), lo, hi)
    return SettlementStatementPublic(
        federation_id=federation_id,
        coop_id=cid,
        start=lo,
        end=hi,
        opening_position_minutes=s.opening_position,
        closing_position_minutes=s.closing_position,
        lines=[_line(session, ln) for ln in s.lines],
        total=_line(session, s.totals),
    )


def statement_csv(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    coop_id: int | None,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> tuple[str, str]:
    fed = get_federation(session, ledger, federation_id, actor)
    cid = _statement_coop(session, ledger, actor, fed, coop_id)
    lo, hi = _period(start, end, today)
    names = {str(c): _coop_name(session, c) for c in memberships(ledger, fed)}
    body = _fx(ledger).settlement_csv(_fid(fed), str(cid), lo, hi, names)
    return body, f"federation-{federation_id}-coop-{cid}-{lo.isoformat()}-{hi.isoformat()}.csv"


# ----------------------------------------------------------------------------- federal view
def _suppress(value: Any, people: int) -> Any:
    return value if people >= MIN_PEOPLE else None


def federal_view(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> FederalViewPublic:
    """Per member co-op (an officer: every co-op; a coordinator: their own) and month of the
    published rotas: hours given on completed visits, visits covered and unmet need (unassigned
    or missed) by priority, and carers per client. No names, no care needs, and every figure
    over fewer than ``MIN_PEOPLE`` people is suppressed (``null``): hours over carers, visits
    over clients, carers per client over clients."""
    fed = get_federation(session, ledger, federation_id, actor)
    lo, hi = _period(start, end, today)
    coops = sorted(memberships(ledger, fed))
    if not is_officer(session, ledger, actor, federation_id):
        coops = [c for c in coops if c == actor.coop_id]
    rows: list[FederalViewRow] = []
    for coop_id in coops:
        visits = session.exec(
            select(Visit)
            .join(Rota, col(Rota.id) == col(Visit.rota_id))
            .where(
                Visit.coop_id == coop_id,
                Rota.status == RotaStatus.published,
                col(Visit.earliest_start) >= dt.datetime.combine(lo, dt.time()),
                col(Visit.earliest_start) < dt.datetime.combine(hi + dt.timedelta(days=1), dt.time()),
            )
        ).all()
        by_month: dict[str, list[Visit]] = defaultdict(list)
        for v in visits:
            by_month[f"{v.earliest_start.year:04d}-{v.earliest_start.month:02d}"].append(v)
        for month, vs in sorted(by_month.items()):
            rows.append(_view_row(coop_id, _coop_name(session, coop_id), month, vs))
    notes = [
        f"figures over fewer than {MIN_PEOPLE} people are suppressed (null)",
        "visits of published rotas, by the month of their window; hours given: carer hours on "
        "completed visits; unmet need: visits left unassigned or missed",
        "by area: not shown, clients carry no area in carerota's data",
    ]
    return FederalViewPublic(
        federation_id=federation_id, start=lo, end=hi, min_people=MIN_PEOPLE, rows=rows, notes=notes
    )


def _view_row(coop_id: int, name: str, month: str, vs: list[Visit]) -> FederalViewRow:
    done = [v for v in vs if v.status == VisitStatus.completed]
    carer_minutes = 0
    givers: set[int] = set()
    for v in done:
        minutes = v.duration_minutes
        if v.actual_start and v.actual_end:
            minutes = max(1, int((v.actual_end - v.actual_start).total_seconds() // 60))
        carer_minutes += minutes * len(v.carer_ids)
        givers.update(v.carer_ids)
    covered: dict[str, int | None] = {}
    unmet: dict[str, int | None] = {}
    carers_of: dict[int, set[int]] = defaultdict(set)
    for p in PRIORITIES:
        ok = [
            v
            for v in vs
            if v.priority == p and v.carer_ids and v.status in (VisitStatus.planned, VisitStatus.completed)
        ]
        bad = [v for v in vs if v.priority == p and v.status in (VisitStatus.unassigned, VisitStatus.missed)]
        covered[p] = _suppress(len(ok), len({v.client_id for v in ok}))
        unmet[p] = _suppress(len(bad), len({v.client_id for v in bad}))
        for v in ok:
            carers_of[v.client_id].update(v.carer_ids)
    per_client = (sum(len(c) for c in carers_of.values()) / len(carers_of)) if carers_of else 0.0
    return FederalViewRow(
        coop_id=coop_id,
        coop=name,
        month=month,
        hours_given=_suppress(round(carer_minutes / 60, 2), len(givers)),
        visits_covered=covered,
        unmet_need=unmet,
        carers_per_client=_suppress(round(per_client, 2), len(carers_of)),
    )


VIEW_COLUMNS = [
    "coop_id",
    "coop",
    "month",
    "hours_given",
    *[f"visits_covered_{p}" for p in PRIORITIES],
    *[f"unmet_need_{p}" for p in PRIORITIES],
    "carers_per_client",
]


def federal_view_csv(view: FederalViewPublic) -> str:
    """One row per co-op and month; a suppressed figure is the text ``suppressed``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(VIEW_COLUMNS)

    def cell(v: Any) -> Any:
        return "suppressed" if v is None else v

    for r in view.rows:
        w.writerow(
            [
                r.coop_id,
                r.coop,
                r.month,
                cell(r.hours_given),
                *[cell(r.visits_covered[p]) for p in PRIORITIES],
                *[cell(r.unmet_need[p]) for p in PRIORITIES],
                cell(r.carers_per_client),
            ]
        )
    return buf.getvalue()


def federal_view_png(view: FederalViewPublic) -> bytes:
    """A bar chart of hours given per co-op and month (suppressed figures are left out and said so)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.5), dpi=100)
    ax = fig.subplots()
    months = sorted({r.month for r in view.rows})
    coops = sorted({(r.coop_id, r.coop) for r in view.rows})
    width = 0.8 / max(1, len(coops))
    suppressed = 0
    for i, (cid, name) in enumerate(coops):
        values = []
        for m in months:
            row = next((r for r in view.rows if r.coop_id == cid and r.month == m), None)
            if row is not None and row.hours_given is None:
                suppressed += 1
            values.append(row.hours_given or 0.0 if row is not None else 0.0)
        ax.bar([j + i * width for j in range(len(months))], values, width=width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(months))], months)
    ax.set_ylabel("hours given")
    ax.set_title(
        "Hours given per co-op and month"
        + (f" ({suppressed} figure(s) under {MIN_PEOPLE} people suppressed)" if suppressed else "")
    )
    if coops:
        ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ----------------------------------------------------------------------------- shared cover
def offer_cover(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, data: CoverOfferCreate
) -> list[CoverOfferPublic]:
    """The caller's co-op lends one of its carers to another member co-op on ``days``."""
    fed = get_federation(session, ledger, federation_id, actor)
    _member_coop(ledger, fed, actor.coop_id, "coop")
    carer = session.get(Member, data.member_id)
    if carer is None or carer.coop_id != actor.coop_id or not carer.is_active:
        raise NotFound(f"member_id: no member {data.member_id} in your co-op")
    if role_of(carer) not in ("staff", "volunteer"):
        raise Invalid(f"member_id: member {data.member_id} is not a carer")
    _member_coop(ledger, fed, data.borrowing_coop_id, "borrowing_coop_id")
    if data.borrowing_coop_id == actor.coop_id:
        raise Invalid("borrowing_coop_id: a co-op does not lend a carer to itself")
    taken = session.exec(
        select(CoverOffer).where(CoverOffer.member_id == data.member_id, col(CoverOffer.day).in_(data.days))
    ).all()
    if taken:
        raise Conflict(
            f"days: member {data.member_id} is already lent on "
            f"{', '.join(sorted(o.day.isoformat() for o in taken))}"
        )
    for day in sorted(set(data.days)):
        session.add(
            CoverOffer(
                federation_id=federation_id,
                lending_coop_id=actor.coop_id,
                borrowing_coop_id=data.borrowing_coop_id,
                member_id=data.member_id,
                day=day,
            )
        )
    session.commit()
    return cover_offers(session, ledger, actor, federation_id)


def cover_offers(
    session: Session, ledger: Ledger, actor: Member, federation_id: int
) -> list[CoverOfferPublic]:
    """The offers the caller's co-op made or received."""
    get_federation(session, ledger, federation_id, actor)
    rows = session.exec(
        select(CoverOffer)
        .where(CoverOffer.federation_id == federation_id)
        .where(
            (col(CoverOffer.lending_coop_id) == actor.coop_id)
            | (col(CoverOffer.borrowing_coop_id) == actor.coop_id)
        )
        .order_by(col(CoverOffer.day), col(CoverOffer.id))
    ).all()
    return [
        CoverOfferPublic(
            id=saved_id(o),
            lending_coop_id=o.lending_coop_id,
            borrowing_coop_id=o.borrowing_coop_id,
            member_id=o.member_id,
            day=o.day,
        )
        for o in rows
    ]


@dataclass
class BorrowPlan:
    """How a borrowed carer enters the borrowing co-op's week: never on a day they are not lent,
    nor on a day the lending co-op's published rota already gives them visits; never inside the
    rest (staff) before or after a lending day's work; and their weekly cap less the minutes
    (travel included, as the checker counts them) the lending rota already uses."""

    member: Member
    blocked: list[tuple[dt.datetime, dt.datetime]]
    week_minutes_used: int
    lending_coop_id: int


def borrowed_carers(session: Session, coop_id: int, week_start: dt.date) -> dict[int, BorrowPlan]:
    """The carers lent to ``coop_id`` in the week of ``week_start``, with what limits them."""
    from scheduler.checker import RotaView
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    h_start = dt.datetime.combine(week_start, dt.time())
    days = [week_start + dt.timedelta(days=i) for i in range(7)]
    offers = session.exec(
        select(CoverOffer).where(
            CoverOffer.borrowing_coop_id == coop_id,
            col(CoverOffer.day) >= days[0],
            col(CoverOffer.day) <= days[-1],
        )
    ).all()
    lent: dict[int, set[dt.date]] = defaultdict(set)
    lender: dict[int, int] = {}
    for o in offers:
        lent[o.member_id].add(o.day)
        lender[o.member_id] = o.lending_coop_id
    plans: dict[int, BorrowPlan] = {}
    for member_id, lent_days in lent.items():
        m = session.get(Member, member_id)
        if (
            m is None
            or not m.is_active
            or role_of(m) not in ("staff", "volunteer")
            or m.coop_id != lender[member_id]
        ):
            continue
        blocked = [
            (dt.datetime.combine(d, dt.time()), dt.datetime.combine(d, dt.time()) + dt.timedelta(days=1))
            for d in days
            if d not in lent_days
        ]
        used = 0
        rota = session.exec(
            select(Rota)
            .where(
                Rota.coop_id == m.coop_id, Rota.week_start == week_start, Rota.status == RotaStatus.published
            )
            .order_by(col(Rota.version).desc())
        ).first()
        if rota is not None:
            problem = problem_from_dict(rota.problem)
            cid = f"m{member_id}"
            if cid in problem.carer_by_id:
                view = RotaView.of(problem, rota_from_dict(rota.rota_file, problem))
                used = view.working_minutes(cid)
                rest = 0 if role_of(m) == "volunteer" else problem.rules.min_rest_minutes
                for day, stints in view.days_of(cid).items():
                    day_start = h_start + dt.timedelta(days=day)
                    blocked.append((day_start, day_start + dt.timedelta(days=1)))
                    first = h_start + dt.timedelta(minutes=min(s.start for s in stints))
                    last = h_start + dt.timedelta(minutes=max(s.end for s in stints))
                    if rest:
                        blocked.append(
                            (max(last, day_start + dt.timedelta(days=1)), last + dt.timedelta(minutes=rest))
                        )
                        blocked.append((first - dt.timedelta(minutes=rest), min(first, day_start)))
        plans[member_id] = BorrowPlan(
            member=m,
            blocked=[(s, e) for s, e in blocked if s < e],
            week_minutes_used=used,
            lending_coop_id=m.coop_id,
        )
    return plans


def credit_borrowed_volunteer(
    ledger: Ledger, visit: Visit, member: Member, minutes: int, day: dt.date, recorded_by: str
) -> None:
    """A volunteer lent by another co-op gave a visit of ``visit.coop_id``: the visit's co-op pays
    them from its pot through the federation the two co-ops share (a help move, idempotent per
    visit and volunteer; the federation's limits apply as to any move)."""
    fx = _fx(ledger)
    shared = sorted(set(fx.federations_of(str(visit.coop_id))) & set(fx.federations_of(str(member.coop_id))))
    if not shared:
        raise Conflict(
            f"visit {visit.key}: volunteer {member.id} is of another co-op, and the two co-ops "
            "share no federation to credit them through"
        )
    pot = ledger.pot(str(visit.coop_id)).id
    account = ledger.member_account(str(member.coop_id), str(saved_id(member))).id
    fx.help(
        shared[0],
        payer_coop_id=str(visit.coop_id),
        payer_id=pot,
        volunteer_coop_id=str(member.coop_id),
        volunteer_id=account,
        minutes=minutes,
        idempotency_key=f"visit:{visit.coop_id}:{visit.key}:{member.id}",
        recorded_by=recorded_by,
        service_date=day,
        memo=f"visit {visit.label or visit.key} (shared cover)",
    )


def federation_of(ledger: Ledger, coop_id: int) -> int | None:
    """The federation ``coop_id`` is an active member of (a co-op is in one at a time), or None."""
    current = _fx(ledger).federations_of(str(coop_id))
    return int(current[0]) if current else None


# ----------------------------------------------------------------------------- invoicing, withdrawal
INVOICE_COLUMNS = [
    "lending_coop_id",
    "borrowing_coop_id",
    "borrowing_coop",
    "member_id",
    "day",
    "rota_id",
    "rota_version",
    "visits",
    "visit_minutes",
    "work_minutes",
]


def _published_rota(session: Session, coop_id: int, week_start: dt.date) -> Rota | None:
    """The co-op's published rota of the week (the newest published version), if any."""
    return session.exec(
        select(Rota)
        .where(Rota.coop_id == coop_id, Rota.week_start == week_start, Rota.status == RotaStatus.published)
        .order_by(col(Rota.version).desc())
    ).first()


def _carer_days(rota: Rota, member_id: int) -> dict[dt.date, tuple[int, int, int]]:
    """Per calendar day of the rota: (visits, visit minutes, minutes of work as the checker counts
    them: visits, home trips, and travel between visits when the rules count it as work)."""
    from scheduler.checker import RotaView
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    problem = problem_from_dict(rota.problem)
    cid = f"m{member_id}"
    if cid not in problem.carer_by_id:
        return {}
    view = RotaView.of(problem, rota_from_dict(rota.rota_file, problem))
    work = view.working_minutes_by_day(cid)
    start = problem.horizon_start.date()
    return {
        start + dt.timedelta(days=day): (len(stints), sum(s.end - s.start for s in stints), work.get(day, 0))
        for day, stints in view.days_of(cid).items()
    }


def cover_invoice_csv(
    session: Session,
    ledger: Ledger,
    actor: Member,
    federation_id: int,
    lending_coop_id: int | None,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> tuple[str, str]:
    """Shared cover to invoice: per paid (staff) carer the lending co-op lent and day lent in the
    period, the minutes the borrowing co-op's *published* rota gives them that day: visits, visit
    minutes, and work minutes as the checker counts them (visits, home trips and, when the
    rules say so, travel between visits). Coordinators: their own co-op; officers: any member
    co-op (``lending_coop_id``). Member ids only, no names (an officer sees no names)."""
    fed = get_federation(session, ledger, federation_id, actor)
    cid = _statement_coop(session, ledger, actor, fed, lending_coop_id, "lending_coop_id")
    lo, hi = _period(start, end, today)
    offers = session.exec(
        select(CoverOffer)
        .where(
            CoverOffer.federation_id == federation_id,
            CoverOffer.lending_coop_id == cid,
            col(CoverOffer.day) >= lo,
            col(CoverOffer.day) <= hi,
        )
        .order_by(col(CoverOffer.borrowing_coop_id), col(CoverOffer.member_id), col(CoverOffer.day))
    ).all()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(INVOICE_COLUMNS)
    cache: dict[tuple[int, dt.date, int], tuple[Rota | None, dict[dt.date, tuple[int, int, int]]]] = {}
    for o in offers:
        m = session.get(Member, o.member_id)
        if m is None or role_of(m) != "staff":
            continue  # volunteers' hours go to the time bank (credit_borrowed_volunteer)
        week = o.day - dt.timedelta(days=o.day.weekday())
        key = (o.borrowing_coop_id, week, o.member_id)
        if key not in cache:
            rota = _published_rota(session, o.borrowing_coop_id, week)
            cache[key] = (rota, _carer_days(rota, o.member_id) if rota is not None else {})
        rota, days = cache[key]
        if rota is None or o.day not in days:
            continue
        visits, visit_minutes, work_minutes = days[o.day]
        w.writerow(
            [
                cid,
                o.borrowing_coop_id,
                _coop_name(session, o.borrowing_coop_id),
                o.member_id,
                o.day.isoformat(),
                rota.id,
                rota.version,
                visits,
                visit_minutes,
                work_minutes,
            ]
        )
    name = f"federation-{federation_id}-cover-invoice-{cid}-{lo.isoformat()}-{hi.isoformat()}.csv"
    return buf.getvalue(), name


def withdraw_cover(
    session: Session, ledger: Ledger, actor: Member, federation_id: int, offer_id: int
) -> list[CoverOfferPublic]:
    """The lending co-op takes back a day it lent; refused (409) while the borrowing co-op's
    published rota gives the carer visits that day (the borrower changes its rota first)."""
    get_federation(session, ledger, federation_id, actor)
    offer = session.get(CoverOffer, offer_id)
    if offer is None or offer.federation_id != federation_id or offer.lending_coop_id != actor.coop_id:
        raise NotFound(f"offer_id: no cover offer {offer_id} of your co-op in federation {federation_id}")
    week = offer.day - dt.timedelta(days=offer.day.weekday())
    rota = _published_rota(session, offer.borrowing_coop_id, week)
    if rota is not None:
        used = _carer_days(rota, offer.member_id).get(offer.day)
        if used is not None:
            raise Conflict(
                f"offer_id: {_coop_name(session, offer.borrowing_coop_id)}'s published rota (week of "
                f"{week.isoformat()}, version {rota.version}) gives member {offer.member_id} "
                f"{used[0]} visit(s) on {offer.day.isoformat()}; the offer can be withdrawn once that "
                "co-op publishes a rota without them that day"
            )
    session.delete(offer)
    session.commit()
    return cover_offers(session, ledger, actor, federation_id)
