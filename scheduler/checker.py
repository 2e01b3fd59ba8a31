"""The solver-independent rota checker, written from the spec (``problem-format.md``).

``check(problem, rota)`` tests a rota against every rule of the spec's "What valid rota
means" and recomputes its objective and KPIs from the assignments alone. It never raises
for a bad rota (unknown visit or carer ids, wrong number of carers, a visit listed twice):
each fault is a :class:`Violation` naming the visit, the carer and the time.

One ``check_*`` function per rule:

=================================  ==========================================================
``check_every_visit_once``         every problem visit appears exactly once, in
                                   ``assignments`` or ``unassigned``; no unknown visit ids.
``check_roles_and_skills``         a covered visit has one known, distinct carer per role,
                                   each holding that role's skills (spec rule 1).
``check_start_windows``            ``earliest_start <= start <= latest_start +
                                   max_lateness_minutes`` (rule 2).
``check_volunteers``               no volunteer on a visit that is not ``volunteer_ok``.
``check_exclusions``               no carer in the client's ``excluded_carers``.
``check_gender``                   every carer has the client's ``gender_preference`` (a
                                   carer with no gender does not meet a preference).
``check_availability``             rule 4, see "Availability and home travel" below.
``check_travel``                   rule 5, see "Travel" below.
``check_daily_caps``               working minutes of each calendar day <= max_minutes_per_day.
``check_weekly_caps``              working minutes over the horizon <= max_minutes_per_week.
``check_rest``                     staff only: for consecutive calendar days both with visits,
                                   first start of the later day - last end of the earlier
                                   day >= ``min_rest_minutes``.
``check_dependencies``             when both visits are covered, ``start(then) -
                                   start(first)`` lies in ``[min_gap, max_gap]``.
``check_pins``                     a pinned visit is covered, by exactly the pinned carers in
                                   role order, at the pinned start when one is given.
``check_objective_and_kpis``       a claimed ``objective`` equals the recomputed one (1e-6 of
                                   the larger); claimed spec KPIs equal the recomputed ones.
=================================  ==========================================================

Readings of the spec this checker takes (where the words leave room):

*A carer's timeline.* A carer's visits are the covered visits naming them; the carer's
minutes on a visit are ``[start, start + role duration)`` (the visit's duration when the
role has none). A visit, the travel before it and (with ``home_travel``) the trip home
after the last visit of a day belong to the calendar day on which the visit starts.

*Travel (feasibility, rule 5) versus travel (counting).* Feasibility applies to ANY two
consecutive visits of a carer's timeline (sorted by start, over the whole horizon, across
midnight too): ``next.start >= prev.start + prev duration + travel(prev client -> next
client)``; so a carer's visits never overlap either. When ``home_travel`` is on and the
two visits fall on different calendar days, the carer goes home in between (the spec says
the home trips are travelled), so the room needed is ``travel(prev -> home) +
travel(home -> next)``. Counting (objective ``travel`` term and working minutes) applies
only between consecutive visits of the SAME calendar day, as the spec's Counting section
says; the trip from Monday's last visit to Tuesday's first is never counted.

*Availability and home travel (rule 4).* Each visit's minutes lie wholly inside one
availability interval (``interval.start <= start`` and ``end <= interval.end``). With
``home_travel``, the first visit of a day is extended backwards by the trip from home and
the last visit of a day forwards by the trip home, and the EXTENDED span must lie inside
a single interval. (So ``first_start - travel(home -> first) >= start`` of the interval
that holds the first visit, ``last_end + travel(last -> home) <= end`` of the interval
that holds the last; a visit that is both first and last needs both in one interval.)
Travel between visits is not required to fall inside availability.

*Working minutes.* Visit minutes (role durations) + travel between consecutive visits of
the same day when ``count_travel_as_work`` + both home trips of each working day when
``home_travel`` (the spec says home trips "count as work", without condition).

*History.* A carer "has history" with a client when ``history[carer] > 0``; a client "has
some" history when any entry is > 0 (an entry of 0 minutes is no history).

*Lateness.* ``max(0, start - latest_start)`` per carer on the visit; ``max_lateness`` is
the largest per-visit lateness (not multiplied by carers).

*KPIs.* Only the spec's KPIs (``visits``, ``covered``, ``travel_minutes``,
``lateness_minutes``, ``distinct_carers_per_client``, ``contract_shortfall_minutes``) are
compared with a rota's claims; other keys an implementation adds are its own business.
``distinct_carers_per_client`` is the mean NUMBER of distinct carers (not "beyond the
first") over clients with a covered visit, 0.0 when there are none.

Faults that the spec does not count against validity (an unassigned visit with no reason,
a rota naming another problem) are reported as ``warnings``, not violations.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from scheduler.problem import PRIORITIES, READABLE_DAY, READABLE_TIME, WEIGHT_KEYS, Carer, Problem, Visit
from scheduler.rota import Assignment, Rota

__all__ = [
    "CheckReport",
    "RotaView",
    "Stint",
    "Violation",
    "check",
    "check_availability",
    "check_daily_caps",
    "check_dependencies",
    "check_every_visit_once",
    "check_exclusions",
    "check_gender",
    "check_objective_and_kpis",
    "check_pins",
    "check_rest",
    "check_roles_and_skills",
    "check_start_windows",
    "check_travel",
    "check_volunteers",
    "check_weekly_caps",
    "compute_kpis",
    "objective_breakdown",
    "objective_terms",
    "objectives_equal",
]

SPEC_KPIS = ("visits", "covered", "travel_minutes", "lateness_minutes",
             "distinct_carers_per_client", "contract_shortfall_minutes")



@dataclass(frozen=True)
class Violation:
    """One broken rule: ``rule`` is a short machine name, ``message`` is for a coordinator."""

    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass
class CheckReport:
    violations: list[Violation]
    objective: float
    breakdown: dict[str, float]
    kpis: dict[str, Any]
    warnings: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def rules_broken(self) -> set[str]:
        return {v.rule for v in self.violations}

    def __str__(self) -> str:
        head = "valid" if self.ok else f"{len(self.violations)} violation(s)"
        lines = [f"rota is {head}; objective {self.objective:g}"]
        lines += [f"  - {v}" for v in self.violations]
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def objectives_equal(a: float, b: float) -> bool:
    """The spec's equality: objectives differing by less than 1e-6 of the larger are equal."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


