"""An upper bound on the essential visits any valid rota can cover.

``essential_coverage_bound(problem)`` proves a number ``B`` such that no rota valid under
the spec (``problem-format.md``, "What valid rota means"), whichever solver made it, covers
more than ``B`` essential visits. It is a *relaxation*: rules are dropped, none is added, so
every valid rota maps to a solution of it, and its optimum (or any proven bound on that
optimum) bounds the real one.

What is kept (each is a real rule of the spec, or follows from one):

* a covered visit has every role filled by one carer allowed for it (skills, volunteer
  rule, exclusions, gender preference, pins; :func:`scheduler.candidates.role_allows`), a
  carer fills at most one role, and all roles start at the same minute;
* the start lies in the spec window ``[earliest_start, latest_start + max_lateness]`` (the
  pinned start when a pin gives one). The window is NOT cut at midnight as the engine's
  ``candidates.start_range`` cuts it: the spec does not, so neither may a bound;
* each carer's minutes on a visit ``[start, start + role duration)`` lie inside one of
  the carer's availability intervals, and a carer's visits do not overlap (spec rule 5:
  consecutive visits leave room for the travel between them, and travel >= 0);
* a carer's minutes on the visits starting in one calendar day stay within
  ``max_minutes_per_day`` (visit minutes are part of working minutes);
* a dependency between two essential visits of the same day holds when both are covered.

What is dropped (so the bound can only be too high, never too low): every visit that is
not essential (such visits only take carers' time; leaving them unassigned is always
allowed, so dropping them only leaves more for the essential ones), a pin's obligation to
cover, travel beyond the "travel tail" below, home travel, weekly caps, rest between days,
dependencies across days, and every link between calendar days: each day is bounded on
its own and the bounds are summed. A visit belongs to the day of its first possible start;
one whose start range runs past midnight is left out of the daily caps.

**Carer classes.** Two carers are interchangeable for a day's essential visits when they
have the same allowed roles there (the skills those visits ask for, staff or volunteer,
gender when some client of the day has a preference, the same clients of the day excluding
them, no pin of the day naming them), the same availability over the day's span, the same
speed and the same effective daily cap (none when the carer's available minutes in the
span are no more than the cap, so it cannot bind). A class of ``m`` carers becomes one
CP-SAT cumulative resource of capacity ``m`` instead of ``m`` no-overlap machines. That loses
nothing for the time rule: once starts are fixed, unit-demand intervals that never exceed
``m`` at once form an interval graph of clique number ``<= m``; interval graphs are perfect,
so the intervals can be dealt out to the ``m`` carers without overlap (a double-up with
both roles in one class takes two units at once, hence two different carers). The daily
cap becomes ``m x cap`` for the class, which is a relaxation. A visit none of whose roles'
classes can hold it, or a double-up with fewer distinct allowed carers than roles, can
never be covered (the *eligibility* bound).

**Travel tail.** In a valid rota, the next stint of a carer after a stint on visit ``v``
(on any visit ``w``, of any priority, whose start range reaches past the stint's earliest
end) starts no earlier than ``end + travel(v -> w)`` and no earlier than
``w.earliest_start``. So the gap after the stint is at least
``tail = min over such w of max(travel(v -> w), w.earliest_start - (v.last_start + d))``
(a successor that may fall on another calendar day counts 0 travel under home travel, as
it goes via home). Extending every stint by its tail keeps each carer's stints disjoint,
so the class argument holds for the extended intervals; the true duration alone decides
availability and the daily cap. A ``w`` at the same client that may follow at once makes
the tail 0. Travel is the spec's formula rounded down where float error could matter, or
the matrix.

**Solving.** Within a day two visits interact only when some class could hold both at
overlapping times, through a binding class cap, or through a dependency, so a day is split
into connected components, each solved on its own with a share of the time limit:

1. a greedy (earliest start, least-loaded class) that places every visit of a component
   shows that its relaxation is solved at its size (the greedy never lowers a bound);
2. otherwise a *capacity LP* (:func:`_lp_bound`): each role's minutes spread over
   15-minute buckets, within class capacity per bucket; its optimum bounds the component,
   and the bound is computed from the LP's duals (a Lagrangian bound, valid for any
   multipliers), not taken from the LP solver's floating-point objective;
3. *bottleneck subsets* around the visits the greedy could not place: for any subset
   ``S`` of a component, covered <= |component - S| + optimum(S alone), because leaving
   visits out of a model relaxes it; ``S`` gathers the visits that only the classes of an
   unplaced visit can fill, which are few and quick to solve exactly;
4. CP-SAT on the whole component, started from the greedy's solution; its
   ``best_objective_bound`` (floored) is proven even when it stops early. A solve that
   found no solution reports no bound (CP-SAT then says 0, which is no bound at all), and
   the component keeps its size.

The week's bound is the sum over components, and never more than the eligibility bound.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from ortools.linear_solver import pywraplp
from ortools.sat.python import cp_model

from scheduler.candidates import Option, role_allows, start_range
from scheduler.problem import EARTH_RADIUS_KM, Carer, Problem, Visit

__all__ = ["CoverageBound", "essential_coverage_bound"]

# Smallest share of the time limit given to one CP-SAT solve (seconds).
MIN_SOLVE_SECONDS = 0.05
# A travel tail is never taken longer than this (a shorter tail is always still valid).
TAIL_CAP = 120
# Visits with a start range wider than this are always looked at as possible next stints.
LONG_WINDOW = 180
# Bottleneck subsets (see ``_bottleneck_subsets``) are tried in parts bigger than this,
# and kept when they have at most BOTTLENECK_MAX visits.
BOTTLENECK_MIN_PART = 8
BOTTLENECK_MAX = 400
# Bucket length of the capacity LP (minutes).
LP_BUCKET = 15
# The greedy tries at most this many start minutes per visit.
GREEDY_TRIES = 64


@dataclass(frozen=True)
class CoverageBound:
    essential_total: int  # essential visits in the problem
    bound: int  # proven: no valid rota covers more essential visits than this
    method: str  # short words, e.g. "relaxation per day (greedy, cp-sat)" / "eligibility"
    seconds: float
    optimal: bool  # True when the relaxation itself was solved to optimality


@dataclass
class _Class:
    """Interchangeable carers of one day (see the module docstring)."""

    members: list[int]
    rep: Carer
    avail: tuple[tuple[int, int], ...]  # availability clipped to the day's span
    cap: int | None  # daily cap, None when it cannot bind


@dataclass
class _Cand:
    """Role ``role`` of the day's visit ``visit`` may be filled from class ``cls``."""

    visit: int
    role: int
    cls: int
    windows: tuple[tuple[int, int], ...]  # inclusive start ranges
    duration: int
    tail: int = 0


