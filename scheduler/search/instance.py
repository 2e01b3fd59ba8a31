"""The problem as the compiled core's arrays (``core.Inst``).

Everything is integer: minutes from the horizon start, travel minutes per speed class and
pair of places (clients first, then carers' homes), and the objective's weights scaled as
``scheduler.model.Weights`` scales them, so the core's objective divided by the scale is
the spec's objective.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from scheduler.candidates import Option, start_range
from scheduler.model.context import Weights
from scheduler.problem import Problem
from scheduler.search.core import NO_GAP, Inst

PRIORITY_INDEX = {"essential": 0, "important": 1, "optional": 2}


def travel_tensor(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """``tt[speed class, place, place]`` minutes and each carer's speed class.

    The formula is vectorised; where its value is within 1e-6 of a whole minute (where
    numpy's and the math module's last bits could round differently) the engine's own
    ``Problem.travel_minutes`` decides, so the two never disagree.
    """
    clients, carers = problem.clients, problem.carers
    ids = [c.id for c in clients] + [c.id for c in carers]
    locs = [problem.location_of(i) for i in ids]
    lat = np.radians(np.array([x.lat for x in locs], np.float64))
    lon = np.radians(np.array([x.lon for x in locs], np.float64))
    dp = lat[None, :] - lat[:, None]
    dl = lon[None, :] - lon[:, None]
    h = np.sin(dp / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dl / 2) ** 2
    km = 2 * 6371.0 * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    same = (lat[:, None] == lat[None, :]) & (lon[:, None] == lon[None, :])
    speeds = sorted({c.speed_kmh or problem.travel.speed_kmh for c in carers} or {problem.travel.speed_kmh})
    speed_of = np.array([speeds.index(c.speed_kmh or problem.travel.speed_kmh) for c in carers], np.int32)
    n = len(ids)
    tt = np.zeros((len(speeds), n, n), np.int32)
    for si, speed in enumerate(speeds):
        raw = km * problem.travel.road_factor / speed * 60
        minutes = np.maximum(problem.travel.minimum_minutes, np.ceil(raw)).astype(np.int64)
        minutes[same] = 0
        near = np.argwhere((np.abs(raw - np.round(raw)) < 1e-6) & ~same)
        if len(near):
            for i, j in near:
                minutes[i, j] = problem._travel_uncached(ids[i], ids[j], speed)
        np.fill_diagonal(minutes, 0)
        tt[si] = minutes
    matrix = problem.travel.matrix
    if matrix:
        index = {pid: i for i, pid in enumerate(ids)}
        # a carer whose id is also a client id shares the client's place (Problem._places)
        for a, row in matrix.items():
            ia = _indexes(a, index, ids)
            for b, m in row.items():
                for i in ia:
                    for j in _indexes(b, index, ids):
                        tt[:, i, j] = int(m)
    return tt, speed_of


def _indexes(pid: str, index: dict[str, int], ids: list[str]) -> list[int]:
    return [i for i, x in enumerate(ids) if x == pid] if pid in index else []


def build_instance(problem: Problem, options: list[Option], weights: Weights,
                   day_of_visit: list[int]) -> Inst:
    visits, carers, clients = problem.visits, problem.carers, problem.clients
    nv, nc, nk = len(visits), len(carers), len(clients)
    nd = max(problem.days, max(day_of_visit, default=0) + 1)
    client_index = {c.id: i for i, c in enumerate(clients)}
    w = weights.w

    v_client = np.array([client_index[v.client] for v in visits], np.int32)
    v_e = np.zeros(nv, np.int32)
    v_last = np.zeros(nv, np.int32)
    for i, v in enumerate(visits):
        v_e[i], v_last[i] = start_range(problem, v)
    v_l = np.array([v.latest_start for v in visits], np.int32)
    v_day = np.array(day_of_visit, np.int32)
    v_nroles = np.array([len(v.roles) for v in visits], np.int32)
    v_stop0 = np.zeros(nv, np.int32)
    if nv:
        v_stop0[1:] = np.cumsum(v_nroles)[:-1]
    ns = int(v_nroles.sum())
    v_pen = np.array([weights.unassigned(v.priority) for v in visits], np.int64)
    v_prio = np.array([PRIORITY_INDEX[v.priority] for v in visits], np.int32)
    v_pinned = np.array([1 if v.id in problem.pin_by_visit else 0 for v in visits], np.uint8)
    s_visit = np.repeat(np.arange(nv, dtype=np.int32), v_nroles)
    s_role = np.concatenate([np.arange(n, dtype=np.int32) for n in v_nroles]) if nv else np.zeros(0, np.int32)
    s_dur = np.array([visits[v].role_duration(r) for v, r in zip(s_visit, s_role, strict=True)], np.int32)

    # eligibility and candidate lists, nearest carers first (options come sorted by carer)
    elig = np.zeros((ns, nc), np.uint8)
    per_stop: dict[int, list[int]] = defaultdict(list)
    for o in options:
        s = int(v_stop0[o.visit]) + o.role
        elig[s, o.carer] = 1
        per_stop[s].append(o.carer)
    tt, c_speed = travel_tensor(problem)
    cand_ptr = np.zeros(ns + 1, np.int32)
    cand_list: list[int] = []
    for s in range(ns):
        place = int(v_client[int(s_visit[s])])
        cs = sorted(per_stop.get(s, []), key=lambda c: (int(tt[c_speed[c], nk + c, place]), c))
        cand_list.extend(cs)
        cand_ptr[s + 1] = len(cand_list)
    cand = np.array(cand_list, np.int32)

    c_maxday = np.array([c.max_minutes_per_day for c in carers], np.int32)
    c_maxweek = np.array([c.max_minutes_per_week for c in carers], np.int32)
    c_contract = np.array([0 if c.is_volunteer or not c.contracted_minutes else c.contracted_minutes
                           for c in carers], np.int32)
    c_vol = np.array([1 if c.is_volunteer else 0 for c in carers], np.uint8)
    c_cpm = np.array(weights.cost_per_minute, np.int64) if nc else np.zeros(0, np.int64)
    av_ptr = np.zeros(nc + 1, np.int32)
    av_s_list: list[int] = []
    av_e_list: list[int] = []
    for ci, c in enumerate(carers):
        for iv in sorted(c.availability, key=lambda i: (i.start, i.end)):
            av_s_list.append(iv.start)
            av_e_list.append(iv.end)
        av_ptr[ci + 1] = len(av_s_list)

    pref = np.zeros((nk, nc), np.int64)
    for ki, k in enumerate(clients):
        has_history = any(m > 0 for m in k.history.values())
        for ci, c in enumerate(carers):
            cost = 0
            if k.preferred_carers and c.id not in k.preferred_carers:
                cost += w["non_preferred"]
            if has_history and k.history.get(c.id, 0) <= 0:
                cost += w["unfamiliar"]
            pref[ki, ci] = cost

    index = {v.id: i for i, v in enumerate(visits)}
    deps: dict[int, list[tuple[int, int, int, int]]] = defaultdict(list)
    parent = list(range(nv))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for dep in problem.dependencies:
        a, b = index[dep.first], index[dep.then]
        gmax = NO_GAP if dep.max_gap_minutes is None else dep.max_gap_minutes
        deps[a].append((b, dep.min_gap_minutes, gmax, 0))
        deps[b].append((a, dep.min_gap_minutes, gmax, 1))
        parent[find(a)] = find(b)
    dep_ptr = np.zeros(nv + 1, np.int32)
    rows: list[tuple[int, int, int, int]] = []
    for vi in range(nv):
        rows.extend(deps.get(vi, []))
        dep_ptr[vi + 1] = len(rows)
    dep_arr = np.array(rows, np.int64).reshape(-1, 4)
    groups: dict[int, list[int]] = defaultdict(list)
    for vi in deps:
        groups[find(vi)].append(vi)
    u_of = np.full(nv, -1, np.int32)
    u_ptr = [0]
    u_mem: list[int] = []
    for members in groups.values():
        for m in sorted(members):
            u_of[m] = len(u_ptr) - 1
            u_mem.append(m)
        u_ptr.append(len(u_mem))

    per_day = np.bincount(v_day[s_visit], minlength=nd) if ns else np.zeros(1, np.int64)
    min_dur = int(s_dur.min()) if ns else 1
    cap_by_time = max((c.max_minutes_per_day for c in carers), default=1) // max(1, min_dur) + 1
    cap = int(max(4, min(int(per_day.max()) if ns else 4, cap_by_time, 1024)))
    hist = int(max(2, int((v_last - v_l).max()) + 2 if nv else 2))
    dims = np.array([nv, nc, nd, nk, ns, cap, hist], np.int64)
    return Inst(
        dims=dims, v_client=v_client, v_e=v_e, v_l=v_l, v_last=v_last, v_day=v_day, v_nroles=v_nroles,
        v_stop0=v_stop0, v_pen=v_pen, v_prio=v_prio, v_pinned=v_pinned, s_visit=s_visit, s_role=s_role,
        s_dur=s_dur, cand_ptr=cand_ptr, cand=cand, elig=elig, tt=tt, c_speed=c_speed, c_maxday=c_maxday,
        c_maxweek=c_maxweek, c_contract=c_contract, c_vol=c_vol, c_cpm=c_cpm, av_ptr=av_ptr,
        av_s=np.array(av_s_list, np.int32), av_e=np.array(av_e_list, np.int32), pref=pref,
        dep_ptr=dep_ptr, dep_other=dep_arr[:, 0].astype(np.int32).copy(),
        dep_min=dep_arr[:, 1].astype(np.int32).copy(), dep_max=dep_arr[:, 2].astype(np.int32).copy(),
        dep_isthen=dep_arr[:, 3].astype(np.uint8).copy(), u_of=u_of, u_ptr=np.array(u_ptr, np.int32),
        u_mem=np.array(u_mem, np.int32),
        w=np.array([w["lateness"], w["max_lateness"], w["travel"], w["distinct_carers"],
                    w["contract_shortfall"]], np.int64),
        rules=np.array([problem.rules.min_rest_minutes, int(problem.rules.count_travel_as_work),
                        int(problem.rules.home_travel)], np.int64),
    )
