from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query

from api.deps import Coordinator, PathId, SecretDep, SessionDep, SettingsDep, get_now, get_pool
from api.input import StrictJSONRoute
from api.models import (
    AssignmentChange,
    ResolveRequest,
    RotaDetail,
    RotaPublic,
    RotaRequest,
    RunAccepted,
    RunPublic,
    Unassign,
    VisitPublic,
)
from api.ratelimit import limit_writes
from api.services import rotas as svc
from api.services import runs as runs_svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)])
Pool = Annotated[Any, Depends(get_pool)]
Now = Annotated[dt.datetime, Depends(get_now)]
Pseudonymise = Annotated[bool, Query(description="ids replaced by stable pseudonyms, no names, coordinates "
                                                 "rounded to 3 decimals (about 100 m): safe to share")]


@router.post("/rotas", response_model=RunAccepted, status_code=202, tags=["rotas"])
def request_rota(data: RotaRequest, session: SessionDep, member: Coordinator, pool: Pool,
                 settings: SettingsDep):
    """Build the week's problem from the co-op's data and solve it in a worker process.

    Returns the run id at once; follow ``GET /runs/{run_id}`` for progress and the result."""
    return runs_svc.request_run(session, pool, member, data, settings)


@router.get("/rotas", response_model=list[RotaPublic], tags=["rotas"])
def list_rotas(session: SessionDep, member: Coordinator, week_start: dt.date | None = None):
    return svc.list_rotas(session, member, week_start)


@router.get("/rotas/{rota_id}", response_model=RotaDetail, tags=["rotas"])
def read_rota(rota_id: PathId, session: SessionDep, member: Coordinator):
    return svc.get_rota(session, member, rota_id)


@router.get("/rotas/{rota_id}/file", tags=["rotas"])
def read_rota_file(rota_id: PathId, session: SessionDep, member: Coordinator, secret: SecretDep,
                   pseudonymise: Pseudonymise = False) -> dict[str, Any]:
    """The version's rota file (``carerota.rota/1``); ``pseudonymise=true`` for one to share."""
    return svc.rota_file(session, member, rota_id, secret if pseudonymise else None)


@router.get("/rotas/{rota_id}/problem", tags=["rotas"])
def read_rota_problem(rota_id: PathId, session: SessionDep, member: Coordinator, secret: SecretDep,
                      pseudonymise: Pseudonymise = False) -> dict[str, Any]:
    """The problem file this version was solved from (``carerota.problem/1``);
    ``pseudonymise=true`` for one to share (the same pseudonyms as the rota file's)."""
    return svc.rota_problem(session, member, rota_id, secret if pseudonymise else None)


@router.post("/rotas/{rota_id}/publish", response_model=RotaPublic, tags=["rotas"])
def publish_rota(rota_id: PathId, session: SessionDep, member: Coordinator):
    """Publish a draft; the week's previously published version becomes superseded."""
    return svc.publish(session, member, rota_id)


@router.put("/rotas/{rota_id}/visits/{visit_id}/assignment", response_model=VisitPublic, tags=["rotas"])
def change_assignment(rota_id: PathId, visit_id: PathId, data: AssignmentChange, session: SessionDep,
                      member: Coordinator):
    """Assign a visit by hand. The checker validates the whole rota; a 422 names every rule the
    change would break. Editing a published rota makes a new published version."""
    return svc.change_assignment(session, member, rota_id, visit_id, data)


@router.post("/rotas/{rota_id}/visits/{visit_id}/unassign", response_model=VisitPublic, tags=["rotas"])
def unassign(rota_id: PathId, visit_id: PathId, data: Unassign, session: SessionDep, member: Coordinator):
    return svc.change_assignment(session, member, rota_id, visit_id, None, data.reason)


@router.post("/rotas/{rota_id}/resolve", response_model=RunAccepted, status_code=202, tags=["rotas"])
def resolve_rota(rota_id: PathId, data: ResolveRequest, session: SessionDep, member: Coordinator, pool: Pool,
                 settings: SettingsDep, now: Now):
    """Re-solve the week after an absence with minimal disruption: past and completed visits and
    published visits whose carers can still make them are pinned."""
    return runs_svc.request_resolve(session, pool, member, rota_id, data, settings, now)


@router.get("/runs", response_model=list[RunPublic], tags=["rotas"])
def list_runs(session: SessionDep, member: Coordinator, week_start: dt.date | None = None):
    return runs_svc.list_runs(session, member, week_start)


@router.get("/runs/{run_id}", response_model=RunPublic, tags=["rotas"])
def read_run(run_id: PathId, session: SessionDep, member: Coordinator):
    """Status (queued, running, succeeded, failed), live objective and gap, and the unassigned
    visits of the result with their reasons."""
    return runs_svc.get_run(session, member, run_id)


@router.get("/weeks/{week_start}/problem", tags=["rotas"])
def week_problem(week_start: dt.date, session: SessionDep, member: Coordinator, settings: SettingsDep,
                 secret: SecretDep, pseudonymise: Pseudonymise = False) -> dict[str, Any]:
    """The problem file of a week built from the co-op's data now; re-solve it with
    ``carerota solve``. ``pseudonymise=true`` for one to share (a benchmark, a bug report)."""
    return svc.week_problem(session, member, week_start, settings.history_weeks,
                            secret if pseudonymise else None)


@router.post("/solve", tags=["rotas"])
async def solve_file(member: Coordinator, pool: Pool, settings: SettingsDep,
                     problem: Annotated[dict[str, Any], Body(description="a carerota.problem/1 file")],
                     time_limit: Annotated[float | None, Query(gt=0, le=600)] = None) -> dict[str, Any]:
    """Stateless: a problem file in, a checked rota file out (nothing stored)."""
    return await runs_svc.solve_stateless(pool, problem, time_limit, settings)
