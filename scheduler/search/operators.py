"""Moves over the route state, as plain compiled functions.

Every operator works inside the caller's savepoint: it edits routes with the primitives of
``core`` and returns True with the state evaluated (every rule checked, the objective's
totals up to date), or False, after which the caller rolls back. Insertion operators try
positions under nested savepoints and keep the cheapest. Pinned visits never move.

=====================  ==============================================================
``op_relocate``        one stop (a carer's role on a visit) to another carer or place
``op_swap``            two stops trade places (two carers, or two positions of one)
``op_two_opt_star``    two carers of a day exchange the tails of their days
``op_or_opt``          a run of 1-3 consecutive stops moves elsewhere
``op_cross``           two runs of 0-3 stops are exchanged between two carers
``op_reinsert``        a whole visit (every role: a double-up as one unit, one start)
                       is taken out and put back at its cheapest place
``op_client``          all of one carer's visits to a client move to another carer
                       (continuity: fewer faces per client)
``op_insert``          an uncovered visit goes in; when nothing has room, one or two
                       visits are ejected to make room and put back where they fit
``op_remove``          a visit is left uncovered (worth it for an optional call that
                       costs more than its weight)
``op_ruin``            ruin and recreate: strings of visits around a seed, on a few
                       carers of the same day, are taken out and reinserted
=====================  ==============================================================
"""

from __future__ import annotations

import numpy as np
from numba import njit

from scheduler.search.core import (
    BIG,
    T_MAXLATE,
    T_WORK,
    Inst,
    St,
    commit,
    evaluate,
    home_of,
    insert_stop,
    objective,
    rand_float,
    rand_int,
    remove_stop,
    remove_visit,
    rollback,
    savepoint,
    travel,
)

N_OPS = 10
MOVE_WORK = 25
OP_NAMES = ("relocate", "swap", "two_opt_star", "or_opt", "cross", "reinsert", "client", "insert",
            "remove", "ruin")

# indexes into the parameter vector (see scheduler.search.params.SearchParams.vector)
P_BLINK = 0
P_BACK = 1
P_RUIN_MAX = 2
P_RUIN_ROUTES = 3
P_DOUBLE_BIAS = 4


@njit(cache=True, nogil=True)
def pos_for_time(st: St, k: int, t: int, inst: Inst) -> int:
    """First position of route k whose visit starts at or after t."""
    lo = 0
    hi = st.r_len[k]
    while lo < hi:
        mid = (lo + hi) // 2
        if st.v_S[inst.s_visit[st.r_stops[k, mid]]] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def carer_free_for(inst: Inst, st: St, s: int, k: int) -> bool:
    """No other role of the stop's visit is in route k (a carer fills one role of a visit)."""
    v = inst.s_visit[s]
    s0 = inst.v_stop0[v]
    for r in range(inst.v_nroles[v]):  # noqa: SIM110 (a plain loop compiles to the least code)
        if s0 + r != s and st.s_route[s0 + r] == k:
            return False
    return True


@njit(cache=True, nogil=True)
def may_take(inst: Inst, st: St, s: int, k: int) -> bool:
    c = k // inst.dims[2]
    return inst.elig[s, c] == 1 and inst.v_pinned[inst.s_visit[s]] == 0 and carer_free_for(inst, st, s, k)


@njit(cache=True, nogil=True)
def random_placed_stop(inst: Inst, st: St) -> int:
    ns = inst.dims[4]
    for _ in range(32):
        s = rand_int(st, ns)
        if st.s_route[s] >= 0 and inst.v_pinned[inst.s_visit[s]] == 0:
            return s
    return -1


@njit(cache=True, nogil=True)
def random_cand(inst: Inst, st: St, s: int) -> int:
    a, b = inst.cand_ptr[s], inst.cand_ptr[s + 1]
    if b <= a:
        return -1
    # nearer carers more often: the better of two uniform draws
    i = rand_int(st, b - a)
    j = rand_int(st, b - a)
    return inst.cand[a + min(i, j)]


