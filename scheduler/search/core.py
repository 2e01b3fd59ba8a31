"""The evaluation core: the rota as arrays, and every rule of the spec, exact, in compiled code.

State. A *route* is one carer's calendar day (``k = carer * days + day``): an ordered row of
*stops*, a stop being one role of one visit. A visit is covered when every one of its roles
is a stop in some route; all its stops share one start ``S[v]``, so a double-up arrives
together by construction.

Times. For fixed routes every rule on start times is a lower bound that grows with the
other starts (route order plus travel, the previous working day's end plus rest or the
midnight trip, a dependency's min gap, and its max gap read backwards: ``S[first] >=
S[then] - max_gap``, availability as "the earliest start >= t that fits an interval, home
trips included") or a fixed upper bound (the window's last start, cut at the end of the
visit's day). So the starts are the least solution of that system: left-shifted, which is
also best for the objective, whose only time-dependent terms (lateness, max lateness) grow
with the starts. ``propagate`` recomputes it after a change, worklist-driven, from the
changed routes outward; a start beyond its upper bound (including every infeasible cycle
of double-ups in crossed orders) makes the change infeasible. Dependency-linked visits are
recomputed together from their lowest values, so decreases are exact there too.

Order-only rules. Travel, working minutes (travel counted as work, home trips), daily and
weekly caps, contract shortfall and cost depend on route orders alone: ``evaluate``
recomputes them for the routes a change touched.

Transactions. Every change is made under an undo log (routes, starts, carer weeks, the
objective's running totals); ``savepoint`` / ``rollback`` nest, so an operator can try
many insertions inside one move and keep one. The objective is kept as running totals in
``tot`` (scaled integers, as ``scheduler.model.Weights``), each updated where its cause
changes; ``full_rebuild`` recomputes them from scratch, which tests hold equal.
"""

from __future__ import annotations

from typing import NamedTuple, cast

import numpy as np
from numba import njit, types
from numba.experimental import structref

BIG = 1 << 40
NO_GAP = 1 << 30  # a dependency without a max gap

# indexes into St.tot
T_UNASSIGNED = 0   # scaled unassigned penalties
T_LATE = 1         # lateness minutes, per carer
T_MAXLATE = 2      # largest lateness of a covered visit
T_TRAVEL = 3       # travel minutes (between visits of a day, plus home trips)
T_DISTINCT = 4     # carers beyond the first, summed over clients
T_PREF = 5         # scaled non-preferred + unfamiliar carer-visits
T_SHORT = 6        # contract shortfall minutes
T_COST = 7         # scaled cost
T_WORK = 8         # work units done (deterministic clock)
T_COVERED = 9      # covered visits
T_STAMP = 10       # transaction stamp
T_OVERFLOW = 11    # an undo buffer was full (the transaction must roll back)
T_MOVES = 12       # moves evaluated
N_TOT = 16
N_SAVED = 8        # tot[0:N_SAVED] is the part a rollback restores


class Inst(NamedTuple):
    """The week as arrays (static during a search)."""

    dims: np.ndarray        # [visits, carers, days, clients, stops, cap, hist]
    v_client: np.ndarray
    v_e: np.ndarray         # earliest start the engine allows
    v_l: np.ndarray         # latest start before lateness counts
    v_last: np.ndarray      # last start allowed (lateness included, cut at the day's end)
    v_day: np.ndarray
    v_nroles: np.ndarray
    v_stop0: np.ndarray
    v_pen: np.ndarray       # scaled penalty when uncovered
    v_prio: np.ndarray      # 0 essential, 1 important, 2 optional
    v_pinned: np.ndarray
    s_visit: np.ndarray
    s_role: np.ndarray
    s_dur: np.ndarray
    cand_ptr: np.ndarray    # stop -> carers who may fill it (nearest first)
    cand: np.ndarray
    elig: np.ndarray        # [stop, carer]
    tt: np.ndarray          # [speed class, place, place] travel minutes
    c_speed: np.ndarray
    c_maxday: np.ndarray
    c_maxweek: np.ndarray
    c_contract: np.ndarray  # 0: none (or a volunteer)
    c_vol: np.ndarray
    c_cpm: np.ndarray       # scaled cost per working minute
    av_ptr: np.ndarray
    av_s: np.ndarray
    av_e: np.ndarray
    pref: np.ndarray        # [client, carer] scaled non-preferred + unfamiliar cost per carer-visit
    dep_ptr: np.ndarray
    dep_other: np.ndarray
    dep_min: np.ndarray
    dep_max: np.ndarray
    dep_isthen: np.ndarray  # 1: the visit is 'then', the other is 'first'
    u_of: np.ndarray        # dependency component of a visit (-1: none)
    u_ptr: np.ndarray
    u_mem: np.ndarray
    w: np.ndarray           # [lateness, max_lateness, travel, distinct, shortfall]
    rules: np.ndarray       # [min_rest, travel_is_work, home_travel]


