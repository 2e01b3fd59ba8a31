"""The weekly solve: an exact CP-SAT model for small weeks, large-neighbourhood search beyond.

Both paths build the same model (``scheduler.model``) over a *scope*. Pinned visits are
placed first; a greedy insertion (``scheduler.construct``) then gives a first rota in
seconds. The exact path frees the whole week in one model, starting from that rota, so
CP-SAT proves its bound. The large-neighbourhood search (LNS) repeatedly frees a
neighbourhood (some carers' days and the visits they could make), keeping the rest of the
week as constants so the weekly rules (caps, rest, contracts, continuity) stay exact; a
step is kept only when the week's objective does not get worse. Mid-sized weeks get LNS
first and the exact model for the rest of the time.

The objective is kept as a sum over entities (visits, carer-days, carers, clients, the
week), each valued by the CP-SAT solve that last decided it, so the rota's objective is
the model's own and the independent checker can hold it to account.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ortools.sat.python import cp_model

from scheduler.candidates import Option, build_options, visit_day
from scheduler.construct import Constructor
from scheduler.model import RULES, FixedPart, ModelContext, Scope, Weights
from scheduler.model.context import Entity
from scheduler.problem import Problem
from scheduler.rota import Assignment, Rota, Unassigned

# Above this many potential "b follows a" arcs the week is solved by LNS.
EXACT_ARC_LIMIT = 20_000
# Below this the whole-week model alone is best; between the two, LNS first, then exact.
EXACT_ALONE_ARCS = 3_000
# Above this many visit x carer pairs, each role keeps only its nearest eligible carers.
PRUNE_PAIRS = 150_000
NEAREST_CARERS = 60
# Up to this many visits, the first rota is built in two orders and the better one kept.
PORTFOLIO_VISITS = 4_000


@dataclass
class SolveOptions:
    time_limit: float = 30.0
    workers: int = 0  # 0: one per core
    seed: int = 0
    strategy: str = "auto"  # "auto" | "exact" | "lns"
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
        if self.bound is None or self.objective == 0:
            return None if self.bound is None else 0.0
        return max(0.0, (self.objective - self.bound) / abs(self.objective))


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
        self.rng = random.Random(options.seed)
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
            self.best_bound = max(math.ceil(solver.best_objective_bound - 1e-9), self._trivial_bound())
            self.status = "optimal" if status == cp_model.OPTIMAL else "feasible"
        elif status == cp_model.INFEASIBLE and not st.assign:
            self.status = "infeasible"
        self._report(st, "exact", self.best_bound)
        return st

    # -- the LNS path -------------------------------------------------------------------
    def _closure(self, st: _State, carer_days: set[tuple[int, int]]) -> set[int]:
        """Free visits of ``carer_days``, adding carer-days until double-ups are whole."""
        frontier = list(carer_days)
        visits: set[int] = set()
        while frontier:
            key = frontier.pop()
            for vi in st.day_visits.get(key, []):
                if vi in visits:
                    continue
                visits.add(vi)
                for ci in st.assign[vi][0]:
                    other = (ci, self.day_of_visit[vi])
                    if other not in carer_days:
                        carer_days.add(other)
                        frontier.append(other)
        return visits

    def _client_neighbourhood(self, st: _State, size: int) -> Scope | None:
        """Every carer-day that touches one client: room to hand the client to fewer faces.

        The client is drawn in proportion to the carers beyond the first they see, so the
        move goes where continuity is worst.
        """
        problem, rng = self.problem, self.rng
        carers_of: dict[str, set[int]] = defaultdict(set)
        visits_of: dict[str, list[int]] = defaultdict(list)
        for vi, (carers, _start) in st.assign.items():
            client = problem.visits[vi].client
            carers_of[client].update(carers)
            visits_of[client].append(vi)
        weighted = [(k, len(c) - 1) for k, c in carers_of.items() if len(c) > 1]
        if not weighted:
            return None
        client = rng.choices([k for k, _ in weighted], weights=[w for _, w in weighted])[0]
        days = sorted({self.day_of_visit[vi] for vi in visits_of[client]})
        rng.shuffle(days)
        carer_days: set[tuple[int, int]] = set()
        visits: set[int] = set()
        limit = int(2.5 * max(size, 12))
        for d in days:
            trial = set(carer_days)
            trial.update((ci, d) for vi in visits_of[client] if self.day_of_visit[vi] == d
                         for ci in st.assign[vi][0])
            trial_visits = self._closure(st, trial)
            if len(trial_visits) > limit and carer_days:
                continue
            carer_days, visits = trial, trial_visits
        if len(visits) > 2 * limit:
            return None
        return Scope(carer_days, visits)

    def _neighbourhood(self, st: _State, size: int) -> Scope | None:
        problem, rng = self.problem, self.rng
        if rng.random() < 0.25:
            return self._client_neighbourhood(st, size)
        unassigned = [vi for vi in range(len(problem.visits))
                      if vi not in st.assign and self.candidates.get(vi)]
        if unassigned and rng.random() < 0.6:
            seed = rng.choice(unassigned)
        else:
            assigned = list(st.assign)
            if not assigned:
                return None
            seed = rng.choice(assigned)
        day = self.day_of_visit[seed]
        seed_client = problem.visits[seed].client
        pool = [ci for ci in range(len(problem.carers)) if (ci, day) in self.all_carer_days]
        cand = self.candidates.get(seed, set())

        def distance(ci: int) -> float:
            carer = problem.carers[ci]
            visits = st.day_visits.get((ci, day))
            place = problem.visits[visits[len(visits) // 2]].client if visits else carer.id
            base = problem.travel_minutes(place, seed_client, carer)
            return base * (0.5 if ci in cand else 1.0) * (1 + 0.3 * rng.random())

        pool.sort(key=distance)
        # the carers who could make the seed visit come first: that is whom the move needs
        pool = [ci for ci in pool if ci in cand] + [ci for ci in pool if ci not in cand]
        max_carers = max(2, size // 6)
        carer_days: set[tuple[int, int]] = set()
        days = [day]
        if rng.random() < (0.5 if seed not in st.assign else 0.3):
            # neighbouring days too: rest between days and weekly continuity need them
            # (an uncovered morning visit often waits on someone's late evening before)
            days = [d for d in (day - 1, day, day + 1) if 0 <= d < problem.days]
            max_carers = max(3, (2 * max_carers) // 3)
        visits: set[int] = set()
        limit = max(size, 12)
        taken = 0
        for ci in pool:
            if taken >= max_carers:
                break
            trial = set(carer_days)
            trial.update((ci, d) for d in days if (ci, d) in self.all_carer_days)
            trial_visits = self._closure(st, trial)
            if len(trial_visits) > limit and carer_days:
                continue  # double-ups would drag in too much: try the next carer
            carer_days, visits = trial, trial_visits
            taken += 1
        if len(visits) > 3 * limit:
            return None  # a chain of double-ups: too big a move, draw another seed
        chosen = {ci for ci, _ in carer_days}
        extra = [vi for vi in unassigned if self.day_of_visit[vi] in days
                 and self.candidates[vi] & chosen]
        extra.sort(key=lambda vi: problem.travel_minutes(problem.visits[vi].client, seed_client,
                                                         problem.carers[next(iter(chosen))]))
        room = max(size - len(visits), size // 3)
        visits.update(extra[:room])
        if seed not in st.assign and self.candidates[seed] & chosen:
            visits.add(seed)
        return Scope(carer_days, visits)

    def solve_lns(self, st: _State, time_limit: float) -> _State:
        size = 40
        deadline = self.elapsed() + time_limit
        budget_used = 0.0
        sub_limit = 1.0
        stall = 0
        while True:
            if self.opts.deterministic:
                if budget_used >= time_limit * 0.8 or self.elapsed() >= deadline + time_limit * 0.5:
                    break
            elif self.elapsed() >= deadline - 0.2:
                break
            scope = self._neighbourhood(st, size)
            if scope is None or not scope.visits:
                stall += 1
                if stall > 200:  # nothing left to move (an empty week, say)
                    break
                continue
            stall = 0
            ctx = self._build(st, scope)
            old = sum(st.entity.get(e, 0) for e in ctx.entities())
            if not self._complete_hint(ctx):
                # cannot start from the current rota (a propagation timeout on a loaded
                # machine): skip this neighbourhood, the rota stays as it is
                self.stats["skipped_neighbourhoods"] = self.stats.get("skipped_neighbourhoods", 0) + 1
                continue
            remaining = (time_limit - budget_used) if self.opts.deterministic else deadline - self.elapsed()
            solver = self._params(max(0.05, min(sub_limit, remaining)), light=True)
            t = time.monotonic()
            status = solver.solve(ctx.model)
            self.stats["solve_seconds_cp"] += time.monotonic() - t
            budget_used += solver.deterministic_time + 0.01
            self.stats["iterations"] += 1
            if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                new_obj = round(solver.objective_value)
                if new_obj <= old:
                    improved = new_obj < old
                    st = self._extract(ctx, solver, st)
                    if improved:
                        self.stats["improvements"] += 1
                        self._report(st, "lns")
                size = min(size + 4, 160) if status == cp_model.OPTIMAL else max(12, size - 4)
            else:
                size = max(12, size - 6)
        self.status = "feasible"
        return st

    # -- the whole solve ----------------------------------------------------------------
    def run(self) -> Rota:
        st = self._initial_state()
        strategy = self.opts.strategy
        if strategy == "auto":
            strategy = "exact" if self.estimated_arcs() <= EXACT_ARC_LIMIT else "lns"
        self.stats["strategy"] = strategy
        self.stats["estimated_arcs"] = self.estimated_arcs()
        st = self._place_pins(st)
        if self.status == "infeasible":
            return self._rota(st)
        st = self._construct(st)
        self.stats["first_solution_seconds"] = round(self.elapsed(), 3)
        if strategy == "exact" and self.estimated_arcs() > EXACT_ALONE_ARCS and self.opts.strategy == "auto":
            # mid-sized: LNS finds good rotas faster, then the whole-week model starts from
            # the best one and proves a bound
            st = self._evaluate(st)
            self._report(st, "construct")
            st = self.solve_lns(st, (self.opts.time_limit - self.elapsed()) * 0.6)
            st = self.solve_exact(st, self.opts.time_limit - self.elapsed())
        elif strategy == "exact":
            st = self.solve_exact(st, self.opts.time_limit - self.elapsed())
        else:
            st = self._evaluate(st)
            self._report(st, "construct")
            st = self.solve_lns(st, self.opts.time_limit - self.elapsed())
            self.best_bound = self._trivial_bound()
        return self._rota(st)

    def _construct(self, st: _State) -> _State:
        """Greedy insertion of every visit not yet placed (pins are already in ``st``)."""
        t = time.monotonic()
        everything = list(range(len(self.problem.visits)))
        builder = Constructor(self.problem, self.options, self.weights, self.day_of_visit, st.assign)
        assign = builder.run(everything)
        self.stats["construct_order"] = "time"
        if len(self.problem.visits) <= PORTFOLIO_VISITS:
            # a second order, double-ups first: which is better depends on the week
            other = Constructor(self.problem, self.options, self.weights, self.day_of_visit, st.assign)
            other_assign = other.run(everything, double_ups_first=True)
            if other.score() < builder.score():
                assign = other_assign
                self.stats["construct_order"] = "double-ups first"
        self.stats["construct_seconds"] = round(time.monotonic() - t, 3)
        new = _State(assign=assign, entity=dict(st.entity))
        for vi, (carers, _start) in assign.items():
            for ci in carers:
                new.day_visits.setdefault((ci, self.day_of_visit[vi]), []).append(vi)
        for visits in new.day_visits.values():
            visits.sort(key=lambda vi: assign[vi][1])
        return new

    def _evaluate(self, st: _State) -> _State:
        """Value every entity of a rota by the model itself, one day at a time.

        Each day's model may only use the carers the rota names, so it is solved by
        propagation; its penalty variables then give the rota's objective exactly.
        """
        t = time.monotonic()
        fixed_options = [o for o in self.options
                         if o.visit in st.assign and st.assign[o.visit][0][o.role] == o.carer]
        for d in range(self.problem.days):
            carer_days = {cd for cd in self.all_carer_days if cd[1] == d}
            visits = {vi for vi in range(len(self.problem.visits)) if self.day_of_visit[vi] == d}
            if not visits and not carer_days:
                continue
            scope = Scope(carer_days, visits)
            ctx = self._build(st, scope, fixed_options)
            for vi in visits:
                if vi in st.assign:  # the rota as built: same carers, same times
                    ctx.model.add(ctx.covered[vi] == 1)
                    ctx.model.add(ctx.start[vi] == st.assign[vi][1])
            solver = self._params(30.0)
            status = solver.solve(ctx.model)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                raise RuntimeError(f"internal error: the constructed rota breaks a rule on day {d} "
                                   f"({solver.status_name(status)})")
            st = self._extract(ctx, solver, st)
        self.stats["evaluate_seconds"] = round(time.monotonic() - t, 3)
        return st

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
        from scheduler.explain import explain_unassigned

        problem = self.problem
        if self.status == "infeasible":
            unassigned = [Unassigned(v.id, ("no valid rota keeps every pin: the pinned visits "
                                            "conflict with each other or with the rules",))
                          for v in problem.visits]
            return Rota(problem=problem.name, status="infeasible", assignments=[],
                        unassigned=unassigned, objective=None, best_bound=None, kpis={},
                        solve_seconds=round(self.elapsed(), 3), extra={"stats": self.stats})
        assignments = [Assignment(problem.visits[vi].id,
                                  tuple(problem.carers[ci].id for ci in carers), start)
                       for vi, (carers, start) in sorted(st.assign.items(),
                                                         key=lambda kv: (kv[1][1], kv[0]))]
        unassigned = [Unassigned(v.id, tuple(explain_unassigned(problem, assignments, v.id)))
                      for vi, v in enumerate(problem.visits) if vi not in st.assign]
        scale = self.weights.scale
        objective = st.objective / scale
        bound = None if self.best_bound is None else min(self.best_bound, st.objective) / scale
        status = self.status
        if status == "feasible" and bound is not None and self.best_bound is not None \
                and self.best_bound >= st.objective:
            status = "optimal"
        self.stats["solve_seconds_total"] = round(self.elapsed(), 3)
        return Rota(problem=problem.name, status=status, assignments=assignments,
                    unassigned=unassigned, objective=_tidy(objective), best_bound=_tidy(bound),
                    kpis=self._kpis(st), solve_seconds=round(self.elapsed(), 3),
                    extra={"stats": self.stats})

    def _kpis(self, st: _State) -> dict[str, Any]:
        problem = self.problem
        carers_of_client: dict[str, set[int]] = defaultdict(set)
        lateness = 0
        by_priority: dict[str, list[int]] = {p: [0, 0] for p in ("essential", "important", "optional")}
        for vi, v in enumerate(problem.visits):
            by_priority[v.priority][1] += 1
            if vi in st.assign:
                by_priority[v.priority][0] += 1
                carers, start = st.assign[vi]
                carers_of_client[v.client].update(carers)
                lateness += max(0, start - v.latest_start) * len(carers)
        week_work: dict[int, int] = defaultdict(int)
        for (ci, _d), minutes in st.day_work.items():
            week_work[ci] += minutes
        shortfall = sum(max(0, (c.contracted_minutes or 0) - week_work[ci])
                        for ci, c in enumerate(problem.carers) if not c.is_volunteer)
        distinct = [len(s) for s in carers_of_client.values()]
        return {
            "visits": len(problem.visits),
            "covered": len(st.assign),
            "travel_minutes": sum(st.day_travel.values()),
            "lateness_minutes": lateness,
            "distinct_carers_per_client": round(sum(distinct) / len(distinct), 6) if distinct else 0.0,
            "contract_shortfall_minutes": shortfall,
            "covered_by_priority": {p: {"covered": c, "total": t} for p, (c, t) in by_priority.items()},
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