@njit(cache=True, nogil=True)
def random_cand_route(inst: Inst, st: St, s: int) -> int:
    """The route (that day) of a random carer who may fill stop s; -1 when there is none."""
    c = random_cand(inst, st, s)
    if c < 0:
        return -1
    return c * inst.dims[2] + inst.v_day[inst.s_visit[s]]


# ======================================================================================
# insertion
# ======================================================================================

@njit(cache=True, nogil=True)
def insert_bound(inst: Inst, st: St, s: int, k: int, p: int) -> int:
    """A lower bound on the objective change of inserting stop s into route k at position p.

    The order-only terms (travel, working minutes, contract shortfall, cost, faces, preferred
    and familiar carers, coverage) are exact; a cap the change would break gives ``BIG``.
    Lateness can only grow when a stop is added (every timing rule is a lower bound that
    grows with the others), so the visit's own lateness at its earliest possible arrival
    completes the bound. (The one exception: with home trips, the stop a new last stop
    follows no longer needs room for its trip home, so it may start earlier; the bound
    then only orders the positions, each still evaluated exactly.)
    """
    c = k // inst.dims[2]
    v = inst.s_visit[s]
    place = inst.v_client[v]
    n = st.r_len[k]
    prev = inst.v_client[inst.s_visit[st.r_stops[k, p - 1]]] if p > 0 else -1
    nxt = inst.v_client[inst.s_visit[st.r_stops[k, p]]] if p < n else -1
    between = 0
    if prev >= 0 and nxt >= 0:
        between = travel(inst, c, prev, place) + travel(inst, c, place, nxt) - travel(inst, c, prev, nxt)
    elif prev >= 0:
        between = travel(inst, c, prev, place)
    elif nxt >= 0:
        between = travel(inst, c, place, nxt)
    home = 0
    if inst.rules[2]:
        h = home_of(inst, c)
        if n == 0:
            home = travel(inst, c, h, place) + travel(inst, c, place, h)
        else:
            if p == 0:
                home += travel(inst, c, h, place) - travel(inst, c, h, nxt)
            if p == n:
                home += travel(inst, c, place, h) - travel(inst, c, prev, h)
    work = inst.s_dur[s] + home
    if inst.rules[1]:
        work += between
    if st.r_work[k] + work > inst.c_maxday[c] or st.c_week[c] + work > inst.c_maxweek[c]:
        return BIG
    w = inst.w
    week = st.c_week[c]
    short_old = max(0, inst.c_contract[c] - week) if inst.c_contract[c] > 0 else 0
    short_new = max(0, inst.c_contract[c] - week - work) if inst.c_contract[c] > 0 else 0
    client = place
    lb = w[2] * (between + home) + w[4] * (short_new - short_old) + inst.c_cpm[c] * work
    lb += inst.pref[client, c]
    if st.kc[client, c] == 0 and st.k_dist[client] >= 1:
        lb += w[3]
    if st.v_cov[v] + 1 == inst.v_nroles[v]:
        lb -= inst.v_pen[v]
        t = st.v_S[v] if st.v_cov[v] > 0 else inst.v_e[v]
        if p > 0:
            ps = st.r_stops[k, p - 1]
            u = inst.s_visit[ps]
            t = max(t, st.v_S[u] + inst.s_dur[ps] + travel(inst, c, inst.v_client[u], place))
        late = max(0, t - inst.v_l[v])
        lb += w[0] * late * inst.v_nroles[v] + w[1] * max(0, late - st.tot[T_MAXLATE])
    return lb


