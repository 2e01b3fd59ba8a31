"""Why a visit is unassigned, in words a coordinator can act on.

Reasons are computed from the problem and the final assignments only (never from a solver
model), so any rota's gaps can be explained. For each role of the visit the carers pass
through a funnel, and the explanation reports the stage where it empties, with counts and
names:

1. **skills**: carers holding every skill of the role;
2. **rules**: not excluded by the client, of the client's preferred gender, not a
   volunteer unless the visit is ``volunteer_ok`` (and the pinned carer, when pinned);
3. **availability**: an availability interval holds the visit at some start in its window
   (the window narrowed by dependencies on covered visits);
4. **free**: no assignment of the carer overlaps it, travel included;
5. **caps and rest**: the daily and weekly caps and the staff rest between days still hold.

When every role still has someone, the roles are matched (a double-up needs distinct
carers at one common start). When even that works, the visit could be added as it stands
and the reason says so (the solver judged it not worth its cost, or ran out of time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from scheduler.problem import (
    MINUTES_PER_DAY,
    READABLE_DAY,
    READABLE_TIME,
    Carer,
    Client,
    Problem,
    Role,
    Visit,
)
from scheduler.rota import Assignment

MAX_NAMES = 5
Placement = tuple[tuple[str, ...], int]  # (carer ids in role order, start minute)


# -- formatting ------------------------------------------------------------------------

def fmt_time(problem: Problem, minute: int) -> str:
    """``Tue 01 Dec 07:30``."""
    return problem.time_of(minute).strftime(READABLE_TIME)


def fmt_day(problem: Problem, minute: int) -> str:
    return problem.time_of(minute).strftime(READABLE_DAY)


def fmt_range(problem: Problem, start: int, end: int) -> str:
    """``Tue 01 Dec 07:30-08:00`` (the end's date shown only when it differs)."""
    if problem.day_of(start) == problem.day_of(end) or end == problem.day_start(problem.day_of(start) + 1):
        return f"{fmt_time(problem, start)}-{problem.time_of(end).strftime('%H:%M')}"
    return f"{fmt_time(problem, start)}-{fmt_time(problem, end)}"


def _hhmm(problem: Problem, minute: int) -> str:
    return problem.time_of(minute).strftime("%H:%M")


def names(ids: Iterable[str], limit: int = MAX_NAMES) -> str:
    """``ann, bryn and cerys``; longer lists end ``... and 4 more``."""
    items = list(ids)
    if len(items) > limit:
        return ", ".join(items[:limit]) + f" and {len(items) - limit} more"
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _skills_text(skills: frozenset[str]) -> str:
    if not skills:
        return "any carer"
    listed = " and ".join(f"'{s}'" for s in sorted(skills))
    return f"skill {listed}" if len(skills) == 1 else f"skills {listed}"


def _possessive(carer: Carer) -> str:
    return {"female": "her", "male": "his"}.get(carer.gender or "", "their")


# -- the carers' timelines -------------------------------------------------------------

@dataclass(frozen=True)
class _Slot:
    """One carer's minutes on one covered visit."""

    visit: str
    client: str
    start: int
    end: int


@dataclass
class _Timelines:
    """Per carer: covered visits sorted by start, and working minutes per day."""

    problem: Problem
    slots: dict[str, list[_Slot]] = field(default_factory=dict)
    day_work: dict[tuple[str, int], int] = field(default_factory=dict)
    week_work: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, problem: Problem, assignments: Sequence[Assignment]) -> _Timelines:
        slots: dict[str, list[_Slot]] = defaultdict(list)
        for a in assignments:
            v = problem.visit_by_id.get(a.visit)
            if v is None:
                continue
            for role, cid in enumerate(a.carers):
                if role < len(v.roles):
                    slots[cid].append(_Slot(v.id, v.client, a.start, a.start + v.role_duration(role)))
        self = cls(problem, {c: sorted(s, key=lambda x: x.start) for c, s in slots.items()})
        for cid, line in self.slots.items():
            carer = problem.carer_by_id.get(cid)
            if carer is None:
                continue
            for day, work in self._work_by_day(carer, line).items():
                self.day_work[(cid, day)] = work
            self.week_work[cid] = sum(w for (c, _), w in self.day_work.items() if c == cid)
        return self

    def _work_by_day(self, carer: Carer, line: list[_Slot]) -> dict[int, int]:
        p = self.problem
        out: dict[int, int] = defaultdict(int)
        by_day: dict[int, list[_Slot]] = defaultdict(list)
        for s in line:
            by_day[p.day_of(s.start)].append(s)
        for day, day_line in by_day.items():
            out[day] = self.day_minutes(carer, day_line)
        return out

    def day_minutes(self, carer: Carer, day_line: list[_Slot]) -> int:
        """Working minutes of one calendar day's visits (sorted), as the spec counts them."""
        p = self.problem
        work = sum(s.end - s.start for s in day_line)
        if p.rules.count_travel_as_work:
            work += sum(p.travel_minutes(a.client, b.client, carer) for a, b in pairwise(day_line))
        if p.rules.home_travel and day_line:
            work += p.travel_minutes(carer.id, day_line[0].client, carer)
            work += p.travel_minutes(day_line[-1].client, carer.id, carer)
        return work


