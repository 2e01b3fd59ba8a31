"""The access log: one place that records who read or wrote care data or personal details.

Services that touch a client's record (details, preferences, care plan, visits) or a member's
personal details call ``log`` (a write: the entry joins the service's own transaction and commits
or rolls back with it) or ``log_read`` (a read: the entry is committed at once). Why is the
endpoint and method of the request, put on the session by ``api.deps.get_session``; a session
without one (the scheduler, the commands) logs nothing, since the log is of access through the
API. The table is append-only in the database itself (revision 0008).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from api.models import (
    AccessLogEntry,
    AccessLogPage,
    AccessLogPublic,
    AccessLogSubject,
    AccessSubjectPublic,
    Member,
    role_of,
    saved_id,
)
from api.services.common import client_ids_visible_to, get_in_coop

ENDPOINT_KEY = "carerota.endpoint"
ENTRY_KEY = "carerota.access_entry"
Action = Literal["read", "write"]
#: (record_kind, record_id, client_id, subject_member_id)
Record = tuple[str, int | None, int | None, int | None]


def endpoint_of(session: Session) -> str | None:
    return session.info.get(ENDPOINT_KEY)


def _live(entry: AccessLogEntry | None) -> bool:
    """The request's entry is still in the database (a rolled-back write takes it away)."""
    if entry is None:
        return False
    state = sa.inspect(entry)
    return bool(state.persistent or state.pending)


def log(session: Session, actor: Member, action: Action, records: Iterable[Record],
        kind: str | None = None) -> int:
    """Log the request's access to ``records`` (committed by the caller); returns how many.

    A request has exactly one entry: the first call makes it (its columns name the record when
    there is one, the kind when there are several), and every record the request touches is one
    ``accesslogsubject`` row of it, so "who read this client" finds list reads and rotas too.
    ``kind`` names the entry's kind of record when ``records`` may be empty (a list read)."""
    endpoint = endpoint_of(session)
    if endpoint is None:
        return 0
    records = list(records)
    entry = session.info.get(ENTRY_KEY)
    if not _live(entry):
        first, record_id, client_id, member_id = (records[0] if len(records) == 1 else
                                                  (records[0][0] if records else "none", None, None, None))
        entry = AccessLogEntry(coop_id=actor.coop_id, actor_id=saved_id(actor), actor_role=role_of(actor),
                               action=action, record_kind=kind or first, record_id=record_id,
                               client_id=client_id, subject_member_id=member_id, endpoint=endpoint)
        session.add(entry)
        session.info[ENTRY_KEY] = entry
    assert entry is not None
    # through the relationship, so nothing is flushed here: a write's own errors surface at its
    # commit, where the service handles them
    subjects: sa.orm.WriteOnlyCollection[AccessLogSubject] = entry.subject_rows  # type: ignore[attr-defined]
    subjects.add_all(AccessLogSubject(coop_id=actor.coop_id, action=action, record_kind=what,
                                     record_id=record_id, client_id=client_id, subject_member_id=member_id)
                    for what, record_id, client_id, member_id in records)
    session.add(entry)
    return max(len(records), 1)


def log_read(session: Session, actor: Member, records: Iterable[Record], action: Action = "read",
             kind: str | None = None) -> None:
    """Log reads and commit them now (a read has no transaction of its own to join; a write
    that has already committed passes ``action="write"``)."""
    if log(session, actor, action, records, kind):
        session.commit()


def client_record(kind: str, record_id: int | None, client_id: int | None) -> Record:
    return (kind, record_id, client_id, None)


def member_record(member_id: int | None) -> Record:
    return ("member", member_id, None, member_id)


# ----------------------------------------------------------------------------- reading the log
MAX_PAGE = 500


#: which records a reader may see of an entry: (client ids, member ids); None: all
Visible = tuple[set[int], set[int]] | None


def _about(clients: set[int], members: set[int]) -> Any:
    """Entries about any of these clients or members: by their own columns (entries before
    revision 0009p) or by one of their records."""
    conds: list = []
    sub: list = []
    if clients:
        conds.append(col(AccessLogEntry.client_id).in_(sorted(clients)))
        sub.append(col(AccessLogSubject.client_id).in_(sorted(clients)))
    if members:
        conds.append(col(AccessLogEntry.subject_member_id).in_(sorted(members)))
        sub.append(col(AccessLogSubject.subject_member_id).in_(sorted(members)))
    if not conds:
        return sa.false()
    conds.append(col(AccessLogEntry.id).in_(select(AccessLogSubject.entry_id).where(or_(*sub))))
    return or_(*conds)