@njit(cache=True, nogil=True)
def best_insert(inst: Inst, st: St, v: int, blink: float, back: int) -> bool:
    """Place every role of uncovered visit v at its cheapest lawful position, role by role.

    The positions are ranked by ``insert_bound`` and evaluated exactly in that order until
    the bound reaches the best value found, so most are never evaluated at all.
    """
    nd = inst.dims[2]
    d = inst.v_day[v]
    s0 = inst.v_stop0[v]
    place = inst.v_client[v]
    cap = st.r_stops.shape[1]
    for r in range(inst.v_nroles[v]):
        s = s0 + r
        if st.s_route[s] >= 0:
            continue
        a, b = inst.cand_ptr[s], inst.cand_ptr[s + 1]
        size = (b - a) * (cap + 1)
        ck = np.empty(size, np.int64)
        cp = np.empty(size, np.int64)
        cl = np.empty(size, np.int64)
        m = 0
        for j in range(a, b):
            c = inst.cand[j]
            k = c * nd + d
            n = st.r_len[k]
            if n >= cap or not carer_free_for(inst, st, s, k):
                continue
            p0 = max(0, pos_for_time(st, k, inst.v_e[v], inst) - back)
            for p in range(p0, n + 1):
                if p > 0:
                    ps = st.r_stops[k, p - 1]
                    u = inst.s_visit[ps]
                    arrive = st.v_S[u] + inst.s_dur[ps] + inst.tt[inst.c_speed[c], inst.v_client[u], place]
                    if arrive > inst.v_last[v]:
                        break
                if blink > 0.0 and rand_float(st) < blink:
                    continue
                lb = insert_bound(inst, st, s, k, p)
                if lb >= BIG:
                    continue
                ck[m] = k
                cp[m] = p
                cl[m] = lb
                m += 1
        st.tot[T_WORK] += m
        if m == 0:
            return False
        order = np.argsort(cl[:m], kind="mergesort")
        base = objective(inst, st)
        best = BIG
        bk = -1
        bp = -1
        for i in order:
            if base + cl[i] >= best:
                break
            savepoint(st)
            ok = insert_stop(inst, st, ck[i], cp[i], s) and evaluate(inst, st)
            val = objective(inst, st) if ok else BIG
            rollback(inst, st)
            if ok and val < best:
                best = val
                bk = ck[i]
                bp = cp[i]
        if bk < 0:
            return False
        if not insert_stop(inst, st, bk, bp, s) or not evaluate(inst, st):
            return False
    return True


# ======================================================================================
# route operators
# ======================================================================================

@njit(cache=True, nogil=True)
def op_relocate(inst: Inst, st: St, par: np.ndarray) -> bool:
    s = random_placed_stop(inst, st)
    if s < 0:
        return False
    v = inst.s_visit[s]
    k2 = random_cand_route(inst, st, s)
    if k2 < 0 or not carer_free_for(inst, st, s, k2):
        return False
    t = st.v_S[v]
    if not remove_stop(inst, st, s):
        return False
    p = pos_for_time(st, k2, t, inst) + rand_int(st, 3) - 1
    p = min(max(p, 0), st.r_len[k2])
    return insert_stop(inst, st, k2, p, s) and evaluate(inst, st)


@njit(cache=True, nogil=True)
def op_swap(inst: Inst, st: St, par: np.ndarray) -> bool:
    s1 = random_placed_stop(inst, st)
    if s1 < 0:
        return False
    v1 = inst.s_visit[s1]
    k1 = st.s_route[s1]
    k2 = random_cand_route(inst, st, s1)
    if k2 < 0:
        return False
    n2 = st.r_len[k2]
    if n2 == 0:
        return False
    p2 = pos_for_time(st, k2, st.v_S[v1], inst) + rand_int(st, 3) - 1
    p2 = min(max(p2, 0), n2 - 1)
    s2 = st.r_stops[k2, p2]
    v2 = inst.s_visit[s2]
    if v2 == v1 or inst.v_pinned[v2]:
        return False
    p1 = st.s_pos[s1]
    if k1 == k2:
        a, b = min(p1, p2), max(p1, p2)
        sa, sb = st.r_stops[k1, a], st.r_stops[k1, b]
        if not (remove_stop(inst, st, sb) and remove_stop(inst, st, sa)):
            return False
        return (insert_stop(inst, st, k1, a, sb) and insert_stop(inst, st, k1, b, sa)
                and evaluate(inst, st))
    if not (may_take(inst, st, s2, k1) and may_take(inst, st, s1, k2)):
        return False
    if not (remove_stop(inst, st, s1) and remove_stop(inst, st, s2)):
        return False
    return insert_stop(inst, st, k1, p1, s2) and insert_stop(inst, st, k2, p2, s1) and evaluate(inst, st)


