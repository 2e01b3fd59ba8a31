"""Clients, their preferences and exclusions, family shares and care plans (visit templates)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound
from api.models import (
    CarerChoice,
    Client,
    ClientCarer,
    ClientCreate,
    ClientPreferences,
    ClientPublic,
    ClientShare,
    ClientUpdate,
    Member,
    ShareCreate,
    TemplateDependency,
    TemplateDependencyCreate,
    VisitTemplate,
    VisitTemplateCreate,
    VisitTemplateUpdate,
    _check_template,
    role_of,
    saved_id,
)
from api.services.access_log import Record, client_record, log, log_read
from api.services.common import client_ids_visible_to, get_in_coop


def _public(session: Session, client: Client) -> ClientPublic:
    rows = session.exec(select(ClientCarer).where(ClientCarer.client_id == client.id)).all()
    return ClientPublic(**client.model_dump(),
                        preferred_carers=sorted(r.member_id for r in rows if r.kind is CarerChoice.preferred),
                        excluded_carers=sorted(r.member_id for r in rows if r.kind is CarerChoice.excluded))


def _readable_client(session: Session, actor: Member, client_id: int) -> Client:
    client = get_in_coop(session, Client, client_id, actor, "client")
    visible = client_ids_visible_to(session, actor)
    if visible is not None and client.id not in visible:
        raise NotFound(f"client {client_id} not found")
    return client


def list_clients(session: Session, actor: Member) -> list[ClientPublic]:
    visible = client_ids_visible_to(session, actor)
    q = select(Client).where(Client.coop_id == actor.coop_id).order_by(col(Client.id))
    found = [_public(session, c) for c in session.exec(q).all() if visible is None or c.id in visible]
    log_read(session, actor, [client_record("client", c.id, c.id) for c in found], kind="client")
    return found


def create_client(session: Session, actor: Member, data: ClientCreate) -> ClientPublic:
    client = Client(**data.model_dump(), coop_id=actor.coop_id)
    session.add(client)
    session.flush()
    log(session, actor, "write", [client_record("client", client.id, client.id)])
    session.commit()
    session.refresh(client)
    return _public(session, client)


def read_client(session: Session, actor: Member, client_id: int) -> ClientPublic:
    client = _readable_client(session, actor, client_id)
    log_read(session, actor, [client_record("client", client.id, client.id)])
    return _public(session, client)


def update_client(session: Session, actor: Member, client_id: int, data: ClientUpdate) -> ClientPublic:
    client = get_in_coop(session, Client, client_id, actor, "client")
    for key, value in data.model_dump(exclude_unset=True).items():
        if value is None and key in ("name", "lat", "lon", "is_active"):
            raise Invalid(f"{key}: may not be null")
        setattr(client, key, value)
    session.add(client)
    log(session, actor, "write", [client_record("client", client.id, client.id)])
    session.commit()
    session.refresh(client)
    return _public(session, client)


def set_preferences(session: Session, actor: Member, client_id: int,
                    data: ClientPreferences) -> ClientPublic:
    client = get_in_coop(session, Client, client_id, actor, "client")
    both = set(data.preferred_carers) & set(data.excluded_carers)
    if both:
        raise Invalid(f"preferred_carers: carer {min(both)} is both preferred and excluded")
    for key, ids in (("preferred_carers", data.preferred_carers),
                     ("excluded_carers", data.excluded_carers)):
        for i, mid in enumerate(ids):
            m = session.get(Member, mid)
            if m is None or m.coop_id != actor.coop_id or role_of(m) not in ("staff", "volunteer"):
                raise Invalid(f"{key}[{i}]: unknown carer {mid}")
    for row in session.exec(select(ClientCarer).where(ClientCarer.client_id == client.id)).all():
        session.delete(row)
    session.flush()
    for kind, ids in ((CarerChoice.preferred, data.preferred_carers),
                      (CarerChoice.excluded, data.excluded_carers)):
        for mid in dict.fromkeys(ids):
            session.add(ClientCarer(client_id=saved_id(client), member_id=mid, kind=kind))
    log(session, actor, "write", [client_record("preferences", client.id, client.id)])
    session.commit()
    return _public(session, client)


# ----------------------------------------------------------------------------- shares
def list_shares(session: Session, actor: Member, client_id: int) -> list[ClientShare]:
    client = _share_owner(session, actor, client_id)
    log_read(session, actor, [client_record("share", None, client.id)])
    return list(session.exec(select(ClientShare).where(ClientShare.client_id == client.id)
                             .order_by(col(ClientShare.id))).all())


def _share_owner(session: Session, actor: Member, client_id: int) -> Client:
    """Shares are managed by a coordinator or by the client themself."""
    client = get_in_coop(session, Client, client_id, actor, "client")
    role = role_of(actor)
    if role == "coordinator" or (role == "client" and actor.client_id == client.id):
        return client
    raise NotFound(f"client {client_id} not found")


def add_share(session: Session, actor: Member, client_id: int, data: ShareCreate) -> ClientShare:
    client = _share_owner(session, actor, client_id)
    family = session.get(Member, data.member_id)
    if family is None or family.coop_id != actor.coop_id:
        raise Invalid(f"member_id: unknown member {data.member_id}")
    if role_of(family) != "family":
        raise Invalid(f"member_id: member {data.member_id} is not a family member")
    existing = session.exec(select(ClientShare).where(ClientShare.client_id == client.id,
                                                      ClientShare.member_id == family.id)).first()
    if existing is not None:
        raise Conflict(f"member_id: already shared with member {family.id}")
    share = ClientShare(client_id=saved_id(client), member_id=saved_id(family))
    session.add(share)
    log(session, actor, "write", [client_record("share", None, client.id),
                                  ("share", None, None, saved_id(family))])
    session.commit()
    session.refresh(share)
    return share


def remove_share(session: Session, actor: Member, client_id: int, share_id: int) -> None:
    client = _share_owner(session, actor, client_id)
    share = session.get(ClientShare, share_id)
    if share is None or share.client_id != client.id:
        raise NotFound(f"share {share_id} not found")
    log(session, actor, "write", [client_record("share", share_id, client.id),
                                  ("share", share_id, None, share.member_id)])
    session.delete(share)
    session.commit()


# ----------------------------------------------------------------------------- care plans
def list_templates(session: Session, actor: Member, client_id: int) -> list[VisitTemplate]:
    """A client's care plan: for coordinators, the client and shared family (the route's scope),
    of a client they may read."""
    client = _readable_client(session, actor, client_id)
    plan = list(session.exec(select(VisitTemplate).where(VisitTemplate.client_id == client.id)
                             .order_by(col(VisitTemplate.id))).all())
    log_read(session, actor, [client_record("care_plan", client.id, client.id)])
    return plan


def create_template(session: Session, actor: Member, client_id: int,
                    data: VisitTemplateCreate) -> VisitTemplate:
    client = get_in_coop(session, Client, client_id, actor, "client")
    fields = data.model_dump(mode="json")
    tpl = VisitTemplate(**fields, client_id=saved_id(client), coop_id=actor.coop_id)
    session.add(tpl)
    session.flush()
    log(session, actor, "write", [client_record("care_plan_visit", tpl.id, client.id)])
    session.commit()
    session.refresh(tpl)
    return tpl


def update_template(session: Session, actor: Member, template_id: int,
                    data: VisitTemplateUpdate) -> VisitTemplate:
    tpl = get_in_coop(session, VisitTemplate, template_id, actor, "care plan visit")
    changes = data.model_dump(exclude_unset=True, mode="json")
    for key, value in changes.items():
        if value is None:
            raise Invalid(f"{key}: may not be null")
    merged = {**tpl.model_dump(), **changes}
    try:
        _check_template(merged["days"], merged["earliest_start"], merged["latest_start"], None)
    except ValueError as exc:
        raise Invalid(str(exc)) from None
    for key, value in changes.items():
        setattr(tpl, key, value)
    session.add(tpl)
    log(session, actor, "write", [client_record("care_plan_visit", tpl.id, tpl.client_id)])
    session.commit()
    session.refresh(tpl)
    return tpl


def deactivate_template(session: Session, actor: Member, template_id: int) -> VisitTemplate:
    tpl = get_in_coop(session, VisitTemplate, template_id, actor, "care plan visit")
    tpl.is_active = False
    session.add(tpl)
    log(session, actor, "write", [client_record("care_plan_visit", tpl.id, tpl.client_id)])
    session.commit()
    return tpl


def _dependency_record(session: Session, dep: TemplateDependency) -> Record:
    first = session.get(VisitTemplate, dep.first_id)
    return client_record("care_plan_dependency", dep.id, first.client_id if first is not None else None)


def list_dependencies(session: Session, actor: Member) -> list[TemplateDependency]:
    deps = list(session.exec(select(TemplateDependency)
                             .where(TemplateDependency.coop_id == actor.coop_id)
                             .order_by(col(TemplateDependency.id))).all())
    log_read(session, actor, [_dependency_record(session, d) for d in deps], kind="care_plan_dependency")
    return deps


def create_dependency(session: Session, actor: Member,
                      data: TemplateDependencyCreate) -> TemplateDependency:
    first = session.get(VisitTemplate, data.first_id)
    then = session.get(VisitTemplate, data.then_id)
    if first is None or first.coop_id != actor.coop_id:
        raise Invalid(f"first_id: unknown care plan visit {data.first_id}")
    if then is None or then.coop_id != actor.coop_id:
        raise Invalid(f"then_id: unknown care plan visit {data.then_id}")
    if first.client_id != then.client_id:
        raise Invalid("then_id: both visits must belong to the same client")
    if not set(first.days) & set(then.days):
        raise Invalid("then_id: the two visits share no weekday")
    dep = TemplateDependency(**data.model_dump(), coop_id=actor.coop_id)
    session.add(dep)
    log(session, actor, "write", [client_record("care_plan_dependency", None, first.client_id)])
    session.commit()
    session.refresh(dep)
    return dep


def delete_dependency(session: Session, actor: Member, dep_id: int) -> None:
    dep = get_in_coop(session, TemplateDependency, dep_id, actor, "dependency")
    log(session, actor, "write", [_dependency_record(session, dep)])
    session.delete(dep)
    session.commit()
