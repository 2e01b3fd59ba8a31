"""The weekly solve: a compiled local search over routes, and CP-SAT where it is strong.

Pinned visits are placed first (by CP-SAT: pins can conflict, and it proves so). The local
search (``scheduler.search``) then builds a first rota by cheapest insertion and improves
it by simulated annealing over carers' days as routes, with every rule of the spec exact
in every move (``scheduler.search.core``). Small weeks finish with the exact whole-week
CP-SAT model (``scheduler.model``), hinted with the search's rota, which proves a bound;
its rota is kept when it is better. Every objective is the search evaluator's, computed
from the rota alone, and the independent checker holds it to account.
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from scheduler.candidates import Option, build_options, visit_day
from scheduler.model import RULES, FixedPart, ModelContext, Scope, Weights
from scheduler.model.context import Entity
from scheduler.problem import PRIORITIES, Problem
from scheduler.rota import Assignment, Rota, Unassigned, gap_of
from scheduler.search import core, operators
from scheduler.search.engine import Live, Search
from scheduler.search.params import SearchParams

# Above this many potential "b follows a" arcs the week is solved by the local search alone.
EXACT_ARC_LIMIT = 20_000
# Below this the whole-week model alone is best; between the two, the search first, then exact.
EXACT_ALONE_ARCS = 3_000
# Above this many visit x carer pairs, each role keeps only its nearest eligible carers.
PRUNE_PAIRS = 150_000
NEAREST_CARERS = 60
# Share of the time the local search gets before the whole-week model, on tiny and mid weeks.
EXACT_SMALL_SHARE = 0.25
EXACT_MID_SHARE = 0.6
# ... and on tiny weeks at most this many seconds: the model proves them in a moment, and the
# search only has to give it a first rota
EXACT_SMALL_SEARCH_MAX = 1.0
# When the first rota leaves essential visits uncovered, this share of the time limit (at most
# BOUND_MAX_SECONDS) goes to proving how many essential visits any rota could cover.
BOUND_SHARE = 0.1
BOUND_MAX_SECONDS = 20.0
# best_insert's "positions before the visit's earliest start" that means all of them
EVERY_POSITION = 1 << 20


@dataclass
class SolveOptions:
    time_limit: float = 30.0
    workers: int = 0  # 0: one per core
    seed: int = 0
    strategy: str = "auto"  # "auto" | "exact" | "search" ("lns": the old name of "search")
    log: bool = False

    @property
    def num_workers(self) -> int:
        return self.workers if self.workers > 0 else max(1, os.cpu_count() or 1)

    @property
    def deterministic(self) -> bool:
        """One worker and a fixed seed: the same input gives the same rota."""
        return self.num_workers == 1


@dataclass
class Progress:
    elapsed: float
    objective: float
    bound: float | None
    covered: int
    visits: int
    phase: str

    @property
    def gap(self) -> float | None:
        return gap_of(self.objective, self.bound)


ProgressCallback = Callable[[Progress], None]


@dataclass
class _State:
    """The current rota, as the LNS keeps it."""

    assign: dict[int, tuple[tuple[int, ...], int]] = field(default_factory=dict)
    day_work: dict[tuple[int, int], int] = field(default_factory=dict)
    day_span: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    day_travel: dict[tuple[int, int], int] = field(default_factory=dict)
    day_visits: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    day_last: dict[tuple[int, int], int] = field(default_factory=dict)  # visit ending the day
    entity: dict[Entity, int] = field(default_factory=dict)

    @property
    def objective(self) -> int:
        return sum(self.entity.values())


class Solver:
    def __init__(self, problem: Problem, options: SolveOptions, progress: ProgressCallback | None):
        self.problem = problem
        self.opts = options
        self.progress = progress
        self.t0 = time.monotonic()
        self.search_params = SearchParams()
        self.weights = Weights(problem)
        self.day_of_visit = [visit_day(problem, v) for v in problem.visits]
        pairs = len(problem.visits) * len(problem.carers)
        self.pruned = pairs > PRUNE_PAIRS
        self.options: list[Option] = build_options(problem, NEAREST_CARERS if self.pruned else None)
        self.candidates: dict[int, set[int]] = defaultdict(set)       # visit -> carers
        self.carer_day_visits: dict[tuple[int, int], set[int]] = defaultdict(set)
        for o in self.options:
            self.candidates[o.visit].add(o.carer)
            self.carer_day_visits[(o.carer, self.day_of_visit[o.visit])].add(o.visit)
        self.all_carer_days = set(self.carer_day_visits)
        self.options_of_carer_day: dict[tuple[int, int], list[Option]] = defaultdict(list)
        for o in self.options:
            self.options_of_carer_day[(o.carer, self.day_of_visit[o.visit])].append(o)
        self.stats: dict[str, Any] = {"options": len(self.options), "build_seconds": 0.0,
                                      "solve_seconds_cp": 0.0, "iterations": 0, "improvements": 0,
                                      "max_model_vars": 0, "max_model_constraints": 0}
        self.best_bound: int | None = None
        self.status = "unknown"
        self.coverage: dict[str, Any] | None = None

    # -- helpers ------------------------------------------------------------------------
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def estimated_arcs(self) -> int:
        return sum(len(v) ** 2 for v in self.carer_day_visits.values())

    def _initial_state(self) -> _State:
        st = _State()
        w = self.weights
        for vi, v in enumerate(self.problem.visits):
            st.entity[("visit", vi)] = w.unassigned(v.priority)
        for ci, c in enumerate(self.problem.carers):
            if c.contracted_minutes and not c.is_volunteer:
                st.entity[("carer", ci)] = c.contracted_minutes * w.w["contract_shortfall"]
        return st

    def _fixed_part(self, st: _State, scope: Scope) -> FixedPart:
        fixed = FixedPart()
        fixed.assignment = {vi: a for vi, a in st.assign.items() if vi not in scope.visits}
        fixed.day_work = {k: v for k, v in st.day_work.items() if k not in scope.carer_days}
        fixed.day_span = {k: v for k, v in st.day_span.items() if k not in scope.carer_days}
        for key in fixed.day_span:
            fixed.day_first[key] = st.day_visits[key][0]
            fixed.day_last[key] = st.day_last[key]
        return fixed

    def _build(self, st: _State, scope: Scope, options: list[Option] | None = None) -> ModelContext:
        t = time.monotonic()
        if options is None:  # only the options of the scope's carer-days (the model filters visits)
            options = [o for key in scope.carer_days for o in self.options_of_carer_day.get(key, ())]
        ctx = ModelContext(self.problem, scope, self._fixed_part(st, scope), options, self.weights,
                           self.day_of_visit)
        for rule in RULES:
            rule(ctx)
        ctx.model.minimize(sum(t.coef * t.expr for t in ctx.terms))
        self._hint(ctx, st)
        self.stats["build_seconds"] += time.monotonic() - t
        proto = ctx.model.proto
        self.stats["max_model_vars"] = max(self.stats["max_model_vars"], len(proto.variables))
        self.stats["max_model_constraints"] = max(self.stats["max_model_constraints"],
                                                  len(proto.constraints))
        return ctx

    def _hint(self, ctx: ModelContext, st: _State) -> None:
        m = ctx.model
        for vi in ctx.scope.visits:
            a = st.assign.get(vi)
            m.add_hint(ctx.covered[vi], a is not None)
            m.add_hint(ctx.start[vi], a[1] if a else ctx.problem.visits[vi].earliest_start)
        for (ci, vi, r), x in ctx.x.items():
            a = st.assign.get(vi)
            m.add_hint(x, a is not None and a[0][r] == ci)
        for (ci, vi), does in ctx.does.items():
            if len(ctx.options_of_carer_visit[(ci, vi)]) == 1:
                continue  # the same variable as its only assign[...]
            a = st.assign.get(vi)
            m.add_hint(does, a is not None and ci in a[0])
        for (ci, vi, r), choices in ctx.window_choice.items():
            a = st.assign.get(vi)
            if len(choices) == 1:
                continue
            opt = next(o for o in ctx.options_of_carer_visit[(ci, vi)] if o.role == r)
            # the first availability window holding the current start, if this carer has it
            chosen = -1
            if a is not None and a[0][r] == ci:
                chosen = next((k for k, (lo, hi, _) in enumerate(opt.windows) if lo <= a[1] <= hi), -1)
            for k, y in enumerate(choices):
                m.add_hint(y, k == chosen)
        for key, arcs in ctx.arcs.items():
            seq = [ctx.nodes[key][vi] for vi in st.day_visits.get(key, [])]
            used = set(zip([0, *seq], [*seq, 0], strict=True)) if seq else set()
            for n_from, n_to, lit in arcs:
                if n_from == n_to:
                    continue  # self loops are negations of does/works
                m.add_hint(lit, (n_from, n_to) in used)
            m.add_hint(ctx.works[key], bool(seq))

    def _complete_hint(self, ctx: ModelContext) -> bool:
        """Turn the partial hint (the current rota) into a complete one, by propagation.

        CP-SAT starts from a complete feasible hint at once; from a partial one it may
        spend the whole time limit looking for it.
        """
        solver = self._params(5.0, workers=1, light=True)
        solver.parameters.fix_variables_to_their_hinted_value = True
        status = solver.solve(ctx.model)
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return False
        proto = ctx.model.proto
        values = [solver.value(ctx.model.get_int_var_from_proto_index(i))
                  for i in range(len(proto.variables))]
        ctx.model.clear_hints()
        for i, v in enumerate(values):
            ctx.model.add_hint(ctx.model.get_int_var_from_proto_index(i), v)
        return True

    def _params(self, time_limit: float, workers: int | None = None,
                light: bool = False) -> cp_model.CpSolver:
        solver = cp_model.CpSolver()
        p = solver.parameters
        if light:  # neighbourhood models: small, solved often; presolve probing costs more than it gives
            p.cp_model_probing_level = 0
            p.symmetry_level = 0
        p.num_workers = workers or self.opts.num_workers
        p.random_seed = self.opts.seed
        p.log_search_progress = self.opts.log
        if self.opts.deterministic:
            p.max_deterministic_time = max(0.05, time_limit)
            p.max_time_in_seconds = max(0.1, time_limit * 4)
        else:
            p.max_time_in_seconds = max(0.05, time_limit)
        return solver

    def _extract(self, ctx: ModelContext, solver: cp_model.CpSolver, st: _State) -> _State:
        """The state after the scope's solve: free parts replaced by the solver's values."""
        new = _State(assign=dict(st.assign), day_work=dict(st.day_work), day_span=dict(st.day_span),
                     day_travel=dict(st.day_travel), day_visits=dict(st.day_visits),
                     day_last=dict(st.day_last), entity=dict(st.entity))
        problem = ctx.problem
        for vi in ctx.scope.visits:
            new.assign.pop(vi, None)
            if solver.boolean_value(ctx.covered[vi]):
                visit = problem.visits[vi]
                carers = []
                for r in range(len(visit.roles)):
                    carers.append(next(o.carer for o in ctx.options_of_visit[vi]
                                       if o.role == r and solver.boolean_value(ctx.x[(o.carer, vi, r)])))
                new.assign[vi] = (tuple(carers), solver.value(ctx.start[vi]))
        by_day: dict[tuple[int, int], list[int]] = defaultdict(list)
        for vi in ctx.scope.visits:
            if vi in new.assign:
                for ci in new.assign[vi][0]:
                    by_day[(ci, self.day_of_visit[vi])].append(vi)
        for key in ctx.scope.carer_days:
            for d in (new.day_work, new.day_span, new.day_travel, new.day_visits, new.day_last):
                d.pop(key, None)
            visits = sorted(by_day.get(key, []), key=lambda vi: new.assign[vi][1])
            if not visits:
                continue
            ci = key[0]
            new.day_visits[key] = visits
            work = ctx.day_work[key]
            new.day_work[key] = work if isinstance(work, int) else solver.value(work)
            ends = [new.assign[vi][1] + self._duration(ci, vi, new.assign[vi][0]) for vi in visits]
            new.day_span[key] = (new.assign[visits[0]][1], max(ends))
            new.day_last[key] = visits[ends.index(max(ends))]
        values: dict[Entity, int] = defaultdict(int)
        for t in ctx.terms:
            v = t.expr if isinstance(t.expr, int) else solver.value(t.expr)
            values[t.entity] += t.coef * v
            if t.name.startswith("travel["):
                new.day_travel[t.entity[1:]] = v  # type: ignore[index]
        for e in ctx.entities():
            new.entity[e] = values.get(e, 0)
        return new

    def _duration(self, ci: int, vi: int, carers: tuple[int, ...]) -> int:
        return self.problem.visits[vi].role_duration(carers.index(ci))

    def _report(self, st: _State, phase: str, bound: int | None = None) -> None:
        if self.progress is None:
            return
        s = self.weights.scale
        self.progress(Progress(elapsed=self.elapsed(), objective=st.objective / s,
                               bound=None if bound is None else bound / s,
                               covered=len(st.assign), visits=len(self.problem.visits), phase=phase))

    # -- the exact path -----------------------------------------------------------------
    def solve_exact(self, st: _State, time_limit: float) -> _State:
        scope = Scope(set(self.all_carer_days), set(range(len(self.problem.visits))))
        ctx = self._build(st, scope)
        self._complete_hint(ctx)  # the constructed rota, as a complete first solution
        solver = self._params(time_limit)
        callback = _ExactProgress(self, ctx) if self.progress else None
        t = time.monotonic()
        status = solver.solve(ctx.model, callback)
        self.stats["solve_seconds_cp"] += time.monotonic() - t
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            st = self._extract(ctx, solver, st)
            # every term is non-negative, so the trivial bound holds whatever CP-SAT reports
            # proven optimal: the bound is the optimum itself (CP-SAT reports no useful bound
            # for a model whose objective is a constant)
            proved = solver.objective_value if status == cp_model.OPTIMAL else solver.best_objective_bound
            self.best_bound = max(math.ceil(proved - 1e-9), self._trivial_bound())
            self.status = "optimal" if status == cp_model.OPTIMAL else "feasible"
        elif status == cp_model.INFEASIBLE and not st.assign:
            self.status = "infeasible"
        self._report(st, "exact", self.best_bound)
        return st

    # -- the whole solve ----------------------------------------------------------------
    def run(self) -> Rota:
        st = self._initial_state()
        strategy = {"lns": "search"}.get(self.opts.strategy, self.opts.strategy)
        arcs = self.estimated_arcs()
        if strategy == "auto":
            strategy = "exact" if arcs <= EXACT_ARC_LIMIT else "search"
        self.stats["strategy"] = strategy
        self.stats["estimated_arcs"] = arcs
        st = self._place_pins(st)
        if self.status == "infeasible":
            return self._rota(st)
        t = time.monotonic()
        search = Search(self.problem, self.options, self.weights, self.day_of_visit, self.search_params)
        live = search.empty_state()
        if st.assign and not search.load(live, st.assign):
            raise RuntimeError("internal error: the pinned visits' rota breaks a rule")
        search.construct(live)
        self.stats["construct_seconds"] = round(time.monotonic() - t, 3)
        self.stats["first_solution_seconds"] = round(self.elapsed(), 3)
        self._report_search(search, live, "construct")
        # one worker: the search's budget is its share of the limit, whatever the clock says
        # (its own clock is a work count), so the same seed gives the same rota
        remaining = self.opts.time_limit if self.opts.deterministic else self.opts.time_limit - self.elapsed()
        bound_time = 0.0
        if self._essential_short(search, live):
            bound_time = min(BOUND_MAX_SECONDS, BOUND_SHARE * self.opts.time_limit)
            remaining = max(0.0, remaining - bound_time)
        if strategy == "exact" and self.opts.strategy == "auto":
            # small weeks: the local search finds a good rota fast, then the whole-week
            # model starts from it and proves a bound (alone when the model is tiny)
            budget = remaining * (EXACT_SMALL_SHARE if arcs <= EXACT_ALONE_ARCS else EXACT_MID_SHARE)
            if arcs <= EXACT_ALONE_ARCS:
                budget = min(budget, EXACT_SMALL_SEARCH_MAX)
            live = self._search(search, live, budget)
        elif strategy == "search":
            live = self._search(search, live, remaining)
        if strategy == "exact":
            if self.opts.deterministic:
                exact_time = self.opts.time_limit - (self.stats.get("search", {}).get("budget", 0.0))
            else:
                exact_time = self.opts.time_limit - self.elapsed()
            live = self._exact_from(search, live, exact_time)
        else:
            self.best_bound = self._trivial_bound()
            self.status = "feasible"
        self._coverage_bound(search, live, bound_time)
        return self._rota_from(search, live)

    def _essential_short(self, search: Search, live: Live) -> bool:
        inst = search.inst
        essential = inst.v_prio == 0
        return bool((live.a.v_cov[essential] < inst.v_nroles[essential]).any())

    def _coverage_bound(self, search: Search, live: Live, time_limit: float) -> None:
        """How many essential visits any valid rota could cover (scheduler.bound), when this
        rota leaves some uncovered; ``coverage proven maximal`` when the two meet."""
        total = sum(1 for v in self.problem.visits if v.priority == "essential")
        if not self._essential_short(search, live):
            self.coverage = {"essential_total": total, "bound": total,
                             "method": "every essential visit covered", "proven_maximal": True}
            return
        from scheduler.bound import essential_coverage_bound

        if not self.opts.deterministic:
            time_limit = max(time_limit, self.opts.time_limit - self.elapsed())
        res = essential_coverage_bound(self.problem, None, time_limit=max(0.5, time_limit),
                                       workers=self.opts.num_workers)
        inst = search.inst
        essential = inst.v_prio == 0
        covered = int((live.a.v_cov[essential] == inst.v_nroles[essential]).sum())
        # the seconds go to the stats, not the rota: the same seed must give the same file
        self.stats["coverage_bound_seconds"] = round(res.seconds, 3)
        self.coverage = {"essential_total": total, "bound": res.bound, "method": res.method,
                         "proven_maximal": covered >= res.bound}

    def _search(self, search: Search, live: Live, time_limit: float) -> Live:
        scale = self.weights.scale

        def on_improve(objective: int, covered: int) -> None:
            if self.progress is not None:
                self.progress(Progress(elapsed=self.elapsed(), objective=objective / scale, bound=None,
                                       covered=covered, visits=len(self.problem.visits), phase="search"))

        live, stats = search.improve(live, max(0.0, time_limit), seed=self.opts.seed,
                                     workers=self.opts.num_workers, deterministic=self.opts.deterministic,
                                     on_improve=on_improve)
        self.stats["search"] = {
            "budget": time_limit, "seconds": round(stats.seconds, 3), "moves": stats.moves,
            "work": stats.work,
            "moves_per_second": round(stats.moves_per_second), "start_temperature": stats.start_temperature,
            "operators": stats.per_op,
        }
        return live

    def _exact_from(self, search: Search, live: Live, time_limit: float) -> Live:
        """The whole-week CP-SAT model, hinted with the search's rota; keeps the better rota."""
        assign = search.assignment(live)
        st = self._initial_state()
        st.assign = dict(assign)
        for vi, (carers, _start) in assign.items():
            for ci in carers:
                st.day_visits.setdefault((ci, self.day_of_visit[vi]), []).append(vi)
        for visits in st.day_visits.values():
            visits.sort(key=lambda vi: assign[vi][1])
        before = search.objective(live)
        st = self.solve_exact(st, time_limit)
        if self.status == "infeasible":
            return live
        other = search.copy_state(live)
        if search.load(other, st.assign) and search.objective(other) < before:
            self.stats["exact_improved"] = True
            return other
        return live

    def _report_search(self, search: Search, live: Live, phase: str) -> None:
        if self.progress is None:
            return
        self.progress(Progress(elapsed=self.elapsed(), objective=search.objective(live) / self.weights.scale,
                               bound=None, covered=search.covered(live), visits=len(self.problem.visits),
                               phase=phase))

    def _place_pins(self, st: _State) -> _State:
        pinned = [i for i, v in enumerate(self.problem.visits) if v.id in self.problem.pin_by_visit]
        if not pinned:
            return st
        carer_days = {(ci, self.day_of_visit[vi])
                      for vi in pinned for ci in self.candidates.get(vi, set())}
        scope = Scope(carer_days & self.all_carer_days, set(pinned))
        ctx = self._build(st, scope)
        solver = self._params(max(1.0, self.opts.time_limit / 4))
        status = solver.solve(ctx.model)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return self._extract(ctx, solver, st)
        self.status = "infeasible"
        return st

    def _trivial_bound(self) -> int:
        """A valid lower bound without a full model: visits no carer can ever make."""
        return sum(self.weights.unassigned(v.priority) for vi, v in enumerate(self.problem.visits)
                   if not self.candidates.get(vi))

    def _rota(self, st: _State) -> Rota:
        """The rota when no valid one exists (the pins conflict)."""
        problem = self.problem
        unassigned = [Unassigned(v.id, ("no valid rota keeps every pin: the pinned visits "
                                        "conflict with each other or with the rules",))
                      for v in problem.visits]
        return Rota(problem=problem.name, status="infeasible", assignments=[],
                    unassigned=unassigned, objective=None, best_bound=None, kpis={},
                    solve_seconds=round(self.elapsed(), 3), extra={"stats": self.stats})

    def _rota_from(self, search: Search, live: Live) -> Rota:
        from scheduler.explain import Explainer

        problem = self.problem
        assign = search.assignment(live)
        assignments = [Assignment(problem.visits[vi].id,
                                  tuple(problem.carers[ci].id for ci in carers), start)
                       for vi, (carers, start) in sorted(assign.items(), key=lambda kv: (kv[1][1], kv[0]))]
        missing = [vi for vi in range(len(problem.visits)) if vi not in assign]
        explainer = Explainer(problem, assignments, self._placements(search, live, missing))
        unassigned = [Unassigned(problem.visits[vi].id, tuple(explainer.explain(problem.visits[vi].id)))
                      for vi in missing]
        scale = self.weights.scale
        value = search.objective(live)
        bound = None if self.best_bound is None else min(self.best_bound, value) / scale
        # the status follows from the rota's own value and the proven bound, never from what
        # CP-SAT said of its model (the rota kept may be the search's, not CP-SAT's)
        status = self.status
        if status in ("optimal", "feasible", "unknown"):
            status = "optimal" if self.best_bound is not None and self.best_bound >= value else "feasible"
        self.stats["solve_seconds_total"] = round(self.elapsed(), 3)
        return Rota(problem=problem.name, status=status, assignments=assignments,
                    unassigned=unassigned, objective=_tidy(value / scale), best_bound=_tidy(bound),
                    kpis=self._kpis(search, live, assign), solve_seconds=round(self.elapsed(), 3),
                    extra={"stats": self.stats})

    def _placements(self, search: Search, live: Live,
                    missing: list[int]) -> dict[str, tuple[tuple[str, ...], int] | None]:
        """For each uncovered visit, the evaluator's cheapest lawful place in the rota as it
        stands (every position of every eligible carer's day tried), or None. The reasons a
        coordinator reads are held to these verdicts (scheduler.explain)."""
        out: dict[str, tuple[tuple[str, ...], int] | None] = {}
        inst, nd = search.inst, int(search.inst.dims[2])
        for vi in missing:
            vid = self.problem.visits[vi].id
            if not search.insertable[vi]:
                out[vid] = None
                continue
            core.savepoint(live.ref)
            placed = None
            if operators.best_insert(search.iref, live.ref, vi, 0.0, EVERY_POSITION):
                s0 = int(inst.v_stop0[vi])
                carers = tuple(self.problem.carers[int(live.a.s_route[s0 + r]) // nd].id
                               for r in range(int(inst.v_nroles[vi])))
                placed = (carers, int(live.a.v_S[vi]))
            core.rollback(search.iref, live.ref)
            out[vid] = placed
        return out

    def _kpis(self, search: Search, live: Live,
              assign: dict[int, tuple[tuple[int, ...], int]]) -> dict[str, Any]:
        problem, st = self.problem, live.a
        by_priority: dict[str, list[int]] = {p: [0, 0] for p in PRIORITIES}
        for vi, v in enumerate(problem.visits):
            by_priority[v.priority][1] += 1
            if vi in assign:
                by_priority[v.priority][0] += 1
        seen = st.k_dist[st.k_dist > 0]
        return {
            "visits": len(problem.visits),
            "covered": len(assign),
            "travel_minutes": int(st.tot[core.T_TRAVEL]),
            "lateness_minutes": int(st.tot[core.T_LATE]),
            "distinct_carers_per_client": round(float(seen.mean()), 6) if len(seen) else 0.0,
            "contract_shortfall_minutes": int(st.tot[core.T_SHORT]),
            "covered_by_priority": {p: {"covered": c, "total": t} for p, (c, t) in by_priority.items()},
            **({"essential_coverage_bound": self.coverage} if self.coverage is not None else {}),
        }


def _tidy(x: float | None) -> float | int | None:
    if x is None:
        return None
    return round(x) if abs(x - round(x)) < 1e-9 else round(x, 6)


class _ExactProgress(cp_model.CpSolverSolutionCallback):
    def __init__(self, solver: Solver, ctx: ModelContext):
        super().__init__()
        self.solver, self.ctx = solver, ctx

    def on_solution_callback(self) -> None:
        s = self.solver
        scale = s.weights.scale
        covered = sum(self.boolean_value(c) for c in self.ctx.covered.values())
        assert s.progress is not None
        s.progress(Progress(elapsed=s.elapsed(), objective=self.objective_value / scale,
                            bound=self.best_objective_bound / scale, covered=covered,
                            visits=len(s.problem.visits), phase="exact"))


def solve(problem: Problem, options: SolveOptions | None = None,
          progress: ProgressCallback | None = None) -> Rota:
    """Build the week's rota. Never fails for an over-full week: uncovered visits get reasons."""
    return Solver(problem, options or SolveOptions(), progress).run()
