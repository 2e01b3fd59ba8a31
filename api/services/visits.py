"""Visit lifecycle (planned → completed / missed / cancelled), a member's own week, the
iCalendar feed, and the auto-confirmation of visits finished more than a day ago."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound
from api.models import (
    CheckOut,
    Client,
    CoverOffer,
    Member,
    MyRotaPublic,
    MyVisitPublic,
    Rota,
    RotaStatus,
    Visit,
    VisitCarer,
    VisitClientPublic,
    VisitDetail,
    VisitPartnerPublic,
    VisitPublic,
    VisitStatus,
    WeekVisit,
    role_of,
    saved_id,
)
from api.services import access_log as audit
from api.services import bank
from api.services.common import client_ids_visible_to, get_in_coop
from api.services.problem_builder import check_week_start
from api.services.rotas import visit_public, week_of
from timebank import Ledger

log = logging.getLogger("carerota.visits")


def _visit_record(v: Visit) -> audit.Record:
    """A visit in the access log: its lasting id (the one the API shows) and its client."""
    return ("visit", v.week_visit_id, v.client_id, None)


def _end(v: Visit) -> dt.datetime:
    assert v.start is not None
    return v.start + dt.timedelta(minutes=v.duration_minutes)


def _can_read(session: Session, actor: Member, v: Visit) -> bool:
    role = role_of(actor)
    if role == "coordinator":
        return True
    if role in ("staff", "volunteer"):
        return actor.id in v.carer_ids
    visible = client_ids_visible_to(session, actor)
    rota = session.get(Rota, v.rota_id)
    return visible is not None and v.client_id in visible and rota is not None \
        and rota.status == RotaStatus.published


def _current_row(session: Session, actor: Member, visit_id: int) -> tuple[Visit, Rota]:
    """The visit (by its lasting id) as the week's published rota has it, else as its latest
    version has it."""
    wv = get_in_coop(session, WeekVisit, visit_id, actor, "visit")
    rows = session.exec(select(Visit, Rota).join(Rota, col(Rota.id) == col(Visit.rota_id))
                        .where(Visit.week_visit_id == wv.id).order_by(col(Rota.version).desc())).all()
    if not rows:
        raise NotFound(f"visit {visit_id} not found")
    for v, rota in rows:
        if rota.status == RotaStatus.published:
            return v, rota
    return rows[0][0], rows[0][1]


def get_visit(session: Session, actor: Member, visit_id: int) -> VisitDetail:
    """The visit; a carer on it (and a coordinator) also gets the client's name, address and
    access notes and the other carers of a double-up."""
    v, _rota = _current_row(session, actor, visit_id)
    if not _can_read(session, actor, v):
        raise NotFound(f"visit {visit_id} not found")
    audit.log_read(session, actor, [_visit_record(v)])
    role = role_of(actor)
    if role == "coordinator" or (role in ("staff", "volunteer") and actor.id in v.carer_ids):
        return VisitDetail(**_my_visit(session, v, actor, {}).model_dump())
    return VisitDetail(**visit_public(v).model_dump())


def _live_visit(session: Session, actor: Member, visit_id: int) -> Visit:
    v, rota = _current_row(session, actor, visit_id)
    role = role_of(actor)
    if role != "coordinator" and not (role in ("staff", "volunteer") and actor.id in v.carer_ids):
        raise NotFound(f"visit {visit_id} not found")
    if rota.status != RotaStatus.published:
        state = rota.status
        raise Conflict(f"visit {visit_id} belongs to a {state} rota; only visits of the published rota "
                       "can be checked out, missed or cancelled")
    return v


def complete_visit(session: Session, ledger: Ledger, actor: Member, visit_id: int, data: CheckOut,
                   now: dt.datetime) -> VisitPublic:
    """Check out a visit: completed with its actual times, volunteers credited (once)."""
    v = _live_visit(session, actor, visit_id)
    if v.status == VisitStatus.completed:
        given = (data.actual_start, data.actual_end)
        if given[0] is not None and given != (v.actual_start, v.actual_end):
            raise Conflict(f"visit {visit_id} was already checked out as "
                           f"{_span(v.actual_start, v.actual_end)}; a second check-out cannot change "
                           f"it to {_span(*given)} (ask a coordinator to correct the record)")
        if not v.credited:
            _credit(session, ledger, v, str(actor.id))
        return visit_public(v)   # a retried check-out changes nothing
    if v.status != VisitStatus.planned or v.start is None:
        raise Conflict(f"visit {visit_id} is {v.status}; only a planned visit can be completed")
    start = data.actual_start or v.start
    end = data.actual_end or _end(v)
    if start.tzinfo is not None or end.tzinfo is not None:
        raise Invalid("actual_start/actual_end: local times without a UTC offset")
    if start > now:
        raise Conflict(f"visit {visit_id} has not started yet (it starts {start:%Y-%m-%d %H:%M})")
    if end > now + dt.timedelta(minutes=5):
        raise Invalid("actual_end: is in the future")
    if abs((start - v.start).total_seconds()) > 24 * 3600:
        raise Invalid("actual_start: more than a day away from the planned start")
    v.status, v.actual_start, v.actual_end, v.completed_by = VisitStatus.completed, start, end, actor.id
    session.add(v)
    audit.log(session, actor, "write", [_visit_record(v)])
    session.commit()
    _credit(session, ledger, v, str(actor.id))
    return visit_public(v)


def _span(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start is None or end is None:
        return "its planned times"
    return f"{start:%a %d %b %H:%M}-{end:%H:%M}" if start.date() == end.date() else \
        f"{start:%a %d %b %H:%M} - {end:%a %d %b %H:%M}"


def _credit(session: Session, ledger: Ledger, v: Visit, recorded_by: str) -> None:
    bank.credit_visit(ledger, session, v, recorded_by)
    v.credited = True
    session.add(v)
    session.commit()


def mark_visit(session: Session, actor: Member, visit_id: int, status: VisitStatus,
               now: dt.datetime | None = None) -> VisitPublic:
    """Mark a visit missed (only once it should have started) or cancelled (any time before);
    a coordinator's (the route's scope)."""
    v = _live_visit(session, actor, visit_id)
    allowed = {VisitStatus.missed: (VisitStatus.planned,),
               VisitStatus.cancelled: (VisitStatus.planned, VisitStatus.unassigned)}[status]
    if v.status == status:
        return visit_public(v)
    if v.status not in allowed:
        raise Conflict(f"visit {visit_id} is {v.status}; it cannot become {status}")
    if status == VisitStatus.missed and now is not None and v.start is not None and v.start > now:
        raise Conflict(f"visit {visit_id} has not started yet (it starts {v.start:%Y-%m-%d %H:%M}); "
                       "a visit can be marked missed only once it was due; cancel it instead")
    v.status = status
    session.add(v)
    audit.log(session, actor, "write", [_visit_record(v)])
    session.commit()
    return visit_public(v)


def _published_visits_for(session: Session, member: Member, start: dt.datetime,
                          end: dt.datetime) -> list[Visit]:
    """The member's visits in published rotas: their own co-op's, and another co-op's on the days
    they were lent to it (shared cover: a carer's week is one week whatever the co-op)."""
    lent = {(o.borrowing_coop_id, o.day) for o in session.exec(
        select(CoverOffer).where(CoverOffer.member_id == member.id,
                                 col(CoverOffer.day) >= start.date(), col(CoverOffer.day) <= end.date()))}
    coops = {member.coop_id} | {c for c, _day in lent}
    q = (select(Visit, Rota.coop_id).join(VisitCarer, col(VisitCarer.visit_id) == col(Visit.id))
         .join(Rota, col(Rota.id) == col(Visit.rota_id))
         .where(VisitCarer.member_id == member.id, Rota.status == RotaStatus.published,
                col(Rota.coop_id).in_(coops), col(Visit.start) >= start, col(Visit.start) < end)
         .order_by(col(Visit.start)))
    return [v for v, coop in session.exec(q).all()
            if coop == member.coop_id or (v.start is not None and (coop, v.start.date()) in lent)]


def _my_visit(session: Session, v: Visit, me: Member, clients: dict[int, Client | None]) -> MyVisitPublic:
    client = clients.setdefault(v.client_id, session.get(Client, v.client_id))
    partners = []
    for mid in v.carer_ids:
        other = session.get(Member, mid) if mid != me.id else None
        if other is not None and other.coop_id == me.coop_id:
            partners.append(VisitPartnerPublic(member_id=saved_id(other), full_name=other.full_name))
    info = VisitClientPublic(id=v.client_id, name=client.name if client else "",
                             address=client.address if client else None,
                             access_notes=client.access_notes if client else None)
    return MyVisitPublic(**visit_public(v).model_dump(), client=info, partners=partners)


def _first_week_with_visits(session: Session, member: Member, from_day: dt.datetime) -> dt.date | None:
    q = (select(func.min(Rota.week_start)).select_from(Visit)
         .join(VisitCarer, col(VisitCarer.visit_id) == col(Visit.id))
         .join(Rota, col(Rota.id) == col(Visit.rota_id))
         .where(VisitCarer.member_id == member.id, Rota.status == RotaStatus.published,
                Rota.coop_id == member.coop_id, col(Visit.start) >= from_day))
    return session.exec(q).one()


def my_rota(session: Session, actor: Member, week_start: dt.date | None, today: dt.date) -> MyRotaPublic:
    """The caller's own visits in a week's published rota, each with what the carer needs:
    the client's name, address and access notes, and the other carer(s) of a double-up.

    Without ``week_start``: this week when it has the caller's visits, else the first later
    published week that has some (after the weekly solve publishes next week, a carer sees it);
    ``shown`` and ``note`` say which."""
    this_week = week_of(today)
    if week_start is not None:
        check_week_start(week_start)
        shown, note = "requested", f"the week of Monday {week_start:%d %b %Y}, as asked"
    else:
        found = _first_week_with_visits(session, actor, dt.datetime.combine(this_week, dt.time()))
        if found is None:
            week_start, shown = this_week, "this week"
            note = "this week; you have no visits in a published rota from this week on"
        elif found == this_week:
            week_start, shown, note = found, "this week", "this week"
        else:
            week_start, shown = found, "next published week with visits"
            note = (f"the week of Monday {found:%d %b %Y}: the first published week with your visits "
                    "(none this week)")
    start = dt.datetime.combine(week_start, dt.time())
    clients: dict[int, Client | None] = {}
    rows = _published_visits_for(session, actor, start, start + dt.timedelta(days=7))
    visits = [_my_visit(session, v, actor, clients) for v in rows]
    audit.log_read(session, actor, [_visit_record(v) for v in rows], kind="visit")
    return MyRotaPublic(week_start=week_start, shown=shown, note=note, visits=visits)


def client_visits(session: Session, actor: Member, client_id: int, week_start: dt.date) -> list[VisitPublic]:
    """A client's visits in the published rota: for coordinators, the client and shared family."""
    check_week_start(week_start)
    client = get_in_coop(session, Client, client_id, actor, "client")
    visible = client_ids_visible_to(session, actor)
    if visible is not None and client.id not in visible:
        raise NotFound(f"client {client_id} not found")
    q = (select(Visit).join(Rota, col(Rota.id) == col(Visit.rota_id))
         .where(Visit.client_id == client.id, Rota.status == RotaStatus.published,
                Rota.week_start == week_start).order_by(col(Visit.earliest_start)))
    rows = list(session.exec(q).all())
    audit.log_read(session, actor, [_visit_record(v) for v in rows], kind="visit")
    return [visit_public(v) for v in rows]


def calendar(session: Session, member: Member, now: dt.datetime, tz: str) -> bytes:
    """The carer's published visits from two weeks back to ten weeks ahead, as iCalendar.

    Times are local (``TZID=<the co-op's zone>``), so the feed carries the zone's VTIMEZONE
    (RFC 5545 3.6.5) with every offset change over the feed's span (BST/GMT for Europe/London)."""
    from zoneinfo import ZoneInfo

    from icalendar import Calendar, Event, Timezone

    zone = ZoneInfo(tz)
    cal = Calendar()
    cal.add("prodid", "-//carerota//rota feed//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", f"Care rota: {member.full_name}")
    cal.add("x-wr-timezone", tz)
    first, last = now - dt.timedelta(days=14), now + dt.timedelta(days=70)
    cal.add_component(Timezone.from_tzid(tz, first_date=first.date() - dt.timedelta(days=1),
                                         last_date=last.date() + dt.timedelta(days=2)))
    clients: dict[int, Client | None] = {}
    shown = [v for v in _published_visits_for(session, member, first, last)
             if v.status in (VisitStatus.planned, VisitStatus.completed)]
    audit.log_read(session, member, [_visit_record(v) for v in shown], kind="visit")
    for v in shown:
        client = clients.setdefault(v.client_id, session.get(Client, v.client_id))
        ev = Event()
        ev.add("uid", f"visit-{v.coop_id}-{v.key}@carerota")
        ev.add("summary", f"{v.label or 'Visit'}: {client.name if client else v.client_id}")
        if v.start is None:
            continue
        ev.add("dtstart", v.start.replace(tzinfo=zone))
        ev.add("dtend", _end(v).replace(tzinfo=zone))
        ev.add("dtstamp", dt.datetime.now(dt.UTC))
        if client is not None and client.address:
            ev.add("location", client.address)
        details = []
        if client is not None and client.access_notes:
            details.append(f"Access: {client.access_notes}")
        partners = [p.full_name for mid in v.carer_ids if mid != member.id
                    and (p := session.get(Member, mid)) is not None]
        if partners:
            details.append("With: " + ", ".join(partners))
        if details:
            ev.add("description", "\n".join(details))
        ev.add("status", "CONFIRMED")
        cal.add_component(ev)
    return cal.to_ical()


def auto_confirm(engine: Engine, ledger: Ledger, now: dt.datetime, after_hours: int) -> int:
    """Confirm planned visits of published rotas that ended more than ``after_hours`` ago and
    credit their volunteers; re-credits completed visits whose credit did not go through.
    Idempotent: the status change and the ledger's own (visit, volunteer) key make each visit
    credited once however often this runs."""
    cutoff = now - dt.timedelta(hours=after_hours)
    done = 0
    with Session(engine, expire_on_commit=False) as session:
        q = (select(Visit.id).join(Rota, col(Rota.id) == col(Visit.rota_id))
             .where(Rota.status == RotaStatus.published, col(Visit.start).is_not(None),
                    col(Visit.status).in_([VisitStatus.planned, VisitStatus.completed]),
                    Visit.credited == False, col(Visit.start) < cutoff)  # noqa: E712
             .order_by(col(Visit.id)))
        ids = list(session.exec(q).all())
    for vid in ids:
        with Session(engine, expire_on_commit=False) as session:
            v = session.get(Visit, vid)
            if v is None or v.credited or _end(v) > cutoff:
                continue
            if v.status == VisitStatus.planned:
                v.status, v.actual_start, v.actual_end = VisitStatus.completed, v.start, _end(v)
                session.add(v)
                session.commit()
            try:
                _credit(session, ledger, v, "auto-confirm")
                done += 1
            except Exception:
                log.exception("auto-confirm could not credit visit %s", vid)
    return done