def _public(entries: list[AccessLogEntry], subjects: dict[int, list[AccessLogSubject]],
            visible: Visible) -> list[AccessLogPublic]:
    out = []
    for e in entries:
        subs = subjects.get(saved_id(e), [])
        if visible is not None:
            clients, members = visible
            subs = [s for s in subs if s.client_id in clients or s.subject_member_id in members]
        public = AccessLogPublic.model_validate(e, from_attributes=True)
        public.subjects = [AccessSubjectPublic.model_validate(s, from_attributes=True) for s in subs]
        if visible is not None and subs:   # the entry as far as it is about the reader's records
            first = subs[0]
            public.record_kind, public.record_id = first.record_kind, first.record_id
            public.client_id, public.subject_member_id = first.client_id, first.subject_member_id
        elif visible is not None and not (e.client_id in visible[0] or e.subject_member_id in visible[1]):
            public.client_id = public.subject_member_id = public.record_id = None
        out.append(public)
    return out


def _subjects_of(session: Session, entries: list[AccessLogEntry]) -> dict[int, list[AccessLogSubject]]:
    ids = [saved_id(e) for e in entries]
    found: dict[int, list[AccessLogSubject]] = {}
    for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
        for s in session.exec(select(AccessLogSubject).where(col(AccessLogSubject.entry_id).in_(chunk))
                              .order_by(col(AccessLogSubject.id))).all():
            found.setdefault(s.entry_id or 0, []).append(s)
    return found