@njit(cache=True, nogil=True)
def _segment_ok(inst: Inst, st: St, k_from: int, a: int, b: int, k_to: int, k_other: int) -> bool:
    """Stops k_from[a:b] may all go to route k_to (eligible, unpinned, no second role there)."""
    for p in range(a, b):
        s = st.r_stops[k_from, p]
        if not may_take(inst, st, s, k_to):
            return False
        # nor a second role of the visit in what comes back from k_other
        if k_other >= 0 and not carer_free_for(inst, st, s, k_other):
            return False
    return True


@njit(cache=True, nogil=True)
def _exchange(inst: Inst, st: St, k1: int, a1: int, b1: int, k2: int, a2: int, b2: int) -> bool:
    """Swap k1[a1:b1] and k2[a2:b2] (two different routes)."""
    seg1 = st.r_stops[k1, a1:b1].copy()
    seg2 = st.r_stops[k2, a2:b2].copy()
    for i in range(seg1.shape[0] - 1, -1, -1):
        if not remove_stop(inst, st, seg1[i]):
            return False
    for i in range(seg2.shape[0] - 1, -1, -1):
        if not remove_stop(inst, st, seg2[i]):
            return False
    for i in range(seg2.shape[0]):
        if not insert_stop(inst, st, k1, a1 + i, seg2[i]):
            return False
    for i in range(seg1.shape[0]):
        if not insert_stop(inst, st, k2, a2 + i, seg1[i]):
            return False
    return evaluate(inst, st)


@njit(cache=True, nogil=True)
def _second_route(inst: Inst, st: St, s1: int) -> int:
    k2 = random_cand_route(inst, st, s1)
    if k2 == st.s_route[s1]:
        return -1
    return k2


@njit(cache=True, nogil=True)
def op_two_opt_star(inst: Inst, st: St, par: np.ndarray) -> bool:
    s1 = random_placed_stop(inst, st)
    if s1 < 0:
        return False
    k1 = st.s_route[s1]
    k2 = _second_route(inst, st, s1)
    if k2 < 0:
        return False
    p1 = st.s_pos[s1] + rand_int(st, 2)
    n1, n2 = st.r_len[k1], st.r_len[k2]
    p1 = min(p1, n1)
    p2 = pos_for_time(st, k2, st.v_S[inst.s_visit[s1]], inst) + rand_int(st, 3) - 1
    p2 = min(max(p2, 0), n2)
    cap = st.r_stops.shape[1]
    if p1 + (n2 - p2) > cap or p2 + (n1 - p1) > cap:
        return False
    if not (_segment_ok(inst, st, k1, p1, n1, k2, k1) and _segment_ok(inst, st, k2, p2, n2, k1, k2)):
        return False
    return _exchange(inst, st, k1, p1, n1, k2, p2, n2)


@njit(cache=True, nogil=True)
def op_cross(inst: Inst, st: St, par: np.ndarray) -> bool:
    s1 = random_placed_stop(inst, st)
    if s1 < 0:
        return False
    k1 = st.s_route[s1]
    k2 = _second_route(inst, st, s1)
    if k2 < 0:
        return False
    n1, n2 = st.r_len[k1], st.r_len[k2]
    a1 = st.s_pos[s1]
    b1 = min(n1, a1 + 1 + rand_int(st, 3))
    a2 = pos_for_time(st, k2, st.v_S[inst.s_visit[s1]], inst) + rand_int(st, 3) - 1
    a2 = min(max(a2, 0), n2)
    b2 = min(n2, a2 + rand_int(st, 4))
    cap = st.r_stops.shape[1]
    if n1 - (b1 - a1) + (b2 - a2) > cap or n2 - (b2 - a2) + (b1 - a1) > cap:
        return False
    if not (_segment_ok(inst, st, k1, a1, b1, k2, k1) and _segment_ok(inst, st, k2, a2, b2, k1, k2)):
        return False
    return _exchange(inst, st, k1, a1, b1, k2, a2, b2)