class St(NamedTuple):
    """The current rota and its bookkeeping (mutated in place)."""

    r_stops: np.ndarray     # [route, cap]
    r_len: np.ndarray
    r_travel: np.ndarray
    r_work: np.ndarray
    s_route: np.ndarray     # -1: not placed
    s_pos: np.ndarray
    v_cov: np.ndarray       # roles placed
    v_S: np.ndarray
    v_latec: np.ndarray     # lateness minutes counted (x carers), 0 when not covered
    v_lateval: np.ndarray   # lateness counted in the histogram, -1 when not covered
    c_week: np.ndarray
    c_acc: np.ndarray       # the week of each carer that tot's shortfall and cost reflect
    kc: np.ndarray          # [client, carer] carer-visits
    k_dist: np.ndarray      # distinct carers per client
    hist: np.ndarray        # visits per lateness value
    tot: np.ndarray
    # undo logs
    r_stamp: np.ndarray
    v_stamp: np.ndarray
    c_stamp: np.ndarray
    ur_k: np.ndarray
    ur_len: np.ndarray
    ur_travel: np.ndarray
    ur_work: np.ndarray
    ur_rows: np.ndarray
    uv_v: np.ndarray
    uv_S: np.ndarray
    uv_latec: np.ndarray
    uv_lateval: np.ndarray
    uc_c: np.ndarray
    uc_week: np.ndarray
    ptr: np.ndarray         # [routes logged, visits logged, carers logged]
    sp_stack: np.ndarray    # [depth, 3 + N_SAVED + 1]
    sp_depth: np.ndarray
    # propagation worklist
    wl: np.ndarray
    in_wl: np.ndarray
    rng: np.ndarray


def new_arrays(inst: Inst) -> St:
    nv, nc, nd, nk, ns, cap, nh = (int(x) for x in inst.dims[:7])
    nr = nc * nd
    n_ur = 2 * nr + 64
    n_uv = 4 * nv + 64
    n_uc = 2 * nc + 64
    st = St(
        r_stops=np.full((nr, cap), -1, np.int32), r_len=np.zeros(nr, np.int32),
        r_travel=np.zeros(nr, np.int32), r_work=np.zeros(nr, np.int32),
        s_route=np.full(ns, -1, np.int32), s_pos=np.full(ns, -1, np.int32),
        v_cov=np.zeros(nv, np.int32), v_S=inst.v_e.astype(np.int32).copy(),
        v_latec=np.zeros(nv, np.int64), v_lateval=np.full(nv, -1, np.int32),
        c_week=np.zeros(nc, np.int32), c_acc=np.zeros(nc, np.int32),
        kc=np.zeros((nk, nc), np.int32), k_dist=np.zeros(nk, np.int32),
        hist=np.zeros(nh, np.int32), tot=np.zeros(N_TOT, np.int64),
        r_stamp=np.zeros(nr, np.int64), v_stamp=np.zeros(nv, np.int64), c_stamp=np.zeros(nc, np.int64),
        ur_k=np.zeros(n_ur, np.int32), ur_len=np.zeros(n_ur, np.int32),
        ur_travel=np.zeros(n_ur, np.int32), ur_work=np.zeros(n_ur, np.int32),
        ur_rows=np.zeros((n_ur, cap), np.int32),
        uv_v=np.zeros(n_uv, np.int32), uv_S=np.zeros(n_uv, np.int32), uv_latec=np.zeros(n_uv, np.int64),
        uv_lateval=np.zeros(n_uv, np.int32),
        uc_c=np.zeros(n_uc, np.int32), uc_week=np.zeros(n_uc, np.int32),
        ptr=np.zeros(3, np.int64), sp_stack=np.zeros((64, 4 + N_SAVED), np.int64),
        sp_depth=np.zeros(1, np.int64),
        wl=np.zeros(nv + 1, np.int32), in_wl=np.zeros(nv, np.uint8), rng=np.ones(1, np.uint64),
    )
    return st


# The compiled code takes the arrays through a struct reference (one pointer per call): a
# tuple of forty arrays passed by value costs about a microsecond on every call that LLVM
# does not inline, which is most calls of the evaluator.

@structref.register
class InstType(types.StructRef):
    def preprocess_fields(self, fields):  # type: ignore[no-untyped-def]
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


@structref.register
class StType(types.StructRef):
    def preprocess_fields(self, fields):  # type: ignore[no-untyped-def]
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class InstRef(structref.StructRefProxy):
    """Inst, as the compiled code sees it (the same arrays, not copies)."""


class StRef(structref.StructRefProxy):
    """St, as the compiled code sees it (the same arrays, not copies)."""


