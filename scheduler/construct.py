"""A fast first rota: cheapest feasible insertion, visit by visit.

The large-neighbourhood search improves a rota; it needs a good one to start from, and on
a 9,000-visit week CP-SAT alone is too slow to build it. This constructor inserts visits
(essential first, double-ups before single visits, in time order) into carers' days at
fixed start times, choosing for each the cheapest carer(s) and gap that keep every hard
rule: skills and eligibility (from the candidate options), availability, travel between
neighbours, home trips, daily and weekly caps, staff rest, dependencies with visits
already placed. Its only job is a valid, sensible start; the model then values and
improves it.
"""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from dataclasses import dataclass

from scheduler.candidates import Option
from scheduler.model.context import Weights
from scheduler.problem import Problem

# Filling contracts is worth less to a greedy choice than its weight says: every visit
# goes to someone, so shortfall shrinks anyway, while a new face for a client stays.
SHORTFALL_GREED = 0.2
# Likewise continuity: sticking to a client's usual carer blocks that carer's other clients;
# the improvement phase, which sees the whole neighbourhood, consolidates faces better.
CONTINUITY_GREED = 0.3
PRIORITY_RANK = {"essential": 0, "important": 1, "optional": 2}


@dataclass
class _Slot:
    start: int
    end: int
    visit: int


