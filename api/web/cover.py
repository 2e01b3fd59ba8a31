""""Who can cover this?" for a visit of a stored rota: ``scheduler.cover`` behind the API.

A new service function (:func:`cover_options`) and its bearer-token endpoint
``GET /rotas/{rota_id}/visits/{visit_id}/cover?without=<member id>...`` (coordinators of the
rota's co-op, like every other rota read). It reads the rota through the rota service
(``get_rota``, ``rota_problem``, ``rota_file``: the same authorization), asks the ranking of
``scheduler.cover`` and names the carers as the co-op knows them. Taking an option is an
ordinary hand edit (``PUT .../assignment``), checked by the checker like any other.

The ranking places the visit at the cheapest place of each carer's day where every other
visit keeps its start (``scheduler.cover``'s default), so an option is exactly one hand edit
and the evaluator, which keeps every rule, already found it lawful. ``check=N`` also runs the
whole-week checker on the first N options beforehand (``breaks``; about 0.4 s each on a
500-client week, so off by default); every option is checked again when taken, like any hand
edit.

The compiled week (``CoverSession``) is kept per rota version and problem, so the second and
later questions about a week answer in milliseconds; a lock keeps one question at a time per
session (its state is reused between questions).

The endpoint is in the OpenAPI schema and the authorization matrix.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import Session, select

from api.deps import Coordinator, PathId, SessionDep
from api.errors import Conflict, Invalid, NotFound
from api.input import StrictJSONRoute
from api.models import Member, Visit
from api.models import Rota as RotaRow
from api.services import rotas
from api.services.problem_builder import carer_key
from api.services.wording import humanize, names_of
from scheduler.checker import check
from scheduler.cover import CoverSession
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment, Rota, RotaError, rota_from_dict


class CoverOptionPublic(BaseModel):
    member_id: int
    full_name: str
    #: every carer of the visit with this option, in role order (member ids)
    carer_ids: list[int]
    start: dt.datetime
    #: change of the rota's objective against the rota without the visit (or without the role)
    objective_delta: float
    #: what covering it this way costs beyond the visit's own uncovered penalty (travel, faces,
    #: lateness, pay): the figure to compare options by
    cost: float
    extra_travel_minutes: int
    new_face: bool
    lateness_minutes: int
    #: the rules this visit's change alone would break (the ranking may have moved the carer's
    #: other visits later to make room; a hand edit moves one visit): empty when it can be taken
    #: ``None``: not checked beforehand (it is checked when taken)
    breaks: list[str] | None = None


class CoverRefusalPublic(BaseModel):
    member_id: int
    full_name: str
    reason: str


class CoverPublic(BaseModel):
    rota_id: int
    visit_id: int
    label: str
    without: list[int]
    options: list[CoverOptionPublic]
    refused: list[CoverRefusalPublic]
    seconds: float


_SESSIONS: OrderedDict[tuple[str, int, str], tuple[CoverSession, threading.Lock]] = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
KEEP_SESSIONS = 4


def _session_for(session: Session, actor: Member, rota: RotaRow) -> tuple[Problem, CoverSession,
                                                                          threading.Lock]:
    """The compiled week of a rota version. A version's problem never changes (hand edits change
    its assignments and clear its pins, which the question ignores), so the version, in this
    database, is the key."""
    assert rota.id is not None
    key = (str(session.get_bind().engine.url), rota.id, rota.created_at.isoformat())
    with _SESSIONS_LOCK:
        hit = _SESSIONS.get(key)
        if hit is not None:
            _SESSIONS.move_to_end(key)
            return hit[0].problem, hit[0], hit[1]
    problem = problem_from_dict({**rotas.rota_problem(session, actor, rota.id), "pinned": []})
    made = (CoverSession(problem), threading.Lock())
    with _SESSIONS_LOCK:
        _SESSIONS[key] = made
        while len(_SESSIONS) > KEEP_SESSIONS:
            _SESSIONS.popitem(last=False)
    return problem, made[0], made[1]


def _member_of(key: str) -> int:
    return int(key[1:]) if key.startswith("m") and key[1:].isdigit() else 0


def _breaks(problem: Problem, rota: Rota, key: str, carers: tuple[str, ...], start: int,
            names: dict[str, str]) -> list[str]:
    """What the checker says of the rota with only this visit changed (as a hand edit makes it)."""
    changed = Rota(problem=rota.problem, status="feasible",
                   assignments=[*(a for a in rota.assignments if a.visit != key),
                                Assignment(key, carers, start)],
                   unassigned=[u for u in rota.unassigned if u.visit != key])
    report = check(problem, changed)
    return [f"{v.rule}: {humanize(v.message, names)}" for v in report.violations
            if v.rule not in ("objective", "kpis")]


def cover_options(session: Session, actor: Member, rota_id: int, visit_id: int,
                  without: list[int], limit: int = 10, check_first: int = 0) -> CoverPublic:
    """The carers who could take visit ``visit_id`` of rota ``rota_id`` (its open role: all of
    it when uncovered, else the roles of the carers in ``without``), cheapest first."""
    stored = rotas.rota_file(session, actor, rota_id)   # coordinator of the co-op, as GET /rotas/{id}/file
    row = session.get(RotaRow, rota_id)
    visit = session.exec(select(Visit).where(Visit.rota_id == rota_id,
                                             Visit.week_visit_id == visit_id)).first()
    if row is None or visit is None:
        raise NotFound(f"visit {visit_id} not found in rota {rota_id}")
    if str(visit.status) not in ("planned", "unassigned"):
        raise Conflict(f"visit {visit_id} is {visit.status}; it can no longer be changed")
    carer_ids = list(visit.carer_ids)
    for i, m in enumerate(without):
        if m not in carer_ids:
            raise Invalid("the request is not valid", [f"without[{i}]: member {m} is not on this visit"])
    problem, cover, lock = _session_for(session, actor, row)
    try:
        rota = rota_from_dict(stored, problem)
    except RotaError as exc:
        raise Conflict("the stored rota cannot be read: " + "; ".join(exc.errors[:5])) from None
    names = names_of(row.problem)
    with lock:
        try:
            answer = cover.ask(rota, visit.key, {carer_key(m) for m in without}, limit)
        except (KeyError, ValueError) as exc:
            raise Conflict(f"visit {visit_id}: {exc}") from None
    options = [CoverOptionPublic(member_id=_member_of(o.carer), full_name=names.get(o.carer, o.carer),
                                 carer_ids=[_member_of(c) for c in o.carers], start=problem.time_of(o.start),
                                 objective_delta=round(o.objective_delta, 6), cost=round(o.cost, 6),
                                 extra_travel_minutes=o.extra_travel, new_face=o.new_face,
                                 lateness_minutes=o.lateness) for o in answer.options]
    for o, public in zip(answer.options[:check_first], options, strict=False):
        public.breaks = _breaks(problem, rota, visit.key, o.carers, o.start, names)
    refused = [CoverRefusalPublic(member_id=_member_of(c), full_name=names.get(c, c),
                                  reason=humanize(why, names)) for c, why in answer.refused]
    return CoverPublic(rota_id=rota_id, visit_id=visit_id, label=visit.label, without=list(without),
                       options=options, refused=refused, seconds=round(answer.seconds, 4))


router = APIRouter(route_class=StrictJSONRoute, tags=["rotas"])


@router.get("/rotas/{rota_id}/visits/{visit_id}/cover", response_model=CoverPublic)
def who_can_cover(rota_id: PathId, visit_id: PathId, session: SessionDep, member: Coordinator,
                  without: Annotated[list[int], Query(max_length=4)] = [],  # noqa: B006
                  limit: Annotated[int, Query(ge=1, le=50)] = 10,
                  check: Annotated[int, Query(ge=0, le=50)] = 0) -> CoverPublic:
    """Who can cover this visit: the carers allowed for its open role (all of it when
    uncovered; ``without`` names carers on it who cannot come), ranked by the change in the
    rota's objective, each with extra travel, new face and lateness, the first ``check`` with
    what taking it alone would break; and why the others cannot."""
    return cover_options(session, member, rota_id, visit_id, without, limit, check)


__all__ = ["CoverPublic", "cover_options", "router"]
