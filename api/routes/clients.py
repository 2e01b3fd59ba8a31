from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Response

from api.deps import ClientSide, Coordinator, CurrentMember, PathId, SessionDep
from api.input import StrictJSONRoute
from api.models import (
    ClientCreate,
    ClientPreferences,
    ClientPublic,
    ClientUpdate,
    ShareCreate,
    SharePublic,
    TemplateDependencyCreate,
    TemplateDependencyPublic,
    VisitPublic,
    VisitTemplateCreate,
    VisitTemplatePublic,
    VisitTemplateUpdate,
)
from api.ratelimit import limit_writes
from api.services import clients as svc
from api.services import visits as visits_svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)])


@router.get("/clients", response_model=list[ClientPublic], tags=["clients"])
def list_clients(session: SessionDep, member: CurrentMember):
    """Coordinators see every client; a client sees themself, family the clients who shared."""
    return svc.list_clients(session, member)


@router.post("/clients", response_model=ClientPublic, status_code=201, tags=["clients"])
def create_client(data: ClientCreate, session: SessionDep, member: Coordinator):
    return svc.create_client(session, member, data)


@router.get("/clients/{client_id}", response_model=ClientPublic, tags=["clients"])
def read_client(client_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.read_client(session, member, client_id)


@router.patch("/clients/{client_id}", response_model=ClientPublic, tags=["clients"])
def update_client(client_id: PathId, data: ClientUpdate, session: SessionDep, member: Coordinator):
    return svc.update_client(session, member, client_id, data)


@router.put("/clients/{client_id}/preferences", response_model=ClientPublic, tags=["clients"])
def set_preferences(client_id: PathId, data: ClientPreferences, session: SessionDep, member: Coordinator):
    """Preferred carers (soft) and excluded carers (never sent), as member ids."""
    return svc.set_preferences(session, member, client_id, data)


@router.get("/clients/{client_id}/visits", response_model=list[VisitPublic], tags=["clients"])
def client_visits(client_id: PathId, week_start: dt.date, session: SessionDep, member: CurrentMember):
    """The client's visits in the week's published rota."""
    return visits_svc.client_visits(session, member, client_id, week_start)


@router.get("/clients/{client_id}/shares", response_model=list[SharePublic], tags=["clients"])
def list_shares(client_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.list_shares(session, member, client_id)


@router.post("/clients/{client_id}/shares", response_model=SharePublic, status_code=201, tags=["clients"])
def add_share(client_id: PathId, data: ShareCreate, session: SessionDep, member: CurrentMember):
    """Share the client's visits with a family member (by the client or a coordinator)."""
    return svc.add_share(session, member, client_id, data)


@router.delete("/clients/{client_id}/shares/{share_id}", status_code=204, tags=["clients"])
def remove_share(client_id: PathId, share_id: PathId, session: SessionDep, member: CurrentMember):
    svc.remove_share(session, member, client_id, share_id)
    return Response(status_code=204)


@router.get("/clients/{client_id}/care-plan", response_model=list[VisitTemplatePublic], tags=["care plans"])
def list_care_plan(client_id: PathId, session: SessionDep, member: ClientSide):
    return svc.list_templates(session, member, client_id)


@router.post("/clients/{client_id}/care-plan", response_model=VisitTemplatePublic, status_code=201,
             tags=["care plans"])
def add_care_plan_visit(client_id: PathId, data: VisitTemplateCreate, session: SessionDep,
                        member: Coordinator):
    """A recurring weekly visit: weekdays, start window, duration, roles, priority."""
    return svc.create_template(session, member, client_id, data)


@router.patch("/care-plan/{template_id}", response_model=VisitTemplatePublic, tags=["care plans"])
def update_care_plan_visit(template_id: PathId, data: VisitTemplateUpdate, session: SessionDep,
                           member: Coordinator):
    return svc.update_template(session, member, template_id, data)


@router.delete("/care-plan/{template_id}", response_model=VisitTemplatePublic, tags=["care plans"])
def deactivate_care_plan_visit(template_id: PathId, session: SessionDep, member: Coordinator):
    """Deactivate (past rotas keep referring to it)."""
    return svc.deactivate_template(session, member, template_id)


@router.get("/care-plan-dependencies", response_model=list[TemplateDependencyPublic], tags=["care plans"])
def list_dependencies(session: SessionDep, member: Coordinator):
    return svc.list_dependencies(session, member)


@router.post("/care-plan-dependencies", response_model=TemplateDependencyPublic, status_code=201,
             tags=["care plans"])
def create_dependency(data: TemplateDependencyCreate, session: SessionDep, member: Coordinator):
    """Same-day gap between two visits of a client (e.g. medication four hours apart)."""
    return svc.create_dependency(session, member, data)


@router.delete("/care-plan-dependencies/{dependency_id}", status_code=204, tags=["care plans"])
def delete_dependency(dependency_id: PathId, session: SessionDep, member: Coordinator):
    svc.delete_dependency(session, member, dependency_id)
    return Response(status_code=204)
