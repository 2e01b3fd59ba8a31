"""Federations of co-ops (issue 13): HTTP to one ``api.services.federation`` call and back."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from api.deps import (
    Coordinator,
    CoordinatorOrOfficer,
    CurrentMember,
    Officer,
    PathId,
    SessionDep,
    get_ledger,
    get_now,
)
from api.input import StrictJSONRoute
from api.models import (
    CoverOfferCreate,
    CoverOfferPublic,
    FederalGiftCreate,
    FederalHelpCreate,
    FederalMovePublic,
    FederalViewPublic,
    FederationCreate,
    FederationPublic,
    InviteCreate,
    LimitSet,
    SettlementCreate,
    SettlementStatementPublic,
    VoteCreate,
)
from api.ratelimit import limit_writes
from api.services import federation as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)], tags=["federation"])
Ledger = Annotated[Any, Depends(get_ledger)]
Now = Annotated[dt.datetime, Depends(get_now)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=120)]
CoopQuery = Annotated[int | None, Query(ge=1, le=2_147_483_647)]


@router.post("/federations", response_model=FederationPublic, status_code=201)
def create_federation(data: FederationCreate, session: SessionDep, member: Coordinator, ledger: Ledger):
    """Found a federation: the caller's co-op is its first member and its vote makes the caller the
    first officer (until the member co-ops vote otherwise)."""
    return svc.create(session, ledger, member, data)


@router.get("/federations/{federation_id}", response_model=FederationPublic)
def get_federation(federation_id: PathId, session: SessionDep, member: CoordinatorOrOfficer, ledger: Ledger):
    """Member co-ops (names, limits, positions), officers (ids only) and the votes needed."""
    return svc.show(session, ledger, member, federation_id)


@router.post("/federations/{federation_id}/invitations", response_model=FederationPublic, status_code=201)
def invite(federation_id: PathId, data: InviteCreate, session: SessionDep, member: Officer, ledger: Ledger):
    """Invite a co-op (officers); its coordinator then joins."""
    return svc.invite(session, ledger, member, federation_id, data.coop_id)


@router.post("/federations/{federation_id}/join", response_model=FederationPublic)
def join(federation_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger):
    """The caller's co-op joins (it must be invited, and in no other federation)."""
    return svc.join(session, ledger, member, federation_id)


@router.post("/federations/{federation_id}/leave", response_model=FederationPublic)
def leave(federation_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger):
    """The caller's co-op leaves; a 409 while its position is not zero (settle it first)."""
    return svc.leave(session, ledger, member, federation_id)


@router.put("/federations/{federation_id}/coops/{coop_id}/limit", response_model=FederationPublic)
def set_limit(
    federation_id: PathId,
    coop_id: PathId,
    data: LimitSet,
    session: SessionDep,
    member: Officer,
    ledger: Ledger,
):
    """A member co-op's limit: its position stays within -limit..+limit (officers)."""
    return svc.set_limit(session, ledger, member, federation_id, coop_id, data.limit_minutes)


@router.post("/federations/{federation_id}/officer-votes", response_model=FederationPublic)
def vote(federation_id: PathId, data: VoteCreate, session: SessionDep, member: Coordinator, ledger: Ledger):
    """The caller's co-op casts (or changes) its vote for an officer."""
    return svc.vote(session, ledger, member, federation_id, data.member_id)


@router.post("/federations/{federation_id}/gifts", response_model=FederalMovePublic, status_code=201)
def gift(
    federation_id: PathId,
    data: FederalGiftCreate,
    session: SessionDep,
    member: CurrentMember,
    ledger: Ledger,
    idempotency_key: IdempotencyKey,
):
    """Give hours to a member of another co-op of the federation (e.g. family): both co-ops'
    ledgers, one atomic move; a retry with the same ``Idempotency-Key`` returns the original."""
    return svc.gift(session, ledger, member, federation_id, data, idempotency_key)


@router.post("/federations/{federation_id}/help", response_model=FederalMovePublic, status_code=201)
def help_received(
    federation_id: PathId,
    data: FederalHelpCreate,
    session: SessionDep,
    member: CurrentMember,
    ledger: Ledger,
    idempotency_key: IdempotencyKey,
):
    """Pay a volunteer of another co-op of the federation for help received (idempotent)."""
    return svc.help_received(session, ledger, member, federation_id, data, idempotency_key)


