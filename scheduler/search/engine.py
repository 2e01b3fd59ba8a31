"""The local search as the solver drives it: build, construct, anneal, read back.

``Search`` owns the compiled instance. ``construct`` gives a first rota by cheapest
insertion (essential visits first, double-ups first within a day, in time order).
``improve`` runs simulated annealing in short compiled chunks; between chunks Python
checks the clock, reports progress and, with several workers (threads: the compiled code
releases the GIL), shares the best rota: a worker whose best is worse than the shared one
adopts it at each sync point. With one worker the clock is the core's own work count, so
``--workers 1 --seed K`` gives the same rota on any machine (a wall-clock guard of four
times the limit still applies).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from scheduler.candidates import Option
from scheduler.model.context import Weights
from scheduler.problem import Problem
from scheduler.search import core, operators
from scheduler.search.core import Inst, St
from scheduler.search.instance import build_instance
from scheduler.search.params import SearchParams

Assignment = dict[int, tuple[tuple[int, ...], int]]
ImproveCallback = Callable[[int, int], None]  # (objective (scaled), covered)


@dataclass
class SearchStats:
    moves: int = 0
    work: int = 0
    seconds: float = 0.0
    per_op: dict[str, dict[str, int]] = field(default_factory=dict)
    start_temperature: float = 0.0
    syncs: int = 0

    @property
    def moves_per_second(self) -> float:
        return self.moves / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Live:
    """A search state: its arrays (read and written from Python) and the compiled view of them."""

    a: St
    ref: St  # the compiled view (core.st_ref)

    @classmethod
    def of(cls, arrays: St) -> Live:
        return cls(arrays, core.st_ref(arrays))


class SharedBest:
    """The best rota any worker has found (routes only), behind a lock."""

    def __init__(self, objective: int, rows: np.ndarray, lens: np.ndarray):
        self.lock = threading.Lock()
        self.objective = objective
        self.rows = rows.copy()
        self.lens = lens.copy()

    def offer(self, objective: int, rows: np.ndarray, lens: np.ndarray) -> bool:
        with self.lock:
            if objective < self.objective:
                self.objective = objective
                self.rows[:, :] = rows
                self.lens[:] = lens
                return True
        return False


class Search:
    def __init__(self, problem: Problem, options: list[Option], weights: Weights,
                 day_of_visit: list[int], params: SearchParams | None = None):
        self.problem = problem
        self.params = params or SearchParams()
        self.inst: Inst = build_instance(problem, options, weights, day_of_visit)
        self.iref = core.inst_ref(self.inst)
        self.scale = weights.scale
        inst = self.inst
        has_cands = np.ones(int(inst.dims[0]), bool)
        stop_has = np.diff(inst.cand_ptr) > 0
        for v in range(int(inst.dims[0])):
            s0 = int(inst.v_stop0[v])
            has_cands[v] = bool(stop_has[s0:s0 + int(inst.v_nroles[v])].all())
        self.insertable = has_cands
        self.multi = np.flatnonzero(inst.v_nroles > 1).astype(np.int64)

    # -- states -------------------------------------------------------------------------
    def empty_state(self) -> Live:
        live = Live.of(core.new_arrays(self.inst))
        core.full_rebuild(self.iref, live.ref)
        return live

    def rebuild(self, live: Live) -> bool:
        return bool(core.full_rebuild(self.iref, live.ref))

    def load(self, live: Live, assign: Assignment) -> bool:
        """Replace the state's routes by ``assign`` (each carer's day in start order)."""
        inst, st = self.inst, live.a
        nd = int(inst.dims[2])
        st.r_stops[:, :] = -1
        st.r_len[:] = 0
        rows: dict[int, list[tuple[int, int]]] = {}
        for vi, (carers, start) in assign.items():
            s0 = int(inst.v_stop0[vi])
            for r, ci in enumerate(carers):
                rows.setdefault(ci * nd + int(inst.v_day[vi]), []).append((start, s0 + r))
        for k, stops in rows.items():
            stops.sort()
            if len(stops) > st.r_stops.shape[1]:
                return False
            for p, (_t, s) in enumerate(stops):
                st.r_stops[k, p] = s
            st.r_len[k] = len(stops)
        return self.rebuild(live)

    def copy_state(self, live: Live) -> Live:
        return Live.of(St(*(a.copy() for a in live.a)))

    def assignment(self, live: Live) -> Assignment:
        inst, st = self.inst, live.a
        nd = int(inst.dims[2])
        out: Assignment = {}
        for v in np.flatnonzero(st.v_cov == inst.v_nroles):
            s0 = int(inst.v_stop0[v])
            carers = tuple(int(st.s_route[s0 + r]) // nd for r in range(int(inst.v_nroles[v])))
            out[int(v)] = (carers, int(st.v_S[v]))
        return out

    def objective(self, live: Live) -> int:
        return int(core.objective(self.iref, live.ref))

    def covered(self, live: Live) -> int:
        return int(live.a.tot[core.T_COVERED])

    # -- construction -------------------------------------------------------------------
    def construct(self, live: Live) -> int:
        inst = self.inst
        nv = int(inst.dims[0])
        order = sorted(range(nv), key=lambda v: (int(inst.v_prio[v]), int(inst.v_day[v]),
                                                 -int(inst.v_nroles[v]), int(inst.v_e[v]),
                                                 int(inst.v_last[v]), v))
        order_arr = np.array([v for v in order if self.insertable[v]], np.int64)
        # pinned visits first, so nothing takes their room
        pinned = order_arr[inst.v_pinned[order_arr] == 1]
        back = self.params.back_positions
        placed = operators.construct(self.iref, live.ref, pinned, back)
        placed += operators.construct(self.iref, live.ref, order_arr, back)
        return int(placed)

    # -- improvement --------------------------------------------------------------------
    def improve(self, live: Live, time_limit: float, seed: int, workers: int = 1,
                deterministic: bool = True,
                on_improve: ImproveCallback | None = None) -> tuple[Live, SearchStats]:
        """Anneal from ``st``; return the best state met (rebuilt from scratch) and stats."""
        self._warm(live)
        t0 = time.monotonic()
        stats = SearchStats(per_op={n: {"tried": 0, "feasible": 0, "accepted": 0, "improving": 0}
                                    for n in operators.OP_NAMES})
        if time_limit <= 0 or (int(live.a.tot[core.T_COVERED]) == 0 and not self.insertable.any()):
            return live, stats
        workers = max(1, workers)
        shared = SharedBest(self.objective(live), live.a.r_stops, live.a.r_len)
        states = [live] + [self.copy_state(live) for _ in range(workers - 1)]
        op_stats = [np.zeros((operators.N_OPS, 4), np.int64) for _ in range(workers)]
        report_lock = threading.Lock()
        last_report = [shared.objective]

        def report(obj: int, covered: int) -> None:
            if on_improve is None:
                return
            with report_lock:
                if obj < last_report[0]:
                    last_report[0] = obj
                    on_improve(obj, covered)

        temps = [0.0] * workers
        threads = [threading.Thread(target=self._worker,
                                    args=(w, states[w], seed, time_limit, deterministic, shared,
                                          op_stats[w], temps, report, t0, workers))
                   for w in range(1, workers)]
        for th in threads:
            th.start()
        self._worker(0, states[0], seed, time_limit, deterministic, shared, op_stats[0], temps, report,
                     t0, workers)
        for th in threads:
            th.join()
        best = states[0]
        best.a.r_stops[:, :] = shared.rows
        best.a.r_len[:] = shared.lens
        if not self.rebuild(best):
            raise RuntimeError("internal error: the search's best rota breaks a rule")
        stats.seconds = time.monotonic() - t0
        stats.moves = int(sum(int(s.a.tot[core.T_MOVES]) for s in states))
        stats.work = int(sum(int(s.a.tot[core.T_WORK]) for s in states))
        total = np.sum(op_stats, axis=0)
        for i, name in enumerate(operators.OP_NAMES):
            stats.per_op[name] = {"tried": int(total[i, 0]), "feasible": int(total[i, 1]),
                                  "accepted": int(total[i, 2]), "improving": int(total[i, 3])}
        stats.start_temperature = temps[0]
        return best, stats

    def _warm(self, live: Live) -> None:
        """Compile (or load from the cache) the annealing code before the clock starts, so the
        first solve on a machine gets the same search as every later one."""
        p = self.params
        empty = np.zeros(0, np.int64)
        operators.sample_deltas(self.iref, live.ref, p.vector(), p.op_cumulative(), 0, empty, self.multi)
        operators.anneal(self.iref, live.ref, p.vector(), p.op_cumulative(), 0, 1.0,
                         np.array([self.objective(live)], np.int64), live.a.r_stops.copy(),
                         live.a.r_len.copy(), empty, self.multi, np.zeros((operators.N_OPS, 4), np.int64))

    def _temperature(self, live: Live, par: np.ndarray, op_cum: np.ndarray, unc: np.ndarray) -> float:
        p = self.params
        deltas = operators.sample_deltas(self.iref, live.ref, par, op_cum, p.calibration_moves, unc,
                                         self.multi)
        # worsenings below the cheapest uncovered-visit penalty: what the search trades
        cap = int(self.inst.v_pen.min()) if len(self.inst.v_pen) else 1
        pos = deltas[(deltas > 0) & (deltas < cap)]
        base = float(np.median(pos)) if len(pos) else float(self.scale)
        return max(1e-9, p.t_start_factor * base)

    def _worker(self, w: int, live: Live, seed: int, time_limit: float, deterministic: bool,
                shared: SharedBest, op_stats: np.ndarray, temps: list[float],
                report: Callable[[int, int], None], t0: float, workers: int) -> None:
        iref, p = self.iref, self.params
        st = live.a
        st.rng[0] = np.uint64((seed * 1_000_003 + w * 7_919 + 12_345) % (2**63) or 1)
        par = p.vector()
        op_cum = p.op_cumulative()
        unc = self._uncovered(live)
        t_start = self._temperature(live, par, op_cum, unc)
        temps[w] = t_start
        t_end = t_start * p.t_end_ratio
        best_obj = np.array([self.objective(live)], np.int64)
        best_rows = st.r_stops.copy()
        best_len = st.r_len.copy()
        work0 = int(st.tot[core.T_WORK])
        budget = max(1.0, time_limit * p.work_per_second)
        next_sync = p.sync_fraction
        while True:
            elapsed = time.monotonic() - t0
            if deterministic:
                frac = (int(st.tot[core.T_WORK]) - work0) / budget
                if elapsed >= 4 * time_limit:
                    break
            else:
                frac = elapsed / time_limit
            if frac >= 1.0:
                break
            temp = t_start * (t_end / t_start) ** frac
            unc = self._uncovered(live)
            before = best_obj[0]
            operators.anneal(iref, live.ref, par, op_cum, p.chunk_moves, temp, best_obj, best_rows, best_len,
                             unc, self.multi, op_stats)
            if best_obj[0] < before:
                shared.offer(int(best_obj[0]), best_rows, best_len)
                report(int(best_obj[0]), int(st.tot[core.T_COVERED]))
            if workers > 1 and frac >= next_sync:
                next_sync += p.sync_fraction
                with shared.lock:
                    better = shared.objective < best_obj[0]
                    if better:
                        st.r_stops[:, :] = shared.rows
                        st.r_len[:] = shared.lens
                        best_obj[0] = shared.objective
                        best_rows[:, :] = shared.rows
                        best_len[:] = shared.lens
                if better:
                    self.rebuild(live)
        shared.offer(int(best_obj[0]), best_rows, best_len)

    def _uncovered(self, live: Live) -> np.ndarray:
        return np.flatnonzero((live.a.v_cov == 0) & self.insertable).astype(np.int64)


def audit(search: Search, live: Live) -> list[str]:
    """Differences between the state's running totals and a recomputation from scratch."""
    st = live.a
    fresh = core.totals_from_scratch(search.iref, live.ref)
    names = ("unassigned", "lateness", "max_lateness", "travel", "distinct", "preferred/familiar",
             "shortfall", "cost")
    return [f"{names[i]}: running {int(st.tot[i])}, from scratch {int(fresh[i])}"
            for i in range(core.N_SAVED) if int(st.tot[i]) != int(fresh[i])]
