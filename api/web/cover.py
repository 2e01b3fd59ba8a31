""""Who can cover this?" for a visit of a stored rota: ``scheduler.cover`` behind the API.

A new service function (:func:`cover_options`) and its bearer-token endpoint
``GET /rotas/{rota_id}/visits/{visit_id}/cover?without=<member id>...`` (coordinators of the
rota's co-op, like every other rota read). It checks the rota as ``GET /rotas/{id}/file``
does (in the caller's co-op, one read-log entry per client on it) but reads only the columns
it needs (the rota file; the problem only when the week is not built yet), asks the ranking
of ``scheduler.cover`` and names the carers as the co-op knows them. Taking an option is an
ordinary hand edit (``PUT .../assignment``), checked by the checker like any other.

The ranking places the visit at the cheapest place of each carer's day where every other
visit keeps its start (``scheduler.cover``'s default), so an option is exactly one hand edit
and the evaluator, which keeps every rule, already found it lawful. ``check=N`` also runs the
whole-week checker on the first N options beforehand (``breaks``; about 0.4 s each on a
500-client week, so off by default); every option is checked again when taken, like any hand
edit.

The compiled week (``CoverSession``) is kept per problem (the rota's problem without its pins,
so the versions a hand edit makes share it): the board builds it in a thread for the rota it
shows (:func:`prebuild`), and a question finds it built, waits for the build under way, or
builds it; a lock keeps one question at a time per week (its state is reused between
questions).

The endpoint is in the OpenAPI schema and the authorization matrix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import Session, col, select

from api.deps import Coordinator, PathId, SessionDep
from api.errors import Conflict, Invalid, NotFound
from api.input import StrictJSONRoute
from api.models import Member, Visit
from api.models import Rota as RotaRow
from api.services import access_log as audit
from api.services.problem_builder import carer_key
from api.services.wording import humanize, names_of
from scheduler.checker import check
from scheduler.cover import CoverSession, warm_up
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


@dataclass
class _Week:
    """A compiled week, being built (``done`` unset) or built (``cover`` or ``error`` set)."""

    done: threading.Event = field(default_factory=threading.Event)
    problem: Problem | None = None
    cover: CoverSession | None = None
    names: dict[str, str] = field(default_factory=dict)   # carer and client ids -> names
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)   # one question at a time


_SESSIONS: OrderedDict[tuple[str, str], _Week] = OrderedDict()
_FINGERPRINTS: OrderedDict[tuple[str, int], str] = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
KEEP_SESSIONS = 4
#: build the compiled week in a thread when the board shows a rota (so the first question
#: finds it built); tests of the question itself may turn it off
PREBUILD = True
log = logging.getLogger("carerota.web.cover")


def _fingerprint(url: str, rota_id: int, problem: Callable[[], str]) -> str:
    """What the compiled week depends on: the rota's problem, as stored (its text: hashed
    without decoding it). A version's problem never changes once stored, so this is worked out
    once per version; the versions hand edits make store the same problem (a hand edit empties
    the pins, already empty but after a re-solve of a published rota, which then builds once
    more), so they share their week."""
    with _SESSIONS_LOCK:
        known = _FINGERPRINTS.get((url, rota_id))
    if known is not None:
        return known
    made = hashlib.sha256(problem().encode()).hexdigest()
    with _SESSIONS_LOCK:
        _FINGERPRINTS[(url, rota_id)] = made
        while len(_FINGERPRINTS) > 64:
            _FINGERPRINTS.popitem(last=False)
    return made


def _week_of(url: str, rota_id: int, problem: Callable[[], str]) -> _Week:
    """The compiled week of the rota's problem (``problem`` reads it, only when needed): built
    here if nobody has, else (being) built by another request or the board's prebuild, which
    this one waits for."""
    key = (url, _fingerprint(url, rota_id, problem))
    with _SESSIONS_LOCK:
        week = _SESSIONS.get(key)
        mine = week is None
        if week is None:
            week = _SESSIONS[key] = _Week()
            while len(_SESSIONS) > KEEP_SESSIONS:
                _SESSIONS.popitem(last=False)
        else:
            _SESSIONS.move_to_end(key)
    if mine:
        try:
            raw = json.loads(problem())
            week.names = names_of(raw)
            week.problem = problem_from_dict({**raw, "pinned": []})
            week.cover = CoverSession(week.problem)
        except Exception as exc:   # recorded for every waiter; the next question builds again
            week.error = f"{type(exc).__name__}: {exc}"
            with _SESSIONS_LOCK:
                if _SESSIONS.get(key) is week:
                    del _SESSIONS[key]
        finally:
            week.done.set()
    else:
        week.done.wait()
    return week


def _problem_of(session: Session, rota_id: int) -> Callable[[], str]:
    """A reader of the rota's problem column alone, as its stored JSON text (read at most once)."""
    got: list[str] = []

    def read() -> str:
        if not got:
            text = sa.select(sa.cast(col(RotaRow.problem), sa.Text)).where(col(RotaRow.id) == rota_id)
            got.append(session.connection().execute(text).scalar_one())
        return got[0]

    return read


