"""Solve runs: a coordinator's request, a weekly scheduled run, a re-solve after an absence."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Protocol

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from api.errors import Conflict, Invalid
from api.models import (
    Member,
    ResolveRequest,
    Rota,
    RotaRequest,
    RotaStatus,
    RunAccepted,
    RunKind,
    RunPublic,
    RunStatus,
    SolveRun,
    UnassignedPublic,
    Visit,
    VisitStatus,
    role_of,
    saved_id,
    utcnow,
)
from api.services import access_log as audit
from api.services.common import get_in_coop
from api.services.problem_builder import build_problem, carer_key, check_week_start
from api.services.rotas import rota_records, visits_of
from api.settings import Settings
from scheduler.problem import TIME_FORMAT, Problem, ProblemError, problem_from_dict


class Submitter(Protocol):
    def submit(self, run_id: int) -> Any: ...


def _accepted(run: SolveRun) -> RunAccepted:
    return RunAccepted(run_id=saved_id(run), status=run.status, week_start=run.week_start)


def _time_limit(requested: float | None, settings: Settings) -> float:
    return min(requested, settings.solve_time_limit) if requested else settings.solve_time_limit


def request_run(session: Session, pool: Submitter, actor: Member, req: RotaRequest,
                settings: Settings) -> RunAccepted:
    """Build the week's problem (a week that cannot be built is refused, nothing written),
    record a queued run and hand it to the worker pool."""
    problem, id_map = build_problem(session, actor.coop_id, req.week_start, settings.history_weeks)
    run = SolveRun(coop_id=actor.coop_id, week_start=req.week_start, kind=RunKind.request,
                   requested_by=actor.id, problem=problem, id_map=id_map,
                   time_limit=_time_limit(req.time_limit, settings))
    session.add(run)
    session.commit()
    session.refresh(run)
    pool.submit(saved_id(run))
    return _accepted(run)


def _pin_fits(problem: Problem, visit_key: str, carers: list[str], start: int) -> bool:
    """A pin the solver can honour: each carer holds the role's skills and is available."""
    visit = problem.visit_by_id.get(visit_key)
    if visit is None or len(carers) != len(visit.roles):
        return False
    if not visit.earliest_start <= start <= visit.last_start:
        return False
    for i, cid in enumerate(carers):
        carer = problem.carer_by_id.get(cid)
        if carer is None or not visit.roles[i].skills <= carer.skills:
            return False
        if carer.is_volunteer and not visit.volunteer_ok:
            return False
        end = start + visit.role_duration(i)
        if not any(iv.contains(start, end) for iv in carer.availability):
            return False
    return True


def request_resolve(session: Session, pool: Submitter, actor: Member, rota_id: int, req: ResolveRequest,
                    settings: Settings, now: dt.datetime) -> RunAccepted:
    """Solve the rota's week again with minimal disruption: visits already done or started, and
    published visits whose carers can still make them, are pinned; the rest is solved afresh."""
    base = get_in_coop(session, Rota, rota_id, actor, "rota")
    if base.status == RotaStatus.superseded:
        raise Conflict(f"rota {rota_id} is superseded; re-solve the current version")
    for i, mid in enumerate(req.absent_member_ids):
        m = session.get(Member, mid)
        if m is None or m.coop_id != actor.coop_id or role_of(m) not in ("staff", "volunteer"):
            raise Invalid(f"absent_member_ids[{i}]: unknown carer {mid}")
    absent = set(req.absent_member_ids)
    visits = visits_of(session, saved_id(base))
    skip = {v.key for v in visits if v.status in (VisitStatus.cancelled, VisitStatus.missed)}
    candidates: list[dict[str, Any]] = []
    for v in visits:
        if v.start is None or not v.carer_ids or v.status not in ("planned", "completed"):
            continue
        past = v.start < now or v.status == VisitStatus.completed
        if past or (base.status == RotaStatus.published and not absent & set(v.carer_ids)):
            candidates.append({"visit": v.key, "carers": list(v.carer_ids), "start": v.start})
    problem_raw, id_map = build_problem(session, actor.coop_id, base.week_start, settings.history_weeks,
                                        pins=candidates, skip_visit_keys=skip,
                                        absent_from={m: now for m in absent})
    problem = problem_from_dict({**problem_raw, "pinned": []})
    keep = []
    for pin in problem_raw["pinned"]:
        start = problem.minute_of(dt.datetime.strptime(pin["start"], TIME_FORMAT))
        if _pin_fits(problem, pin["visit"], pin["carers"], start):
            keep.append(pin)
    problem_raw["pinned"] = keep
    run = SolveRun(coop_id=actor.coop_id, week_start=base.week_start, kind=RunKind.resolve,
                   requested_by=actor.id,
                   base_rota_id=base.id, problem=problem_raw, id_map=id_map,
                   time_limit=_time_limit(req.time_limit, settings))
    session.add(run)
    audit.log(session, actor, "write", rota_records(base, {v.client_id for v in visits})
              + [("member_leave", None, None, m) for m in sorted(absent)], kind="rota")
    session.commit()
    session.refresh(run)
    pool.submit(saved_id(run))
    return _accepted(run)


