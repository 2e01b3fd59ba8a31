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
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, or_, select

from api.models import AccessLogEntry, AccessLogPage, AccessLogPublic, Member, role_of, saved_id
from api.services.common import client_ids_visible_to, get_in_coop

ENDPOINT_KEY = "carerota.endpoint"
Action = Literal["read", "write"]
#: (record_kind, record_id, client_id, subject_member_id)
Record = tuple[str, int | None, int | None, int | None]


def endpoint_of(session: Session) -> str | None:
    return session.info.get(ENDPOINT_KEY)


def log(session: Session, actor: Member, action: Action, records: Iterable[Record]) -> int:
    """Add one entry per record to the session (committed by the caller); returns how many."""
    endpoint = endpoint_of(session)
    if endpoint is None:
        return 0
    n = 0
    for kind, record_id, client_id, member_id in records:
        session.add(AccessLogEntry(coop_id=actor.coop_id, actor_id=saved_id(actor), actor_role=role_of(actor),
                                   action=action, record_kind=kind, record_id=record_id,
                                   client_id=client_id, subject_member_id=member_id, endpoint=endpoint))
        n += 1
    return n


def log_read(session: Session, actor: Member, records: Iterable[Record]) -> None:
    """Log reads and commit them now (a read has no transaction of its own to join)."""
    if log(session, actor, "read", records):
        session.commit()


def client_record(kind: str, record_id: int | None, client_id: int | None) -> Record:
    return (kind, record_id, client_id, None)


def member_record(member_id: int | None) -> Record:
    return ("member", member_id, None, member_id)


# ----------------------------------------------------------------------------- reading the log
MAX_PAGE = 500


def _page(session: Session, where: list, before: int | None, limit: int) -> AccessLogPage:
    q = select(AccessLogEntry).where(*where)
    if before is not None:
        q = q.where(col(AccessLogEntry.id) < before)
    rows = list(session.exec(q.order_by(col(AccessLogEntry.id).desc()).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return AccessLogPage(entries=[AccessLogPublic.model_validate(r, from_attributes=True) for r in rows],
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
    if client_id is not None:
        where.append(AccessLogEntry.client_id == client_id)
    if member_id is not None:
        where.append(AccessLogEntry.subject_member_id == member_id)
    if actor_id is not None:
        where.append(AccessLogEntry.actor_id == actor_id)
    return _page(session, where, before, limit)


def about_me_filter(session: Session, actor: Member) -> list:
    """Entries about the caller: their own member record and, for a client, their client record;
    for a family member, the records of the clients who shared theirs."""
    clients = client_ids_visible_to(session, actor)
    about: list = [AccessLogEntry.subject_member_id == actor.id]
    if clients:   # None is a coordinator (every client): not "their own record"
        about.append(col(AccessLogEntry.client_id).in_(sorted(clients)))
    return [AccessLogEntry.coop_id == actor.coop_id, or_(*about)]


def my_log(session: Session, actor: Member, before: int | None, limit: int) -> AccessLogPage:
    """The log of the caller's own record (and a shared client's, for family), newest first."""
    log_read(session, actor, [("access_log", None, actor.client_id if role_of(actor) == "client" else None,
                               saved_id(actor))])
    return _page(session, about_me_filter(session, actor), before, limit)


def entries_about(session: Session, coop_id: int, client_id: int | None,
                  member_id: int | None) -> list[AccessLogPublic]:
    """Every entry about a client and/or a member, oldest first (for exports)."""
    about = []
    if client_id is not None:
        about.append(AccessLogEntry.client_id == client_id)
    if member_id is not None:
        about.append(AccessLogEntry.subject_member_id == member_id)
    if not about:
        return []
    q = (select(AccessLogEntry).where(AccessLogEntry.coop_id == coop_id, or_(*about))
         .order_by(col(AccessLogEntry.id)))
    return [AccessLogPublic.model_validate(r, from_attributes=True) for r in session.exec(q).all()]


def install_append_only(conn: sa.Connection) -> None:
    """The append-only triggers, for a database made without the migrations (``create_all``);
    the same DDL as revision 0008."""
    if conn.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            conn.exec_driver_sql(
                f"CREATE TRIGGER IF NOT EXISTS accesslog_no_{verb.lower()} BEFORE {verb} ON accesslog "
                f"BEGIN SELECT RAISE(ABORT, 'accesslog is append-only, {verb} refused'); END")
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            "CREATE OR REPLACE FUNCTION accesslog_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '%% is append-only, %% refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'restrict_violation'; END $$")
        for name, when, each in (("accesslog_append_only", "UPDATE OR DELETE", "ROW"),
                                 ("accesslog_no_truncate", "TRUNCATE", "STATEMENT")):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name} ON accesslog")
            conn.exec_driver_sql(f"CREATE TRIGGER {name} BEFORE {when} ON accesslog "
                                 f"FOR EACH {each} EXECUTE FUNCTION accesslog_refuse_change()")
