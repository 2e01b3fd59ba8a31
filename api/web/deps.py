"""Page sessions: the access token in a cookie, a per-session CSRF token, role checks.

The cookie holds the same signed access token ``POST /auth/token`` gives (so the member, the
co-op and the role are checked by the API's own :func:`api.deps.get_current_member`, never
again here), with one extra claim: ``csrf``, a random value made at sign-in. Every form post
must carry it (field ``csrf_token`` or header ``X-CSRF-Token``); it is compared with the claim
of the cookie that came with the request, so a page of another site, which can make the
browser send the cookie but cannot read our pages, cannot post. The login form, which comes
before any session, uses a double-submit cookie instead.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Header, HTTPException, Request, Response
from fastapi.security import SecurityScopes
from sqlmodel import Session, select

from api.deps import SessionDep, get_current_member
from api.models import Member, OfficerVote, role_of
from api.security import create_token, decode_token

SESSION_COOKIE = "carerota_session"
LOGIN_CSRF_COOKIE = "carerota_login_csrf"
CARERS = ("staff", "volunteer")
ANY_ROLE: tuple[str, ...] = ()


class LoginRequired(Exception):
    """No valid session: pages redirect to the sign-in page, JSON answers 401."""


class PageForbidden(Exception):
    """Signed in, but the role may not see the page (the API's 403)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CsrfFailed(Exception):
    """A form post without the session's CSRF token."""


@dataclass(frozen=True)
class WebUser:
    member: Member
    csrf: str
    #: the nav links the federation page (coordinators, and officers of the co-op's federation)
    federation_link: bool = False

    @property
    def role(self) -> str:
        return str(role_of(self.member))


def session_token(request: Request, member: Member, minutes: int) -> tuple[str, str]:
    """A new session: the access token (with its CSRF claim) and the CSRF value."""
    csrf = secrets.token_urlsafe(32)
    token = create_token(request.app.state.secret, member.id or 0, member.coop_id, [str(role_of(member))],
                         minutes, extra={"csrf": csrf})
    return token, csrf


def set_session_cookie(request: Request, response: Response, token: str, minutes: int) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=minutes * 60, path="/", httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")


def _user(request: Request, session: SessionDep, roles: tuple[str, ...]) -> WebUser:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired()
    claims = decode_token(request.app.state.secret, token)
    if claims is None or not isinstance(claims.get("csrf"), str):
        raise LoginRequired()
    try:
        member = get_current_member(SecurityScopes(list(roles)), request, session, token)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired() from None
        raise PageForbidden(str(exc.detail)) from None
    link = _may_see_federation(request, session, member)
    session.commit()   # as get_current_member: no connection held between this and the route
    return WebUser(member=member, csrf=claims["csrf"], federation_link=link)


def _may_see_federation(request: Request, session: Session, member: Member) -> bool:
    """Coordinators, and a member someone voted for (one read of the votes, only for those who
    are not coordinators) who is an officer. Read with the request's own session: a second
    session would take a second pooled connection per page."""
    from api.services.federation import federation_of, is_officer

    if role_of(member) == "coordinator":
        return True
    if session.exec(select(OfficerVote.id).where(OfficerVote.member_id == member.id)).first() is None:
        return False
    ledger = request.app.state.ledger
    fid = federation_of(ledger, member.coop_id)
    return fid is not None and is_officer(session, ledger, member, fid)


def page_user(*roles: str) -> Callable[..., WebUser]:
    """A dependency: the signed-in member, who must hold one of ``roles`` (any role when none)."""

    def dependency(request: Request, session: SessionDep) -> WebUser:
        return _user(request, session, roles)

    return dependency


def check_csrf(user: WebUser, sent: str | None) -> None:
    if not sent or not hmac.compare_digest(sent.encode(), user.csrf.encode()):
        raise CsrfFailed()


def posting_user(*roles: str) -> Callable[..., WebUser]:
    """A dependency for form posts: the signed-in member with the role, and the session's CSRF
    token in the form (``csrf_token``) or the ``X-CSRF-Token`` header (for ``fetch``)."""

    def dependency(request: Request, session: SessionDep,
                   csrf_token: Annotated[str | None, Form()] = None,
                   x_csrf_token: Annotated[str | None, Header()] = None) -> WebUser:
        user = _user(request, session, roles)
        check_csrf(user, x_csrf_token or csrf_token)
        return user

    return dependency


Coordinator = Annotated[WebUser, Depends(page_user("coordinator"))]
Carer = Annotated[WebUser, Depends(page_user(*CARERS))]
Anyone = Annotated[WebUser, Depends(page_user())]
PostCoordinator = Annotated[WebUser, Depends(posting_user("coordinator"))]
PostCarer = Annotated[WebUser, Depends(posting_user(*CARERS))]
PostAnyone = Annotated[WebUser, Depends(posting_user())]