# -- the funnel ------------------------------------------------------------------------

@dataclass
class _RoleFunnel:
    role: Role
    duration: int
    skilled: list[Carer] = field(default_factory=list)
    allowed: list[Carer] = field(default_factory=list)
    available: list[Carer] = field(default_factory=list)
    free: list[Carer] = field(default_factory=list)
    # carer id -> start intervals (inclusive) at which the carer can make it
    final: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    rule_reasons: list[str] = field(default_factory=list)
    unavailable: list[Carer] = field(default_factory=list)  # shown as "ann works 14:00-22:00"
    busy: list[str] = field(default_factory=list)  # "ann: dai-am 07:30-08:15"
    capped: list[str] = field(default_factory=list)  # "ann would exceed ..."
    blocking: set[str] = field(default_factory=set)  # visit ids in the way


class Explainer:
    """Explains any number of unassigned visits against one set of assignments."""

    def __init__(self, problem: Problem, assignments: Sequence[Assignment],
                 placements: Mapping[str, Placement | None] | None = None) -> None:
        self.problem = problem
        self.assignments = list(assignments)
        # the evaluator's verdicts (scheduler.search): for an unassigned visit, its cheapest
        # lawful place in the rota as it stands, or None when no carer's day has room under
        # every rule. When given they decide "could be covered"; the funnel only words why not.
        self.placements = placements
        self.start_of = {a.visit: a.start for a in self.assignments}
        self.lines = _Timelines.of(problem, self.assignments)

    # -- public ---------------------------------------------------------------------
    def explain(self, visit_id: str) -> list[str]:
        p = self.problem
        visit = p.visit_by_id.get(visit_id)
        if visit is None:
            return [f"visit '{visit_id}' is not in the problem"]
        if visit_id in self.start_of:
            return [f"visit '{visit_id}' is covered (at {fmt_time(p, self.start_of[visit_id])})"]
        placed = self.placements.get(visit_id) if self.placements is not None else None
        if placed is not None:
            carers, start = placed
            return [f"could be covered by {names(carers)} at {fmt_time(p, start)} without breaking "
                    "a rule; " + self._not_added(visit)]
        client = p.client_by_id[visit.client]
        window, dep_reasons = self._window(visit)
        if window is None:
            return dep_reasons
        lo, hi = window
        funnels = [self._funnel(visit, client, role, lo, hi) for role in range(len(visit.roles))]
        reasons = self._first_empty_stage(visit, lo, hi, funnels)
        if reasons:
            return reasons
        return self._match(visit, lo, hi, funnels)

    # -- window ---------------------------------------------------------------------
    def _window(self, visit: Visit) -> tuple[tuple[int, int] | None, list[str]]:
        """The start window, narrowed by dependencies on covered visits."""
        p = self.problem
        lo, hi = visit.earliest_start, visit.last_start
        pin = p.pin_by_visit.get(visit.id)
        if pin is not None and pin.start is not None:
            lo = hi = pin.start
        for dep in p.dependencies:
            if dep.then == visit.id and dep.first in self.start_of:
                other, sign = dep.first, 1
            elif dep.first == visit.id and dep.then in self.start_of:
                other, sign = dep.then, -1
            else:
                continue
            s = self.start_of[other]
            gap_hi = dep.max_gap_minutes
            if sign == 1:
                dlo, dhi = s + dep.min_gap_minutes, (s + gap_hi if gap_hi is not None else hi)
                relation = "after"
            else:
                dlo, dhi = (s - gap_hi if gap_hi is not None else lo), s - dep.min_gap_minutes
                relation = "before"
            new_lo, new_hi = max(lo, dlo), min(hi, dhi)
            if new_lo > new_hi:
                gap = (f"{dep.min_gap_minutes}-{gap_hi}" if gap_hi is not None
                       else f"at least {dep.min_gap_minutes}")
                return None, [
                    f"dependency with '{other}': must start {gap} min {relation} it (it starts "
                    f"{fmt_time(p, s)}), and its own window {fmt_range(p, lo, hi)} leaves no slot"]
            lo, hi = new_lo, new_hi
        return (lo, hi), []

    # -- funnel ---------------------------------------------------------------------
    def _funnel(self, visit: Visit, client: Client, role_index: int, lo: int, hi: int) -> _RoleFunnel:
        p = self.problem
        role = visit.roles[role_index]
        f = _RoleFunnel(role, visit.role_duration(role_index))
        pin = p.pin_by_visit.get(visit.id)
        day0 = p.day_start(p.day_of(visit.earliest_start))
        f.skilled = [c for c in p.carers if role.skills <= c.skills_at(day0)]
        excluded, wrong_gender, volunteers, not_pinned = [], [], [], []
        for c in f.skilled:
            if c.id in client.excluded_carers:
                excluded.append(c.id)
            elif client.gender_preference is not None and c.gender != client.gender_preference:
                wrong_gender.append(c.id)
            elif c.is_volunteer and not visit.volunteer_ok:
                volunteers.append(c.id)
            elif pin is not None and role_index < len(pin.carers) and pin.carers[role_index] != c.id:
                not_pinned.append(c.id)
            else:
                f.allowed.append(c)
        if excluded:
            f.rule_reasons.append(f"excluded: {names(excluded)} (by client)")
        if wrong_gender:
            pref = client.gender_preference
            ok = sum(1 for c in f.skilled if c.gender == pref)
            f.rule_reasons.append(f"only {pref} carers allowed: {ok} of {len(f.skilled)} carers with "
                                  f"{_skills_text(role.skills)} {'is' if ok == 1 else 'are'} {pref}")
        if volunteers:
            f.rule_reasons.append(f"volunteers cannot fill it (not volunteer_ok): {names(volunteers)}")
        if not_pinned and pin is not None:
            f.rule_reasons.append(f"pinned to {pin.carers[role_index]} for role {role_index + 1}")
        for c in f.allowed:
            spans = self._available_starts(c, client, f.duration, lo, hi)
            if not spans:
                f.unavailable.append(c)
                continue
            f.available.append(c)
            spans, blockers = self._free_starts(c, client, f.duration, spans)
            if not spans:
                f.busy.append(f"{c.id}: {', '.join(text for _, text in blockers[:3])}")
                f.blocking.update(vid for vid, _ in blockers)
                continue
            f.free.append(c)
            spans, why = self._within_limits(c, client, f.duration, spans)
            if not spans:
                f.capped.append(why)
                continue
            f.final[c.id] = spans
        return f

    def _available_starts(self, c: Carer, client: Client, duration: int, lo: int,
                          hi: int) -> list[tuple[int, int]]:
        p = self.problem
        before = after = 0
        if p.rules.home_travel:
            before = p.travel_minutes(c.id, client.id, c)
            after = p.travel_minutes(client.id, c.id, c)
        out = []
        for a in c.availability:
            s_lo, s_hi = max(lo, a.start + before), min(hi, a.end - duration - after)
            if s_lo <= s_hi:
                out.append((s_lo, s_hi))
        return out

    def _availability_text(self, c: Carer, lo: int, hi: int) -> str:
        p = self.problem
        day = p.day_of(lo)
        start, end = p.day_start(day), p.day_start(day + 1)
        that_day = [a for a in c.availability if a.start < end and a.end > start]
        if not that_day:
            return f"{c.id} is off that day"
        return f"{c.id} works " + ", ".join(f"{_hhmm(p, a.start)}-{_hhmm(p, a.end)}" for a in that_day)

    def _free_starts(self, c: Carer, client: Client, duration: int,
                     spans: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], list[tuple[str, str]]]:
        """Starts not clashing with the carer's visits (travel included), and the blockers."""
        p = self.problem
        line = self.lines.slots.get(c.id, [])
        blockers: list[tuple[str, str]] = []
        if spans:
            # Only visits within a day of the window can clash (travel is under a day).
            lo, hi = spans[0][0] - MINUTES_PER_DAY, spans[-1][1] + MINUTES_PER_DAY
            line = [s for s in line if lo <= s.start <= hi]
        for slot in line:
            # Starting in [slot.start - travel(client->slot) - duration, slot.end + travel(slot->client)]
            # (exclusive) clashes with this visit.
            t_to = p.travel_minutes(client.id, slot.client, c)
            t_from = p.travel_minutes(slot.client, client.id, c)
            bad_lo, bad_hi = slot.start - t_to - duration + 1, slot.end + t_from - 1
            cut: list[tuple[int, int]] = []
            hit = False
            for s_lo, s_hi in spans:
                if s_hi < bad_lo or s_lo > bad_hi:
                    cut.append((s_lo, s_hi))
                    continue
                hit = True
                if s_lo < bad_lo:
                    cut.append((s_lo, bad_lo - 1))
                if s_hi > bad_hi:
                    cut.append((bad_hi + 1, s_hi))
            if hit:
                travel = max(t_to, t_from)
                blockers.append((slot.visit, f"{slot.visit} {_hhmm(p, slot.start)}-{_hhmm(p, slot.end)}"
                                 + (f" (+{travel} min travel)" if travel else "")))
            spans = cut
        return spans, blockers

    def _within_limits(self, c: Carer, client: Client, duration: int,
                       spans: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], str]:
        """Starts at which the daily and weekly caps and the rest between days still hold."""
        p = self.problem
        line = self.lines.slots.get(c.id, [])
        ok: list[tuple[int, int]] = []
        why = ""
        for s_lo, s_hi in spans:
            day = p.day_of(s_lo)
            day_line = [s for s in line if p.day_of(s.start) == day]
            # Within a free span, the neighbours (and so the added work) are fixed.
            new = _Slot("?", client.id, s_lo, s_lo + duration)
            with_it = sorted([*day_line, new], key=lambda x: x.start)
            before = self.lines.day_work.get((c.id, day), 0)
            after = self.lines.day_minutes(c, with_it)
            week = self.lines.week_work.get(c.id, 0)
            who = _possessive(c)
            if after > c.max_minutes_per_day:
                why = (f"{c.id} would exceed {who} daily cap of {c.max_minutes_per_day} minutes "
                       f"(already {before} on {fmt_day(p, s_lo)}, this visit would make {after})")
                continue
            if week - before + after > c.max_minutes_per_week:
                why = (f"{c.id} would exceed {who} weekly cap of {c.max_minutes_per_week} minutes "
                       f"(already {week})")
                continue
            lo, hi = s_lo, s_hi
            if not c.is_volunteer and p.rules.min_rest_minutes > 0:
                rest = p.rules.min_rest_minutes
                prev = [s for s in line if p.day_of(s.start) == day - 1]
                nxt = [s for s in line if p.day_of(s.start) == day + 1]
                if prev and (not day_line or s_lo < day_line[0].start):
                    lo = max(lo, max(s.end for s in prev) + rest)
                if nxt and (not day_line or s_lo > day_line[-1].start):
                    hi = min(hi, min(s.start for s in nxt) - rest - duration)
                if lo > hi:
                    why = (f"{c.id} would not get {who} {rest}-minute rest between days "
                           + (f"(works until {fmt_time(p, max(s.end for s in prev))})" if prev else
                              f"(starts {fmt_time(p, min(s.start for s in nxt))} next day)"))
                    continue
            ok.append((lo, hi))
        return ok, why

    # -- reporting ------------------------------------------------------------------
    def _needs(self, visit: Visit, lo: int, hi: int, f: _RoleFunnel) -> str:
        p = self.problem
        same = sum(1 for r in visit.roles if r.skills == f.role.skills)
        times = f" x{same}" if same > 1 else ""
        what = ", ".join(f"'{s}'" for s in sorted(f.role.skills)) or "a carer"
        return f"needs {what}{times} starting {fmt_range(p, lo, hi)}"

    def _first_empty_stage(self, visit: Visit, lo: int, hi: int,
                           funnels: list[_RoleFunnel]) -> list[str]:
        p = self.problem
        # Report the role whose funnel empties first (the most basic cause).
        stages = ("skilled", "allowed", "available", "free", "final")
        worst: tuple[int, int] | None = None
        for i, f in enumerate(funnels):
            for depth, stage in enumerate(stages):
                if not getattr(f, stage):
                    if worst is None or depth < worst[0]:
                        worst = (depth, i)
                    break
        if worst is None:
            return []
        depth, i = worst
        f = funnels[i]
        skill = _skills_text(f.role.skills)
        when = fmt_range(p, lo, hi)
        n_skilled = len(f.skilled)
        if stages[depth] == "skilled":
            day0 = p.day_start(p.day_of(visit.earliest_start))
            held = {s: sum(1 for c in p.carers if s in c.skills_at(day0)) for s in sorted(f.role.skills)}
            missing = [s for s, n in held.items() if n == 0]
            expired = [f"{c.id}'s '{s}' expires {fmt_day(p, until)}"
                       for s in missing for c in p.carers
                       if s in c.skills and (until := c.expiry_of(s)) is not None and until <= day0]
            if expired:
                return [f"no carer holds {_skills_text(frozenset(missing))} on {fmt_day(p, day0)}: "
                        + "; ".join(expired)]
            if missing:
                return [f"no carer holds {_skills_text(frozenset(missing))}"]
            counts = ", ".join(f"{n} hold '{s}'" for s, n in held.items())
            return [f"no carer holds {skill} together ({counts})"]
        if stages[depth] == "allowed":
            return [f"{self._needs(visit, lo, hi, f)}; {n_skilled} carer(s) hold it, none can be sent:",
                    *f.rule_reasons]
        if stages[depth] == "available":
            hours = [self._availability_text(c, lo, hi) for c in f.unavailable[:MAX_NAMES]]
            more = len(f.unavailable) - len(hours)
            return [f"no carer with {skill} is available on {when} ({len(f.allowed)} "
                    f"{'holds' if len(f.allowed) == 1 else 'hold'} it: "
                    f"{', '.join(hours) + f' and {more} more' if more else names(hours)})",
                    *f.rule_reasons]
        if stages[depth] == "free":
            n = len(f.available)
            every = {1: "the only one", 2: "both"}.get(n, f"all {n}")
            return [f"{self._needs(visit, lo, hi, f)}; {n_skilled} carer(s) hold it, {n} "
                    f"{'works' if n == 1 else 'work'} then and {every} "
                    f"{'is' if n == 1 else 'are'} already on other visits then "
                    f"({'; '.join(f.busy[:MAX_NAMES])}"
                    f"{'; ...' if len(f.busy) > MAX_NAMES else ''})",
                    "the week is over-full: covering it would need displacing another visit"
                    + self._displaced_priority(f)]
        return [f"{self._needs(visit, lo, hi, f)}; {len(f.free)} carer(s) are free then but "
                f"none within limits:", *f.capped[:MAX_NAMES]]

    def _displaced_priority(self, f: _RoleFunnel) -> str:
        levels = {self.problem.visit_by_id[v].priority for v in f.blocking if v in self.problem.visit_by_id}
        for level in ("essential", "important"):
            if level in levels:
                return f" (the clashing visits include {level} ones)"
        return ""

    def _match(self, visit: Visit, lo: int, hi: int, funnels: list[_RoleFunnel]) -> list[str]:
        """Every role has someone: is there one start with distinct carers for all roles?"""
        p = self.problem
        points = sorted({x for f in funnels for spans in f.final.values() for s in spans for x in s})
        for t in points:
            options = [[cid for cid, spans in f.final.items() if any(a <= t <= b for a, b in spans)]
                       for f in funnels]
            chosen = _distinct(options)
            if chosen is not None:
                if self._evaluator_refused(visit):
                    return [f"{names(chosen)} could make it around {fmt_time(p, t)}, but not once every "
                            "rule of their day is counted (travel to and from the visits around it, "
                            "home trips, rest, dependencies, caps)",
                            "the week is over-full: covering it would need displacing another visit"]
                return [f"could be covered by {names(chosen)} at {fmt_time(p, t)} without breaking a rule; "
                        + self._not_added(visit)]
        if len(funnels) > 1:
            each = "; ".join(f"role {i + 1}: {names(sorted(f.final))}" for i, f in enumerate(funnels))
            return [f"needs {len(funnels)} carers together at one start (a double-up) in "
                    f"{fmt_range(p, lo, hi)}, but no start suits enough different carers ({each})",
                    "the week is over-full: covering it would need displacing another visit"]
        return ["the week is over-full: covering it would need displacing another visit"]


    def _not_added(self, visit: Visit) -> str:
        if visit.priority == "essential":
            return ("the solver did not add it (most likely its time limit ran out: solve again "
                    "with a longer time limit)")
        return (f"the solver judged this {visit.priority} visit not worth its cost "
                "(travel, continuity) or ran out of time")

    def _evaluator_refused(self, visit: Visit) -> bool:
        """The evaluator tried every position of every eligible carer's day and none keeps
        every rule. (For a double-up its search places role by role, so a refusal is not a
        proof there and the funnel's words stand.)"""
        return (self.placements is not None and visit.id in self.placements
                and self.placements[visit.id] is None and len(visit.roles) == 1)


