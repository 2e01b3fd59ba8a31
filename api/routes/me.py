from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel

from api.deps import Carer, CurrentMember, SessionDep, SettingsDep, get_ledger, get_now
from api.errors import NotFound
from api.input import StrictJSONRoute
from api.models import DonationCreate, ExchangeCreate, GiftCreate, Member, MyRotaPublic, saved_id
from api.ratelimit import limit_writes
from api.security import create_token, decode_token
from api.services import bank
from api.services import visits as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)])
Ledger = Annotated[Any, Depends(get_ledger)]
Now = Annotated[dt.datetime, Depends(get_now)]
IdempotencyKey = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200)]


class CalendarLink(BaseModel):
    url: str
    token: str


@router.get("/me/rota", response_model=MyRotaPublic, tags=["me"])
def my_rota(session: SessionDep, member: Carer, now: Now, week_start: dt.date | None = None):
    """The caller's own visits in the published rota of a week, with each client's name,
    address and access notes and the double-up partner. Default week: this week if it has
    the caller's visits, else the next published week that has some (``shown`` says which)."""
    return svc.my_rota(session, member, week_start, now.date())


@router.get("/me/calendar-link", response_model=CalendarLink, tags=["me"])
def calendar_link(request: Request, member: Carer, settings: SettingsDep):
    """A private URL of the caller's iCalendar feed, to subscribe to on a phone."""
    token = create_token(request.app.state.secret, saved_id(member), member.coop_id, [],
                         settings.calendar_token_days * 1440, purpose="calendar")
    return CalendarLink(url=str(request.url_for("calendar_feed", token=token)), token=token)


@router.get("/calendar/{token}.ics", tags=["me"], response_class=Response,
            responses={200: {"content": {"text/calendar": {}}}, 404: {"description": "unknown feed"}})
def calendar_feed(token: str, request: Request, session: SessionDep, settings: SettingsDep, now: Now):
    """The iCalendar feed of a carer's published visits (the token is from ``/me/calendar-link``)."""
    claims = decode_token(request.app.state.secret, token, purpose="calendar")
    member = session.get(Member, int(claims["sub"])) if claims else None
    if claims is None or member is None or not member.is_active or member.coop_id != claims.get("coop"):
        raise NotFound("calendar feed not found")
    body = svc.calendar(session, member, now, settings.timezone)
    return Response(content=body, media_type="text/calendar")


@router.get("/me/timebank", response_model=bank.TimebankPublic, tags=["time bank"])
def my_timebank(member: CurrentMember, ledger: Ledger, now: Now, start: dt.date | None = None,
                end: dt.date | None = None, cursor: Annotated[str | None, Query(max_length=200)] = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 100):
    """The caller's balance and statement (default: the last 90 days): the period's totals and
    one page of at most ``limit`` lines; pass ``next_cursor`` as ``cursor`` for the next page."""
    return bank.my_timebank(ledger, member, start, end, now.date(), cursor, limit)


@router.post("/timebank/gifts", response_model=bank.TransferPublic, status_code=201, tags=["time bank"])
def gift(data: GiftCreate, session: SessionDep, member: CurrentMember, ledger: Ledger,
         idempotency_key: IdempotencyKey):
    """Give hours to another member of the co-op. A retry with the same ``Idempotency-Key``
    returns the original transfer (``replayed: true``)."""
    return bank.transfer(session, ledger, member, "gift", data, idempotency_key)


@router.post("/timebank/donations", response_model=bank.TransferPublic, status_code=201, tags=["time bank"])
def donation(data: DonationCreate, member: CurrentMember, ledger: Ledger, idempotency_key: IdempotencyKey):
    """Give hours to the co-op's community pot. A retry with the same ``Idempotency-Key`` returns
    the original donation (``replayed: true``)."""
    return bank.donate(ledger, member, data, idempotency_key)


@router.post("/timebank/exchanges", response_model=bank.TransferPublic, status_code=201, tags=["time bank"])
def exchange(data: ExchangeCreate, session: SessionDep, member: CurrentMember, ledger: Ledger,
             idempotency_key: IdempotencyKey):
    """Pay another member for help received outside the rota (idempotent by ``Idempotency-Key``)."""
    return bank.transfer(session, ledger, member, "exchange", data, idempotency_key)
