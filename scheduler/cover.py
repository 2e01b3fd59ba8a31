""""Who can cover this?": carers ranked for one visit of a rota, by what each would cost.

A coordinator asks it of an uncovered visit, or of a covered one whose carer just called in
sick (``without={"ann"}``). For every carer who may fill the open role (skills, volunteer
rule, exclusions, gender: ``scheduler.candidates``), the evaluator of the local search
(``scheduler.search``) tries every position of that carer's day with every rule exact, and
keeps the cheapest. The options are ranked by the change in the rota's objective, with its
parts a person weighs: extra travel, a new face for the client, lateness. Taking one gives a
rota the checker accepts, with exactly that change in its objective (``tests/test_cover.py``).

``CoverSession(problem)`` builds the compiled instance once (9.5 s on a 500-client week of
8,841 visits, every carer kept for every role); each question after that loads the rota and
answers in 30-90 ms there (measured on this 2-core machine, shared), so a service keeps one
session per week and the 1 s target holds from the second question on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from scheduler.candidates import build_options, role_allows, visit_day
from scheduler.model.context import Weights
from scheduler.problem import Problem
from scheduler.rota import Rota
from scheduler.search import core, operators
from scheduler.search.engine import Live, Search

__all__ = ["CoverAnswer", "CoverOption", "CoverSession", "who_can_cover"]


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
        self.search = Search(problem, build_options(problem), self.weights, self.day_of_visit)
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


_sessions: dict[int, CoverSession] = {}


def who_can_cover(problem: Problem, rota: Rota, visit_id: str, without: Iterable[str] = (),
                  limit: int = 10, keep_others: bool = True) -> CoverAnswer:
    """One question; the compiled week is kept for the next question about the same problem."""
    session = _sessions.get(id(problem))
    if session is None or session.problem is not problem:
        _sessions.clear()
        session = _sessions[id(problem)] = CoverSession(problem)
    return session.ask(rota, visit_id, without, limit, keep_others)
