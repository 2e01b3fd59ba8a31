"""Candidate pruning: which carer may fill which role of which visit, and when.

A (carer, visit) pair only gets model variables when the carer could lawfully do the visit
on their own: the skills of at least one role, the volunteer rule, the client's exclusions
and gender preference, a pin naming them, and an availability interval that holds the
visit somewhere inside its start window. Pruning here never removes a valid rota; it only
keeps the model from growing a variable per impossible pair.
"""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.problem import Carer, Interval, Problem, Visit, haversine_km


@dataclass(frozen=True)
class Option:
    """Carer ``carer`` may fill ``role`` of ``visit`` starting in one of ``windows``.

    ``windows`` are inclusive start ranges ``(lo, hi)``, one per availability interval
    that can hold the role (``interval`` gives that interval, for home-travel rules).
    """

    carer: int
    visit: int
    role: int
    windows: tuple[tuple[int, int, Interval], ...]

    @property
    def lo(self) -> int:
        return self.windows[0][0]

    @property
    def hi(self) -> int:
        return self.windows[-1][1]


def visit_day(problem: Problem, visit: Visit) -> int:
    """The calendar day a visit belongs to: the day of its earliest start.

    The engine keeps each visit's start on that day (see :func:`start_range`), so a
    carer's day can be sequenced on its own.
    """
    return problem.day_of(visit.earliest_start)


def start_range(problem: Problem, visit: Visit) -> tuple[int, int]:
    """Inclusive start range the engine uses: the spec window, cut at the end of the day."""
    day = visit_day(problem, visit)
    last = min(visit.last_start, problem.day_start(day + 1) - 1)
    pin = problem.pin_by_visit.get(visit.id)
    if pin is not None and pin.start is not None:
        return pin.start, pin.start
    return visit.earliest_start, last


def role_allows(problem: Problem, carer: Carer, visit: Visit, role: int) -> bool:
    """Static eligibility of ``carer`` for ``role`` of ``visit`` (no timing)."""
    client = problem.client_by_id[visit.client]
    # a skill that expires counts for the visit's whole day or not at all (expiries fall at
    # midnight, and the engine keeps a visit's start on its day)
    held = carer.skills
    if carer.skills_until:
        held = carer.skills_at(problem.day_start(visit_day(problem, visit)))
    if not visit.roles[role].skills <= held:
        return False
    if carer.is_volunteer and not visit.volunteer_ok:
        return False
    if carer.id in client.excluded_carers:
        return False
    if client.gender_preference is not None and carer.gender != client.gender_preference:
        return False
    pin = problem.pin_by_visit.get(visit.id)
    return pin is None or (role < len(pin.carers) and pin.carers[role] == carer.id)


def home_trips(problem: Problem, carer: Carer, visit: Visit) -> tuple[int, int]:
    """Minutes from the carer's home to the client and back."""
    return (problem.travel_minutes(carer.id, visit.client, carer),
            problem.travel_minutes(visit.client, carer.id, carer))


def build_options(problem: Problem, max_per_role: int | None = None) -> list[Option]:
    """Every (carer, visit, role) the model may use, with its feasible start windows.

    With ``max_per_role`` only that many eligible carers per role are kept, the nearest to
    the client first (area pruning for large weeks; a pinned carer is always kept).
    """
    options: list[Option] = []
    carers_by_distance: dict[str, list[int]] = {}
    for client in problem.clients:
        order = sorted(range(len(problem.carers)),
                       key=lambda ci: (haversine_km(problem.carers[ci].location, client.location), ci))
        carers_by_distance[client.id] = order
    # the static part of eligibility (skills, volunteer rule, exclusions, gender) is the same
    # for every visit of a client with the same role and volunteer_ok: work it out once
    eligible_cache: dict[tuple[str, frozenset[str], bool, int], list[int]] = {}
    # with an expiring skill, eligibility also depends on the visit's day
    dated = any(c.skills_until for c in problem.carers)
    for vi, visit in enumerate(problem.visits):
        lo, hi = start_range(problem, visit)
        pinned = visit.id in problem.pin_by_visit
        for r in range(len(visit.roles)):
            duration = visit.role_duration(r)
            if pinned:
                eligible = [ci for ci in carers_by_distance[visit.client]
                            if role_allows(problem, problem.carers[ci], visit, r)]
            else:
                key = (visit.client, visit.roles[r].skills, visit.volunteer_ok,
                       visit_day(problem, visit) if dated else -1)
                cached = eligible_cache.get(key)
                if cached is None:
                    cached = [ci for ci in carers_by_distance[visit.client]
                              if role_allows(problem, problem.carers[ci], visit, r)]
                    eligible_cache[key] = cached
                eligible = cached
            kept = 0
            for ci in eligible:
                windows = []
                for iv in problem.carers[ci].availability:
                    if iv.start > hi or iv.end < lo + duration:
                        continue
                    a, b = max(lo, iv.start), min(hi, iv.end - duration)
                    if a <= b:
                        windows.append((a, b, iv))
                if windows:
                    options.append(Option(ci, vi, r, tuple(windows)))
                    kept += 1
                    if max_per_role is not None and kept >= max_per_role:
                        break
    options.sort(key=lambda o: (o.visit, o.role, o.carer))
    return options
