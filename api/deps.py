"""Request dependencies: settings, database session, current member and role checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, Security, status
from fastapi.security import OAuth2PasswordBearer, SecurityScopes
from sqlalchemy.engine import Engine
from sqlmodel import Session

from api.models import MAX_ID, ROLES, Member, role_of
from api.security import decode_token
from api.settings import Settings

SCOPES = {
    "coordinator": "plan and publish rotas, manage members, clients and care plans",
    "staff": "paid carer: own week and visits",
    "volunteer": "volunteer carer: own week, visits and time bank",
    "client": "a client: own visits",
    "family": "a family member: visits the client shared",
    "officer": "an officer of a federation of co-ops, elected by its member co-ops: aggregates only",
}
#: scopes held by appointment, not by the member's role: an officer keeps their co-op role and is
#: an officer while the member co-ops' votes say so (checked in the database at every request)
APPOINTED = {"officer"}
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token", scopes=SCOPES)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> Engine:
    return request.app.state.engine


def get_session(request: Request) -> Iterator[Session]:
    """A session for the request, carrying the request's endpoint (method and route path) as
    the "why" of the access log's entries (``api.services.access_log``)."""
    from api.services.access_log import ENDPOINT_KEY

    route = request.scope.get("route")
    path = getattr(route, "path", None) or request.url.path
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        session.info[ENDPOINT_KEY] = f"{request.method} {path}"
        yield session


def get_secret(request: Request) -> str:
    """The key that signs tokens (access, calendar and password links)."""
    return request.app.state.secret


PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
SecretDep = Annotated[str, Depends(get_secret)]
SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_current_member(security_scopes: SecurityScopes, request: Request, session: SessionDep,
                       token: Annotated[str, Depends(oauth2_scheme)]) -> Member:
    auth_value = "Bearer"
    if security_scopes.scopes:
        auth_value = f'Bearer scope="{security_scopes.scope_str}"'
    claims = decode_token(request.app.state.secret, token)
    if claims is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired token",
                            headers={"WWW-Authenticate": auth_value})
    member = session.get(Member, int(claims["sub"]))
    if member is None or not member.is_active or member.coop_id != claims.get("coop"):
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token's member is not active",
                            headers={"WWW-Authenticate": auth_value})
    token_scopes = set(claims.get("scopes") or [])
    # the role in the database is the truth; a token for a role since changed is not honoured
    if role_of(member) not in token_scopes:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token's role is out of date",
                            headers={"WWW-Authenticate": auth_value})
    needed = set(security_scopes.scopes)
    if needed and not token_scopes & needed and not (
            "officer" in needed and _is_officer(request, session, member)):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"needs one of the roles: {', '.join(security_scopes.scopes)}",
                            headers={"WWW-Authenticate": auth_value})
    # End the read transaction, so the pooled connection goes back before the route runs. FastAPI
    # runs this dependency and the route in separate threadpool calls: a request waiting for a
    # thread while holding a connection, with every thread waiting for a connection, stalls the
    # process until the pool times out (200 concurrent users on 2 processes did). Nothing is
    # pending here and the session does not expire on commit, so ``member`` stays loaded.
    session.commit()
    return member


def _is_officer(request: Request, session: Session, member: Member) -> bool:
    """An officer of the federation in the path (``federation_id``), by the votes in the database."""
    from api.services.federation import is_officer

    raw = request.path_params.get("federation_id")
    try:
        federation_id = int(raw) if raw is not None else None
    except ValueError:
        return False
    return is_officer(session, request.app.state.ledger, member, federation_id)


CurrentMember = Annotated[Member, Security(get_current_member)]
Coordinator = Annotated[Member, Security(get_current_member, scopes=["coordinator"])]
Carer = Annotated[Member, Security(get_current_member, scopes=["staff", "volunteer"])]
Volunteer = Annotated[Member, Security(get_current_member, scopes=["volunteer"])]
Staffish = Annotated[Member, Security(get_current_member,
                                      scopes=["coordinator", "staff", "volunteer"])]
#: coordinators and the client's side (the client, shared family): care plans
ClientSide = Annotated[Member, Security(get_current_member, scopes=["coordinator", "client", "family"])]
#: an officer of the federation in the path
Officer = Annotated[Member, Security(get_current_member, scopes=["officer"])]
#: a coordinator of a member co-op or an officer (the service shows each what is theirs)
CoordinatorOrOfficer = Annotated[Member, Security(get_current_member, scopes=["coordinator", "officer"])]
assert set(SCOPES) == set(ROLES) | APPOINTED


def get_utcnow(request: Request):
    """Now in UTC (naive), for audit stamps and expiry times."""
    import datetime as dt

    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def get_now(request: Request):
    """The co-op's local wall-clock time (naive), from the app's clock."""
    return request.app.state.clock()


def get_pool(request: Request):
    return request.app.state.pool


def get_ledger(request: Request):
    return request.app.state.ledger
