"""OR-Tools' own vehicle routing solver on the part of a week it can model: a peer on travel.

The subset (:func:`routable_subset`): visits with one role, in no dependency and not
pinned. One vehicle per carer, per calendar day, per availability interval (cut at
midnight); the vehicle starts and ends at the carer's home (home trips are travelled and
counted only when ``rules.home_travel``). Time windows are the visits' start windows (a
soft upper bound at ``latest_start`` priced at the lateness weight, hard at
``latest_start + max_lateness_minutes``); the skills, volunteer, exclusion, gender rules
become the allowed vehicles of each visit; a "work" dimension holds the daily cap (and what
is left of the weekly one); staff rest is kept by starting each day's vehicles no earlier
than the rest after the carer's previous day. Leaving a visit out costs its priority's
``unassigned_*`` weight. Continuity is not modelled: that is the point of the comparison.

Days are solved one after the other (each gets ``time_limit / days``); the result is a rota
for the subset problem, checked by the same checker as every other rota.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from benchmarks.baselines.greedy import eligible
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment, Rota, Unassigned


def routable_subset(problem_dict: dict[str, Any]) -> dict[str, Any]:
    """The problem restricted to single-carer visits with no dependency and no pin."""
    linked = {d["first"] for d in problem_dict.get("dependencies", [])} | \
             {d["then"] for d in problem_dict.get("dependencies", [])} | \
             {p["visit"] for p in problem_dict.get("pinned", [])}
    visits = [v for v in problem_dict["visits"]
              if len(v.get("roles") or [{}]) == 1 and v["id"] not in linked]
    out = dict(problem_dict)
    out["visits"] = visits
    out["dependencies"] = []
    out["pinned"] = []
    out["name"] = problem_dict.get("name", "") + " [routable subset]"
    return out


def restrict_rota(rota: Rota, problem: Problem) -> Rota:
    """A rota cut down to the visits of ``problem`` (a subset of the rota's problem)."""
    keep = problem.visit_by_id
    return Rota(problem=problem.name, status=rota.status,
                assignments=[a for a in rota.assignments if a.visit in keep],
                unassigned=[u for u in rota.unassigned if u.visit in keep],
                solve_seconds=rota.solve_seconds)


def routing_rota(problem: Problem, time_limit: float = 30.0, seed: int = 0) -> Rota:
    """Solve ``problem`` (single-role visits only) with the OR-Tools RoutingModel, day by day."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    from scheduler.checker import check

    t_all = time.perf_counter()
    p = problem
    if any(len(v.roles) != 1 for v in p.visits) or p.dependencies or p.pinned:
        raise ValueError("routing baseline: the problem must hold only single-role visits with no "
                         "dependency and no pin (use routable_subset)")
    w = p.weights
    by_day: dict[int, list[int]] = defaultdict(list)
    for vi, v in enumerate(p.visits):
        by_day[p.day_of(v.earliest_start)].append(vi)
    days = sorted(by_day)
    per_day_limit = max(1.0, time_limit / max(1, len(days)))
    week_used: dict[str, int] = defaultdict(int)
    last_end_of_day: dict[tuple[str, int], int] = {}
    assignments: list[Assignment] = []
    dropped: list[str] = []
    for day in days:
        d0, d1 = p.day_start(day), p.day_start(day + 1)
        vis = by_day[day]
        vehicles: list[tuple[int, int, int]] = []  # (carer index, start, end)
        for ci, c in enumerate(p.carers):
            ivs = [(max(iv.start, d0), min(iv.end, d1)) for iv in c.availability
                   if iv.start < d1 and iv.end > d0]
            if not c.is_volunteer and p.rules.min_rest_minutes and (c.id, day - 1) in last_end_of_day:
                rest_from = last_end_of_day[(c.id, day - 1)] + p.rules.min_rest_minutes
                ivs = [(max(s, rest_from), e) for s, e in ivs if e > rest_from]
            for s, e in ivs:
                if e > s:
                    vehicles.append((ci, s, e))
        if not vehicles:
            dropped += [p.visits[vi].id for vi in vis]
            continue
        n_v, n_vis = len(vehicles), len(vis)
        # nodes: 0..n_vis-1 visits, then a start and an end node per vehicle
        starts = [n_vis + 2 * k for k in range(n_v)]
        ends = [n_vis + 2 * k + 1 for k in range(n_v)]
        place = [p.visits[vi].client for vi in vis]
        for ci, _, _ in vehicles:
            place += [p.carers[ci].id, p.carers[ci].id]
        dur = [p.visits[vi].duration_minutes for vi in vis] + [0] * (2 * n_v)
        is_depot = [False] * n_vis + [True] * (2 * n_v)
        manager = pywrapcp.RoutingIndexManager(n_vis + 2 * n_v, n_v, starts, ends)
        routing = pywrapcp.RoutingModel(manager)

        time_cbs, work_cbs = [], []
        for k, (ci, _, _) in enumerate(vehicles):
            tcb, ccb = _callbacks(p, manager, place, is_depot, dur, p.carers[ci], work=False)
            wcb, _ = _callbacks(p, manager, place, is_depot, dur, p.carers[ci], work=True)
            time_cbs.append(routing.RegisterTransitCallback(tcb))
            work_cbs.append(routing.RegisterTransitCallback(wcb))
            routing.SetArcCostEvaluatorOfVehicle(routing.RegisterTransitCallback(ccb), k)
        horizon = p.horizon_minutes + 1440
        routing.AddDimensionWithVehicleTransits(time_cbs, horizon, horizon, False, "time")
        tdim = routing.GetDimensionOrDie("time")
        per_carer_vehicles: dict[int, int] = defaultdict(int)
        for ci, _, _ in vehicles:
            per_carer_vehicles[ci] += 1
        caps = []
        for ci, _, _ in vehicles:
            c = p.carers[ci]
            left = max(0, c.max_minutes_per_week - week_used[c.id])
            caps.append(min(c.max_minutes_per_day, left) // per_carer_vehicles[ci])
        routing.AddDimensionWithVehicleTransitAndCapacity(work_cbs, 0, caps, True, "work")
        for k, (_ci, s, e) in enumerate(vehicles):
            tdim.CumulVar(routing.Start(k)).SetRange(s, e)
            tdim.CumulVar(routing.End(k)).SetRange(s, e)
        lateness_w = round(w.get("lateness", 0))
        for n, vi in enumerate(vis):
            v = p.visits[vi]
            idx = manager.NodeToIndex(n)
            hi = min(v.last_start, d1 - 1)
            tdim.CumulVar(idx).SetRange(v.earliest_start, max(v.earliest_start, hi))
            if lateness_w > 0 and v.latest_start < hi:
                tdim.SetCumulVarSoftUpperBound(idx, v.latest_start, lateness_w)
            allowed = [k for k, (ci, s, e) in enumerate(vehicles)
                       if eligible(p, p.carers[ci], v, 0)
                       and s <= hi and max(s, v.earliest_start) + v.duration_minutes <= e]
            penalty = int(w.get(f"unassigned_{v.priority}", 1))
            if not allowed:
                routing.AddDisjunction([idx], penalty)
                routing.VehicleVar(idx).SetValue(-1)
                continue
            routing.VehicleVar(idx).SetValues([-1, *allowed])  # allowed vehicles (or dropped)
            routing.AddDisjunction([idx], penalty)
        params = pywrapcp.DefaultRoutingSearchParameters()
        params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMilliseconds(int(per_day_limit * 1000))
        sol = routing.SolveWithParameters(params)
        if sol is None:
            dropped += [p.visits[vi].id for vi in vis]
            continue
        wdim = routing.GetDimensionOrDie("work")
        for k, (ci, _, _) in enumerate(vehicles):
            idx = routing.Start(k)
            last_end = None
            while not routing.IsEnd(idx):
                node = manager.IndexToNode(idx)
                if not is_depot[node]:
                    v = p.visits[vis[node]]
                    start = sol.Min(tdim.CumulVar(idx))
                    assignments.append(Assignment(v.id, (p.carers[ci].id,), start))
                    last_end = start + v.duration_minutes
                idx = sol.Value(routing.NextVar(idx))
            if last_end is not None:
                cid = p.carers[ci].id
                week_used[cid] += sol.Value(wdim.CumulVar(routing.End(k)))
                last_end_of_day[(cid, day)] = max(last_end, last_end_of_day.get((cid, day), 0))
        covered = {a.visit for a in assignments}
        dropped += [p.visits[vi].id for vi in vis if p.visits[vi].id not in covered]
    rota = Rota(problem=p.name, status="feasible", assignments=assignments,
                unassigned=[Unassigned(vid, ("routing baseline: left out by the OR-Tools routing solver",))
                            for vid in dropped],
                solve_seconds=round(time.perf_counter() - t_all, 3))
    report = check(p, rota)
    rota.objective, rota.kpis = report.objective, report.kpis
    return rota


def _callbacks(p: Problem, manager: Any, place: list[str], is_depot: list[bool], dur: list[int],
               carer: Any, work: bool) -> tuple[Any, Any]:
    """Transit (time or work minutes) and arc cost callbacks for one vehicle's carer."""
    home = p.rules.home_travel
    cache: dict[tuple[int, int], int] = {}
    w_travel = p.weights.get("travel", 1)

    def travel(a: int, b: int) -> int:
        if is_depot[a] and is_depot[b]:
            return 0
        if (is_depot[a] or is_depot[b]) and not home:
            return 0
        key = (a, b)
        hit = cache.get(key)
        if hit is None:
            hit = p.travel_minutes(place[a], place[b], carer)
            cache[key] = hit
        return hit

    def transit(i: int, j: int) -> int:
        a, b = manager.IndexToNode(i), manager.IndexToNode(j)
        t = travel(a, b)
        if work and not is_depot[a] and not is_depot[b] and not p.rules.count_travel_as_work:
            t = 0
        return dur[a] + t

    def cost(i: int, j: int) -> int:
        return round(w_travel * travel(manager.IndexToNode(i), manager.IndexToNode(j)))

    return transit, cost


def subset_problem(problem_dict: dict[str, Any]) -> Problem:
    return problem_from_dict(routable_subset(problem_dict))
