"""Subject access: one JSON file of everything held about a person."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from api.deps import Coordinator, CurrentMember, PathId, SessionDep, get_ledger, get_now
from api.input import StrictJSONRoute
from api.ratelimit import limit_writes
from api.services import export as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)], tags=["subject access"])
Ledger = Annotated[Any, Depends(get_ledger)]
Now = Annotated[dt.datetime, Depends(get_now)]
FILE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}}, "description": "the export, as a JSON file"}}


def _file(body: dict, name: str) -> JSONResponse:
    return JSONResponse(body, headers={"Content-Disposition": f'attachment; filename="{name}"'})


PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "the export, as a page"}}


@router.get("/me/export", response_class=JSONResponse,
            responses={200: {"content": {"application/json": {}, "text/html": {}},
                             "description": "the export, as a JSON file (or a page: format=html)"}})
def my_export(session: SessionDep, member: CurrentMember, ledger: Ledger, now: Now,
              format: Annotated[Literal["json", "html"], Query()] = "json") -> Response:
    """Everything carerota holds about the caller: profile, care record (a client), visits,
    rotas, time-bank statement and the access log about them, as a JSON file, or with
    ``format=html`` as a readable page (also ``/me/export.html``). The export is itself logged."""
    doc = svc.my_export(session, ledger, member, now.date())
    if format == "html":
        return HTMLResponse(svc.render_html(doc))
    return _file(doc, f"carerota-member-{member.id}.json")


@router.get("/me/export.html", response_class=HTMLResponse, responses=PAGE)
def my_export_page(session: SessionDep, member: CurrentMember, ledger: Ledger, now: Now):
    """The caller's subject-access export as a readable page (logged)."""
    return HTMLResponse(svc.render_html(svc.my_export(session, ledger, member, now.date())))


@router.get("/members/{member_id}/export", response_class=JSONResponse, responses=FILE)
def member_export(member_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger, now: Now):
    """A member's subject-access export, for a coordinator of their co-op (logged)."""
    return _file(svc.member_export(session, ledger, member, member_id, now.date()),
                 f"carerota-member-{member_id}.json")


@router.get("/clients/{client_id}/export", response_class=JSONResponse, responses=FILE)
def client_export(client_id: PathId, session: SessionDep, member: Coordinator):
    """A client record's subject-access export, for a coordinator of its co-op (logged)."""
    return _file(svc.client_export(session, member, client_id), f"carerota-client-{client_id}.json")