class Constructor:
    def __init__(self, problem: Problem, options: list[Option], weights: Weights,
                 day_of_visit: list[int], assign: dict[int, tuple[tuple[int, ...], int]]):
        self.p = problem
        self.w = weights
        self.day_of_visit = day_of_visit
        self.assign = dict(assign)
        self.opts_of_visit: dict[int, list[Option]] = defaultdict(list)
        for o in options:
            self.opts_of_visit[o.visit].append(o)
        self.days: dict[tuple[int, int], list[_Slot]] = defaultdict(list)
        self._travel_cache: dict[tuple[int, int, int], int] = {}
        self.day_work: dict[tuple[int, int], int] = {}
        self.total_cost = 0.0
        self.client_carers: dict[str, set[int]] = defaultdict(set)
        for vi, (carers, start) in self.assign.items():
            for r, ci in enumerate(carers):
                self._place(ci, vi, r, start)
        self.week_work: dict[int, int] = defaultdict(int)
        for (ci, d), slots in self.days.items():
            self.day_work[(ci, d)] = self.work(ci, slots)
            self.week_work[ci] += self.day_work[(ci, d)]
        index = {v.id: i for i, v in enumerate(problem.visits)}
        self.deps: dict[int, list[tuple[int, int, int | None, bool]]] = defaultdict(list)
        for dep in problem.dependencies:
            a, b = index[dep.first], index[dep.then]
            self.deps[b].append((a, dep.min_gap_minutes, dep.max_gap_minutes, True))
            self.deps[a].append((b, dep.min_gap_minutes, dep.max_gap_minutes, False))

    # -- bookkeeping ----------------------------------------------------------------
    def _place(self, ci: int, vi: int, role: int, start: int) -> None:
        visit = self.p.visits[vi]
        slots = self.days[(ci, self.day_of_visit[vi])]
        bisect.insort(slots, _Slot(start, start + visit.role_duration(role), vi), key=lambda s: s.start)
        self.client_carers[visit.client].add(ci)

    def travel(self, ci: int, a: int, b: int) -> int:
        key = (ci, a, b)
        t = self._travel_cache.get(key)
        if t is None:
            p = self.p
            t = p.travel_minutes(p.visits[a].client, p.visits[b].client, p.carers[ci])
            self._travel_cache[key] = t
        return t

    def work(self, ci: int, slots: list[_Slot]) -> int:
        """Working minutes of a carer-day, counted as the spec counts them."""
        if not slots:
            return 0
        p, carer = self.p, self.p.carers[ci]
        minutes = sum(s.end - s.start for s in slots)
        if p.rules.count_travel_as_work:
            minutes += sum(self.travel(ci, a.visit, b.visit) for a, b in itertools.pairwise(slots))
        if p.rules.home_travel:
            minutes += p.travel_minutes(carer.id, p.visits[slots[0].visit].client, carer)
            minutes += p.travel_minutes(p.visits[slots[-1].visit].client, carer.id, carer)
        return minutes

    # -- feasibility of one carer on one role -----------------------------------------
    def _dep_range(self, vi: int) -> tuple[int, int]:
        lo, hi = -10**9, 10**9
        for other, gmin, gmax, other_first in self.deps.get(vi, []):
            if other not in self.assign:
                continue
            s = self.assign[other][1]
            if other_first:
                lo, hi = max(lo, s + gmin), min(hi, s + gmax if gmax is not None else hi)
            else:
                hi = min(hi, s - gmin)
                if gmax is not None:
                    lo = max(lo, s - gmax)
        return lo, hi

    def _ranges(self, o: Option, lo_dep: int, hi_dep: int) -> list[tuple[int, int, int]]:
        """Feasible start ranges ``(lo, hi, gap index)`` for option ``o`` in the carer's day."""
        p, ci, vi = self.p, o.carer, o.visit
        carer, visit = p.carers[ci], p.visits[vi]
        dur = visit.role_duration(o.role)
        slots = self.days.get((ci, self.day_of_visit[vi]), [])
        home = p.rules.home_travel
        d = self.day_of_visit[vi]
        rest = p.rules.min_rest_minutes if not carer.is_volunteer else 0
        before, after = self.days.get((ci, d - 1)), self.days.get((ci, d + 1))
        out: list[tuple[int, int, int]] = []
        starts = [x.start for x in slots]
        ends = [x.end for x in slots]  # slots never overlap, so ends are sorted too
        for a, b, iv in o.windows:
            a, b = max(a, lo_dep), min(b, hi_dep)
            if a > b:
                continue
            # only gaps whose next slot starts after our earliest end and whose previous
            # slot ends before our latest start can hold the visit
            first_gap = bisect.bisect_left(starts, a + dur)
            last_gap = bisect.bisect_right(ends, b)
            for g in range(first_gap, min(last_gap, len(slots)) + 1):
                prev = slots[g - 1] if g > 0 else None
                nxt = slots[g] if g < len(slots) else None
                lo, hi = a, b
                if prev is not None:
                    lo = max(lo, prev.end + self.travel(ci, prev.visit, vi))
                elif home:
                    lo = max(lo, iv.start + p.travel_minutes(carer.id, visit.client, carer))
                if nxt is not None:
                    hi = min(hi, nxt.start - dur - self.travel(ci, vi, nxt.visit))
                elif home:
                    hi = min(hi, iv.end - dur - p.travel_minutes(visit.client, carer.id, carer))
                if prev is None and before:  # rest, and room to travel across midnight
                    last = max(before, key=lambda x: x.end)
                    lo = max(lo, last.end + max(rest, self.travel(ci, last.visit, vi)))
                if nxt is None and after:
                    hi = min(hi, after[0].start - dur - max(rest, self.travel(ci, vi, after[0].visit)))
                if lo <= hi:
                    out.append((lo, hi, g))
        return out

    def _check(self, ci: int, vi: int, role: int, start: int) -> float | None:
        """Cost of putting carer ``ci`` on ``role`` of ``vi`` at ``start``; None if unlawful.

        Works on the change at the insertion point (the travel legs it adds and removes,
        the home trips it moves), so a check costs the same however full the day is.
        """
        p, w = self.p, self.w.w
        carer, visit = p.carers[ci], p.visits[vi]
        d = self.day_of_visit[vi]
        slots = self.days.get((ci, d), [])
        dur = visit.role_duration(role)
        g = bisect.bisect_left([x.start for x in slots], start)
        prev = slots[g - 1] if g > 0 else None
        nxt = slots[g] if g < len(slots) else None
        between = (self.travel(ci, prev.visit, vi) if prev else 0) + \
            (self.travel(ci, vi, nxt.visit) if nxt else 0) - \
            (self.travel(ci, prev.visit, nxt.visit) if prev and nxt else 0)
        home = 0
        if p.rules.home_travel:
            if prev is None:
                home += p.travel_minutes(carer.id, visit.client, carer) - (
                    p.travel_minutes(carer.id, p.visits[slots[0].visit].client, carer) if slots else 0)
            if nxt is None:
                home += p.travel_minutes(visit.client, carer.id, carer) - (
                    p.travel_minutes(p.visits[slots[-1].visit].client, carer.id, carer) if slots else 0)
        delta = dur + home + (between if p.rules.count_travel_as_work else 0)
        old_work = self.day_work.get((ci, d), 0)
        if old_work + delta > carer.max_minutes_per_day:
            return None
        if self.week_work[ci] + delta > carer.max_minutes_per_week:
            return None
        if not carer.is_volunteer and p.rules.min_rest_minutes > 0:
            rest = p.rules.min_rest_minutes
            before = self.days.get((ci, d - 1))
            after = self.days.get((ci, d + 1))
            first = start if g == 0 else slots[0].start
            last_end = max([start + dur, *(x.end for x in slots)])
            if before and first - max(x.end for x in before) < rest:
                return None
            if after and after[0].start - last_end < rest:
                return None
        travel_delta = between + home
        cost: float = travel_delta * w["travel"]
        cost += max(0, start - visit.latest_start) * w["lateness"]
        client = p.client_by_id[visit.client]
        known = self.client_carers.get(client.id, set())
        if ci not in known and known:
            cost += w["distinct_carers"] * CONTINUITY_GREED
        if client.preferred_carers and carer.id not in client.preferred_carers:
            cost += w["non_preferred"] * CONTINUITY_GREED
        if any(m > 0 for m in client.history.values()) and client.history.get(carer.id, 0) <= 0:
            cost += w["unfamiliar"] * CONTINUITY_GREED
        if carer.contracted_minutes and not carer.is_volunteer:
            short = max(0, carer.contracted_minutes - self.week_work[ci])
            cost -= min(short, delta) * w["contract_shortfall"] * SHORTFALL_GREED
        cost += delta * self.w.cost_per_minute[ci] / self.w.scale
        return cost

    # -- insertion ----------------------------------------------------------------------
    def insert(self, vi: int) -> bool:
        visit = self.p.visits[vi]
        lo_dep, hi_dep = self._dep_range(vi)
        per_role: list[list[tuple[int, int, int]]] = []  # (carer, lo, hi)
        for r in range(len(visit.roles)):
            cands = []
            for o in self.opts_of_visit.get(vi, []):
                if o.role != r:
                    continue
                for lo, hi, _g in self._ranges(o, lo_dep, hi_dep):
                    cands.append((o.carer, lo, hi))
            if not cands:
                return False
            per_role.append(cands)
        best: tuple[float, tuple[int, ...], int] | None = None
        for combo, start, _hi in self._combos(per_role):
            # the earliest common start: least lateness, most room left after it
            total = 0.0
            for r, ci in enumerate(combo):
                c = self._check(ci, vi, r, start)
                if c is None:
                    break
                total += c
            else:
                if best is None or total < best[0]:
                    best = (total, combo, start)
        if best is None:
            return False
        cost, combo, start = best
        self.total_cost += cost
        for r, ci in enumerate(combo):
            d = self.day_of_visit[vi]
            old = self.day_work.get((ci, d), 0)
            self._place(ci, vi, r, start)
            self.day_work[(ci, d)] = self.work(ci, self.days[(ci, d)])
            self.week_work[ci] += self.day_work[(ci, d)] - old
        self.assign[vi] = (combo, start)
        return True

    @staticmethod
    def _combos(per_role: list[list[tuple[int, int, int]]],
                limit: int = 400) -> list[tuple[tuple[int, ...], int, int]]:
        """Distinct carers, one per role, with their common start range."""
        out: list[tuple[tuple[int, ...], int, int]] = []

        def rec(r: int, chosen: tuple[int, ...], lo: int, hi: int) -> None:
            if len(out) >= limit:
                return
            if r == len(per_role):
                out.append((chosen, lo, hi))
                return
            for ci, a, b in per_role[r]:
                if ci in chosen:
                    continue
                na, nb = max(lo, a), min(hi, b)
                if na <= nb:
                    rec(r + 1, (*chosen, ci), na, nb)

        rec(0, (), -10**9, 10**9)
        return out

    def run(self, visits: list[int],
            double_ups_first: bool = False) -> dict[int, tuple[tuple[int, ...], int]]:
        """Insert ``visits`` in time order, as a coordinator fills a week: days build left to
        right and stay compact. With ``double_ups_first``, visits needing two or more carers
        go first (in time order too): they are the hardest to fit into days already built.
        """
        p = self.p
        order = sorted(visits, key=lambda vi: (double_ups_first and len(p.visits[vi].roles) == 1,
                                               p.visits[vi].earliest_start,
                                               PRIORITY_RANK[p.visits[vi].priority],
                                               -len(p.visits[vi].roles), p.visits[vi].latest_start, vi))
        for vi in order:
            if vi not in self.assign:
                self.insert(vi)
        return self.assign

    def score(self) -> float:
        """How good the built rota looks: uncovered-visit weights plus the insertion costs."""
        missing = sum(self.w.unassigned(v.priority) / self.w.scale for vi, v in enumerate(self.p.visits)
                      if vi not in self.assign)
        return missing + self.total_cost
