"""Rotas per week and their versions (draft, published, superseded; never deleted).

A rota row keeps the problem it was solved from and its rota file, so any version can be
exported and checked again with the command line. Hand edits are validated by the checker
against that problem; an edit of a published rota makes a new published version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid, NotFound
from api.models import (
    AssignmentChange,
    Member,
    Priority,
    Rota,
    RotaDetail,
    RotaPublic,
    RotaStatus,
    SolveRun,
    Visit,
    VisitCarer,
    VisitPublic,
    VisitStatus,
    WeekVisit,
    saved_id,
    utcnow,
)
from api.services import access_log as audit
from api.services.common import get_in_coop
from api.services.privacy import Pseudonyms, pseudonymise_problem, pseudonymise_rota_file
from api.services.problem_builder import FMT, build_problem, carer_key, check_week_start
from api.services.wording import humanize, names_of
from scheduler.checker import check
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment, Unassigned, rota_to_dict
from scheduler.rota import Rota as RotaFile

DONE = (VisitStatus.completed, VisitStatus.missed, VisitStatus.cancelled)


def _parse(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, FMT)


def rota_public(rota: Rota) -> RotaPublic:
    return RotaPublic(**rota.model_dump(exclude={"problem", "id_map", "rota_file"}),
                      kpis=dict(rota.rota_file.get("kpis") or {}))


def visit_public(v: Visit) -> VisitPublic:
    """A version's visit as the API shows it: ``id`` is the visit's lasting id (``WeekVisit``)."""
    return VisitPublic(**(v.model_dump() | {"id": v.week_visit_id, "carer_ids": v.carer_ids}))


def set_carers(session: Session, visit: Visit, member_ids: list[int]) -> None:
    """Make ``member_ids`` (one per role, in role order) the visit's carers: its rows are the
    only record of who is on it (caller commits)."""
    if visit.carer_ids == list(member_ids):
        return
    visit.carers.clear()
    session.flush()   # the old rows go before new ones take their (visit, member) pairs
    visit_id = saved_id(visit)
    visit.carers.extend(VisitCarer(visit_id=visit_id, member_id=m, role_index=i)
                        for i, m in enumerate(member_ids))


def week_visit_id(session: Session, coop_id: int, week_start: dt.date, key: str) -> int:
    """The lasting id of the week's visit ``key``, made on first use (caller commits)."""
    found = session.exec(select(WeekVisit.id).where(WeekVisit.coop_id == coop_id,
                                                    WeekVisit.week_start == week_start,
                                                    WeekVisit.key == key)).first()
    if found is not None:
        return found
    wv = WeekVisit(coop_id=coop_id, week_start=week_start, key=key)
    session.add(wv)
    session.flush()
    assert wv.id is not None
    return wv.id


def visits_of(session: Session, rota_id: int) -> list[Visit]:
    return list(session.exec(select(Visit).where(Visit.rota_id == rota_id).order_by(col(Visit.id))).all())


def _next_version(session: Session, coop_id: int, week_start: dt.date) -> int:
    current = session.exec(select(func.max(Rota.version)).where(
        Rota.coop_id == coop_id, Rota.week_start == week_start)).one()
    return (current or 0) + 1


def _add_visit(session: Session, rota: Rota, fields: dict[str, Any], carers: list[int]) -> Visit:
    fields = dict(fields)
    if fields.get("week_visit_id") is None:
        fields["week_visit_id"] = week_visit_id(session, rota.coop_id, rota.week_start, fields["key"])
    visit = Visit(**fields, rota_id=saved_id(rota), coop_id=rota.coop_id)
    session.add(visit)
    session.flush()
    set_carers(session, visit, carers)
    return visit


