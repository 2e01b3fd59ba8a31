from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from api.deps import Coordinator, CurrentMember, PathId, SessionDep, get_ledger, get_now
from api.input import StrictJSONRoute
from api.models import CheckOut, VisitDetail, VisitPublic, VisitStatus
from api.ratelimit import limit_writes
from api.services import visits as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)], tags=["visits"])
Ledger = Annotated[Any, Depends(get_ledger)]
Now = Annotated[dt.datetime, Depends(get_now)]


@router.get("/visits/{visit_id}", response_model=VisitDetail)
def read_visit(visit_id: PathId, session: SessionDep, member: CurrentMember):
    """The visit as the week's published rota has it; the carers on it also see the client's
    name, address and access notes and their double-up partner."""
    return svc.get_visit(session, member, visit_id)


@router.post("/visits/{visit_id}/complete", response_model=VisitPublic)
def complete_visit(visit_id: PathId, session: SessionDep, member: CurrentMember, ledger: Ledger, now: Now,
                   data: Annotated[CheckOut | None, Body()] = None):
    """Check out: the visit is completed (actual times default to the planned ones) and its
    volunteers are credited in the time bank, once however often this is called."""
    return svc.complete_visit(session, ledger, member, visit_id, data or CheckOut(), now)


@router.post("/visits/{visit_id}/missed", response_model=VisitPublic)
def mark_missed(visit_id: PathId, session: SessionDep, member: Coordinator, now: Now):
    """A visit that was due and did not happen (refused before its planned start)."""
    return svc.mark_visit(session, member, visit_id, VisitStatus.missed, now)


@router.post("/visits/{visit_id}/cancel", response_model=VisitPublic)
def cancel_visit(visit_id: PathId, session: SessionDep, member: Coordinator):
    return svc.mark_visit(session, member, visit_id, VisitStatus.cancelled)