def _run_public(session: Session, run: SolveRun) -> RunPublic:
    unassigned: list[UnassignedPublic] = []
    if run.rota_id is not None:
        for v in session.exec(select(Visit).where(Visit.rota_id == run.rota_id,
                                                  Visit.status == VisitStatus.unassigned)
                              .order_by(col(Visit.id))).all():
            unassigned.append(UnassignedPublic(visit_id=v.week_visit_id, key=v.key, reasons=list(v.reasons)))
    data = run.model_dump(include=set(RunPublic.model_fields) - {"unassigned", "warnings"})
    warnings = [str(w.get("message")) for w in (run.id_map or {}).get("left_out", [])]
    return RunPublic(**data, warnings=warnings, unassigned=unassigned)


def _run_records(session: Session, run: SolveRun) -> list[audit.Record]:
    """A run's result names clients and carers (reasons, warnings): a record per client whose
    visit it left unassigned, else one for the run."""
    clients: set[int] = set()
    if run.rota_id is not None:
        clients = set(session.exec(select(Visit.client_id).where(
            Visit.rota_id == run.rota_id, Visit.status == VisitStatus.unassigned)).all())
    return [("run", run.id, c, None) for c in sorted(clients)] or [("run", run.id, None, None)]


def get_run(session: Session, actor: Member, run_id: int) -> RunPublic:
    run = get_in_coop(session, SolveRun, run_id, actor, "run")
    audit.log_read(session, actor, _run_records(session, run))
    return _run_public(session, run)


def list_runs(session: Session, actor: Member, week_start: dt.date | None) -> list[RunPublic]:
    q = select(SolveRun).where(SolveRun.coop_id == actor.coop_id)
    if week_start is not None:
        q = q.where(SolveRun.week_start == week_start)
    runs = list(session.exec(q.order_by(col(SolveRun.id))).all())
    audit.log_read(session, actor, [rec for r in runs for rec in _run_records(session, r)], kind="run")
    return [_run_public(session, r) for r in runs]


def weekly_run(engine: Engine, pool: Submitter, coop_id: int, week_start: dt.date,
               settings: Settings) -> int | None:
    """The scheduled weekly solve of one co-op: at most one run per co-op and week, enforced by
    the unique ``dedupe_key``. Returns the new run id, or None when the week already has one."""
    check_week_start(week_start)
    key = f"weekly:{coop_id}:{week_start.isoformat()}"
    with Session(engine, expire_on_commit=False) as session:
        if session.exec(select(SolveRun.id).where(SolveRun.dedupe_key == key)).first() is not None:
            return None
        run = SolveRun(coop_id=coop_id, week_start=week_start, kind=RunKind.weekly, dedupe_key=key,
                       time_limit=settings.solve_time_limit)
        try:
            problem, id_map = build_problem(session, coop_id, week_start, settings.history_weeks)
            run.problem, run.id_map = problem, id_map
        except Invalid as exc:   # recorded, so the coordinator sees why no rota was made
            run.status, run.finished_at = RunStatus.failed, utcnow()
            run.error = "; ".join([exc.message, *exc.errors])[:4000]
        session.add(run)
        try:
            session.commit()
        except IntegrityError:   # another firing won the race
            session.rollback()
            return None
        if run.status == RunStatus.queued:
            pool.submit(saved_id(run))
        return run.id


async def solve_stateless(pool: Any, raw: Any, time_limit: float | None, settings: Settings) -> dict:
    """``POST /solve``: validate the problem here (a clear 422), solve in a worker process."""
    try:
        problem_from_dict(raw)
    except ProblemError as exc:
        raise Invalid("the problem file is not valid", exc.errors) from None
    limit = min(time_limit or settings.max_stateless_time_limit, settings.max_stateless_time_limit)
    from api.worker import stateless_solve

    loop = asyncio.get_running_loop()
    result = await loop.run_in_executor(pool.executor, stateless_solve, raw, limit, settings.solve_workers)
    if "rota" not in result:
        raise Invalid(result.get("error", "the solve failed"), result.get("errors", []))
    return result["rota"]


__all__ = ["carer_key", "check_week_start", "get_run", "list_runs", "request_resolve", "request_run",
           "solve_stateless", "weekly_run"]