def store_solved_rota(session: Session, run: SolveRun, rota_file: dict[str, Any]) -> Rota:
    """A new draft version of the run's week from a checked rota file (caller commits)."""
    problem: dict[str, Any] = run.problem or {}
    id_map: dict[str, Any] = run.id_map or {}
    carers = id_map.get("carers", {})
    assigned = {a["visit"]: a for a in rota_file.get("assignments", [])}
    unassigned = {u["visit"]: u for u in rota_file.get("unassigned", [])}
    names = names_of(problem, id_map)
    base: dict[str, Visit] = {}
    if run.base_rota_id is not None:
        base = {v.key: v for v in visits_of(session, run.base_rota_id)}
    rota = Rota(coop_id=run.coop_id, week_start=run.week_start,
                version=_next_version(session, run.coop_id, run.week_start),
                status=RotaStatus.draft, run_id=run.id, problem=problem, id_map=id_map,
                rota_file=rota_file, objective=rota_file.get("objective"),
                note=f"{run.kind} run {run.id}")
    session.add(rota)
    session.flush()
    for pv in problem.get("visits", []):
        meta = id_map["visits"][pv["id"]]
        fields: dict[str, Any] = {
            "client_id": meta["client_id"], "template_id": meta.get("template_id"), "key": pv["id"],
            "label": meta.get("label", ""), "earliest_start": _parse(pv["earliest_start"]),
            "latest_start": _parse(pv["latest_start"]), "duration_minutes": pv["duration_minutes"],
            "priority": Priority(pv.get("priority", "essential")),
            "volunteer_ok": pv.get("volunteer_ok", False),
        }
        carer_ids: list[int] = []
        if pv["id"] in assigned:
            a = assigned[pv["id"]]
            carer_ids = [int(carers[c]) for c in a["carers"]]
            fields.update(start=_parse(a["start"]), status=VisitStatus.planned)
        else:
            fields.update(status=VisitStatus.unassigned,
                          reasons=[humanize(r, names)
                                   for r in unassigned.get(pv["id"], {}).get("reasons", [])])
        old = base.get(pv["id"])
        if old is not None and old.status == VisitStatus.completed:
            fields.update(status=old.status, actual_start=old.actual_start, actual_end=old.actual_end,
                          completed_by=old.completed_by, credited=old.credited)
        _add_visit(session, rota, fields, carer_ids)
    in_problem = {pv["id"] for pv in problem.get("visits", [])}
    for key, old in base.items():   # cancelled or missed visits left out of the re-solve
        if key not in in_problem:
            _add_visit(session, rota, _copy_fields(old), list(old.carer_ids))
    return rota


def _copy_fields(v: Visit) -> dict[str, Any]:
    return v.model_dump(exclude={"id", "rota_id", "coop_id"})


# ----------------------------------------------------------------------------- reads
def list_rotas(session: Session, actor: Member, week_start: dt.date | None) -> list[RotaPublic]:
    q = select(Rota).where(Rota.coop_id == actor.coop_id)
    if week_start is not None:
        q = q.where(Rota.week_start == week_start)
    return [rota_public(r) for r in session.exec(q.order_by(col(Rota.week_start), col(Rota.version))).all()]


def _rota(session: Session, actor: Member, rota_id: int) -> Rota:
    return get_in_coop(session, Rota, rota_id, actor, "rota")


def get_rota(session: Session, actor: Member, rota_id: int) -> RotaDetail:
    rota = _rota(session, actor, rota_id)
    visits = visits_of(session, saved_id(rota))
    _log_rota_read(session, actor, rota, {v.client_id for v in visits})
    return RotaDetail(**rota_public(rota).model_dump(), visits=[visit_public(v) for v in visits])


def rota_records(rota: Rota, client_ids: set[int]) -> list[audit.Record]:
    """What a rota holds of people: every client's visits, and its carers (names and homes in
    the problem file): one access-log record each."""
    carers = sorted({int(m) for m in (rota.id_map or {}).get("carers", {}).values()})
    return ([("rota", rota.id, c, None) for c in sorted(client_ids)]
            + [("rota", rota.id, None, m) for m in carers])


def _log_rota_read(session: Session, actor: Member, rota: Rota, client_ids: set[int]) -> None:
    """A rota shows every client's visits and its carers' details: one entry, a record each."""
    audit.log_read(session, actor, rota_records(rota, client_ids), kind="rota")


def _rota_clients(session: Session, rota: Rota) -> set[int]:
    return set(session.exec(select(Visit.client_id).where(Visit.rota_id == rota.id)).all())


def _pseudonyms(actor: Member, pseudonym_key: str | None) -> Pseudonyms | None:
    return Pseudonyms(pseudonym_key, actor.coop_id) if pseudonym_key is not None else None


def rota_file(session: Session, actor: Member, rota_id: int,
              pseudonym_key: str | None = None) -> dict[str, Any]:
    """The version's rota file; with ``pseudonym_key``, pseudonymised (``api.services.privacy``)."""
    rota = _rota(session, actor, rota_id)
    _log_rota_read(session, actor, rota, _rota_clients(session, rota))
    ps = _pseudonyms(actor, pseudonym_key)
    if ps is None:
        return rota.rota_file
    return pseudonymise_rota_file(rota.rota_file, ps)


