"""Erasure, legal holds and the co-op's privacy policy (retention periods)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.deps import Coordinator, PathId, SessionDep, get_ledger
from api.input import StrictJSONRoute
from api.models import ErasurePublic, LegalHoldPublic, LegalHoldSet, PrivacyPolicy, PrivacyPolicyUpdate
from api.ratelimit import limit_writes
from api.services import privacy as svc

router = APIRouter(route_class=StrictJSONRoute, dependencies=[Depends(limit_writes)], tags=["privacy"])
Ledger = Annotated[Any, Depends(get_ledger)]


@router.get("/coops/me/privacy", response_model=PrivacyPolicy)
def read_policy(session: SessionDep, member: Coordinator):
    """The co-op's privacy policy: may a member with a time-bank balance be erased, and how
    many days each kind of record keeps personal data (visit details of a week after it ends,
    an inactive client's record after their last visit, an inactive member's details)."""
    return svc.get_policy(session, member)


@router.put("/coops/me/privacy", response_model=PrivacyPolicy)
def update_policy(data: PrivacyPolicyUpdate, session: SessionDep, member: Coordinator):
    """Change the privacy policy (the fields given); retention periods are at least 365 days."""
    return svc.update_policy(session, member, data)


@router.post("/members/{member_id}/erase", response_model=ErasurePublic)
def erase_member(member_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger):
    """Erase a member who has left: personal details removed, their visits, rotas and time-bank
    history kept under a pseudonym (every balance unchanged). 409 with every reason while an
    obligation stands (still active, a legal hold, an open balance the policy forbids)."""
    return svc.erase_member(session, ledger, member, member_id)


@router.post("/clients/{client_id}/erase", response_model=ErasurePublic)
def erase_client(client_id: PathId, session: SessionDep, member: Coordinator, ledger: Ledger):
    """Erase a client whose care has ended: details, care plan and preferences removed, past
    visits and rotas kept under a pseudonym. 409 with every reason while an obligation stands."""
    return svc.erase_client(session, ledger, member, client_id)


@router.put("/members/{member_id}/legal-hold", response_model=LegalHoldPublic)
def hold_member(member_id: PathId, data: LegalHoldSet, session: SessionDep, member: Coordinator):
    """Place a legal hold (with its reason) on a member's record: it cannot be erased while it stands."""
    return svc.set_hold(session, member, "member", member_id, data.reason)


@router.delete("/members/{member_id}/legal-hold", response_model=LegalHoldPublic)
def release_member(member_id: PathId, session: SessionDep, member: Coordinator):
    """Lift the legal hold on a member's record."""
    return svc.set_hold(session, member, "member", member_id, None)


@router.put("/clients/{client_id}/legal-hold", response_model=LegalHoldPublic)
def hold_client(client_id: PathId, data: LegalHoldSet, session: SessionDep, member: Coordinator):
    """Place a legal hold (with its reason) on a client's record: it cannot be erased while it stands."""
    return svc.set_hold(session, member, "client", client_id, data.reason)


@router.delete("/clients/{client_id}/legal-hold", response_model=LegalHoldPublic)
def release_client(client_id: PathId, session: SessionDep, member: Coordinator):
    """Lift the legal hold on a client's record."""
    return svc.set_hold(session, member, "client", client_id, None)