# ======================================================================================
# The rota as the checker sees it
# ======================================================================================

@dataclass(frozen=True)
class Stint:
    """One carer on one covered visit: ``[start, end)`` in minutes, on calendar ``day``."""

    carer: Carer
    visit: Visit
    role: int  # index into visit.roles; may be >= len(roles) in a garbage rota
    start: int
    end: int
    day: int


@dataclass
class RotaView:
    """The rota read against the problem, tolerant of garbage.

    ``covered`` maps each known visit id to its first assignment in the rota. ``timeline``
    maps each known carer id to their stints sorted by start (a carer named twice on one
    visit gets one stint, for the first role they are named in).
    """

    problem: Problem
    rota: Rota
    covered: dict[str, Assignment]
    timeline: dict[str, list[Stint]]

    @classmethod
    def of(cls, problem: Problem, rota: Rota) -> RotaView:
        covered: dict[str, Assignment] = {}
        for a in rota.assignments:
            if a.visit in problem.visit_by_id and a.visit not in covered:
                covered[a.visit] = a
        timeline: dict[str, list[Stint]] = defaultdict(list)
        for vid, a in covered.items():
            visit = problem.visit_by_id[vid]
            seen: set[str] = set()
            for i, cid in enumerate(a.carers):
                carer = problem.carer_by_id.get(cid)
                if carer is None or cid in seen:
                    continue
                seen.add(cid)
                dur = visit.role_duration(i) if i < len(visit.roles) else visit.duration_minutes
                timeline[cid].append(Stint(carer, visit, i, a.start, a.start + dur,
                                           problem.day_of(a.start)))
        for stints in timeline.values():
            stints.sort(key=lambda s: (s.start, s.end, s.visit.id))
        return cls(problem, rota, covered, dict(timeline))

    def days_of(self, carer_id: str) -> dict[int, list[Stint]]:
        """A carer's stints grouped by calendar day (each day's list sorted by start)."""
        days: dict[int, list[Stint]] = defaultdict(list)
        for s in self.timeline.get(carer_id, []):
            days[s.day].append(s)
        return dict(days)

    def travel(self, carer: Carer, a: str, b: str) -> int:
        return self.problem.travel_minutes(a, b, carer)

    def day_travel(self, carer: Carer, stints: list[Stint]) -> tuple[int, int]:
        """(travel between consecutive visits, home trips) of one carer-day."""
        between = sum(self.travel(carer, p.visit.client, n.visit.client)
                      for p, n in pairwise(stints))
        home = 0
        if self.problem.rules.home_travel and stints:
            home = (self.travel(carer, carer.id, stints[0].visit.client)
                    + self.travel(carer, stints[-1].visit.client, carer.id))
        return between, home

    def working_minutes_by_day(self, carer_id: str) -> dict[int, int]:
        carer = self.problem.carer_by_id[carer_id]
        out: dict[int, int] = {}
        for day, stints in self.days_of(carer_id).items():
            between, home = self.day_travel(carer, stints)
            minutes = sum(s.end - s.start for s in stints) + home
            if self.problem.rules.count_travel_as_work:
                minutes += between
            out[day] = minutes
        return out

    def working_minutes(self, carer_id: str) -> int:
        return sum(self.working_minutes_by_day(carer_id).values())