@njit(cache=True, nogil=True)
def op_or_opt(inst: Inst, st: St, par: np.ndarray) -> bool:
    s1 = random_placed_stop(inst, st)
    if s1 < 0:
        return False
    k1 = st.s_route[s1]
    v1 = inst.s_visit[s1]
    k2 = random_cand_route(inst, st, s1)
    if k2 < 0:
        return False
    a = st.s_pos[s1]
    b = min(st.r_len[k1], a + 1 + rand_int(st, 3))
    if k2 != k1:
        if st.r_len[k2] + (b - a) > st.r_stops.shape[1]:
            return False
        if not _segment_ok(inst, st, k1, a, b, k2, -1):
            return False
    for p in range(a, b):
        if inst.v_pinned[inst.s_visit[st.r_stops[k1, p]]]:
            return False
    seg = st.r_stops[k1, a:b].copy()
    t = st.v_S[v1]
    for i in range(seg.shape[0] - 1, -1, -1):
        if not remove_stop(inst, st, seg[i]):
            return False
    p2 = pos_for_time(st, k2, t, inst) + rand_int(st, 3) - 1
    p2 = min(max(p2, 0), st.r_len[k2])
    if k2 == k1 and p2 == a:
        p2 = min(st.r_len[k2], a + 1) if rand_int(st, 2) == 0 else max(0, a - 1)
    for i in range(seg.shape[0]):
        if not insert_stop(inst, st, k2, p2 + i, seg[i]):
            return False
    return evaluate(inst, st)


# ======================================================================================
# visit operators
# ======================================================================================

@njit(cache=True, nogil=True)
def op_reinsert(inst: Inst, st: St, par: np.ndarray, multi: np.ndarray) -> bool:
    v = -1
    if multi.shape[0] > 0 and rand_float(st) < par[P_DOUBLE_BIAS]:
        for _ in range(8):
            u = multi[rand_int(st, multi.shape[0])]
            if st.v_cov[u] > 0 and inst.v_pinned[u] == 0:
                v = u
                break
    if v < 0:
        s = random_placed_stop(inst, st)
        if s < 0:
            return False
        v = inst.s_visit[s]
    if not remove_visit(inst, st, v) or not evaluate(inst, st):
        return False
    return best_insert(inst, st, v, par[P_BLINK], int(par[P_BACK]))


@njit(cache=True, nogil=True)
def op_client(inst: Inst, st: St, par: np.ndarray) -> bool:
    s = random_placed_stop(inst, st)
    if s < 0:
        return False
    nd = inst.dims[2]
    k1 = st.s_route[s]
    c1 = k1 // nd
    client = inst.v_client[inst.s_visit[s]]
    c2 = random_cand(inst, st, s)
    if c2 < 0 or c2 == c1:
        return False
    moved = 0
    for d in range(nd):
        ka = c1 * nd + d
        kb = c2 * nd + d
        p = 0
        while p < st.r_len[ka]:
            t = st.r_stops[ka, p]
            u = inst.s_visit[t]
            if inst.v_client[u] != client or not may_take(inst, st, t, kb) \
                    or st.r_len[kb] >= st.r_stops.shape[1]:
                p += 1
                continue
            start = st.v_S[u]
            if not remove_stop(inst, st, t):
                return False
            q = pos_for_time(st, kb, start, inst)
            if not insert_stop(inst, st, kb, q, t):
                return False
            moved += 1
    return moved > 0 and evaluate(inst, st)


