"""Lookups that enforce the co-op boundary: another co-op's id looks exactly like an unknown one."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import Session, SQLModel

from api.errors import NotFound
from api.models import Client, ClientShare, Member, role_of

T = TypeVar("T", bound=SQLModel)


def get_in_coop(session: Session, model: type[T], obj_id: int, actor: Member, what: str) -> T:
    obj = session.get(model, obj_id)
    if obj is None or getattr(obj, "coop_id", None) != actor.coop_id:
        raise NotFound(f"{what} {obj_id} not found")
    return obj


def get_member(session: Session, member_id: int, actor: Member) -> Member:
    return get_in_coop(session, Member, member_id, actor, "member")


def member_for_self_or_coordinator(session: Session, member_id: int, actor: Member) -> Member:
    """The member, when the actor is that member or a coordinator of the same co-op."""
    member = get_member(session, member_id, actor)
    if member.id != actor.id and role_of(actor) != "coordinator":
        raise NotFound(f"member {member_id} not found")
    return member


def client_ids_visible_to(session: Session, actor: Member) -> set[int] | None:
    """Clients whose visits the actor may read: None means all of the co-op's."""
    role = role_of(actor)
    if role == "coordinator":
        return None
    if role == "client":
        return {actor.client_id} if actor.client_id is not None else set()
    if role == "family":
        from sqlmodel import select

        rows = session.exec(select(ClientShare.client_id).where(ClientShare.member_id == actor.id))
        ids = set(rows.all())
        # a share of a client in another co-op (should never exist) is ignored
        return {i for i in ids if (c := session.get(Client, i)) is not None
                and c.coop_id == actor.coop_id}
    return set()