# ======================================================================================
# Wording
# ======================================================================================

def _when(problem: Problem, minute: int) -> str:
    return problem.time_of(minute).strftime(READABLE_TIME)


def _day(problem: Problem, minute: int) -> str:
    return problem.time_of(minute).strftime(READABLE_DAY)


def _hm(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}h{m:02d}" if h else f"{sign}{m} min"


def _visit_name(problem: Problem, visit: Visit) -> str:
    client = problem.client_by_id.get(visit.client)
    who = client.name if client is not None else visit.client
    return f"visit '{visit.id}' ({who})"


def _carer_name(carer: Carer) -> str:
    return carer.name if carer.name == carer.id else f"{carer.name} ({carer.id})"


def _stint_name(problem: Problem, s: Stint) -> str:
    return f"{_visit_name(problem, s.visit)} at {_when(problem, s.start)}-{_when(problem, s.end)[-5:]}"


# ======================================================================================
# The rules
# ======================================================================================

def check_every_visit_once(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Every visit of the problem appears exactly once in ``assignments`` or ``unassigned``."""
    out: list[Violation] = []
    seen: dict[str, list[str]] = defaultdict(list)
    for a in rota.assignments:
        seen[a.visit].append("assignments")
    for u in rota.unassigned:
        seen[u.visit].append("unassigned")
    for vid, where in seen.items():
        if vid not in problem.visit_by_id:
            out.append(Violation("every_visit_once", f"the rota names visit '{vid}', which is not "
                                 f"in the problem ({' and '.join(sorted(set(where)))})"))
        elif len(where) > 1:
            places = ", ".join(f"{where.count(w)}x in {w}" for w in sorted(set(where)))
            out.append(Violation("every_visit_once", f"{_visit_name(problem, problem.visit_by_id[vid])} "
                                 f"appears {len(where)} times ({places}); it must appear once"))
    for v in problem.visits:
        if v.id not in seen:
            out.append(Violation("every_visit_once", f"{_visit_name(problem, v)} is missing from the "
                                 "rota: it is neither assigned nor listed as unassigned"))
    return out


def check_roles_and_skills(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 1: one distinct, known carer per role, each holding the role's skills."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for vid, a in view.covered.items():
        visit = problem.visit_by_id[vid]
        name = _visit_name(problem, visit)
        if len(a.carers) != len(visit.roles):
            out.append(Violation("roles_and_skills", f"{name} needs {len(visit.roles)} carer(s), one "
                                 f"per role, but the rota names {len(a.carers)}"))
        for cid in sorted({c for c in a.carers if a.carers.count(c) > 1}):
            out.append(Violation("roles_and_skills", f"{name}: carer '{cid}' is named for more than "
                                 "one role (a carer fills at most one role)"))
        for i, cid in enumerate(a.carers):
            carer = problem.carer_by_id.get(cid)
            if carer is None:
                out.append(Violation("roles_and_skills", f"{name}: unknown carer '{cid}'"))
                continue
            if i >= len(visit.roles):
                continue
            missing = sorted(visit.roles[i].skills - carer.skills_at(a.start))
            if missing:
                role = f"role {i + 1} of {len(visit.roles)}" if len(visit.roles) > 1 else "the visit"
                expired = [f"their '{m}' expires {_day(problem, until)}" for m in missing
                           if (until := carer.expiry_of(m)) is not None and m in carer.skills]
                out.append(Violation("roles_and_skills", f"{name} on {_when(problem, a.start)}: "
                                     f"{_carer_name(carer)} lacks {', '.join(repr(m) for m in missing)} "
                                     f"needed by {role}" + (f" ({'; '.join(expired)})" if expired else "")))
    return out


def check_start_windows(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 2: ``earliest_start <= start <= latest_start + max_lateness_minutes``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for vid, a in view.covered.items():
        v = problem.visit_by_id[vid]
        if a.start < v.earliest_start:
            out.append(Violation("start_windows", f"{_visit_name(problem, v)} starts "
                                 f"{_when(problem, a.start)}, before its earliest start "
                                 f"{_when(problem, v.earliest_start)}"))
        elif a.start > v.last_start:
            late = (f" + {v.max_lateness_minutes} min allowed lateness"
                    if v.max_lateness_minutes else "")
            out.append(Violation("start_windows", f"{_visit_name(problem, v)} starts "
                                 f"{_when(problem, a.start)}, after its latest start "
                                 f"{_when(problem, v.latest_start)}{late}"))
    return out


def check_volunteers(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 3: no volunteer on a visit that is not ``volunteer_ok``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for vid, a in view.covered.items():
        v = problem.visit_by_id[vid]
        if v.volunteer_ok:
            continue
        for cid in dict.fromkeys(a.carers):
            carer = problem.carer_by_id.get(cid)
            if carer is not None and carer.is_volunteer:
                out.append(Violation("volunteers", f"{_visit_name(problem, v)} on "
                                     f"{_when(problem, a.start)} is given to volunteer "
                                     f"{_carer_name(carer)}, but the visit is not open to volunteers"))
    return out


def check_exclusions(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 3: no carer the client has excluded."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for vid, a in view.covered.items():
        v = problem.visit_by_id[vid]
        client = problem.client_by_id.get(v.client)
        if client is None:
            continue
        for cid in dict.fromkeys(a.carers):
            if cid in client.excluded_carers:
                carer = problem.carer_by_id.get(cid)
                who = _carer_name(carer) if carer else cid
                out.append(Violation("exclusions", f"{_visit_name(problem, v)} on "
                                     f"{_when(problem, a.start)} is given to {who}, whom "
                                     f"{client.name} has excluded"))
    return out


def check_gender(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 3: every carer on the visit has the client's ``gender_preference``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for vid, a in view.covered.items():
        v = problem.visit_by_id[vid]
        client = problem.client_by_id.get(v.client)
        if client is None or client.gender_preference is None:
            continue
        for cid in dict.fromkeys(a.carers):
            carer = problem.carer_by_id.get(cid)
            if carer is not None and carer.gender != client.gender_preference:
                has = f"is {carer.gender}" if carer.gender else "has no gender recorded"
                out.append(Violation("gender", f"{_visit_name(problem, v)} on {_when(problem, a.start)}: "
                                     f"{client.name} asks for {client.gender_preference} carers, but "
                                     f"{_carer_name(carer)} {has}"))
    return out


def check_availability(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 4: each carer-visit lies wholly inside one availability interval.

    With ``home_travel`` the first visit of each calendar day is extended back by the trip
    from home and the last forward by the trip home; the extended span must fit one interval.
    """
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    home_travel = problem.rules.home_travel
    for cid in view.timeline:
        carer = problem.carer_by_id[cid]
        for stints in view.days_of(cid).values():
            for k, s in enumerate(stints):
                if not any(i.contains(s.start, s.end) for i in carer.availability):
                    out.append(Violation("availability", f"{_carer_name(carer)} is not available for "
                                         f"{_stint_name(problem, s)}"))
                    continue
                if not home_travel:
                    continue
                before = view.travel(carer, cid, s.visit.client) if k == 0 else 0
                after = view.travel(carer, s.visit.client, cid) if k == len(stints) - 1 else 0
                if before == 0 and after == 0:
                    continue
                lo, hi = s.start - before, s.end + after
                if not any(i.contains(lo, hi) for i in carer.availability):
                    trips = []
                    if before:
                        trips.append(f"{before} min from home before it (leaving {_when(problem, lo)})")
                    if after:
                        trips.append(f"{after} min home after it (back {_when(problem, hi)})")
                    out.append(Violation("availability", f"{_carer_name(carer)} has no room in their "
                                         f"availability for the trip(s) {' and '.join(trips)} around "
                                         f"{_stint_name(problem, s)}"))
    return out


def check_travel(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 5: consecutive visits of a carer (whole horizon) leave room for the travel.

    ``next.start >= prev.end + travel(prev client -> next client)``; with ``home_travel``,
    across calendar days, the travel is via the carer's home.
    """
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for cid, stints in view.timeline.items():
        carer = problem.carer_by_id[cid]
        for p, n in pairwise(stints):
            if problem.rules.home_travel and p.day != n.day:
                need = view.travel(carer, p.visit.client, cid) + view.travel(carer, cid, n.visit.client)
                how = "to go home and come out again"
            else:
                need = view.travel(carer, p.visit.client, n.visit.client)
                how = "to travel between them"
            if n.start < p.end:
                out.append(Violation("travel", f"{_carer_name(carer)} has overlapping visits: "
                                     f"{_stint_name(problem, p)} and {_stint_name(problem, n)}"))
            elif n.start - p.end < need:
                out.append(Violation("travel", f"{_carer_name(carer)} has {_hm(n.start - p.end)} between "
                                     f"{_stint_name(problem, p)} and {_stint_name(problem, n)}, but "
                                     f"needs {_hm(need)} {how}"))
    return out


def check_daily_caps(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 6: working minutes of each calendar day within ``max_minutes_per_day``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for cid in view.timeline:
        carer = problem.carer_by_id[cid]
        for day, minutes in sorted(view.working_minutes_by_day(cid).items()):
            if minutes > carer.max_minutes_per_day:
                date = problem.time_of(problem.day_start(day)).strftime(READABLE_DAY)
                out.append(Violation("daily_caps", f"{_carer_name(carer)} works {_hm(minutes)} on {date}, "
                                     f"over their daily limit of {_hm(carer.max_minutes_per_day)}"))
    return out


def check_weekly_caps(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 6: working minutes over the horizon within ``max_minutes_per_week``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for cid in view.timeline:
        carer = problem.carer_by_id[cid]
        minutes = view.working_minutes(cid)
        if minutes > carer.max_minutes_per_week:
            out.append(Violation("weekly_caps", f"{_carer_name(carer)} works {_hm(minutes)} over the "
                                 f"rota, over their limit of {_hm(carer.max_minutes_per_week)}"))
    return out


def check_rest(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 6: staff rest of ``min_rest_minutes`` between consecutive working days."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    need = problem.rules.min_rest_minutes
    for cid in view.timeline:
        carer = problem.carer_by_id[cid]
        if carer.is_volunteer:
            continue
        days = view.days_of(cid)
        for day in sorted(days):
            later = days.get(day + 1)
            if not later:
                continue
            last = max(days[day], key=lambda s: (s.end, s.start))
            first = min(later, key=lambda s: (s.start, s.end))
            if first.start - last.end < need:
                out.append(Violation("rest", f"{_carer_name(carer)} rests only {_hm(first.start - last.end)} "
                                     f"between {_stint_name(problem, last)} and "
                                     f"{_stint_name(problem, first)}; staff need {_hm(need)}"))
    return out


def check_dependencies(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 7: when both are covered, ``start(then) - start(first)`` in ``[min, max]``."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for d in problem.dependencies:
        a, b = view.covered.get(d.first), view.covered.get(d.then)
        if a is None or b is None:
            continue
        gap = b.start - a.start
        hi = d.max_gap_minutes
        if gap < d.min_gap_minutes or (hi is not None and gap > hi):
            want = (f"between {_hm(d.min_gap_minutes)} and {_hm(hi)}" if hi is not None
                    else f"at least {_hm(d.min_gap_minutes)}")
            first, then = problem.visit_by_id[d.first], problem.visit_by_id[d.then]
            out.append(Violation("dependencies", f"{_visit_name(problem, then)} at {_when(problem, b.start)} "
                                 f"starts {_hm(gap)} after {_visit_name(problem, first)} at "
                                 f"{_when(problem, a.start)}; it must start {want} after it"))
    return out


def check_pins(problem: Problem, rota: Rota, view: RotaView | None = None) -> list[Violation]:
    """Spec rule 7: pinned visits covered by exactly the pinned carers, at the pinned start."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    for pin in problem.pinned:
        visit = problem.visit_by_id.get(pin.visit)
        if visit is None:
            continue
        name = _visit_name(problem, visit)
        a = view.covered.get(pin.visit)
        if a is None:
            out.append(Violation("pins", f"{name} is pinned to {', '.join(pin.carers)} but is not covered"))
            continue
        if tuple(a.carers) != tuple(pin.carers):
            out.append(Violation("pins", f"{name} is pinned to {', '.join(pin.carers)} (in role order) "
                                 f"but the rota gives it to {', '.join(a.carers) or 'nobody'}"))
        if pin.start is not None and a.start != pin.start:
            out.append(Violation("pins", f"{name} is pinned to start {_when(problem, pin.start)} but the "
                                 f"rota starts it {_when(problem, a.start)}"))
    return out


def check_objective_and_kpis(problem: Problem, rota: Rota,
                             view: RotaView | None = None) -> list[Violation]:
    """Spec rule 8: a claimed objective and claimed spec KPIs equal the recomputed ones."""
    view = view or RotaView.of(problem, rota)
    out: list[Violation] = []
    objective = sum(objective_breakdown(problem, rota, view).values())
    claimed = rota.objective
    if claimed is not None:
        if isinstance(claimed, bool) or not isinstance(claimed, int | float) or not math.isfinite(claimed):
            out.append(Violation("objective", f"the rota's objective {claimed!r} is not a number"))
        elif not objectives_equal(float(claimed), objective):
            out.append(Violation("objective", f"the rota claims objective {claimed:.10g}, but its "
                                 f"assignments give {objective:.10g}"))
    kpis = compute_kpis(problem, rota, view)
    for key in SPEC_KPIS:
        if key not in rota.kpis:
            continue
        got, want = rota.kpis[key], kpis[key]
        if isinstance(got, bool) or not isinstance(got, int | float):
            out.append(Violation("kpis", f"KPI '{key}' is {got!r}, not a number (expected {want})"))
        elif not math.isclose(float(got), float(want), rel_tol=1e-6, abs_tol=1e-6):
            out.append(Violation("kpis", f"KPI '{key}' claims {got}, but the assignments give {want}"))
    return out


RULES = (check_every_visit_once, check_roles_and_skills, check_start_windows, check_volunteers,
         check_exclusions, check_gender, check_availability, check_travel, check_daily_caps,
         check_weekly_caps, check_rest, check_dependencies, check_pins, check_objective_and_kpis)


# ======================================================================================
# Objective and KPIs
# ======================================================================================

def objective_terms(problem: Problem, rota: Rota, view: RotaView | None = None) -> dict[str, float]:
    """Every objective term in its own unit (visits, minutes, carers, money), unweighted."""
    view = view or RotaView.of(problem, rota)
    terms: dict[str, float] = dict.fromkeys(WEIGHT_KEYS, 0.0)
    for v in problem.visits:
        if v.id not in view.covered:
            terms[f"unassigned_{v.priority}"] += 1
    max_late = 0
    for vid, a in view.covered.items():
        v = problem.visit_by_id[vid]
        late = max(0, a.start - v.latest_start)
        terms["lateness"] += late * len(a.carers)
        max_late = max(max_late, late)
        client = problem.client_by_id.get(v.client)
        if client is None:
            continue
        has_history = any(m > 0 for m in client.history.values())
        for cid in a.carers:
            if client.preferred_carers and cid not in client.preferred_carers:
                terms["non_preferred"] += 1
            if has_history and client.history.get(cid, 0) <= 0:
                terms["unfamiliar"] += 1
    terms["max_lateness"] = float(max_late)
    for carers in _carers_per_client(view).values():
        terms["distinct_carers"] += max(0, len(carers) - 1)
    cost = 0.0
    for cid in view.timeline:
        carer = problem.carer_by_id[cid]
        for stints in view.days_of(cid).values():
            between, home = view.day_travel(carer, stints)
            terms["travel"] += between + home
        cost += carer.cost_per_hour * view.working_minutes(cid)
    terms["cost"] = cost / 60
    terms["contract_shortfall"] = float(sum(_shortfall(view, c) for c in problem.carers))
    return terms


def objective_breakdown(problem: Problem, rota: Rota, view: RotaView | None = None) -> dict[str, float]:
    """Each objective term times its weight; the objective is the sum of the values."""
    terms = objective_terms(problem, rota, view)
    return {k: float(problem.weights.get(k, 0.0) * terms[k]) for k in WEIGHT_KEYS}


def _carers_per_client(view: RotaView) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for vid, a in view.covered.items():
        out[view.problem.visit_by_id[vid].client].update(a.carers)
    return dict(out)


def _shortfall(view: RotaView, carer: Carer) -> int:
    if carer.is_volunteer or carer.contracted_minutes is None:
        return 0
    worked = view.working_minutes(carer.id) if carer.id in view.timeline else 0
    return max(0, carer.contracted_minutes - worked)


def compute_kpis(problem: Problem, rota: Rota, view: RotaView | None = None) -> dict[str, Any]:
    """The spec's KPIs plus a few summary numbers (coverage per priority, cost, work)."""
    view = view or RotaView.of(problem, rota)
    terms = objective_terms(problem, rota, view)
    per_client = _carers_per_client(view)
    distinct = (sum(len(c) for c in per_client.values()) / len(per_client)) if per_client else 0.0
    kpis: dict[str, Any] = {
        "visits": len(problem.visits),
        "covered": len(view.covered),
        "travel_minutes": int(terms["travel"]),
        "lateness_minutes": int(terms["lateness"]),
        "distinct_carers_per_client": distinct,
        "contract_shortfall_minutes": int(terms["contract_shortfall"]),
        "max_lateness_minutes": int(terms["max_lateness"]),
        "working_minutes": sum(view.working_minutes(c) for c in view.timeline),
        "cost": terms["cost"],
    }
    for prio in PRIORITIES:
        of_prio = [v for v in problem.visits if v.priority == prio]
        kpis[f"visits_{prio}"] = len(of_prio)
        kpis[f"covered_{prio}"] = sum(1 for v in of_prio if v.id in view.covered)
    return kpis


# ======================================================================================
# Entry point
# ======================================================================================

def _warnings(problem: Problem, rota: Rota) -> Iterable[Violation]:
    if rota.problem and problem.name and rota.problem != problem.name:
        yield Violation("problem_name", f"the rota is for '{rota.problem}', the problem is "
                        f"'{problem.name}'")
    for u in rota.unassigned:
        v = problem.visit_by_id.get(u.visit)
        if v is not None and not any(r.strip() for r in u.reasons):
            yield Violation("unassigned_reasons", f"{_visit_name(problem, v)} is unassigned without a "
                            "reason a coordinator can read")


def check(problem: Problem, rota: Rota) -> CheckReport:
    """Check ``rota`` against every rule of the spec; never raises for a bad rota."""
    view = RotaView.of(problem, rota)
    violations: list[Violation] = []
    for rule in RULES:
        violations.extend(rule(problem, rota, view))
    breakdown = objective_breakdown(problem, rota, view)
    return CheckReport(violations=violations, objective=sum(breakdown.values()), breakdown=breakdown,
                       kpis=compute_kpis(problem, rota, view), warnings=list(_warnings(problem, rota)))