@dataclass
class _Day:
    visits: list[int]  # problem visit indices (essential, this day)
    classes: list[_Class] = field(default_factory=list)
    cands: list[_Cand] = field(default_factory=list)
    possible: list[bool] = field(default_factory=list)  # per local visit: eligibility holds
    in_cap: list[bool] = field(default_factory=list)  # per local visit: counts in daily caps


@dataclass
class _Part:
    """Visits of one day solved together (a component, or a bottleneck subset of one)."""

    day: _Day
    visits: list[int]  # local visit indices of the day
    by_role: dict[tuple[int, int], list[_Cand]] = field(default_factory=lambda: defaultdict(list))
    joint: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # start ranges
    deps: list[tuple[int, int, int, int | None]] = field(default_factory=list)

    @property
    def weight(self) -> int:
        return 1 + sum(len(cs) for cs in self.by_role.values())


@dataclass
class _Placed:
    start: int
    cands: list[_Cand]  # one per role


@dataclass
class _Successors:
    """Every visit of the problem as a possible next stint, sorted by earliest start."""

    es: np.ndarray
    last: np.ndarray
    visit: np.ndarray
    client: np.ndarray
    day_lo: np.ndarray
    day_hi: np.ndarray
    long: np.ndarray  # positions of the visits with a start range wider than long_window
    long_window: int


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _spec_range(problem: Problem, visit: Visit) -> tuple[int, int]:
    """Inclusive start range of the spec (lateness included, not cut at midnight)."""
    pin = problem.pin_by_visit.get(visit.id)
    if pin is not None and pin.start is not None:
        return pin.start, pin.start
    return visit.earliest_start, visit.last_start


def _windows(avail: Iterable[tuple[int, int]], lo: int, hi: int,
             duration: int) -> tuple[tuple[int, int], ...]:
    out = []
    for a, b in avail:
        s, e = max(lo, a), min(hi, b - duration)
        if s <= e:
            out.append((s, e))
    return tuple(out)