def rota_problem(session: Session, actor: Member, rota_id: int,
                 pseudonym_key: str | None = None) -> dict[str, Any]:
    """The problem the version was solved from; with ``pseudonym_key``, pseudonymised."""
    rota = _rota(session, actor, rota_id)
    _log_rota_read(session, actor, rota, _rota_clients(session, rota))
    ps = _pseudonyms(actor, pseudonym_key)
    if ps is None:
        return rota.problem
    return pseudonymise_problem(rota.problem, ps)


def week_problem(session: Session, actor: Member, week_start: dt.date, history_weeks: int,
                 pseudonym_key: str | None = None) -> dict:
    """The problem file for a week, built from the co-op's data as it is now (pseudonymised
    with ``pseudonym_key``)."""
    check_week_start(week_start)
    problem, id_map = build_problem(session, actor.coop_id, week_start, history_weeks)
    audit.log_read(session, actor, [("week_problem", None, int(c), None) for c in id_map["clients"].values()]
                   + [("week_problem", None, None, int(m)) for m in id_map["carers"].values()],
                   kind="week_problem")
    ps = _pseudonyms(actor, pseudonym_key)
    if ps is None:
        return problem
    return pseudonymise_problem(problem, ps)


def current_rota(session: Session, coop_id: int, week_start: dt.date) -> Rota | None:
    """The published rota of the week, else the latest draft."""
    rows = session.exec(select(Rota).where(Rota.coop_id == coop_id, Rota.week_start == week_start)
                        .order_by(col(Rota.version).desc())).all()
    for r in rows:
        if r.status == RotaStatus.published:
            return r
    return rows[0] if rows else None


# ----------------------------------------------------------------------------- writes
def publish(session: Session, actor: Member, rota_id: int) -> RotaPublic:
    rota = _rota(session, actor, rota_id)
    if rota.status != RotaStatus.draft:
        raise Conflict(f"rota {rota_id} is {rota.status}; only a draft can be published")
    for other in session.exec(select(Rota).where(Rota.coop_id == rota.coop_id,
                                                 Rota.week_start == rota.week_start,
                                                 Rota.status == RotaStatus.published)).all():
        other.status = RotaStatus.superseded
        session.add(other)
    rota.status = RotaStatus.published
    rota.published_at = utcnow()
    session.add(rota)
    audit.log(session, actor, "write", rota_records(rota, _rota_clients(session, rota)), kind="rota")
    session.commit()
    return rota_public(rota)


def rota_for_check(problem: Problem, visits: list[Visit],
                   edit: tuple[str, AssignmentChange | None, str] | None = None) -> RotaFile:
    """The rota file value of stored visits, for the checker (objective left unclaimed).
    ``edit``: (visit key, change or None to unassign, reason) applied to that visit only, so a
    hand edit is checked before anything is written."""
    assignments, unassigned = [], []
    for v in visits:
        if v.key not in problem.visit_by_id:
            continue
        start, carers, status, reasons = v.start, v.carer_ids, v.status, list(v.reasons)
        if edit is not None and edit[0] == v.key:
            change = edit[1]
            if change is None:
                start, carers, status, reasons = None, [], VisitStatus.unassigned, [edit[2]]
            else:
                start, carers = change.start.replace(second=0), list(change.carer_ids)
                status, reasons = VisitStatus.planned, []
        if start is not None and carers and status in (VisitStatus.planned, VisitStatus.completed):
            assignments.append(Assignment(v.key, tuple(carer_key(m) for m in carers),
                                          problem.minute_of(start)))
        else:
            unassigned.append(Unassigned(v.key, tuple(reasons or ["not assigned"])))
    return RotaFile(problem=problem.name, status="feasible", assignments=assignments,
                    unassigned=unassigned)