@njit(cache=True, nogil=True)
def op_insert(inst: Inst, st: St, par: np.ndarray, unc: np.ndarray) -> bool:
    if unc.shape[0] == 0:
        return False
    v = -1
    for _ in range(8):
        u = unc[rand_int(st, unc.shape[0])]
        if st.v_cov[u] == 0:
            v = u
            break
    if v < 0:
        return False
    blink = par[P_BLINK]
    back = int(par[P_BACK])
    savepoint(st)
    if best_insert(inst, st, v, blink, back):
        commit(st)
        return True
    rollback(inst, st)
    # ejection: make room on one carer able to fill the first role, near the visit's time
    s = inst.v_stop0[v]
    c = random_cand(inst, st, s)
    if c < 0:
        return False
    nd = inst.dims[2]
    k = c * nd + inst.v_day[v]
    n = st.r_len[k]
    if n == 0:
        return False
    p = min(pos_for_time(st, k, inst.v_e[v], inst), n - 1)
    n_eject = 1 + rand_int(st, 2)
    ejected = np.full(2, -1, np.int64)
    for i in range(n_eject):
        q = p - i if p - i >= 0 else p + i
        if q < 0 or q >= st.r_len[k]:
            break
        u = inst.s_visit[st.r_stops[k, q]]
        if inst.v_pinned[u] or u == ejected[0]:
            continue
        ejected[i] = u
    if ejected[0] < 0 and ejected[1] < 0:
        return False
    for i in range(2):
        if ejected[i] >= 0 and not remove_visit(inst, st, ejected[i]):
            return False
    if not evaluate(inst, st):
        return False
    if not best_insert(inst, st, v, 0.0, back):
        return False
    for i in range(2):
        u = ejected[i]
        if u >= 0:
            savepoint(st)
            if best_insert(inst, st, u, blink, back):
                commit(st)
            else:
                rollback(inst, st)
    return True


@njit(cache=True, nogil=True)
def op_remove(inst: Inst, st: St, par: np.ndarray) -> bool:
    s = random_placed_stop(inst, st)
    if s < 0:
        return False
    return remove_visit(inst, st, inst.s_visit[s]) and evaluate(inst, st)


@njit(cache=True, nogil=True)
def op_ruin(inst: Inst, st: St, par: np.ndarray) -> bool:
    seed = random_placed_stop(inst, st)
    if seed < 0:
        return False
    nd = inst.dims[2]
    v0 = inst.s_visit[seed]
    t0 = st.v_S[v0]
    max_len = int(par[P_RUIN_MAX])
    n_routes = 1 + rand_int(st, int(par[P_RUIN_ROUTES]))
    removed = np.full(max_len * (n_routes + 1) + 4, -1, np.int64)
    n_rem = 0
    k = st.s_route[seed]
    for q in range(n_routes + 1):
        if q > 0:
            c = random_cand(inst, st, seed)
            if c < 0:
                break
            k = c * nd + inst.v_day[v0]
        n = st.r_len[k]
        if n == 0:
            continue
        length = 1 + rand_int(st, max_len)
        centre = pos_for_time(st, k, t0, inst)
        a = max(0, min(n - 1, centre - rand_int(st, length)))
        b = min(n, a + length)
        for p in range(a, b):
            u = inst.s_visit[st.r_stops[k, p]]
            if inst.v_pinned[u]:
                continue
            dup = False
            for i in range(n_rem):
                if removed[i] == u:
                    dup = True
            if not dup and n_rem < removed.shape[0]:
                removed[n_rem] = u
                n_rem += 1
    if n_rem == 0:
        return False
    for i in range(n_rem):
        if not remove_visit(inst, st, removed[i]):
            return False
    if not evaluate(inst, st):
        return False
    # reinsert: double-ups first, then by earliest start, ties broken at random
    keys = np.empty(n_rem, np.float64)
    for i in range(n_rem):
        u = removed[i]
        keys[i] = -1e7 * inst.v_nroles[u] + inst.v_e[u] + rand_float(st) * 30.0
    order = np.argsort(keys)
    blink = par[P_BLINK]
    back = int(par[P_BACK])
    for i in order:
        u = removed[i]
        savepoint(st)
        if best_insert(inst, st, u, blink, back):
            commit(st)
        else:
            rollback(inst, st)
    return True