def _merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _intersect(x: list[tuple[int, int]], y: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(x) and j < len(y):
        a, b = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if a <= b:
            out.append((a, b))
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return out


def _domain(ranges: Iterable[tuple[int, int]]) -> cp_model.Domain:
    return cp_model.Domain.from_intervals([[a, b] for a, b in ranges])


def _link_overlaps(cands: Iterable[_Cand], uf: _UnionFind) -> None:
    """Join visits that some class could hold at overlapping times."""
    by_class: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for c in cands:
        by_class[c.cls].append((min(w[0] for w in c.windows),
                                max(w[1] for w in c.windows) + c.duration + c.tail, c.visit))
    for spans in by_class.values():
        spans.sort()
        end, root = -1, -1
        for a, b, i in spans:
            if a < end:
                uf.union(root, i)
                end = max(end, b)
            else:
                end, root = b, i


def _bottleneck_subsets(part: _Part, failed: list[int], deadline: float) -> Iterable[list[int]]:
    """Subsets of a part around visits a greedy could not place.

    For a visit ``u``, with ``K`` the classes that could fill any of its roles: the visits
    of the part that only classes of ``K`` can fill, joined to ``u`` through overlapping
    times. Any subset ``S`` gives a valid bound: covered <= |part - S| + optimum(S alone),
    because leaving visits out of a model only relaxes it.
    """
    cands_of: dict[int, list[_Cand]] = defaultdict(list)
    for cs in part.by_role.values():
        for c in cs:
            cands_of[c.visit].append(c)
    classes = {i: frozenset(c.cls for c in cands_of[i]) for i in part.visits}
    seen: set[frozenset[int]] = set()
    tried: set[frozenset[int]] = set()
    for u in failed:
        if time.monotonic() >= deadline:
            return
        if classes[u] in tried:
            continue
        tried.add(classes[u])
        keep = [i for i in part.visits if classes[i] <= classes[u]]
        if len(keep) >= len(part.visits):
            continue
        index = {i: j for j, i in enumerate(keep)}
        uf = _UnionFind(len(keep))
        _link_overlaps((_Cand(index[i], c.role, c.cls, c.windows, c.duration, c.tail)
                        for i in keep for c in cands_of[i]), uf)
        for v in failed:
            if v in index:
                root = uf.find(index[v])
                subset = [i for i in keep if uf.find(index[i]) == root]
                key = frozenset(subset)
                if 1 < len(subset) <= BOTTLENECK_MAX and key not in seen:
                    seen.add(key)
                    yield subset


def _lp_bound(part: _Part) -> int:
    """The capacity bound: an LP over time buckets, certified by its duals.

    Each role's (tail-extended) minutes are spread, preemptively, over the buckets its
    start range and duration reach, using its class; a class has ``m x`` the minutes of
    each bucket that its availability (each interval extended by the longest tail of the
    class) covers, and ``m x cap`` minutes of capped visits. Any rota of the relaxation is
    a solution of this LP (with every stint's minutes in the buckets it meets), so the LP
    optimum bounds it. Identical visits are merged (the LP is convex and symmetric). The
    bound returned is not GLOP's objective but a Lagrangian bound computed here from its
    duals, valid for any multipliers, so float tolerances cannot make it too low.
    """
    day = part.day
    trivial = len(part.visits)
    cands_of: dict[int, list[_Cand]] = defaultdict(list)
    for cs in part.by_role.values():
        for c in cs:
            cands_of[c.visit].append(c)
    groups: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for i in part.visits:
        key = (day.in_cap[i], tuple(sorted((c.role, c.cls, c.windows, c.duration, c.tail)
                                           for c in cands_of[i])))
        groups[key].append(i)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    if solver is None:
        return trivial
    inf = solver.infinity()
    # rows: (lo, hi, constraint); columns: (upper bound, objective, [(row, coefficient)])
    rows: list[tuple[float, float, pywraplp.Constraint]] = []
    cols: list[tuple[float, float, list[tuple[int, float]]]] = []
    variables: list[pywraplp.Variable] = []

    def row(lo: float, hi: float) -> int:
        rows.append((lo, hi, solver.Constraint(lo, hi)))
        return len(rows) - 1

    def col(ub: float, obj: float, coefs: list[tuple[int, float]]) -> None:
        var = solver.NumVar(0.0, ub, "")
        for r, a in coefs:
            rows[r][2].SetCoefficient(var, a)
        if obj:
            solver.Objective().SetCoefficient(var, obj)
        variables.append(var)
        cols.append((ub, obj, coefs))

    max_tail: dict[int, int] = defaultdict(int)
    for cs in part.by_role.values():
        for c in cs:
            max_tail[c.cls] = max(max_tail[c.cls], c.tail)
    bucket_rows: dict[tuple[int, int], int] = {}

    def bucket_row(k: int, j: int) -> int:
        r = bucket_rows.get((k, j))
        if r is None:
            lo, hi = j * LP_BUCKET, (j + 1) * LP_BUCKET
            covered = _merge((a, b + max_tail[k] - 1) for a, b in day.classes[k].avail)
            minutes = sum(max(0, min(hi, b + 1) - max(lo, a)) for a, b in covered)
            r = bucket_rows[(k, j)] = row(-inf, float(len(day.classes[k].members) * minutes))
        return r

    cap_rows: dict[int, int] = {}
    for (in_cap, _sig), members in groups.items():
        n = len(members)
        i = members[0]
        role_rows: dict[int, int] = {}
        for c in cands_of[i]:
            if c.role not in role_rows:
                role_rows[c.role] = row(0.0, 0.0)
        col(float(n), 1.0, [(r, -1.0) for r in role_rows.values()])
        for c in cands_of[i]:
            cl = day.classes[c.cls]
            length = c.duration + c.tail
            a = min(w[0] for w in c.windows)
            b = max(w[1] for w in c.windows) + length
            capped = in_cap and cl.cap is not None
            if capped and c.cls not in cap_rows:
                assert cl.cap is not None
                cap_rows[c.cls] = row(-inf, float(len(cl.members) * cl.cap))
            for j in range(a // LP_BUCKET, (b - 1) // LP_BUCKET + 1):
                overlap = min(b, (j + 1) * LP_BUCKET) - max(a, j * LP_BUCKET)
                if overlap <= 0:
                    continue
                coefs = [(role_rows[c.role], 1.0 / length), (bucket_row(c.cls, j), 1.0)]
                if capped:
                    coefs.append((cap_rows[c.cls], c.duration / length))
                col(float(n * min(length, overlap)), 0.0, coefs)
    solver.Objective().SetMaximization()
    if solver.Solve() not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return trivial
    duals = []
    for lo, hi, con in rows:
        y = con.dual_value()
        if hi == inf:
            y = min(y, 0.0)
        if lo == -inf:
            y = max(y, 0.0)
        duals.append(y)
    terms = [y * (hi if y > 0 else lo) for (lo, hi, _con), y in zip(rows, duals, strict=True) if y]
    for ub, obj, coefs in cols:
        reduced = obj - math.fsum(duals[r] * a for r, a in coefs)
        if reduced > 0:
            terms.append(reduced * ub)
    certified = math.fsum(terms)
    if not math.isfinite(certified):
        return trivial
    return min(trivial, math.floor(certified + 1e-6))


def _greedy(problem: Problem, part: _Part) -> dict[int, _Placed]:
    """A quick solution of the relaxation (earliest feasible start, least-loaded class).

    Only a heuristic: when it places every visit the part's relaxation is solved (its bound
    is its size); otherwise it is a hint for CP-SAT. It never decides a bound on its own.
    """
    best: dict[int, _Placed] = {}
    deadline_order = sorted(part.visits, key=lambda i: (part.joint[i][-1][1], part.joint[i][0][0], i))
    double_first = sorted(deadline_order, key=lambda i: -len(problem.visits[part.day.visits[i]].roles))
    for order in (deadline_order, double_first):
        placed = _greedy_pass(problem, part, order)
        if len(placed) > len(best):
            best = placed
        if len(best) == len(part.visits):
            break
    return best


def _greedy_pass(problem: Problem, part: _Part, order: list[int]) -> dict[int, _Placed]:
    day = part.day
    cands = [c for cs in part.by_role.values() for c in cs]
    t0 = min(w[0] for c in cands for w in c.windows)
    t1 = max(w[1] + c.duration + c.tail for c in cands for w in c.windows) + 1
    occ: dict[int, np.ndarray] = {}
    load: dict[int, int] = defaultdict(int)
    for c in cands:
        load[c.cls] += c.duration + c.tail
        if c.cls not in occ:
            occ[c.cls] = np.zeros(t1 - t0, dtype=np.int32)
    score = {k: load[k] / len(day.classes[k].members) for k in load}
    used: dict[int, int] = defaultdict(int)
    placed: dict[int, _Placed] = {}
    for i in order:
        dom = part.joint[i]
        for a, b, lo, hi in part.deps:
            if a == i and b in placed:
                sb = placed[b].start
                dom = _intersect(dom, [(sb - hi if hi is not None else t0 - 10**6, sb - lo)])
            elif b == i and a in placed:
                sa = placed[a].start
                dom = _intersect(dom, [(sa + lo, sa + hi if hi is not None else t1 + 10**6)])
        if not dom:
            continue
        ts = np.concatenate([np.arange(a, b + 1) for a, b in dom])
        n_roles = len(problem.visits[day.visits[i]].roles)
        every = np.ones(len(ts), dtype=bool)
        per_role: list[list[tuple[float, _Cand, np.ndarray]]] = []
        for r in range(n_roles):
            role_opts = []
            some = np.zeros(len(ts), dtype=bool)
            for c in sorted(part.by_role[(i, r)], key=lambda c: score[c.cls]):
                cl = day.classes[c.cls]
                size = len(cl.members)
                if day.in_cap[i] and cl.cap is not None and used[c.cls] + c.duration > size * cl.cap:
                    continue
                inside = np.zeros(len(ts), dtype=bool)
                for a, b in c.windows:
                    inside |= (ts >= a) & (ts <= b)
                length = c.duration + c.tail
                base = int(ts[0]) - t0
                seg = occ[c.cls][base:int(ts[-1]) - t0 + length]
                if int(seg.max()) < size:
                    free = inside
                else:
                    full = np.concatenate([[0], np.cumsum(seg >= size)])
                    rel = ts - ts[0]
                    free = inside & ((full[rel + length] - full[rel]) == 0)
                if free.any():
                    role_opts.append((score[c.cls], c, free))
                    some |= free
                    if n_roles == 1:
                        break  # a single role takes the least-loaded class that has room
            every &= some
            per_role.append(role_opts)
        for j in np.flatnonzero(every)[:GREEDY_TRIES]:
            t = int(ts[j])
            choice = _pick(per_role, j, t, t0, occ, day)
            if choice is not None:
                for c in choice:
                    occ[c.cls][t - t0:t - t0 + c.duration + c.tail] += 1
                    if day.in_cap[i]:
                        used[c.cls] += c.duration
                placed[i] = _Placed(t, choice)
                break
    return placed


def _pick(per_role: list[list[tuple[float, _Cand, np.ndarray]]], j: int, t: int, t0: int,
          occ: dict[int, np.ndarray], day: _Day) -> list[_Cand] | None:
    """One class per role at start ``t`` with a free carer for each (roles sharing a class
    need as many free carers)."""
    chosen: list[_Cand] = []

    def free_units(c: _Cand) -> int:
        seg = occ[c.cls][t - t0:t - t0 + c.duration + c.tail]
        return len(day.classes[c.cls].members) - int(seg.max())

    def go(r: int) -> bool:
        if r == len(per_role):
            return True
        for _score, c, free in per_role[r]:
            if not free[j]:
                continue
            if sum(1 for o in chosen if o.cls == c.cls) + 1 > free_units(c):
                continue
            chosen.append(c)
            if go(r + 1):
                return True
            chosen.pop()
        return False

    return list(chosen) if go(0) else None


class _Bounder:
    def __init__(self, problem: Problem, options: list[Option] | None, time_limit: float,
                 workers: int) -> None:
        self.p = problem
        self.t0 = time.monotonic()
        self.deadline = self.t0 + max(0.0, time_limit)
        self.workers = max(1, workers)
        self.used: set[str] = set()  # what settled or lowered a component's bound
        self.allowed: dict[tuple[int, int], set[int]] | None = None
        if options is not None:
            self.allowed = defaultdict(set)
            for o in options:
                self.allowed[(o.visit, o.role)].add(o.carer)
        self.ranges = [_spec_range(problem, v) for v in problem.visits]
        self.days = [(problem.day_of(lo), problem.day_of(hi)) for lo, hi in self.ranges]
        self.vindex = {v.id: i for i, v in enumerate(problem.visits)}
        cindex = {c.id: i for i, c in enumerate(problem.clients)}
        self.client_index = [cindex[v.client] for v in problem.visits]
        self._travel_rows: dict[tuple[int, float], np.ndarray] = {}
        self._client_lat_lon = (np.radians([c.location.lat for c in problem.clients]),
                                np.radians([c.location.lon for c in problem.clients]))
        order = sorted(range(len(problem.visits)), key=lambda vi: self.ranges[vi][0])
        widths = np.array([self.ranges[vi][1] - self.ranges[vi][0] for vi in order], dtype=np.int64)
        self.succ = _Successors(
            es=np.array([self.ranges[vi][0] for vi in order], dtype=np.int64),
            last=np.array([self.ranges[vi][1] for vi in order], dtype=np.int64),
            visit=np.array(order, dtype=np.int64),
            client=np.array([self.client_index[vi] for vi in order], dtype=np.int64),
            day_lo=np.array([self.days[vi][0] for vi in order], dtype=np.int64),
            day_hi=np.array([self.days[vi][1] for vi in order], dtype=np.int64),
            long=np.flatnonzero(widths > LONG_WINDOW), long_window=LONG_WINDOW)

    # -- building a day --------------------------------------------------------------
    def build_day(self, visits: list[int]) -> _Day:
        p = self.p
        day = _Day(visits)
        vs = [p.visits[vi] for vi in visits]
        span_lo = min(self.ranges[vi][0] for vi in visits)
        span_hi = max(self.ranges[vi][1] + max(v.role_duration(r) for r in range(len(v.roles)))
                      for vi, v in zip(visits, vs, strict=True))
        skills = frozenset().union(*(r.skills for v in vs for r in v.roles))
        clients = {v.client for v in vs}
        need_gender = any(p.client_by_id[c].gender_preference is not None for c in clients)
        pinned = {cid for v in vs if v.id in p.pin_by_visit for cid in p.pin_by_visit[v.id].carers}
        excluders: dict[str, set[str]] = defaultdict(set)
        for c in clients:
            for cid in p.client_by_id[c].excluded_carers:
                excluders[cid].add(c)
        by_key: dict[tuple[object, ...], int] = {}
        for ci, carer in enumerate(p.carers):
            avail = tuple((max(iv.start, span_lo), min(iv.end, span_hi)) for iv in carer.availability
                          if iv.start < span_hi and iv.end > span_lo)
            if not avail:
                continue
            available = sum(b - a for a, b in avail)
            cap = carer.max_minutes_per_day if carer.max_minutes_per_day < available else None
            key = (carer.id if carer.id in pinned else None,
                   carer.skills & skills,
                   carer.is_volunteer,
                   carer.gender if need_gender else None,
                   frozenset(excluders.get(carer.id, ())),
                   carer.speed_kmh or p.travel.speed_kmh,
                   avail, cap)
            k = by_key.get(key)
            if k is None:
                by_key[key] = len(day.classes)
                day.classes.append(_Class([ci], carer, avail, cap))
            else:
                day.classes[k].members.append(ci)

        allowed_cache: dict[tuple[str, frozenset[str], bool], list[int]] = {}
        for i, (vi, v) in enumerate(zip(visits, vs, strict=True)):
            lo, hi = self.ranges[vi]
            use_options = self.allowed is not None and start_range(p, v) == (lo, hi)
            day.in_cap.append(self.days[vi][0] == self.days[vi][1])
            joint: list[tuple[int, int]] | None = None
            cands: list[_Cand] = []
            for r in range(len(v.roles)):
                d = v.role_duration(r)
                role_cands = []
                if v.id in p.pin_by_visit:
                    allowed = [k for k, cl in enumerate(day.classes) if role_allows(p, cl.rep, v, r)]
                else:
                    ck = (v.client, v.roles[r].skills, v.volunteer_ok)
                    hit = allowed_cache.get(ck)
                    if hit is None:
                        hit = [k for k, cl in enumerate(day.classes) if role_allows(p, cl.rep, v, r)]
                        allowed_cache[ck] = hit
                    allowed = hit
                if use_options:
                    assert self.allowed is not None
                    members = self.allowed.get((vi, r), set())
                    allowed = [k for k in allowed if any(ci in members for ci in day.classes[k].members)]
                for k in allowed:
                    w = _windows(day.classes[k].avail, lo, hi, d)
                    if w:
                        role_cands.append(_Cand(i, r, k, w, d))
                union = _merge(x for c in role_cands for x in c.windows)
                joint = union if joint is None else _intersect(joint, union)
                cands += role_cands
            ok_visit = bool(joint)
            # a double-up needs as many different carers as it has roles
            if ok_visit and len(v.roles) > 1:
                pool = {ci for c in cands for ci in day.classes[c.cls].members}
                ok_visit = len(pool) >= len(v.roles)
            day.possible.append(ok_visit)
            if ok_visit:
                day.cands += cands
        return day

    # -- travel tails ----------------------------------------------------------------
    def travel_row(self, client: int, carer: Carer) -> np.ndarray:
        """Travel minutes from client ``client`` to every client at ``carer``'s speed, never
        more than the spec's (exact with a matrix; else the formula, rounded down where float
        error could matter)."""
        p = self.p
        speed = carer.speed_kmh or p.travel.speed_kmh
        row = self._travel_rows.get((client, speed))
        if row is not None:
            return row
        if p.travel.matrix is not None:
            src = p.clients[client].id
            row = np.array([p.travel_minutes(src, c.id, carer) for c in p.clients], dtype=np.int64)
        else:
            lat, lon = self._client_lat_lon
            p1, l1 = lat[client], lon[client]
            h = (np.sin((lat - p1) / 2) ** 2
                 + np.cos(p1) * np.cos(lat) * np.sin((lon - l1) / 2) ** 2)
            km = 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(h)))
            minutes = np.ceil(km * p.travel.road_factor / speed * 60 - 1e-6).astype(np.int64)
            row = np.maximum(p.travel.minimum_minutes, np.maximum(minutes, 0))
            here = p.clients[client].location
            same = np.array([c.location == here for c in p.clients])
            row[same] = 0
        self._travel_rows[(client, speed)] = row
        return row

    def add_tails(self, day: _Day) -> None:
        """Set each candidate's travel tail (see the module docstring).

        The tail of a stint on ``v`` is the least gap any possible next stint leaves after
        it; every visit of the problem (any priority, any carer) counts as a possible next
        stint when its start range reaches past the stint's earliest end.
        """
        p, sx = self.p, self.succ
        home = p.rules.home_travel
        cache: dict[tuple[int, int, float], int] = {}
        for c in day.cands:
            vi = day.visits[c.visit]
            rep = day.classes[c.cls].rep
            key = (vi, c.duration, rep.speed_kmh or p.travel.speed_kmh)
            hit = cache.get(key)
            if hit is None:
                lo, hi = self.ranges[vi]
                end_lo, end_hi = lo + c.duration, hi + c.duration
                a = int(np.searchsorted(sx.es, end_lo - sx.long_window, side="left"))
                b = int(np.searchsorted(sx.es, end_hi + TAIL_CAP, side="left"))
                idx = np.concatenate([np.arange(a, b), sx.long])
                keep = (sx.last[idx] >= end_lo) & (sx.visit[idx] != vi)
                idx = idx[keep]
                hit = TAIL_CAP
                if len(idx):
                    travel = self.travel_row(self.client_index[vi], rep)[sx.client[idx]]
                    if home:
                        # a next stint that may fall on another calendar day goes via home: count 0
                        same = (sx.day_lo[idx] == sx.day_hi[idx]) & (sx.day_lo[idx] == self.days[vi][0])
                        if self.days[vi][0] != self.days[vi][1]:
                            same[:] = False
                        travel = np.where(same, travel, 0)
                    gaps = np.maximum(travel, sx.es[idx] - end_hi)
                    hit = max(0, min(TAIL_CAP, int(gaps.min())))
                cache[key] = hit
            c.tail = hit

    # -- components and the model ----------------------------------------------------
    def components(self, day: _Day) -> list[list[int]]:
        """The day's possible visits split where no class, cap or dependency joins them."""
        n = len(day.visits)
        uf = _UnionFind(n)
        by_class: dict[int, list[_Cand]] = defaultdict(list)
        for c in day.cands:
            by_class[c.cls].append(c)
        for k, cs in by_class.items():
            cl = day.classes[k]
            capped = [c for c in cs if day.in_cap[c.visit]]
            if cl.cap is not None and sum(c.duration for c in capped) > len(cl.members) * cl.cap:
                for c in capped[1:]:
                    uf.union(capped[0].visit, c.visit)
        _link_overlaps(day.cands, uf)
        local = {vi: i for i, vi in enumerate(day.visits)}
        for dep in self.p.dependencies:
            a, b = local.get(self.vindex[dep.first]), local.get(self.vindex[dep.then])
            if a is not None and b is not None:
                uf.union(a, b)
        groups: dict[int, list[int]] = defaultdict(list)
        for i in range(n):
            if day.possible[i]:
                groups[uf.find(i)].append(i)
        return list(groups.values())

    # -- one part: a component, or a bottleneck subset of one ---------------------------
    def make_part(self, day: _Day, visits: list[int], cands_of: dict[int, list[_Cand]]) -> _Part:
        p = self.p
        part = _Part(day, sorted(visits))
        for i in part.visits:
            for c in cands_of[i]:
                part.by_role[(i, c.role)].append(c)
            v = p.visits[day.visits[i]]
            joint: list[tuple[int, int]] | None = None
            for r in range(len(v.roles)):
                union = _merge(w for c in part.by_role[(i, r)] for w in c.windows)
                joint = union if joint is None else _intersect(joint, union)
            part.joint[i] = joint or []
        local = {day.visits[i]: i for i in part.visits}
        for dep in p.dependencies:
            a, b = local.get(self.vindex[dep.first]), local.get(self.vindex[dep.then])
            if a is not None and b is not None:
                part.deps.append((a, b, dep.min_gap_minutes, dep.max_gap_minutes))
        return part

    def solve_part(self, part: _Part, seconds: float) -> tuple[int, bool]:
        """(bound, solved to optimality) for one component."""
        trivial = len(part.visits)
        if len(part.visits) == 1 and len(part.by_role) == 1:
            self.used.add("greedy")
            return trivial, True  # a lone single-role visit with an allowed class
        if seconds <= 0:
            return trivial, False
        t_end = time.monotonic() + seconds
        placed = _greedy(self.p, part)
        if len(placed) == trivial:
            self.used.add("greedy")
            return trivial, True
        if time.monotonic() >= t_end:
            return trivial, False
        bound = min(trivial, _lp_bound(part))
        if bound < trivial:
            self.used.add("lp")
        if bound <= len(placed):
            return bound, bound == len(placed)  # the greedy's solution meets the capacity bound
        if len(part.visits) > BOTTLENECK_MIN_PART:
            now = time.monotonic()
            sub_bound = self.bottlenecks(part, placed, now + (t_end - now) / 3)
            if sub_bound < bound:
                bound = sub_bound
                self.used.add("bottlenecks")
        cp_bound, optimal, found = self.cpsat(part, t_end, placed)
        if cp_bound < bound or optimal:
            self.used.add("cp-sat")
        best = max(len(placed), found)
        bound = min(bound, cp_bound)
        return bound, optimal or best >= bound

    def bottlenecks(self, part: _Part, placed: dict[int, _Placed], deadline: float) -> int:
        """A bound from disjoint bottleneck subsets (see :func:`_bottleneck_subsets`)."""
        bound = len(part.visits)
        cands_of: dict[int, list[_Cand]] = defaultdict(list)
        for cs in part.by_role.values():
            for c in cs:
                cands_of[c.visit].append(c)
        taken: set[int] = set()
        failed = [i for i in part.visits if i not in placed]
        for subset in _bottleneck_subsets(part, failed, deadline):
            if taken & set(subset):
                continue
            now = time.monotonic()
            if now >= deadline:
                break
            sub = self.make_part(part.day, subset, cands_of)
            sub_bound, _optimal, _found = self.cpsat(sub, now + (deadline - now) / 2, placed)
            if sub_bound < len(subset):
                bound -= len(subset) - sub_bound
                taken |= set(subset)
        return bound

    def cpsat(self, part: _Part, deadline: float, hint: dict[int, _Placed]) -> tuple[int, bool, int]:
        """(bound, optimal, covered in the best solution found) of the CP-SAT relaxation,
        solved until ``deadline`` (a ``time.monotonic()`` instant)."""
        day = part.day
        trivial = len(part.visits)
        if deadline - time.monotonic() < MIN_SOLVE_SECONDS:
            return trivial, False, 0
        m = cp_model.CpModel()
        x: dict[int, cp_model.IntVar] = {}
        s: dict[int, cp_model.IntVar] = {}
        for i in part.visits:
            x[i] = m.new_bool_var(f"x{i}")
            s[i] = m.new_int_var_from_domain(_domain(part.joint[i]), f"s{i}")
            h = hint.get(i)
            m.add_hint(x[i], h is not None)
            if h is not None:
                m.add_hint(s[i], h.start)
        intervals: dict[int, list[cp_model.IntervalVar]] = defaultdict(list)
        minutes: dict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        per_visit_class: dict[tuple[int, int], list[cp_model.IntVar]] = defaultdict(list)
        for (i, r), rcs in part.by_role.items():
            ys = []
            dom = _domain(_merge(w for c in rcs for w in c.windows))
            h = hint.get(i)
            for c in rcs:
                y = m.new_bool_var("")
                ys.append(y)
                m.add_hint(y, h is not None and h.cands[r] is c)
                own = _domain(_merge(c.windows))
                if not dom.is_included_in(own):
                    m.add_linear_expression_in_domain(s[i], own).only_enforce_if(y)
                intervals[c.cls].append(m.new_optional_fixed_size_interval_var(
                    s[i], c.duration + c.tail, y, ""))
                if day.in_cap[i]:
                    minutes[c.cls].append((c.duration, y))
                per_visit_class[(i, c.cls)].append(y)
            m.add(sum(ys) == x[i])
        for k, ivs in intervals.items():
            size = len(day.classes[k].members)
            if size == 1:
                m.add_no_overlap(ivs)
            elif len(ivs) > size:
                m.add_cumulative(ivs, [1] * len(ivs), size)
            cap = day.classes[k].cap
            if cap is not None and sum(d for d, _ in minutes[k]) > size * cap:
                m.add(sum(d * y for d, y in minutes[k]) <= size * cap)
        for (_i, k), ys in per_visit_class.items():
            if len(ys) > len(day.classes[k].members):
                m.add(sum(ys) <= len(day.classes[k].members))
        for a, b, lo, hi in part.deps:
            m.add(s[b] - s[a] >= lo).only_enforce_if([x[a], x[b]])
            if hi is not None:
                m.add(s[b] - s[a] <= hi).only_enforce_if([x[a], x[b]])
        m.maximize(sum(x.values()))
        left = deadline - time.monotonic()
        if left < MIN_SOLVE_SECONDS:
            return trivial, False, 0
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = left
        solver.parameters.num_workers = self.workers
        solver.parameters.random_seed = 0
        solver.parameters.linearization_level = 2
        status = solver.solve(m)
        # only a solve that found a solution reports a proven bound (UNKNOWN reports 0)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE) and math.isfinite(solver.best_objective_bound):
            found = round(solver.objective_value)
            bound = min(trivial, max(found, math.floor(solver.best_objective_bound + 1e-6)))
            return bound, status == cp_model.OPTIMAL or found >= bound, found
        return trivial, False, 0

    # -- the whole bound -------------------------------------------------------------
    def run(self) -> CoverageBound:
        p = self.p
        essential = [vi for vi, v in enumerate(p.visits) if v.priority == "essential"]
        by_day: dict[int, list[int]] = defaultdict(list)
        for vi in essential:
            by_day[self.days[vi][0]].append(vi)  # the day of its first possible start
        days = [self.build_day(by_day[d]) for d in sorted(by_day)]
        eligible = sum(sum(day.possible) for day in days)
        parts: list[_Part] = []
        for day in days:
            self.add_tails(day)
            cands_of: dict[int, list[_Cand]] = defaultdict(list)
            for c in day.cands:
                cands_of[c.visit].append(c)
            parts += [self.make_part(day, comp, cands_of) for comp in self.components(day)]
        parts.sort(key=lambda part: part.weight)
        total, all_optimal = 0, True
        weight_left = sum(part.weight for part in parts)
        for part in parts:
            left = self.deadline - time.monotonic()
            share = max(0.0, left * part.weight / weight_left) if weight_left else 0.0
            share = max(share, min(left, 2 * MIN_SOLVE_SECONDS))  # a small part still gets a try
            weight_left -= part.weight
            bound, optimal = self.solve_part(part, share)
            total += bound
            all_optimal &= optimal
        total = min(total, eligible)
        if total == eligible and not all_optimal:
            method = "eligibility"
        else:
            order = ("greedy", "lp", "bottlenecks", "cp-sat")
            method = f"relaxation per day ({', '.join(m for m in order if m in self.used)})"
        return CoverageBound(len(essential), total, method, time.monotonic() - self.t0, all_optimal)


def essential_coverage_bound(problem: Problem, options: list[Option] | None = None,
                             time_limit: float = 10.0, workers: int = 1) -> CoverageBound:
    """A proven upper bound on the essential visits any valid rota of ``problem`` covers.

    ``options``, when given, must be UNPRUNED (``build_options(problem)`` without
    ``max_per_role``): a carer left out of them is taken to be unable to fill that role, and
    pruned options would make the bound invalid. They are only used to narrow which carers
    may fill a role (never windows: the spec window is used, not the engine's cut at
    midnight), and not at all for visits whose window runs past midnight. Without them the
    same eligibility is worked out per class of carers, which is faster.

    ``time_limit`` is shared between the per-day components; a component that gets no
    time keeps its eligibility bound. See the module docstring for the relaxation.
    """
    return _Bounder(problem, options, time_limit, workers).run()
