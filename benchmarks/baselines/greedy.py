"""What a coordinator does by hand: visits in time order, nearest free eligible carer.

For each visit (pinned ones first, then by earliest start, essentials before the rest on a
tie) every role is given to the eligible carer who is nearest (travel from their previous
visit that day, or from home) among those who can start it at the earliest feasible minute
without breaking a rule: skills, volunteer rule, exclusions, gender preference,
availability (with the home trips when ``home_travel``), travel from their previous visit,
daily and weekly caps, staff rest, dependencies with already placed visits, pins. A
double-up gets all its carers at one common start or is left unassigned. Each carer's day
only grows at its end: the coordinator never re-plans an earlier decision.

The result is an ordinary :class:`~scheduler.rota.Rota`, checked by the same checker as the
solver's; its objective and KPIs are filled in from the checker's recomputation.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from scheduler.candidates import role_allows
from scheduler.problem import Carer, Problem, Visit
from scheduler.rota import Assignment, Rota, Unassigned

PRIORITY_RANK = {"essential": 0, "important": 1, "optional": 2}
CANDIDATES_PER_ROLE = 6  # double-ups: how many nearest carers per role are tried together


@dataclass
class _Stint:
    start: int
    end: int
    client: str
    day: int


@dataclass
class _CarerState:
    carer: Carer
    stints: list[_Stint] = field(default_factory=list)
    day_minutes: dict[int, int] = field(default_factory=dict)
    week_minutes: int = 0


@dataclass(frozen=True)
class _Option:
    carer: str
    start: int
    travel: int  # travel to reach the visit (the "nearest" criterion)
    day_minutes: int
    week_minutes: int


# static eligibility (skills, volunteer rule, exclusions, gender, pins): the engine's own rule
eligible = role_allows


class Greedy:
    def __init__(self, problem: Problem) -> None:
        self.p = problem
        self.state = {c.id: _CarerState(c) for c in problem.carers}
        self.start_of: dict[str, int] = {}
        self.deps_of: dict[str, list] = {}
        for d in problem.dependencies:
            self.deps_of.setdefault(d.first, []).append(d)
            self.deps_of.setdefault(d.then, []).append(d)

    # -- one carer at one visit --------------------------------------------------------
    def option(self, st: _CarerState, visit: Visit, role: int, lb: int, ub: int) -> _Option | None:
        """Earliest lawful start >= lb (and <= ub) for this carer on this role, or None."""
        p, c = self.p, st.carer
        dur = visit.role_duration(role)
        if not any(iv.start <= ub and lb + dur <= iv.end for iv in c.availability):
            return None  # quick reject: never available in the window
        home = p.rules.home_travel
        h_in = p.travel_minutes(c.id, visit.client, c) if home else 0
        h_out = p.travel_minutes(visit.client, c.id, c) if home else 0
        last = st.stints[-1] if st.stints else None
        s = lb
        if last is not None:
            s = max(s, last.end + p.travel_minutes(last.client, visit.client, c))
        for _ in range(4):  # the day can change once or twice as constraints push s later
            if s > ub:
                return None
            day = p.day_of(s)
            same_day = last is not None and last.day == day
            if last is not None and not same_day and home:
                s2 = last.end + p.travel_minutes(last.client, c.id, c) + h_in
                if s2 > s:
                    s = s2
                    continue
            if not same_day and not c.is_volunteer and p.rules.min_rest_minutes > 0:
                prev = [t for t in st.stints if t.day == day - 1]
                if prev and s < prev[-1].end + p.rules.min_rest_minutes:
                    s = prev[-1].end + p.rules.min_rest_minutes
                    continue
            # availability: the (extended) span inside one interval
            pre = 0 if same_day else h_in
            placed = None
            for iv in c.availability:
                t = max(s, iv.start + pre)
                if t + dur + h_out <= iv.end and t <= ub:
                    placed = t
                    break
            if placed is None:
                return None
            if p.day_of(placed) != day:
                s = placed
                continue
            s = placed
            between = p.travel_minutes(last.client, visit.client, c) if same_day and last else 0
            travel_to = between if same_day else h_in
            add = dur + (between if p.rules.count_travel_as_work else 0)
            if home:
                add += h_out + (0 if same_day else h_in)
                if same_day and last is not None:
                    add -= p.travel_minutes(last.client, c.id, c)
            day_total = st.day_minutes.get(day, 0) + add
            week_total = st.week_minutes + add
            if day_total > c.max_minutes_per_day or week_total > c.max_minutes_per_week:
                return None
            return _Option(c.id, s, travel_to, day_total, week_total)
        return None

    def window(self, visit: Visit) -> tuple[int, int]:
        lb, ub = visit.earliest_start, visit.last_start
        pin = self.p.pin_by_visit.get(visit.id)
        if pin is not None and pin.start is not None:
            lb, ub = max(lb, pin.start), min(ub, pin.start)
        for d in self.deps_of.get(visit.id, []):
            hi = d.max_gap_minutes
            if d.then == visit.id and d.first in self.start_of:
                t = self.start_of[d.first]
                lb = max(lb, t + d.min_gap_minutes)
                if hi is not None:
                    ub = min(ub, t + hi)
            elif d.first == visit.id and d.then in self.start_of:
                t = self.start_of[d.then]
                ub = min(ub, t - d.min_gap_minutes)
                if hi is not None:
                    lb = max(lb, t - hi)
        return lb, ub

    # -- one visit ---------------------------------------------------------------------
    def place(self, visit: Visit) -> tuple[tuple[str, ...], int] | None:
        lb, ub = self.window(visit)
        if lb > ub:
            return None
        per_role: list[list[_Option]] = []
        for r in range(len(visit.roles)):
            opts = [o for st in self.state.values() if eligible(self.p, st.carer, visit, r)
                    for o in [self.option(st, visit, r, lb, ub)] if o is not None]
            if not opts:
                return None
            # on time before late, then nearest, then earliest
            opts.sort(key=lambda o: (o.start > visit.latest_start, o.travel, o.start))
            per_role.append(opts[:CANDIDATES_PER_ROLE] if len(visit.roles) > 1 else opts[:1])
        if len(visit.roles) == 1:
            o = per_role[0][0]
            self.commit(visit, 0, o)
            return (o.carer,), o.start
        for combo in itertools.product(*per_role):
            ids = [o.carer for o in combo]
            if len(set(ids)) != len(ids):
                continue
            common = max(o.start for o in combo)
            if common > ub:
                continue
            fixed = [self.option(self.state[o.carer], visit, r, common, common)
                     for r, o in enumerate(combo)]
            if all(f is not None and f.start == common for f in fixed):
                for r, f in enumerate(fixed):
                    assert f is not None
                    self.commit(visit, r, f)
                return tuple(ids), common
        return None

    def commit(self, visit: Visit, role: int, o: _Option) -> None:
        st = self.state[o.carer]
        day = self.p.day_of(o.start)
        st.stints.append(_Stint(o.start, o.start + visit.role_duration(role), visit.client, day))
        st.day_minutes[day] = o.day_minutes
        st.week_minutes = o.week_minutes

    def run(self) -> Rota:
        order = sorted(self.p.visits, key=lambda v: (v.id not in self.p.pin_by_visit, v.earliest_start,
                                                     PRIORITY_RANK[v.priority], -len(v.roles), v.id))
        assignments: list[Assignment] = []
        unassigned: list[Unassigned] = []
        for v in order:
            placed = self.place(v)
            if placed is None:
                unassigned.append(Unassigned(v.id, ("greedy: no eligible carer was free at a lawful "
                                                    "time when this visit's turn came",)))
            else:
                carers, start = placed
                self.start_of[v.id] = start
                assignments.append(Assignment(v.id, carers, start))
        return Rota(problem=self.p.name, status="feasible", assignments=assignments,
                    unassigned=unassigned)


def greedy_rota(problem: Problem) -> Rota:
    """The greedy coordinator's rota, with objective and KPIs as the checker computes them."""
    import time

    from scheduler.checker import check

    t0 = time.perf_counter()
    rota = Greedy(problem).run()
    rota.solve_seconds = round(time.perf_counter() - t0, 3)
    report = check(problem, rota)
    rota.objective, rota.kpis = report.objective, report.kpis
    return rota