@njit(cache=True, nogil=True)
def apply_op(inst: Inst, st: St, op: int, par: np.ndarray, unc: np.ndarray, multi: np.ndarray) -> bool:
    if op == 0:
        return op_relocate(inst, st, par)
    if op == 1:
        return op_swap(inst, st, par)
    if op == 2:
        return op_two_opt_star(inst, st, par)
    if op == 3:
        return op_or_opt(inst, st, par)
    if op == 4:
        return op_cross(inst, st, par)
    if op == 5:
        return op_reinsert(inst, st, par, multi)
    if op == 6:
        return op_client(inst, st, par)
    if op == 7:
        return op_insert(inst, st, par, unc)
    if op == 8:
        return op_remove(inst, st, par)
    return op_ruin(inst, st, par)


# ======================================================================================
# the annealing loop and construction
# ======================================================================================

@njit(cache=True, nogil=True)
def _save_best(st: St, best_rows: np.ndarray, best_len: np.ndarray) -> None:
    best_rows[:, :] = st.r_stops
    best_len[:] = st.r_len


@njit(cache=True, nogil=True)
def anneal(inst: Inst, st: St, par: np.ndarray, op_cum: np.ndarray, n_moves: int, temp: float,
           best_obj: np.ndarray, best_rows: np.ndarray, best_len: np.ndarray,
           unc: np.ndarray, multi: np.ndarray, stats: np.ndarray) -> None:
    """``n_moves`` moves of simulated annealing at temperature ``temp``.

    ``best_*`` hold the best rota met (routes only); it is saved before the search leaves
    it for a worse one. ``stats[op]`` counts tried / feasible / accepted / improving.
    """
    dirty = False
    n_ops = op_cum.shape[0]
    for _ in range(n_moves):
        x = rand_float(st) * op_cum[n_ops - 1]
        op = 0
        while op < n_ops - 1 and op_cum[op] <= x:
            op += 1
        old = objective(inst, st)
        savepoint(st)
        ok = apply_op(inst, st, op, par, unc, multi)
        stats[op, 0] += 1
        st.tot[12] += 1
        # a move's fixed cost (draw, savepoint, objective, rollback) in work units, so the
        # deterministic clock tracks time on small weeks too
        st.tot[T_WORK] += MOVE_WORK
        if not ok:
            rollback(inst, st)
            continue
        stats[op, 1] += 1
        new = objective(inst, st)
        delta = new - old
        accept = delta <= 0
        if not accept and temp > 0.0:
            accept = rand_float(st) < np.exp(-delta / temp)
        if not accept:
            rollback(inst, st)
            continue
        if delta > 0 and dirty:
            # leaving the best rota met: keep it first (and skip this move)
            rollback(inst, st)
            _save_best(st, best_rows, best_len)
            dirty = False
            continue
        commit(st)
        stats[op, 2] += 1
        if delta < 0:
            stats[op, 3] += 1
        if new < best_obj[0]:
            best_obj[0] = new
            dirty = True
    if dirty:
        _save_best(st, best_rows, best_len)


@njit(cache=True, nogil=True)
def sample_deltas(inst: Inst, st: St, par: np.ndarray, op_cum: np.ndarray, n_moves: int,
                  unc: np.ndarray, multi: np.ndarray) -> np.ndarray:
    """Objective changes of ``n_moves`` random moves, none kept (to set the temperature)."""
    out = np.zeros(n_moves, np.int64)
    n_ops = op_cum.shape[0]
    m = 0
    for _ in range(n_moves):
        x = rand_float(st) * op_cum[n_ops - 1]
        op = 0
        while op < n_ops - 1 and op_cum[op] <= x:
            op += 1
        old = objective(inst, st)
        savepoint(st)
        if apply_op(inst, st, op, par, unc, multi):
            out[m] = objective(inst, st) - old
            m += 1
        rollback(inst, st)
    return out[:m]


@njit(cache=True, nogil=True)
def construct(inst: Inst, st: St, order: np.ndarray, back: int) -> int:
    """Cheapest insertion of the visits of ``order`` still uncovered; returns how many went in."""
    placed = 0
    for v in order:
        if st.v_cov[v] > 0:
            continue
        savepoint(st)
        if best_insert(inst, st, v, 0.0, back):
            commit(st)
            placed += 1
        else:
            rollback(inst, st)
    return placed