def change_assignment(session: Session, actor: Member, rota_id: int, visit_id: int,
                      change: AssignmentChange | None, reason: str = "unassigned by hand") -> VisitPublic:
    """Assign (or, with ``change=None``, unassign) one visit by hand, checked by the checker.

    Every rule the change would break is named in the 422 answer and nothing is written.
    A draft is edited in place; a published rota gets a new published version.
    """
    rota = _rota(session, actor, rota_id)
    if rota.status == RotaStatus.superseded:
        raise Conflict(f"rota {rota_id} is superseded; edit the current version")
    visit = session.exec(select(Visit).where(Visit.rota_id == rota.id,
                                             Visit.week_visit_id == visit_id)).first()
    if visit is None:
        raise NotFound(f"visit {visit_id} not found in rota {rota_id}")
    if visit.status in DONE:
        raise Conflict(f"visit {visit_id} is {visit.status}; it can no longer be changed")
    raw = dict(rota.problem)
    raw["pinned"] = []   # pins steer the solver; a coordinator's hand edit overrides them
    problem = problem_from_dict(raw)
    if visit.key not in problem.visit_by_id:
        raise Conflict(f"visit {visit_id} is not part of the rota's problem")
    visits = visits_of(session, saved_id(rota))
    target = next(v for v in visits if v.id == visit.id)
    if change is not None:
        errors = []
        if change.start.tzinfo is not None:
            errors.append("start: local time without a UTC offset")
        if change.start.second or change.start.microsecond:
            errors.append("start: to the minute, without seconds")
        carers_in = rota.id_map.get("carers", {})
        for i, m in enumerate(change.carer_ids):
            if carer_key(m) not in carers_in:
                errors.append(f"carer_ids[{i}]: member {m} is not a carer in this week's rota")
        if len(set(change.carer_ids)) != len(change.carer_ids):
            errors.append("carer_ids: a carer can fill only one role of a visit")
        if errors:
            raise Invalid("the change is not valid", errors)
    candidate = rota_for_check(problem, visits, (target.key, change, reason))
    report = check(problem, candidate)
    if not report.ok:
        session.rollback()
        names = names_of(rota.problem, rota.id_map)
        raise Invalid("the change breaks the rota's rules",
                      [f"{v.rule}: {humanize(v.message, names)}" for v in report.violations])
    candidate.objective, candidate.kpis = report.objective, report.kpis
    new_file = rota_to_dict(candidate, problem)
    if rota.status == RotaStatus.draft:
        _apply(session, target, change, reason)
        rota.problem, rota.rota_file, rota.objective = raw, new_file, report.objective
        session.add(rota)
        audit.log(session, actor, "write", [("visit", visit_id, target.client_id, None)])
        session.commit()
        return visit_public(target)
    # a published rota: new published version, the old one superseded
    session.rollback()
    return _new_published_version(session, rota, raw, new_file, report.objective, visit.key, change, reason,
                                  actor)


def _apply(session: Session, visit: Visit, change: AssignmentChange | None, reason: str) -> None:
    if change is not None:
        set_carers(session, visit, list(change.carer_ids))
        visit.start = change.start.replace(second=0)
        visit.status, visit.reasons = VisitStatus.planned, []
    else:
        set_carers(session, visit, [])
        visit.start = None
        visit.status, visit.reasons = VisitStatus.unassigned, [reason]
    session.add(visit)


def _new_published_version(session: Session, old: Rota, problem: dict, new_file: dict, objective: float,
                           key: str, change: AssignmentChange | None, reason: str,
                           actor: Member) -> VisitPublic:
    for _attempt in range(3):
        try:
            rota = Rota(coop_id=old.coop_id, week_start=old.week_start,
                        version=_next_version(session, old.coop_id, old.week_start),
                        status=RotaStatus.published, run_id=old.run_id, problem=problem,
                        id_map=old.id_map, rota_file=new_file, objective=objective,
                        note=f"hand edit of version {old.version} by member {actor.id}",
                        published_at=utcnow())
            session.add(rota)
            session.flush()
            changed: Visit | None = None
            for v in visits_of(session, saved_id(old)):
                nv = _add_visit(session, rota, _copy_fields(v), list(v.carer_ids))
                if v.key == key:
                    changed = nv
            assert changed is not None
            _apply(session, changed, change, reason)
            fresh_old = session.get(Rota, old.id)
            if fresh_old is None or fresh_old.status != RotaStatus.published:
                raise Conflict(f"rota {old.id} changed meanwhile; edit the current version")
            fresh_old.status = RotaStatus.superseded
            session.add(fresh_old)
            audit.log(session, actor, "write", [("visit", changed.week_visit_id, changed.client_id, None)])
            session.commit()
            return visit_public(changed)
        except IntegrityError:
            session.rollback()
    raise Conflict("the rota changed meanwhile; try again")


def week_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())