structref.define_proxy(InstRef, InstType, list(Inst._fields))
structref.define_proxy(StRef, StType, list(St._fields))


def inst_ref(inst: Inst) -> Inst:
    """The compiled view of ``inst``: same fields, same arrays (typed as ``Inst`` for that reason)."""
    return cast(Inst, InstRef(*inst))


def st_ref(st: St) -> St:
    """The compiled view of ``st``: same fields, same arrays."""
    return cast(St, StRef(*st))


# ======================================================================================
# small pieces
# ======================================================================================

@njit(cache=True, nogil=True, inline="always")
def rand_u64(st: St) -> np.uint64:
    x = st.rng[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    st.rng[0] = x
    return x * np.uint64(2685821657736338717)


@njit(cache=True, nogil=True)
def rand_int(st: St, n: int) -> int:
    """Uniform in [0, n)."""
    if n <= 1:
        return 0
    return np.int64((rand_u64(st) >> np.uint64(11)) % np.uint64(n))  # type: ignore[return-value]


@njit(cache=True, nogil=True)
def rand_float(st: St) -> float:
    return float(rand_u64(st) >> np.uint64(11)) / 9007199254740992.0


@njit(cache=True, nogil=True, inline="always")
def travel(inst: Inst, c: int, a: int, b: int) -> int:
    return inst.tt[inst.c_speed[c], a, b]


@njit(cache=True, nogil=True, inline="always")
def home_of(inst: Inst, c: int) -> int:
    return inst.dims[3] + c


@njit(cache=True, nogil=True)
def objective(inst: Inst, st: St) -> int:
    t = st.tot
    w = inst.w
    return (t[T_UNASSIGNED] + w[0] * t[T_LATE] + w[1] * t[T_MAXLATE] + w[2] * t[T_TRAVEL]
            + w[3] * t[T_DISTINCT] + t[T_PREF] + w[4] * t[T_SHORT] + t[T_COST])


@njit(cache=True, nogil=True)
def carer_of_route(inst: Inst, k: int) -> int:
    return k // inst.dims[2]


@njit(cache=True, nogil=True)
def route_of(inst: Inst, c: int, d: int) -> int:
    return c * inst.dims[2] + d


# ======================================================================================
# transactions
# ======================================================================================

@njit(cache=True, nogil=True)
def savepoint(st: St) -> None:
    d = st.sp_depth[0]
    row = st.sp_stack[d]
    row[0] = st.ptr[0]
    row[1] = st.ptr[1]
    row[2] = st.ptr[2]
    row[3] = st.tot[T_STAMP]
    for i in range(N_SAVED):
        row[4 + i] = st.tot[i]
    st.sp_depth[0] = d + 1
    st.tot[T_STAMP] += 1  # a new stamp: this level logs every route/visit it touches anew
    st.tot[T_OVERFLOW] = 0


@njit(cache=True, nogil=True)
def commit(st: St) -> None:
    """Keep what was done since the last savepoint (its log folds into the outer level)."""
    st.sp_depth[0] -= 1
    if st.sp_depth[0] == 0:
        st.ptr[0] = 0
        st.ptr[1] = 0
        st.ptr[2] = 0


@njit(cache=True, nogil=True)
def _log_route(st: St, k: int) -> bool:
    if st.r_stamp[k] == st.tot[T_STAMP]:
        return True
    i = st.ptr[0]
    if i >= st.ur_k.shape[0]:
        st.tot[T_OVERFLOW] = 1
        return False
    st.ur_k[i] = k
    n = st.r_len[k]
    st.ur_len[i] = n
    st.ur_travel[i] = st.r_travel[k]
    st.ur_work[i] = st.r_work[k]
    for p in range(n):
        st.ur_rows[i, p] = st.r_stops[k, p]
    st.ptr[0] = i + 1
    st.r_stamp[k] = st.tot[T_STAMP]
    return True


@njit(cache=True, nogil=True)
def _log_visit(st: St, v: int) -> bool:
    if st.v_stamp[v] == st.tot[T_STAMP]:
        return True
    i = st.ptr[1]
    if i >= st.uv_v.shape[0]:
        st.tot[T_OVERFLOW] = 1
        return False
    st.uv_v[i] = v
    st.uv_S[i] = st.v_S[v]
    st.uv_latec[i] = st.v_latec[v]
    st.uv_lateval[i] = st.v_lateval[v]
    st.ptr[1] = i + 1
    st.v_stamp[v] = st.tot[T_STAMP]
    return True


@njit(cache=True, nogil=True)
def _log_carer(st: St, c: int) -> bool:
    if st.c_stamp[c] == st.tot[T_STAMP]:
        return True
    i = st.ptr[2]
    if i >= st.uc_c.shape[0]:
        st.tot[T_OVERFLOW] = 1
        return False
    st.uc_c[i] = c
    st.uc_week[i] = st.c_week[c]
    st.ptr[2] = i + 1
    st.c_stamp[c] = st.tot[T_STAMP]
    return True


@njit(cache=True, nogil=True)
def _hist_move(st: St, old: int, new: int) -> None:
    if old >= 0:
        st.hist[old] -= 1
    if new >= 0:
        st.hist[new] += 1


@njit(cache=True, nogil=True)
def rollback(inst: Inst, st: St) -> None:
    """Undo everything since the last savepoint, and drop that savepoint."""
    d = st.sp_depth[0] - 1
    row = st.sp_stack[d]
    r0, v0, c0 = row[0], row[1], row[2]
    # starts (and the lateness histogram)
    for i in range(st.ptr[1] - 1, v0 - 1, -1):
        v = st.uv_v[i]
        _hist_move(st, st.v_lateval[v], st.uv_lateval[i])
        st.v_S[v] = st.uv_S[i]
        st.v_latec[v] = st.uv_latec[i]
        st.v_lateval[v] = st.uv_lateval[i]
        st.v_stamp[v] = 0
    # routes: first take out what is in every logged route now, then put back the
    # earliest logged row of each (a stop may have moved between two logged routes)
    nd = inst.dims[2]
    for i in range(r0, st.ptr[0]):
        k = st.ur_k[i]
        if st.r_stamp[k] == -1:
            continue
        c = k // nd
        for p in range(st.r_len[k]):
            s = st.r_stops[k, p]
            _uncount(inst, st, s, c)
            st.s_route[s] = -1
            st.s_pos[s] = -1
        st.r_stamp[k] = -1
    for i in range(r0, st.ptr[0]):
        k = st.ur_k[i]
        if st.r_stamp[k] != -1:
            continue
        c = k // nd
        n = st.ur_len[i]
        for p in range(n):
            s = st.ur_rows[i, p]
            st.r_stops[k, p] = s
            _count(inst, st, s, c)
            st.s_route[s] = k
            st.s_pos[s] = p
        for p in range(n, st.r_len[k]):
            st.r_stops[k, p] = -1
        st.r_len[k] = n
        st.r_travel[k] = st.ur_travel[i]
        st.r_work[k] = st.ur_work[i]
        st.r_stamp[k] = 0
    for i in range(st.ptr[2] - 1, c0 - 1, -1):
        c = st.uc_c[i]
        st.c_week[c] = st.uc_week[i]
        st.c_acc[c] = st.uc_week[i]
        st.c_stamp[c] = 0
    st.ptr[0] = r0
    st.ptr[1] = v0
    st.ptr[2] = c0
    for i in range(N_SAVED):
        st.tot[i] = row[4 + i]
    # covered count follows the coverage counts restored above
    st.tot[T_OVERFLOW] = 0
    st.sp_depth[0] = d
    # the outer level keeps its stamp-less entries; a fresh stamp stops stale matches
    st.tot[T_STAMP] += 1


# ======================================================================================
# counts that follow the stops placed (coverage, faces per client, static carer costs)
# ======================================================================================

@njit(cache=True, nogil=True)
def _count(inst: Inst, st: St, s: int, c: int) -> None:
    v = inst.s_visit[s]
    k = inst.v_client[v]
    if st.kc[k, c] == 0:
        st.k_dist[k] += 1
        if st.k_dist[k] > 1:
            st.tot[T_DISTINCT] += 1
    st.kc[k, c] += 1
    st.tot[T_PREF] += inst.pref[k, c]
    st.v_cov[v] += 1
    if st.v_cov[v] == inst.v_nroles[v]:
        st.tot[T_UNASSIGNED] -= inst.v_pen[v]
        st.tot[T_COVERED] += 1


@njit(cache=True, nogil=True)
def _uncount(inst: Inst, st: St, s: int, c: int) -> None:
    v = inst.s_visit[s]
    k = inst.v_client[v]
    st.kc[k, c] -= 1
    if st.kc[k, c] == 0:
        if st.k_dist[k] > 1:
            st.tot[T_DISTINCT] -= 1
        st.k_dist[k] -= 1
    st.tot[T_PREF] -= inst.pref[k, c]
    if st.v_cov[v] == inst.v_nroles[v]:
        st.tot[T_UNASSIGNED] += inst.v_pen[v]
        st.tot[T_COVERED] -= 1
    st.v_cov[v] -= 1


# ======================================================================================
# primitives: place and take out one stop
# ======================================================================================

@njit(cache=True, nogil=True)
def insert_stop(inst: Inst, st: St, k: int, pos: int, s: int) -> bool:
    n = st.r_len[k]
    if n >= st.r_stops.shape[1] or st.s_route[s] >= 0:
        return False
    if not _log_route(st, k):
        return False
    for p in range(n, pos, -1):
        t = st.r_stops[k, p - 1]
        st.r_stops[k, p] = t
        st.s_pos[t] = p
    st.r_stops[k, pos] = s
    st.s_route[s] = k
    st.s_pos[s] = pos
    st.r_len[k] = n + 1
    _count(inst, st, s, k // inst.dims[2])
    return True


@njit(cache=True, nogil=True)
def remove_stop(inst: Inst, st: St, s: int) -> bool:
    k = st.s_route[s]
    if k < 0:
        return False
    if not _log_route(st, k):
        return False
    pos = st.s_pos[s]
    n = st.r_len[k]
    for p in range(pos, n - 1):
        t = st.r_stops[k, p + 1]
        st.r_stops[k, p] = t
        st.s_pos[t] = p
    st.r_stops[k, n - 1] = -1
    st.r_len[k] = n - 1
    st.s_route[s] = -1
    st.s_pos[s] = -1
    _uncount(inst, st, s, k // inst.dims[2])
    return True


@njit(cache=True, nogil=True)
def remove_visit(inst: Inst, st: St, v: int) -> bool:
    s0 = inst.v_stop0[v]
    for r in range(inst.v_nroles[v]):
        if st.s_route[s0 + r] >= 0 and not remove_stop(inst, st, s0 + r):
            return False
    return True


# ======================================================================================
# order-only rules: travel, working minutes, caps, contracts, cost
# ======================================================================================

@njit(cache=True, nogil=True)
def route_aggregates(inst: Inst, st: St, k: int) -> tuple[int, int]:
    """(travel minutes, working minutes) of route ``k``."""
    n = st.r_len[k]
    if n == 0:
        return 0, 0
    c = k // inst.dims[2]
    between = 0
    dur = 0
    prev = -1
    for p in range(n):
        s = st.r_stops[k, p]
        place = inst.v_client[inst.s_visit[s]]
        dur += inst.s_dur[s]
        if prev >= 0:
            between += travel(inst, c, prev, place)
        prev = place
    home = 0
    if inst.rules[2]:
        h = home_of(inst, c)
        first = inst.v_client[inst.s_visit[st.r_stops[k, 0]]]
        home = travel(inst, c, h, first) + travel(inst, c, prev, h)
    work = dur + home
    if inst.rules[1]:
        work += between
    st.tot[T_WORK] += n
    return between + home, work


@njit(cache=True, nogil=True)
def _carer_terms(inst: Inst, c: int, week: int) -> tuple[int, int]:
    """(shortfall minutes, scaled cost) of carer ``c`` working ``week`` minutes."""
    short = 0
    if inst.c_contract[c] > 0:
        short = max(0, inst.c_contract[c] - week)
    return short, inst.c_cpm[c] * week


# ======================================================================================
# times
# ======================================================================================

@njit(cache=True, nogil=True)
def earliest_fit(inst: Inst, c: int, t: int, dur: int, before: int, after: int) -> int:
    """Earliest start >= t whose span (home trips included) fits one availability interval."""
    for i in range(inst.av_ptr[c], inst.av_ptr[c + 1]):
        s = max(t, inst.av_s[i] + before)
        if s + dur + after <= inst.av_e[i]:
            return s
    return -1


@njit(cache=True, nogil=True)
def _prev_day_end(inst: Inst, st: St, c: int, d: int, v_place: int) -> int:
    """Lower bound on the first start of carer c's day d from their previous working day."""
    nd = inst.dims[2]
    for dd in range(d - 1, -1, -1):
        k = c * nd + dd
        n = st.r_len[k]
        if n == 0:
            continue
        ls = st.r_stops[k, n - 1]
        u = inst.s_visit[ls]
        end = st.v_S[u] + inst.s_dur[ls]
        up = inst.v_client[u]
        if inst.rules[2]:
            h = home_of(inst, c)
            gap = travel(inst, c, up, h) + travel(inst, c, h, v_place)
        else:
            gap = travel(inst, c, up, v_place)
        if dd == d - 1 and inst.c_vol[c] == 0:
            gap = max(gap, inst.rules[0])
        return end + gap
    return -BIG


@njit(cache=True, nogil=True)
def visit_start(inst: Inst, st: St, v: int) -> int:
    """The least start of visit v given everything else (-1: no lawful start)."""
    t = inst.v_e[v]
    place = inst.v_client[v]
    for j in range(inst.dep_ptr[v], inst.dep_ptr[v + 1]):
        u = inst.dep_other[j]
        if st.v_cov[u] == 0:
            continue
        if inst.dep_isthen[j]:
            t = max(t, st.v_S[u] + inst.dep_min[j])
        elif inst.dep_max[j] < NO_GAP:
            t = max(t, st.v_S[u] - inst.dep_max[j])
    nd = inst.dims[2]
    s0 = inst.v_stop0[v]
    nr = inst.v_nroles[v]
    for r in range(nr):
        s = s0 + r
        k = st.s_route[s]
        if k < 0:
            continue
        c = k // nd
        p = st.s_pos[s]
        if p > 0:
            ps = st.r_stops[k, p - 1]
            u = inst.s_visit[ps]
            t = max(t, st.v_S[u] + inst.s_dur[ps] + travel(inst, c, inst.v_client[u], place))
        else:
            t = max(t, _prev_day_end(inst, st, c, k % nd, place))
    home = inst.rules[2]
    for _it in range(nr + 2):
        moved = False
        for r in range(nr):
            s = s0 + r
            k = st.s_route[s]
            if k < 0:
                continue
            c = k // nd
            p = st.s_pos[s]
            before = 0
            after = 0
            if home:
                h = home_of(inst, c)
                if p == 0:
                    before = travel(inst, c, h, place)
                if p == st.r_len[k] - 1:
                    after = travel(inst, c, place, h)
            t2 = earliest_fit(inst, c, t, inst.s_dur[s], before, after)
            if t2 < 0:
                return -1
            if t2 > t:
                t = t2
                moved = True
        if not moved:
            break
        if t > inst.v_last[v]:
            return -1
    if t > inst.v_last[v]:
        return -1
    return t


@njit(cache=True, nogil=True)
def _set_start(inst: Inst, st: St, v: int, t: int) -> bool:
    if not _log_visit(st, v):
        return False
    st.v_S[v] = t
    covered = st.v_cov[v] == inst.v_nroles[v]
    late = max(0, t - inst.v_l[v]) if covered else -1
    latec = late * inst.v_nroles[v] if covered else 0
    st.tot[T_LATE] += latec - st.v_latec[v]
    st.v_latec[v] = latec
    old = st.v_lateval[v]
    if old != late:
        _hist_move(st, old, late)
        st.v_lateval[v] = late
        m = st.tot[T_MAXLATE]
        if late > m:
            st.tot[T_MAXLATE] = late
        elif old == m:
            while m > 0 and st.hist[m] == 0:
                m -= 1
            st.tot[T_MAXLATE] = m
    return True


@njit(cache=True, nogil=True)
def _push(st: St, v: int, head: int, tail: int) -> int:
    if st.in_wl[v]:
        return tail
    st.in_wl[v] = 1
    n = st.wl.shape[0]
    st.wl[tail] = v
    tail += 1
    if tail == n:
        tail = 0
    return tail


@njit(cache=True, nogil=True)
def _push_successors(inst: Inst, st: St, v: int, head: int, tail: int) -> int:
    nd = inst.dims[2]
    s0 = inst.v_stop0[v]
    for r in range(inst.v_nroles[v]):
        s = s0 + r
        k = st.s_route[s]
        if k < 0:
            continue
        p = st.s_pos[s]
        if p + 1 < st.r_len[k]:
            tail = _push(st, inst.s_visit[st.r_stops[k, p + 1]], head, tail)
        else:
            c = k // nd
            for dd in range(k % nd + 1, nd):
                k2 = c * nd + dd
                if st.r_len[k2] > 0:
                    tail = _push(st, inst.s_visit[st.r_stops[k2, 0]], head, tail)
                    break
    for j in range(inst.dep_ptr[v], inst.dep_ptr[v + 1]):
        u = inst.dep_other[j]
        if st.v_cov[u] > 0:
            tail = _push(st, u, head, tail)
    return tail


@njit(cache=True, nogil=True)
def _clear_worklist(st: St, head: int, tail: int) -> None:
    n = st.wl.shape[0]
    while head != tail:
        st.in_wl[st.wl[head]] = 0
        head += 1
        if head == n:
            head = 0


@njit(cache=True, nogil=True)
def propagate(inst: Inst, st: St, head: int, tail: int) -> bool:
    """Recompute the starts of the visits in the worklist and of all they push on."""
    n = st.wl.shape[0]
    guard = 0
    limit = 64 * (inst.dims[0] + 16)
    while head != tail:
        v = st.wl[head]
        head += 1
        if head == n:
            head = 0
        st.in_wl[v] = 0
        guard += 1
        if guard > limit:
            _clear_worklist(st, head, tail)
            return False
        st.tot[T_WORK] += 1
        if st.v_cov[v] == 0:
            counted = st.v_lateval[v] >= 0 or st.v_latec[v] != 0
            if counted and not _set_start(inst, st, v, st.v_S[v]):
                _clear_worklist(st, head, tail)
                return False
            continue
        u = inst.u_of[v]
        if u < 0:
            t = visit_start(inst, st, v)
            if t < 0:
                _clear_worklist(st, head, tail)
                return False
            changed = t != st.v_S[v]
            want = max(0, t - inst.v_l[v]) if st.v_cov[v] == inst.v_nroles[v] else -1
            if (changed or st.v_lateval[v] != want) and not _set_start(inst, st, v, t):
                _clear_worklist(st, head, tail)
                return False
            if changed:
                tail = _push_successors(inst, st, v, head, tail)
            continue
        # a dependency component: recompute its timed members together, from their lowest
        a, b = inst.u_ptr[u], inst.u_ptr[u + 1]
        old = np.empty(b - a, np.int64)
        for i in range(a, b):
            m = inst.u_mem[i]
            old[i - a] = st.v_S[m]
            if st.v_cov[m] > 0:
                if not _log_visit(st, m):
                    _clear_worklist(st, head, tail)
                    return False
                st.v_S[m] = inst.v_e[m]
        ok = True
        for _it in range(4 * (b - a) + 8):
            moved = False
            for i in range(a, b):
                m = inst.u_mem[i]
                if st.v_cov[m] == 0:
                    continue
                t = visit_start(inst, st, m)
                st.tot[T_WORK] += 1
                if t < 0:
                    ok = False
                    break
                if t != st.v_S[m]:
                    st.v_S[m] = t
                    moved = True
            if not ok or not moved:
                break
        if not ok or moved:
            _clear_worklist(st, head, tail)
            return False
        for i in range(a, b):
            m = inst.u_mem[i]
            t = st.v_S[m]
            st.v_S[m] = old[i - a]  # so _set_start logs nothing new and updates the totals
            if not _set_start(inst, st, m, t):
                _clear_worklist(st, head, tail)
                return False
            if t != old[i - a] and st.v_cov[m] > 0:
                tail = _push_successors(inst, st, m, head, tail)
    return True


# ======================================================================================
# evaluate a change
# ======================================================================================

@njit(cache=True, nogil=True)
def evaluate(inst: Inst, st: St) -> bool:
    """Bring routes, carers and starts touched since the last savepoint up to date.

    False when the change breaks a rule (a cap, a window, availability, an infeasible
    cycle); the caller then rolls back.
    """
    if st.tot[T_OVERFLOW]:
        return False
    d = st.sp_depth[0] - 1
    r0 = st.sp_stack[d, 0]
    nd = inst.dims[2]
    ok = True
    head = 0
    tail = 0
    # routes logged since the savepoint (a route may be logged twice: same result)
    for i in range(r0, st.ptr[0]):
        k = st.ur_k[i]
        tr, wk = route_aggregates(inst, st, k)
        st.tot[T_TRAVEL] += tr - st.r_travel[k]
        st.r_travel[k] = tr
        c = k // nd
        if wk != st.r_work[k]:
            if not _log_carer(st, c):
                return False
            st.c_week[c] += wk - st.r_work[k]
            st.r_work[k] = wk
        if wk > inst.c_maxday[c]:
            ok = False
        # every visit of the route, every visit it held, and the carer's next working day
        for p in range(st.r_len[k]):
            tail = _push(st, inst.s_visit[st.r_stops[k, p]], head, tail)
        for p in range(st.ur_len[i]):
            tail = _push(st, inst.s_visit[st.ur_rows[i, p]], head, tail)
        for dd in range(k % nd + 1, nd):
            k2 = c * nd + dd
            if st.r_len[k2] > 0:
                tail = _push(st, inst.s_visit[st.r_stops[k2, 0]], head, tail)
                break
    if not ok:
        _clear_worklist(st, head, tail)
        return False
    for i in range(r0, st.ptr[0]):
        c = st.ur_k[i] // nd
        if st.c_week[c] > inst.c_maxweek[c]:
            _clear_worklist(st, head, tail)
            return False
    # carers whose week changed: contract shortfall and cost
    c0 = st.sp_stack[d, 2]
    for i in range(c0, st.ptr[2]):
        c = st.uc_c[i]
        if st.c_acc[c] == st.c_week[c]:
            continue
        s_old, k_old = _carer_terms(inst, c, st.c_acc[c])
        s_new, k_new = _carer_terms(inst, c, st.c_week[c])
        st.tot[T_SHORT] += s_new - s_old
        st.tot[T_COST] += k_new - k_old
        st.c_acc[c] = st.c_week[c]
    # dependency partners of visits whose coverage may have changed are pushed by the
    # visits themselves (they are in the logged rows)
    n = st.wl.shape[0]
    h = head
    extra_tail = tail
    while h != extra_tail:
        v = st.wl[h]
        for j in range(inst.dep_ptr[v], inst.dep_ptr[v + 1]):
            u = inst.dep_other[j]
            if st.v_cov[u] > 0:
                tail = _push(st, u, head, tail)
        h += 1
        if h == n:
            h = 0
    return propagate(inst, st, head, tail)


# ======================================================================================
# from scratch
# ======================================================================================

@njit(cache=True, nogil=True)
def full_rebuild(inst: Inst, st: St) -> bool:
    """Recompute every count, aggregate, start and total from the routes alone.

    The starts are recomputed from their lowest values (the least solution of the
    timing rules); False when the routes break a rule.
    """
    nv, nc, nd = inst.dims[0], inst.dims[1], inst.dims[2]
    nr = nc * nd
    work_units = st.tot[T_WORK]
    moves = st.tot[T_MOVES]
    stamp = st.tot[T_STAMP]
    for i in range(st.tot.shape[0]):
        st.tot[i] = 0
    st.tot[T_WORK] = work_units
    st.tot[T_MOVES] = moves
    st.tot[T_STAMP] = stamp + 1
    st.s_route[:] = -1
    st.s_pos[:] = -1
    st.v_cov[:] = 0
    st.kc[:, :] = 0
    st.k_dist[:] = 0
    st.hist[:] = 0
    st.c_week[:] = 0
    st.v_latec[:] = 0
    st.v_lateval[:] = -1
    st.ptr[:] = 0
    st.sp_depth[0] = 0
    for v in range(nv):
        st.tot[T_UNASSIGNED] += inst.v_pen[v]
    ok = True
    for k in range(nr):
        c = k // nd
        for p in range(st.r_len[k]):
            s = st.r_stops[k, p]
            st.s_route[s] = k
            st.s_pos[s] = p
            _count(inst, st, s, c)
        tr, wk = route_aggregates(inst, st, k)
        st.r_travel[k] = tr
        st.r_work[k] = wk
        st.tot[T_TRAVEL] += tr
        st.c_week[c] += wk
        if wk > inst.c_maxday[c]:
            ok = False
    for c in range(nc):
        if st.c_week[c] > inst.c_maxweek[c]:
            ok = False
        s_, k_ = _carer_terms(inst, c, st.c_week[c])
        st.tot[T_SHORT] += s_
        st.tot[T_COST] += k_
        st.c_acc[c] = st.c_week[c]
    for v in range(nv):
        if st.v_cov[v] != 0 and st.v_cov[v] != inst.v_nroles[v]:
            ok = False  # a half-covered visit
    # times: Kleene iteration from the lowest starts, in time order
    for v in range(nv):
        st.v_S[v] = inst.v_e[v]
    order = np.argsort(inst.v_e)
    n = st.wl.shape[0]
    # rounds of the worklist: a queue can hold each visit once
    st.in_wl[:] = 0
    head = 0
    tail = 0
    for v in order:
        if st.v_cov[v] > 0:
            st.wl[tail] = v
            st.in_wl[v] = 1
            tail += 1
            if tail == n:
                tail = 0
    savepoint(st)
    good = propagate(inst, st, head, tail)
    # the late counts of visits the worklist skipped (unchanged starts, newly covered)
    for v in range(nv):
        covered = st.v_cov[v] == inst.v_nroles[v] and st.v_cov[v] > 0
        want = max(0, st.v_S[v] - inst.v_l[v]) if covered else -1
        if st.v_lateval[v] != want:
            _set_start(inst, st, v, st.v_S[v])
    commit(st)
    st.ptr[:] = 0
    return ok and good


@njit(cache=True, nogil=True)
def totals_from_scratch(inst: Inst, st: St) -> np.ndarray:
    """The objective's totals recomputed from routes and starts (for tests and audits)."""
    nv, nc, nd, nk = inst.dims[0], inst.dims[1], inst.dims[2], inst.dims[3]
    out = np.zeros(N_SAVED, np.int64)
    kc = np.zeros((nk, nc), np.int32)
    cov = np.zeros(nv, np.int32)
    week = np.zeros(nc, np.int64)
    for k in range(nc * nd):
        c = k // nd
        for p in range(st.r_len[k]):
            s = st.r_stops[k, p]
            v = inst.s_visit[s]
            cov[v] += 1
            kc[inst.v_client[v], c] += 1
            out[T_PREF] += inst.pref[inst.v_client[v], c]
        tr, wk = route_aggregates(inst, st, k)
        out[T_TRAVEL] += tr
        week[c] += wk
    maxlate = 0
    for v in range(nv):
        if cov[v] == inst.v_nroles[v]:
            late = max(0, st.v_S[v] - inst.v_l[v])
            out[T_LATE] += late * inst.v_nroles[v]
            maxlate = max(maxlate, late)
        else:
            out[T_UNASSIGNED] += inst.v_pen[v]
    out[T_MAXLATE] = maxlate
    for k in range(nk):
        m = 0
        for c in range(nc):
            if kc[k, c] > 0:
                m += 1
        out[T_DISTINCT] += max(0, m - 1)
    for c in range(nc):
        s_, k_ = _carer_terms(inst, c, week[c])
        out[T_SHORT] += s_
        out[T_COST] += k_
    return out
