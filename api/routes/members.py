from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from api.deps import Coordinator, CurrentMember, PathId, SecretDep, SessionDep, SettingsDep, get_utcnow
from api.input import StrictJSONRoute
from api.models import (
    AvailabilityCreate,
    AvailabilityPublic,
    CoopPublic,
    CoopUpdate,
    LeaveCreate,
    LeavePublic,
    MemberCreate,
    MemberPublic,
    MemberUpdate,
    PasswordLink,
    Role,
    RoleChange,
    SkillCreate,
    SkillPublic,
)
from api.ratelimit import limit_writes
from api.services import members as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)])


@router.get("/coops/me", response_model=CoopPublic, tags=["co-ops"])
def read_my_coop(session: SessionDep, member: CurrentMember):
    return svc.get_coop(session, member)


@router.patch("/coops/me", response_model=CoopPublic, tags=["co-ops"])
def update_my_coop(data: CoopUpdate, session: SessionDep, member: Coordinator):
    return svc.update_coop(session, member, data)


@router.get("/members", response_model=list[MemberPublic], tags=["members"])
def list_members(session: SessionDep, member: Coordinator, role: Role | None = None,
                 include_inactive: bool = False):
    return svc.list_members(session, member, role, include_inactive)


@router.post("/members", response_model=MemberPublic, status_code=201, tags=["members"])
def create_member(data: MemberCreate, session: SessionDep, member: Coordinator):
    return svc.create_member(session, member, data)


@router.post("/members/{member_id}/password-link", response_model=PasswordLink, status_code=201,
             tags=["members"])
def password_link(member_id: PathId, session: SessionDep, member: Coordinator, secret: SecretDep,
                  settings: SettingsDep, now_utc: Annotated[dt.datetime, Depends(get_utcnow)]):
    """A one-time token for the member to set their own password with ``POST /auth/password``:
    an invitation for a member created without a password, a reset for one who has it."""
    return svc.password_link(session, member, member_id, secret, settings.password_link_hours, now_utc)


@router.get("/members/{member_id}", response_model=MemberPublic, tags=["members"])
def read_member(member_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.read_member(session, member, member_id)


@router.patch("/members/{member_id}", response_model=MemberPublic, tags=["members"])
def update_member(member_id: PathId, data: MemberUpdate, session: SessionDep, member: Coordinator):
    return svc.update_member(session, member, member_id, data)


@router.put("/members/{member_id}/role", response_model=MemberPublic, tags=["members"])
def change_role(member_id: PathId, data: RoleChange, session: SessionDep, member: Coordinator):
    """Give a member another role. Their time-bank account follows in the same transaction
    (its balance kept); their tokens for the old role stop working, so they log in again."""
    return svc.change_role(session, member, member_id, data)


@router.delete("/members/{member_id}", response_model=MemberPublic, tags=["members"])
def deactivate_member(member_id: PathId, session: SessionDep, member: Coordinator):
    """Deactivate (members are never deleted: rotas and the time bank refer to them)."""
    return svc.deactivate_member(session, member, member_id)


@router.get("/members/{member_id}/skills", response_model=list[SkillPublic], tags=["members"])
def list_skills(member_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.list_skills(session, member, member_id)


@router.post("/members/{member_id}/skills", response_model=SkillPublic, status_code=201, tags=["members"])
def add_skill(member_id: PathId, data: SkillCreate, session: SessionDep, member: Coordinator):
    return svc.add_skill(session, member, member_id, data)


@router.delete("/members/{member_id}/skills/{skill_id}", status_code=204, tags=["members"])
def remove_skill(member_id: PathId, skill_id: PathId, session: SessionDep, member: Coordinator):
    svc.remove_skill(session, member, member_id, skill_id)
    return Response(status_code=204)


@router.get("/members/{member_id}/availability", response_model=list[AvailabilityPublic], tags=["members"])
def list_availability(member_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.list_availability(session, member, member_id)


@router.post("/members/{member_id}/availability", response_model=AvailabilityPublic, status_code=201,
             tags=["members"])
def add_availability(member_id: PathId, data: AvailabilityCreate, session: SessionDep, member: Coordinator):
    """A recurring weekly availability window."""
    return svc.add_availability(session, member, member_id, data)


@router.delete("/members/{member_id}/availability/{item_id}", status_code=204, tags=["members"])
def remove_availability(member_id: PathId, item_id: PathId, session: SessionDep, member: Coordinator):
    svc.remove_availability(session, member, member_id, item_id)
    return Response(status_code=204)


@router.get("/members/{member_id}/leave", response_model=list[LeavePublic], tags=["members"])
def list_leave(member_id: PathId, session: SessionDep, member: CurrentMember):
    return svc.list_leave(session, member, member_id)


@router.post("/members/{member_id}/leave", response_model=LeavePublic, status_code=201, tags=["members"])
def add_leave(member_id: PathId, data: LeaveCreate, session: SessionDep, member: Coordinator):
    """Leave (``kind: leave``, unavailable) or a one-off extra availability (``kind: extra``)."""
    return svc.add_leave(session, member, member_id, data)


@router.delete("/members/{member_id}/leave/{item_id}", status_code=204, tags=["members"])
def remove_leave(member_id: PathId, item_id: PathId, session: SessionDep, member: Coordinator):
    svc.remove_leave(session, member, member_id, item_id)
    return Response(status_code=204)