def _page(session: Session, where: list, before: int | None, limit: int, visible: Visible) -> AccessLogPage:
    q = select(AccessLogEntry).where(*where)
    if before is not None:
        q = q.where(col(AccessLogEntry.id) < before)
    rows = list(session.exec(q.order_by(col(AccessLogEntry.id).desc()).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AccessLogPage(entries=_public(rows, _subjects_of(session, rows), visible),
                         next_cursor=saved_id(rows[-1]) if more and rows else None)


def coop_log(session: Session, actor: Member, client_id: int | None, member_id: int | None,
             actor_id: int | None, before: int | None, limit: int) -> AccessLogPage:
    """The co-op's log, newest first (a coordinator's: the route's scope), optionally about one
    client, about one member, or by one member. The read is logged before the page is taken, so
    it is the page's first entry when it matches the filters."""
    if client_id is not None:
        from api.models import Client

        get_in_coop(session, Client, client_id, actor, "client")
    if member_id is not None:
        get_in_coop(session, Member, member_id, actor, "member")
    log_read(session, actor, [("access_log", None, client_id, member_id)])
    where: list = [AccessLogEntry.coop_id == actor.coop_id]
    clients = {client_id} if client_id is not None else set()
    members = {member_id} if member_id is not None else set()
    if clients:
        where.append(_about(clients, set()))
    if members:
        where.append(_about(set(), members))
    if actor_id is not None:
        where.append(AccessLogEntry.actor_id == actor_id)
    visible: Visible = (clients, members) if clients or members else None
    return _page(session, where, before, limit, visible)


def _mine(session: Session, actor: Member) -> tuple[set[int], set[int]]:
    """The caller's own records: their member record and, for a client, their client record;
    for a family member, the records of the clients who shared theirs."""
    clients = client_ids_visible_to(session, actor) or set()   # None is a coordinator: not "own"
    return set(clients), {saved_id(actor)}


def about_me_filter(session: Session, actor: Member) -> list:
    """Entries about the caller's own records (see ``_mine``)."""
    clients, members = _mine(session, actor)
    return [AccessLogEntry.coop_id == actor.coop_id, _about(clients, members)]


def my_log(session: Session, actor: Member, before: int | None, limit: int) -> AccessLogPage:
    """The log of the caller's own record (and a shared client's, for family), newest first."""
    log_read(session, actor, [("access_log", None, actor.client_id if role_of(actor) == "client" else None,
                               saved_id(actor))])
    return _page(session, about_me_filter(session, actor), before, limit, _mine(session, actor))


def entries_about(session: Session, coop_id: int, client_id: int | None,
                  member_id: int | None) -> list[AccessLogPublic]:
    """Every entry about a client and/or a member, oldest first (for exports), each with only
    its records about them."""
    clients = {client_id} if client_id is not None else set()
    members = {member_id} if member_id is not None else set()
    if not clients and not members:
        return []
    q = (select(AccessLogEntry).where(AccessLogEntry.coop_id == coop_id, _about(clients, members))
         .order_by(col(AccessLogEntry.id)))
    rows = list(session.exec(q).all())
    return _public(rows, _subjects_of(session, rows), (clients, members))


def entries_by(session: Session, coop_id: int, actor_id: int) -> list[AccessLogPublic]:
    """Every entry of what a member read or wrote, oldest first (for their export), without the
    records of other people it touched (``subjects`` empty, the columns only of a single record)."""
    q = (select(AccessLogEntry).where(AccessLogEntry.coop_id == coop_id, AccessLogEntry.actor_id == actor_id)
         .order_by(col(AccessLogEntry.id)))
    return [AccessLogPublic.model_validate(r, from_attributes=True) for r in session.exec(q).all()]


def install_append_only(conn: sa.Connection) -> None:
    """The append-only triggers, for a database made without the migrations (``create_all``);
    the same DDL as revisions 0008 and 0009p."""
    if conn.dialect.name == "sqlite":
        for table in ("accesslog", "accesslogsubject"):
            for verb in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only, {verb} refused'); END")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION accesslog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '%% is append-only, %% refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'restrict_violation'; END $$")
        for table in ("accesslog", "accesslogsubject"):
            for name, when, each in ((f"{table}_append_only", "UPDATE OR DELETE", "ROW"),
                                     (f"{table}_no_truncate", "TRUNCATE", "STATEMENT")):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                conn.exec_driver_sql(f"CREATE TRIGGER {name} BEFORE {when} ON {table} "
                                     f"FOR EACH {each} EXECUTE FUNCTION accesslog_refuse_change()")


# ----------------------------------------------------------------------------- the endpoints
#: Every endpoint of the API that reads or writes care data (a client's details, care plan,
#: visits, preferences, shares) or a member's personal details, with the kind of record its
#: entry names: each request to one of them that succeeds appends exactly one entry.
#: ``tests/api/test_access_log_endpoints.py`` reads the OpenAPI schema and holds every endpoint
#: to this table or to ``NOT_PERSONAL``.
PERSONAL_DATA: dict[str, str] = {
    "GET /me": "member",
    "POST /coops": "member",
    "GET /members": "member",
    "POST /members": "member",
    "GET /members/{member_id}": "member",
    "PATCH /members/{member_id}": "member",
    "DELETE /members/{member_id}": "member",
    "PUT /members/{member_id}/role": "member",
    "GET /members/{member_id}/skills": "member_skills",
    "POST /members/{member_id}/skills": "member_skills",
    "DELETE /members/{member_id}/skills/{skill_id}": "member_skills",
    "GET /members/{member_id}/availability": "member_availability",
    "POST /members/{member_id}/availability": "member_availability",
    "DELETE /members/{member_id}/availability/{item_id}": "member_availability",
    "GET /members/{member_id}/leave": "member_leave",
    "POST /members/{member_id}/leave": "member_leave",
    "DELETE /members/{member_id}/leave/{item_id}": "member_leave",
    "GET /clients": "client",
    "POST /clients": "client",
    "GET /clients/{client_id}": "client",
    "PATCH /clients/{client_id}": "client",
    "PUT /clients/{client_id}/preferences": "preferences",
    "GET /clients/{client_id}/visits": "visit",
    "GET /clients/{client_id}/shares": "share",
    "POST /clients/{client_id}/shares": "share",
    "DELETE /clients/{client_id}/shares/{share_id}": "share",
    "GET /clients/{client_id}/care-plan": "care_plan",
    "POST /clients/{client_id}/care-plan": "care_plan_visit",
    "PATCH /care-plan/{template_id}": "care_plan_visit",
    "DELETE /care-plan/{template_id}": "care_plan_visit",
    "GET /care-plan-dependencies": "care_plan_dependency",
    "POST /care-plan-dependencies": "care_plan_dependency",
    "DELETE /care-plan-dependencies/{dependency_id}": "care_plan_dependency",
    "GET /rotas/{rota_id}": "rota",
    "GET /rotas/{rota_id}/file": "rota",
    "GET /rotas/{rota_id}/problem": "rota",
    "POST /rotas/{rota_id}/publish": "rota",
    "PUT /rotas/{rota_id}/visits/{visit_id}/assignment": "visit",
    "POST /rotas/{rota_id}/visits/{visit_id}/unassign": "visit",
    "POST /rotas/{rota_id}/resolve": "rota",
    "GET /rotas/{rota_id}/visits/{visit_id}/cover": "rota",
    "GET /runs": "run",
    "GET /runs/{run_id}": "run",
    "GET /weeks/{week_start}/problem": "week_problem",
    "GET /visits/{visit_id}": "visit",
    "POST /visits/{visit_id}/complete": "visit",
    "POST /visits/{visit_id}/missed": "visit",
    "POST /visits/{visit_id}/cancel": "visit",
    "GET /me/rota": "visit",
    "GET /calendar/{token}.ics": "visit",
    "GET /access-log": "access_log",
    "GET /me/access-log": "access_log",
    "GET /me/export": "export",
    "GET /me/export.html": "export",
    "GET /members/{member_id}/export": "export",
    "GET /clients/{client_id}/export": "export",
    "POST /members/{member_id}/erase": "erasure",
    "POST /clients/{client_id}/erase": "erasure",
    "PUT /members/{member_id}/legal-hold": "legal_hold",
    "DELETE /members/{member_id}/legal-hold": "legal_hold",
    "PUT /clients/{client_id}/legal-hold": "legal_hold",
    "DELETE /clients/{client_id}/legal-hold": "legal_hold",
}
#: Endpoints that touch no care data and no member's personal details, and why.
NOT_PERSONAL: dict[str, str] = {
    "POST /auth/token": "logging in checks a password; it reads no one's details for anyone",
    "POST /auth/password": "sets the caller's own password (a credential, never shown)",
    "POST /members/{member_id}/password-link": "a one-time token; no details are shown",
    "GET /coops/me": "the co-op's name and settings",
    "PATCH /coops/me": "the co-op's name and settings",
    "GET /coops/me/privacy": "the co-op's privacy policy",
    "PUT /coops/me/privacy": "the co-op's privacy policy",
    "POST /rotas": "queues a solve; answers a run id only (the worker's reads are processing, not access)",
    "GET /rotas": "versions and their KPIs, no names or visits",
    "POST /solve": "the caller's own problem file in, its rota out; nothing stored or read",
    "GET /me/calendar-link": "a private feed URL; the feed itself is logged",
    "GET /me/timebank": "the caller's own time-bank minutes (the ledger holds no care data)",
    "POST /timebank/gifts": "moves minutes in the ledger (no care data)",
    "POST /timebank/donations": "moves minutes to the community pot (no care data)",
    "POST /timebank/exchanges": "moves minutes in the ledger (no care data)",
    "GET /health": "service status",
    "POST /federations": "founds a federation: co-op names and limits",
    "GET /federations/{federation_id}": "member co-ops, limits, positions, officers by id",
    "POST /federations/{federation_id}/invitations": "co-op ids",
    "POST /federations/{federation_id}/join": "co-op membership",
    "POST /federations/{federation_id}/leave": "co-op membership",
    "PUT /federations/{federation_id}/coops/{coop_id}/limit": "a co-op's clearing limit",
    "POST /federations/{federation_id}/officer-votes": "a co-op's vote, by member id",
    "POST /federations/{federation_id}/gifts": "moves minutes between two co-ops' ledgers (no care data)",
    "POST /federations/{federation_id}/help": "moves minutes between two co-ops' ledgers (no care data)",
    "POST /federations/{federation_id}/settlements": "moves minutes pot to pot",
    "POST /federations/{federation_id}/moves/{move_id}/reverse": "moves minutes back",
    "GET /federations/{federation_id}/statement": "per co-op totals of minutes, no people",
    "GET /federations/{federation_id}/statement.csv": "per co-op totals of minutes, no people",
    "GET /federations/{federation_id}/view": "aggregates over 5+ people, smaller counts suppressed",
    "GET /federations/{federation_id}/view.csv": "aggregates over 5+ people, smaller counts suppressed",
    "GET /federations/{federation_id}/view.png": "aggregates over 5+ people, smaller counts suppressed",
    "POST /federations/{federation_id}/cover-offers": "a carer's id and the days lent, no details",
    "GET /federations/{federation_id}/cover-offers": "carers' ids and the days lent, no details",
    "DELETE /federations/{federation_id}/cover-offers/{offer_id}": "a carer's id and a day lent",
    "GET /federations/{federation_id}/cover-invoice.csv": "carers' ids, days and minutes worked, no names",
}
