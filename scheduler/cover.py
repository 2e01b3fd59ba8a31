""""Who can cover this?": carers ranked for one visit of a rota, by what each would cost.

A coordinator asks it of an uncovered visit, or of a covered one whose carer just called in
sick (``without={"ann"}``). For every carer who may fill the open role (skills, volunteer
rule, exclusions, gender: ``scheduler.candidates``), the evaluator of the local search
(``scheduler.search``) tries every position of that carer's day with every rule exact, and
keeps the cheapest. The options are ranked by the change in the rota's objective, with its
parts a person weighs: extra travel, a new face for the client, lateness. Taking one gives a
rota the checker accepts, with exactly that change in its objective (``tests/test_cover.py``).

``CoverSession(problem)`` builds the compiled instance once. It does not go through
``build_options`` (one ``Option`` object per carer, visit and role: a million on a 500-client
week, 10 s of the first question): :func:`eligibility` works out the same eligibility matrix
and candidate lists with numpy, from the same rules (``role_allows`` for skills, volunteers,
exclusions, gender and pins; ``start_range`` and the availability intervals for timing), and
``tests/test_cover.py`` holds the two equal on varied weeks. The first question of a process
also compiles the core's struct constructors (not cached by numba): :func:`warm_up` does that
ahead, on a tiny week. Each question after the build loads the rota and answers in 30-90 ms
on a 500-client week, so a service keeps one session per problem.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from scheduler.candidates import role_allows, visit_day
from scheduler.model.context import Weights
from scheduler.problem import Problem
from scheduler.rota import Rota
from scheduler.search import core, operators
from scheduler.search.core import Inst
from scheduler.search.engine import Live, Search
from scheduler.search.instance import build_instance
from scheduler.search.params import SearchParams

__all__ = ["CoverAnswer", "CoverOption", "CoverSession", "eligibility", "warm_up", "who_can_cover"]


@dataclass(frozen=True)
class CoverOption:
    carers: tuple[str, ...]      # every role of the visit, in role order (the new one included)
    carer: str                   # the carer this option adds
    start: int                   # minute from the horizon start
    objective_delta: float       # change of the objective against the rota without the visit
    cost: float                  # what covering it this way costs beyond the visit's own
                                 # uncovered penalty (travel, faces, lateness, pay...): the
                                 # figure to compare (objective_delta + that penalty)
    extra_travel: int            # travel minutes added to the rota
    new_face: bool               # the client has no other visit from this carer in the rota
    lateness: int                # minutes after the visit's latest start


@dataclass(frozen=True)
class CoverAnswer:
    visit: str
    options: tuple[CoverOption, ...]
    refused: tuple[tuple[str, str], ...]  # (carer, why not), carers allowed for the role
    seconds: float


class CoverSession:
    """The compiled week, built once; ``ask`` answers for any rota of this problem."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.weights = Weights(problem)
        self.day_of_visit = [visit_day(problem, v) for v in problem.visits]
        # the instance of build_instance(problem, build_options(problem)), without the options
        inst = build_instance(problem, [], self.weights, self.day_of_visit)
        elig, cand_ptr, cand = eligibility(problem, inst)
        self.search = _PrebuiltSearch(problem, inst._replace(elig=elig, cand_ptr=cand_ptr, cand=cand),
                                      self.weights)
        self.index = {v.id: i for i, v in enumerate(problem.visits)}
        self.carer_index = {c.id: i for i, c in enumerate(problem.carers)}
        self._keep: tuple[np.ndarray, int] | None = None

    def ask(self, rota: Rota, visit_id: str, without: Iterable[str] = (), limit: int = 10,
            keep_others: bool = True) -> CoverAnswer:
        """``keep_others``: only places where every other visit keeps its start (so taking an
        option is one hand edit of this visit); False also allows places that push the
        carer's later visits (or a partner's) later, as the solver would."""
        t0 = time.monotonic()
        p, search = self.problem, self.search
        if visit_id not in self.index:
            raise KeyError(f"visit '{visit_id}' is not in the problem")
        vi = self.index[visit_id]
        banned = set(without)
        assign = {self.index[a.visit]: (tuple(self.carer_index[c] for c in a.carers), a.start)
                  for a in rota.assignments if a.visit != visit_id}
        live = search.empty_state()
        if not search.load(live, assign):
            raise ValueError("the rota breaks a rule: check it first (carerota check)")
        kept = next((a.carers for a in rota.assignments if a.visit == visit_id), None)
        visit = p.visits[vi]
        # the roles to fill: all of them for an uncovered visit, else those of the banned carers
        fixed = {r: c for r, c in enumerate(kept) if c not in banned} if kept is not None else {}
        open_roles = [r for r in range(len(visit.roles)) if r not in fixed]
        if not open_roles:
            return CoverAnswer(visit_id, (), (), time.monotonic() - t0)
        inst, nd = search.inst, int(search.inst.dims[2])
        st, iref, ref = live.a, search.iref, live.ref
        self._keep = (st.v_S.copy(), vi) if keep_others else None
        s0, day, scale = int(inst.v_stop0[vi]), int(inst.v_day[vi]), self.weights.scale
        base = search.objective(live)
        role = open_roles[0]
        options: list[CoverOption] = []
        refused: list[tuple[str, str]] = []
        for ci, carer in enumerate(p.carers):
            if carer.id in banned or carer.id in fixed.values() or not role_allows(p, carer, visit, role):
                continue
            core.savepoint(ref)
            travel0 = int(st.tot[core.T_TRAVEL])
            face = int(st.kc[int(inst.v_client[vi]), ci]) == 0
            # the kept roles stay with their carers (at their cheapest places), the open role
            # goes to this carer, any further open role to its cheapest carer
            ok = all(self._best_on(live, s0 + r, self.carer_index[cid] * nd + day)
                     for r, cid in fixed.items())
            ok = ok and self._best_on(live, s0 + role, ci * nd + day)
            if ok and len(open_roles) > 1:
                ok = bool(operators.best_insert(iref, ref, vi, 0.0, 1 << 20))
            if ok and int(st.v_cov[vi]) == int(inst.v_nroles[vi]):
                start = int(st.v_S[vi])
                options.append(CoverOption(
                    carers=tuple(p.carers[int(st.s_route[s0 + r]) // nd].id for r in range(len(visit.roles))),
                    carer=carer.id, start=start, objective_delta=(search.objective(live) - base) / scale,
                    cost=(search.objective(live) - base + int(inst.v_pen[vi])) / scale,
                    extra_travel=int(st.tot[core.T_TRAVEL]) - travel0, new_face=face,
                    lateness=max(0, start - visit.latest_start)))
            else:
                refused.append((carer.id, self._why_not(ci, vi)))
            core.rollback(iref, ref)
        options.sort(key=lambda o: (o.objective_delta, o.extra_travel, o.carer))
        return CoverAnswer(visit_id, tuple(options[:limit]), tuple(refused), time.monotonic() - t0)

    def _best_on(self, live: Live, s: int, k: int) -> bool:
        """Put stop ``s`` at its cheapest lawful position of route ``k`` (True), or change
        nothing (False)."""
        iref, ref = self.search.iref, live.ref
        best_val, best_pos = None, -1
        for pos in range(int(live.a.r_len[k]) + 1):
            core.savepoint(ref)
            ok = bool(core.insert_stop(iref, ref, k, pos, s)) and bool(core.evaluate(iref, ref))
            ok = ok and self._others_kept(live)
            val = int(core.objective(iref, ref)) if ok else None
            core.rollback(iref, ref)
            if val is not None and (best_val is None or val < best_val):
                best_val, best_pos = val, pos
        if best_pos < 0:
            return False
        return bool(core.insert_stop(iref, ref, k, best_pos, s)) and bool(core.evaluate(iref, ref))

    def _others_kept(self, live: Live) -> bool:
        if self._keep is None:
            return True
        starts, vi = self._keep
        st = live.a
        moved = np.flatnonzero((st.v_S != starts) & (st.v_cov > 0))
        return bool(((moved == vi) | (moved < 0)).all())

    def _why_not(self, ci: int, vi: int) -> str:
        p = self.problem
        visit, carer = p.visits[vi], p.carers[ci]
        lo, hi = visit.earliest_start, visit.last_start + visit.duration_minutes
        if not any(iv.start < hi and iv.end > lo for iv in carer.availability):
            return "not working then"
        return ("no place in their day keeps every rule with their other visits where they are "
                "(travel, caps or rest)")


class _PrebuiltSearch(Search):
    """The local search's evaluator over an instance built here (``Search.__init__`` builds it
    from ``Option`` objects, the slow part this module avoids); the rest is ``Search``'s."""

    def __init__(self, problem: Problem, inst: Inst, weights: Weights):
        # deliberately not Search.__init__: its only other work is building ``inst``
        self.problem, self.params, self.inst = problem, SearchParams(), inst
        self.iref = core.inst_ref(inst)
        self.scale = weights.scale
        stop_has = np.diff(inst.cand_ptr) > 0
        starts, nroles = inst.v_stop0.astype(np.int64), inst.v_nroles.astype(np.int64)
        self.insertable = np.array([bool(stop_has[a:a + n].all())
                                    for a, n in zip(starts, nroles, strict=True)], bool)
        self.multi = np.flatnonzero(inst.v_nroles > 1).astype(np.int64)


def eligibility(problem: Problem, inst: Inst) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(elig, cand_ptr, cand)`` exactly as ``build_instance`` makes them from
    ``build_options(problem)``: carer ``c`` may fill stop ``s`` when ``role_allows`` and one of
    the carer's availability intervals holds the role's duration with a start in the visit's
    ``start_range`` (``inst.v_e``..``inst.v_last``); each stop's candidates nearest first
    (travel minutes from home, then carer index)."""
    visits, carers = problem.visits, problem.carers
    nc, nk, ns = len(carers), int(inst.dims[3]), int(inst.dims[4])
    elig = np.zeros((ns, nc), np.uint8)
    if ns == 0 or nc == 0:
        return elig, np.zeros(ns + 1, np.int32), np.zeros(0, np.int32)
    # the static part, role_allows taken apart into what it reads, each worked out once per
    # distinct value: the skills (per skill set, and day when a skill expires), the volunteer
    # rule, the client's exclusions and gender preference; a pinned visit asks role_allows itself
    dated = any(c.skills_until for c in carers)
    is_volunteer = np.array([c.is_volunteer for c in carers], bool)
    by_skills: dict[tuple[frozenset[str], int], np.ndarray] = {}
    by_client: dict[str, np.ndarray] = {}
    allowed = np.zeros((ns, nc), bool)
    for s in range(ns):
        vi, r = int(inst.s_visit[s]), int(inst.s_role[s])
        visit = visits[vi]
        if visit.id in problem.pin_by_visit:
            allowed[s] = [role_allows(problem, c, visit, r) for c in carers]
            continue
        need = visit.roles[r].skills
        day = visit_day(problem, visit) if dated else -1
        skilled = by_skills.get((need, day))
        if skilled is None:
            at = problem.day_start(visit_day(problem, visit))
            skilled = by_skills[(need, day)] = np.array(
                [need <= (c.skills_at(at) if c.skills_until else c.skills) for c in carers], bool)
        welcome = by_client.get(visit.client)
        if welcome is None:
            k = problem.client_by_id[visit.client]
            pref = k.gender_preference
            welcome = by_client[visit.client] = np.array(
                [c.id not in k.excluded_carers and (pref is None or c.gender == pref) for c in carers], bool)
        allowed[s] = skilled & welcome & (~is_volunteer if not visit.volunteer_ok else True)
    # timing: an interval [a, b] of the carer holds a start in [lo, hi] with the role's duration
    lo = inst.v_e[inst.s_visit].astype(np.int64)      # build_instance's start_range per visit
    hi = inst.v_last[inst.s_visit].astype(np.int64)
    dur = inst.s_dur.astype(np.int64)
    timed = np.zeros((ns, nc), bool)
    for ci, c in enumerate(carers):   # a few intervals per carer, every stop at once
        for iv in c.availability:
            timed[:, ci] |= np.maximum(lo, iv.start) <= np.minimum(hi, iv.end - dur)
    ok = allowed & timed
    elig[ok] = 1
    # candidates nearest first: travel minutes from the carer's home to the client, then index
    home = np.arange(nc) + nk
    dist = inst.tt[inst.c_speed[None, :], home[None, :], np.arange(nk)[:, None]]   # [client, carer]
    order = np.argsort(dist, axis=1, kind="stable")[inst.v_client[inst.s_visit]]  # [stop, rank]
    ranked = np.take_along_axis(ok, order, axis=1)
    rows_i, ranks = np.nonzero(ranked)   # row-major: stop by stop, nearest first
    cand = order[rows_i, ranks].astype(np.int32)
    cand_ptr = np.zeros(ns + 1, np.int32)
    cand_ptr[1:] = np.cumsum(ranked.sum(axis=1))
    return elig, cand_ptr, cand


_warm = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Compile what the first question of a process would (the core's struct constructors,
    which numba does not cache) on a tiny week: call it ahead, e.g. in a thread at start-up."""
    global _warmed
    with _warm:
        if _warmed:
            return
        from scheduler.example import generate_problem
        from scheduler.problem import problem_from_dict

        problem = problem_from_dict(generate_problem(clients=1, seed=0))
        empty = Rota(problem=problem.name, status="feasible", assignments=[], unassigned=[])
        CoverSession(problem).ask(empty, problem.visits[0].id)
        _warmed = True


_sessions: dict[int, CoverSession] = {}


def who_can_cover(problem: Problem, rota: Rota, visit_id: str, without: Iterable[str] = (),
                  limit: int = 10, keep_others: bool = True) -> CoverAnswer:
    """One question; the compiled week is kept for the next question about the same problem."""
    session = _sessions.get(id(problem))
    if session is None or session.problem is not problem:
        _sessions.clear()
        session = _sessions[id(problem)] = CoverSession(problem)
    return session.ask(rota, visit_id, without, limit, keep_others)
