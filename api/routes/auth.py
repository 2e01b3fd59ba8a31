from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.deps import CurrentMember, SecretDep, SessionDep, SettingsDep
from api.errors import Forbidden
from api.input import StrictJSONRoute
from api.models import CoopCreate, MemberPublic, PasswordSet, Token, role_of, saved_id
from api.ratelimit import limit_login, limit_signup
from api.security import create_token
from api.services import members as svc

router = APIRouter(route_class=StrictJSONRoute, tags=["auth"])


@router.post("/auth/token", response_model=Token, dependencies=[Depends(limit_login)],
             responses={401: {"description": "wrong e-mail or password"}})
def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep,
          settings: SettingsDep, request: Request) -> Token:
    """OAuth2 password flow: the e-mail as ``username``; the member's role is the token's scope."""
    member = svc.authenticate(session, form.username, form.password)
    scopes = [role_of(member).value]
    token = create_token(request.app.state.secret, saved_id(member), member.coop_id, scopes,
                         settings.access_token_minutes)
    return Token(access_token=token, scopes=scopes)


@router.post("/coops", status_code=201, response_model=MemberPublic, dependencies=[Depends(limit_signup)],
             tags=["co-ops"])
def sign_up(data: CoopCreate, session: SessionDep, settings: SettingsDep) -> MemberPublic:
    """Register a new co-op and its first coordinator (returns the coordinator)."""
    if not settings.allow_signup:
        raise Forbidden("sign-up of new co-ops is switched off on this server")
    _, member = svc.create_coop(session, data)
    return MemberPublic.model_validate(member, from_attributes=True)


@router.post("/auth/password", response_model=MemberPublic, dependencies=[Depends(limit_signup)],
             responses={401: {"description": "the link is not valid, expired or already used"}})
def set_password(data: PasswordSet, session: SessionDep, secret: SecretDep) -> MemberPublic:
    """Accept an invitation or a reset: set your password with the token a coordinator gave you
    (``POST /members/{id}/password-link``); then log in with ``POST /auth/token``."""
    member = svc.set_password(session, secret, data)
    return MemberPublic.model_validate(member, from_attributes=True)


@router.get("/me", response_model=MemberPublic, tags=["me"])
def me(session: SessionDep, member: CurrentMember) -> MemberPublic:
    return MemberPublic.model_validate(svc.read_me(session, member), from_attributes=True)
