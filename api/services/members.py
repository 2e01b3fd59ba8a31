"""Co-ops, members, skills, weekly availability, leave and one-off changes."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound, Unauthorized
from api.input import control_character_error
from api.models import (
    Availability,
    AvailabilityCreate,
    Client,
    Coop,
    CoopCreate,
    CoopUpdate,
    Leave,
    LeaveCreate,
    Member,
    MemberCreate,
    MemberUpdate,
    PasswordLink,
    PasswordSet,
    Role,
    RoleChange,
    Skill,
    SkillCreate,
    role_of,
    saved_id,
)
from api.security import create_token, decode_token, hash_password, verify_password
from api.services import access_log as audit
from api.services.bank import open_member_account
from api.services.common import get_member, member_for_self_or_coordinator

UNSET_PREFIX = "!unset:"


# ----------------------------------------------------------------------------- auth & co-ops
def authenticate(session: Session, email: str, password: str) -> Member:
    for name, value in (("username", email), ("password", password)):
        reason = control_character_error(value)
        if reason:
            raise Invalid(f"{name}: {reason}")
    member = session.exec(select(Member).where(Member.email == email.strip().lower())).first()
    ok = verify_password(password, member.hashed_password if member else None)
    if member is None or not ok or not member.is_active:
        raise Unauthorized("wrong e-mail or password")
    return member


def create_coop(session: Session, data: CoopCreate) -> tuple[Coop, Member]:
    """A new co-op and its first coordinator, in one transaction."""
    email = data.coordinator.email.strip().lower()
    if session.exec(select(Member.id).where(Member.email == email)).first() is not None:
        raise Conflict(f"coordinator.email: '{email}' is already registered")
    coop = Coop(name=data.name)
    session.add(coop)
    session.flush()
    member = Member(coop_id=saved_id(coop), email=email, full_name=data.coordinator.full_name,
                    role=Role.coordinator, hashed_password=hash_password(data.coordinator.password))
    session.add(member)
    _commit(session, f"coordinator.email: '{email}' is already registered")
    audit.log_read(session, member, [audit.member_record(member.id)], "write")
    return coop, member


def read_me(session: Session, actor: Member) -> Member:
    """The caller's own personal details (logged as any read of them)."""
    audit.log_read(session, actor, [audit.member_record(actor.id)])
    return actor


def get_coop(session: Session, actor: Member) -> Coop:
    coop = session.get(Coop, actor.coop_id)
    if coop is None:
        raise NotFound("co-op not found")
    return coop


def update_coop(session: Session, actor: Member, data: CoopUpdate) -> Coop:
    coop = get_coop(session, actor)
    for k, v in data.model_dump(exclude_unset=True).items():
        if v is None:
            raise Invalid(f"{k}: may not be null")
        setattr(coop, k, v)
    session.add(coop)
    session.commit()
    return coop