def _distinct(options: list[list[str]]) -> list[str] | None:
    """One distinct carer per role (bipartite matching by augmenting paths), or None."""
    owner: dict[str, int] = {}

    def place(role: int, seen: set[str]) -> bool:
        for cid in options[role]:
            if cid in seen:
                continue
            seen.add(cid)
            if cid not in owner or place(owner[cid], seen):
                owner[cid] = role
                return True
        return False

    for role in range(len(options)):
        if not place(role, set()):
            return None
    by_role = {r: c for c, r in owner.items()}
    return [by_role[r] for r in range(len(options))]


_cache: tuple[Problem, Sequence[Assignment], tuple[Assignment, ...], Explainer] | None = None


def explain_unassigned(problem: Problem, rota_assignments: Sequence[Assignment],
                       visit_id: str) -> list[str]:
    """Reasons ``visit_id`` is not covered, given the rota's final assignments.

    Calls with the same problem and the same (unchanged) assignments reuse the carers'
    timelines, so explaining every gap of a large rota stays cheap. For many visits,
    ``Explainer(problem, assignments).explain(visit_id)`` does the same explicitly.
    """
    global _cache
    hit = _cache is not None and _cache[0] is problem and (
        (_cache[1] is rota_assignments and len(_cache[2]) == len(rota_assignments)
         and (not _cache[2] or (_cache[2][0] == rota_assignments[0]
                                and _cache[2][-1] == rota_assignments[-1])))
        or _cache[2] == tuple(rota_assignments))
    if not hit or _cache is None:
        key = tuple(rota_assignments)
        _cache = (problem, rota_assignments, key, Explainer(problem, key))
    return _cache[3].explain(visit_id)