@router.post("/federations/{federation_id}/settlements", response_model=FederalMovePublic, status_code=201)
def settle(
    federation_id: PathId,
    data: SettlementCreate,
    session: SessionDep,
    member: Officer,
    ledger: Ledger,
    idempotency_key: IdempotencyKey,
):
    """A settlement from one member co-op's pot to another's (officers; idempotent)."""
    return svc.settle(session, ledger, member, federation_id, data, idempotency_key)


@router.post(
    "/federations/{federation_id}/moves/{move_id}/reverse", response_model=FederalMovePublic, status_code=201
)
def reverse(
    federation_id: PathId,
    move_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    idempotency_key: IdempotencyKey,
):
    """Reverse a move, both co-ops' legs at once (officers, or a coordinator of either co-op)."""
    return svc.reverse(session, ledger, member, federation_id, move_id, idempotency_key)


@router.get("/federations/{federation_id}/statement", response_model=SettlementStatementPublic)
def statement(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    coop_id: CoopQuery = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """A co-op's settlement statement (default: this month): per other co-op, hours given and
    received, gifts and settlements in and out, netted. Coordinators: their own co-op; officers:
    any member co-op (``coop_id``)."""
    return svc.statement(session, ledger, member, federation_id, coop_id, start, end, now.date())


@router.get(
    "/federations/{federation_id}/statement.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def statement_csv(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    coop_id: CoopQuery = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """The settlement statement as CSV."""
    body, name = svc.statement_csv(session, ledger, member, federation_id, coop_id, start, end, now.date())
    return Response(
        content=body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/federations/{federation_id}/view", response_model=FederalViewPublic)
def federal_view(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """The federal view: per co-op and month, hours given, visits covered and unmet need by
    priority, carers per client; no names, small counts suppressed. Officers: every member co-op;
    a coordinator: their own."""
    return svc.federal_view(session, ledger, member, federation_id, start, end, now.date())


@router.get(
    "/federations/{federation_id}/view.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def federal_view_csv(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """The federal view as CSV (a suppressed figure reads ``suppressed``)."""
    view = svc.federal_view(session, ledger, member, federation_id, start, end, now.date())
    return Response(
        content=svc.federal_view_csv(view),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="federation-{federation_id}-view.csv"'},
    )


@router.get(
    "/federations/{federation_id}/view.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def federal_view_png(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """A chart of the hours given per co-op and month (PNG, matplotlib)."""
    view = svc.federal_view(session, ledger, member, federation_id, start, end, now.date())
    return Response(content=svc.federal_view_png(view), media_type="image/png")


@router.post(
    "/federations/{federation_id}/cover-offers", response_model=list[CoverOfferPublic], status_code=201
)
def offer_cover(
    federation_id: PathId, data: CoverOfferCreate, session: SessionDep, member: Coordinator, ledger: Ledger
):
    """Shared cover: lend one of the caller's co-op's carers to another member co-op on ``days``.
    The borrowing co-op's week then includes them on those days, less what the caller's
    published rota already uses (days, rest, weekly cap)."""
    return svc.offer_cover(session, ledger, member, federation_id, data)


@router.get("/federations/{federation_id}/cover-offers", response_model=list[CoverOfferPublic])
def cover_offers(federation_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger):
    """The cover the caller's co-op lends or borrows."""
    return svc.cover_offers(session, ledger, member, federation_id)


@router.delete("/federations/{federation_id}/cover-offers/{offer_id}", response_model=list[CoverOfferPublic])
def withdraw_cover(
    federation_id: PathId, offer_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger
):
    """Withdraw a day of cover the caller's co-op lent; a 409 naming the rota while the borrowing
    co-op's published rota gives the carer visits that day. Answers the offers left."""
    return svc.withdraw_cover(session, ledger, member, federation_id, offer_id)


@router.get(
    "/federations/{federation_id}/cover-invoice.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def cover_invoice_csv(
    federation_id: PathId,
    session: SessionDep,
    member: CoordinatorOrOfficer,
    ledger: Ledger,
    now: Now,
    lending_coop_id: CoopQuery = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
):
    """Shared cover to invoice (default: this month): per paid carer the lending co-op lent and
    day, the visits, visit minutes and work minutes (as the checker counts work: visits, home
    trips, travel when the rules count it) of the borrowing co-op's published rota. Coordinators
    of the lending co-op; officers (any member co-op). Member ids, no names."""
    body, name = svc.cover_invoice_csv(
        session, ledger, member, federation_id, lending_coop_id, start, end, now.date()
    )
    return Response(
        content=body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