def start_warm_up() -> None:
    """Compile the core's struct constructors in a thread (once per process), so the first
    question of a service just started does not wait for it."""
    def work() -> None:
        try:
            warm_up()
        except Exception:
            log.warning("the who-can-cover warm-up failed", exc_info=True)

    threading.Thread(target=work, name="carerota-cover-warm-up", daemon=True).start()


def prebuild(session: Session, rota_id: int) -> None:
    """Build the compiled week of rota ``rota_id`` in a thread (nothing when it is built or
    being built), after compiling the core on a tiny week: the board and a visit's page call
    this for their rota, the progress view for the draft its solve made, so the coordinator's
    first "who can cover this?" finds it ready."""
    if not PREBUILD:
        return
    engine = session.get_bind().engine
    with _SESSIONS_LOCK:   # built, or being built: nothing to start
        known = _FINGERPRINTS.get((str(engine.url), rota_id))
        if known is not None and (str(engine.url), known) in _SESSIONS:
            return

    def work() -> None:
        try:
            warm_up()
            with Session(engine) as s:
                _week_of(str(engine.url), rota_id, _problem_of(s, rota_id))
        except Exception:   # a prebuild is an optimisation: the question builds it again
            log.warning("prebuilding the compiled week of rota %s failed", rota_id, exc_info=True)

    threading.Thread(target=work, name=f"carerota-cover-{rota_id}", daemon=True).start()


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
    # the rota service's check (GET /rotas/{id}/file: the caller's co-op) and its read log, on
    # the columns this needs: the rota row's JSON (10 MB of a 500-client week, decoded twice as
    # the log's commit expires it) took most of a question
    table = RotaRow.__table__   # type: ignore[attr-defined]
    found = session.connection().execute(sa.select(table.c.coop_id, table.c.rota_file)
                                         .where(table.c.id == rota_id)).first()
    if found is None or found[0] != actor.coop_id:
        raise NotFound(f"rota {rota_id} not found")
    stored: dict[str, Any] = found[1]
    client_ids = session.connection().execute(
        sa.select(col(Visit.client_id)).where(col(Visit.rota_id) == rota_id).distinct()).scalars().all()
    audit.log_read(session, actor, [audit.client_record("rota", rota_id, c) for c in sorted(client_ids)])
    visit = session.exec(select(Visit).where(Visit.rota_id == rota_id,
                                             Visit.week_visit_id == visit_id)).first()
    if visit is None:
        raise NotFound(f"visit {visit_id} not found in rota {rota_id}")
    if str(visit.status) not in ("planned", "unassigned"):
        raise Conflict(f"visit {visit_id} is {visit.status}; it can no longer be changed")
    carer_ids = list(visit.carer_ids)
    for i, m in enumerate(without):
        if m not in carer_ids:
            raise Invalid("the request is not valid", [f"without[{i}]: member {m} is not on this visit"])
    week = _week_of(str(session.get_bind().engine.url), rota_id, _problem_of(session, rota_id))
    if week.cover is None or week.problem is None:
        raise Conflict(f"the rota's week could not be prepared for the question: {week.error}")
    problem, cover, lock, names = week.problem, week.cover, week.lock, week.names
    try:
        rota = rota_from_dict(stored, problem)
    except RotaError as exc:
        raise Conflict("the stored rota cannot be read: " + "; ".join(exc.errors[:5])) from None
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


__all__ = ["CoverPublic", "cover_options", "prebuild", "router"]