def _commit(session: Session, conflict_message: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(conflict_message) from None


# ----------------------------------------------------------------------------- members
def list_members(session: Session, actor: Member, role: Role | None = None,
                 include_inactive: bool = False) -> list[Member]:
    q = select(Member).where(Member.coop_id == actor.coop_id)
    if role is not None:
        q = q.where(Member.role == role)
    if not include_inactive:
        q = q.where(Member.is_active == True)  # noqa: E712
    found = list(session.exec(q.order_by(col(Member.id))).all())
    audit.log_read(session, actor, [audit.member_record(m.id) for m in found], kind="member")
    return found


def create_member(session: Session, actor: Member, data: MemberCreate) -> Member:
    email = data.email.strip().lower()
    if data.client_id is not None:
        client = session.get(Client, data.client_id)
        if client is None or client.coop_id != actor.coop_id:
            raise Invalid(f"client_id: unknown client {data.client_id}")
        if data.role != Role.client:
            raise Invalid("client_id: only a member with role 'client' is linked to a client")
    if session.exec(select(Member.id).where(Member.email == email)).first() is not None:
        raise Conflict(f"email: '{email}' is already registered")
    fields = data.model_dump(exclude={"password", "email"}, mode="json")
    hashed = hash_password(data.password) if data.password is not None else unset_password()
    member = Member(**fields, email=email, coop_id=actor.coop_id, hashed_password=hashed)
    session.add(member)
    try:
        session.flush()
        open_member_account(session, member)   # the member and their account, or neither
        audit.log(session, actor, "write", [audit.member_record(member.id)])
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(f"email: '{email}' is already registered") from None
    session.refresh(member)
    return member


def change_role(session: Session, actor: Member, member_id: int, data: RoleChange) -> Member:
    """Give a member of the caller's co-op another role. Their time-bank account follows in the
    same transaction (opened, or given the new role's kind with its balance kept); tokens issued
    for the old role stop working (``api.deps``), so the member logs in again."""
    member = get_member(session, member_id, actor)
    new = data.role
    if member.id == actor.id:
        raise Invalid("member_id: a coordinator cannot change their own role")
    if new == role_of(member):
        return member
    if new != Role.staff and member.contracted_minutes is not None:
        raise Invalid("contracted_minutes: only staff have a contract; clear it first "
                      "(PATCH /members/{id} with contracted_minutes null)")
    if new != Role.client and member.client_id is not None:
        raise Invalid(f"client_id: the member is linked to client {member.client_id}; only a member "
                      "with role 'client' is linked to a client")
    member.role = new
    session.add(member)
    session.flush()
    open_member_account(session, member)
    audit.log(session, actor, "write", [audit.member_record(member.id)])
    session.commit()
    session.refresh(member)
    return member


def unset_password() -> str:
    """A stored 'hash' no password matches: the member logs in after accepting an invitation."""
    return UNSET_PREFIX + secrets.token_hex(16)


def _fingerprint(member: Member) -> str:
    """Changes whenever the password does, so a link works once (and only the newest one)."""
    return hashlib.sha256(f"{member.id}:{member.hashed_password}".encode()).hexdigest()[:24]


def password_link(session: Session, actor: Member, member_id: int, secret: str, hours: int,
                  now_utc: dt.datetime) -> PasswordLink:
    """A one-time link for a member of the caller's co-op to set their password: an invitation
    when they have none yet, else a reset. The current password keeps working until the link
    is used; using any link spends every other one (they all carry the old password's fingerprint)."""
    member = get_member(session, member_id, actor)
    if not member.is_active:
        raise Conflict(f"member {member_id} is not active; reactivate them first")
    purpose = "invite" if member.hashed_password.startswith(UNSET_PREFIX) else "reset"
    token = create_token(secret, saved_id(member), member.coop_id, [], hours * 60, purpose="password",
                         extra={"pwd": _fingerprint(member), "kind": purpose})
    return PasswordLink(member_id=saved_id(member), purpose=purpose, token=token,
                        expires_at=(now_utc + dt.timedelta(hours=hours)).replace(second=0, microsecond=0))


def set_password(session: Session, secret: str, data: PasswordSet) -> Member:
    """Set a password with a link from ``password_link``; the link is spent by its use."""
    claims = decode_token(secret, data.token, purpose="password")
    member = session.get(Member, int(claims["sub"])) if claims else None
    if claims is None or member is None or member.coop_id != claims.get("coop"):
        raise Unauthorized("token: this link is not valid or has expired; ask your coordinator for a new one")
    if not member.is_active or claims.get("pwd") != _fingerprint(member):
        raise Unauthorized("token: this link was already used or the password has changed since; "
                           "ask your coordinator for a new one")
    reason = control_character_error(data.password)
    if reason:
        raise Invalid(f"password: {reason}")
    member.hashed_password = hash_password(data.password)
    session.add(member)
    session.commit()
    return member


def read_member(session: Session, actor: Member, member_id: int) -> Member:
    member = member_for_self_or_coordinator(session, member_id, actor)
    audit.log_read(session, actor, [audit.member_record(member.id)])
    return member


def update_member(session: Session, actor: Member, member_id: int, data: MemberUpdate) -> Member:
    member = get_member(session, member_id, actor)
    changes = data.model_dump(exclude_unset=True)
    nullable = {"gender", "lat", "lon", "speed_kmh", "contracted_minutes"}
    for key, value in changes.items():
        if value is None and key not in nullable:
            raise Invalid(f"{key}: may not be null")
    if changes.get("contracted_minutes") is not None and role_of(member) != "staff":
        raise Invalid("contracted_minutes: only staff have a contract")
    if "password" in changes:
        member.hashed_password = hash_password(changes.pop("password"))
    for key, value in changes.items():
        setattr(member, key, value)
    if (member.lat is None) != (member.lon is None):
        session.rollback()
        raise Invalid("lat and lon: give both or neither")
    session.add(member)
    audit.log(session, actor, "write", [audit.member_record(member.id)])
    session.commit()
    session.refresh(member)
    return member


def deactivate_member(session: Session, actor: Member, member_id: int) -> Member:
    """Members are never deleted (rotas and the time bank refer to them): they are deactivated."""
    member = get_member(session, member_id, actor)
    if member.id == actor.id:
        # the request is well formed; it is the state (who is asking) that refuses it
        raise Conflict("a coordinator cannot deactivate themself: ask another coordinator")
    member.is_active = False
    session.add(member)
    audit.log(session, actor, "write", [audit.member_record(member.id)])
    session.commit()
    return member


# ----------------------------------------------------------------------------- skills
def _carer(session: Session, actor: Member, member_id: int, write: bool, what: str) -> Member:
    """The carer whose skills, availability or leave (``what``) are read or written; the access
    is logged (a write's entry commits with the write, or not at all)."""
    member = get_member(session, member_id, actor) if write else \
        member_for_self_or_coordinator(session, member_id, actor)
    if role_of(member) not in ("staff", "volunteer"):
        raise NotFound(f"member {member_id} is not a carer (staff or volunteer): no skills, "
                       "availability or leave")
    record = (f"member_{what}", member.id, None, member.id)
    if write:
        audit.log(session, actor, "write", [record])
    else:
        audit.log_read(session, actor, [record])
    return member


def list_skills(session: Session, actor: Member, member_id: int) -> list[Skill]:
    member = _carer(session, actor, member_id, write=False, what="skills")
    return list(session.exec(select(Skill).where(Skill.member_id == member.id).order_by(col(Skill.id))))


def add_skill(session: Session, actor: Member, member_id: int, data: SkillCreate) -> Skill:
    member = _carer(session, actor, member_id, write=True, what="skills")
    skill = Skill(**data.model_dump(), member_id=saved_id(member))
    session.add(skill)
    session.commit()
    session.refresh(skill)
    return skill


def remove_skill(session: Session, actor: Member, member_id: int, skill_id: int) -> None:
    member = _carer(session, actor, member_id, write=True, what="skills")
    skill = session.get(Skill, skill_id)
    if skill is None or skill.member_id != member.id:
        raise NotFound(f"skill {skill_id} not found")
    session.delete(skill)
    session.commit()


# ----------------------------------------------------------------------------- availability
def list_availability(session: Session, actor: Member, member_id: int) -> list[Availability]:
    member = _carer(session, actor, member_id, write=False, what="availability")
    return list(session.exec(select(Availability).where(Availability.member_id == member.id)
                             .order_by(col(Availability.weekday), col(Availability.start))))


def add_availability(session: Session, actor: Member, member_id: int,
                     data: AvailabilityCreate) -> Availability:
    member = _carer(session, actor, member_id, write=True, what="availability")
    item = Availability(**data.model_dump(), member_id=saved_id(member))
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


def remove_availability(session: Session, actor: Member, member_id: int, item_id: int) -> None:
    member = _carer(session, actor, member_id, write=True, what="availability")
    item = session.get(Availability, item_id)
    if item is None or item.member_id != member.id:
        raise NotFound(f"availability {item_id} not found")
    session.delete(item)
    session.commit()


def list_leave(session: Session, actor: Member, member_id: int) -> list[Leave]:
    member = _carer(session, actor, member_id, write=False, what="leave")
    return list(session.exec(select(Leave).where(Leave.member_id == member.id).order_by(col(Leave.start))))


def add_leave(session: Session, actor: Member, member_id: int, data: LeaveCreate) -> Leave:
    member = _carer(session, actor, member_id, write=True, what="leave")
    item = Leave(**data.model_dump(), member_id=saved_id(member))
    session.add(item)
    session.commit()
    session.refresh(item)
    return item


def remove_leave(session: Session, actor: Member, member_id: int, item_id: int) -> None:
    member = _carer(session, actor, member_id, write=True, what="leave")
    item = session.get(Leave, item_id)
    if item is None or item.member_id != member.id:
        raise NotFound(f"leave {item_id} not found")
    session.delete(item)
    session.commit()
