"""The access log (who read or wrote care data and personal details)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.deps import Coordinator, CurrentMember, SessionDep
from api.input import StrictJSONRoute
from api.models import MAX_ID, AccessLogPage
from api.ratelimit import limit_writes
from api.services import access_log as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)], tags=["access log"])
OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=svc.MAX_PAGE)]


@router.get("/access-log", response_model=AccessLogPage)
def coop_access_log(session: SessionDep, member: Coordinator, client_id: OptionalId = None,
                    member_id: OptionalId = None, actor_id: OptionalId = None, before: OptionalId = None,
                    limit: Limit = 100):
    """The co-op's access log, newest first: about one client (``client_id``), about one member
    (``member_id``), by one member (``actor_id``). Pass ``next_cursor`` as ``before`` for the
    next page. This read is itself logged."""
    return svc.coop_log(session, member, client_id, member_id, actor_id, before, limit)


@router.get("/me/access-log", response_model=AccessLogPage)
def my_access_log(session: SessionDep, member: CurrentMember, before: OptionalId = None, limit: Limit = 100):
    """Who read or wrote the caller's own record, newest first: a client's care record, the
    records of the clients who shared theirs (family), and the caller's personal details. This
    read is itself logged."""
    return svc.my_log(session, member, before, limit)
