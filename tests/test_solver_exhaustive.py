"""On tiny problems the solver's PROVEN optimum equals an exhaustive search's.

The search enumerates, per visit, "unassigned" or an ordered choice of distinct carers for
its roles and every start minute of its (few-minute) window, evaluates each complete rota
with the independent checker, and keeps the least objective among valid rotas. Only choices
that break a rule of one visit on its own (skills, volunteers, exclusions, gender, pins,
availability without home travel) are pruned, which never removes a valid rota.
"""

from __future__ import annotations

import itertools
import math

from hypothesis import HealthCheck, assume, given, settings

from scheduler.checker import RULES, RotaView, check_objective_and_kpis, objective_breakdown
from scheduler.problem import Problem, Visit
from scheduler.rota import Assignment, Rota, Unassigned
from tests.conftest import assert_valid_solve, objectives_equal
from tests.rules.builders import build, carer, client, km_east, role, visit, volunteer
from tests.rules.strategies import problems

MAX_ROTAS = 20_000
Choice = tuple[tuple[str, ...], int] | None


def _choices(problem: Problem, v: Visit) -> list[Choice]:
    """Every lawful (carers, start) for ``v`` judged on its own, plus None (unassigned)."""
    pin = problem.pin_by_visit.get(v.id)
    out: list[Choice] = [] if pin is not None else [None]
    client_ = problem.client_by_id[v.client]
    starts = range(v.earliest_start, v.last_start + 1)
    for carers in itertools.permutations(problem.carers, len(v.roles)):
        ids = tuple(c.id for c in carers)
        if pin is not None and ids != pin.carers:
            continue
        if any(not (r.skills <= c.skills) or (c.is_volunteer and not v.volunteer_ok)
               or c.id in client_.excluded_carers
               or (client_.gender_preference is not None and c.gender != client_.gender_preference)
               for r, c in zip(v.roles, carers, strict=True)):
            continue
        for s in starts:
            if pin is not None and pin.start is not None and s != pin.start:
                continue
            if not problem.rules.home_travel and not all(
                    any(iv.contains(s, s + v.role_duration(i)) for iv in c.availability)
                    for i, c in enumerate(carers)):
                continue
            out.append((ids, s))
    return out


def _valid(problem: Problem, rota: Rota) -> bool:
    view = RotaView.of(problem, rota)
    return not any(rule(problem, rota, view) for rule in RULES if rule is not check_objective_and_kpis)


def exhaustive_optimum(problem: Problem) -> float:
    per_visit = [_choices(problem, v) for v in problem.visits]
    best = math.inf
    for combo in itertools.product(*per_visit):
        assignments = [Assignment(v.id, c[0], c[1]) for v, c in zip(problem.visits, combo, strict=True) if c]
        unassigned = [Unassigned(v.id, ("-",)) for v, c in zip(problem.visits, combo, strict=True) if not c]
        rota = Rota(problem.name, "feasible", assignments, unassigned)
        if _valid(problem, rota):
            best = min(best, sum(objective_breakdown(problem, rota).values()))
    return best


def _search_size(problem: Problem) -> int:
    return math.prod(len(_choices(problem, v)) for v in problem.visits)


def _assert_solver_matches_exhaustive(problem: Problem) -> None:
    rota, report = assert_valid_solve(problem, time_limit=5.0, workers=1)
    assert rota.status == "optimal", f"a tiny problem should be proven optimal, got {rota.status}"
    best = exhaustive_optimum(problem)
    assert objectives_equal(report.objective, best), (
        f"solver's proven optimum {report.objective} != exhaustive optimum {best}")


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(max_carers=3, max_clients=2, max_visits=4, tiny=True))
def test_solver_optimum_equals_exhaustive_search_on_random_tiny_problems(problem: Problem):
    """A wrong objective coefficient or an over-tight constraint in the model shows up as a
    'proven' optimum that an exhaustive search beats (or cannot reach)."""
    assume(_search_size(problem) <= MAX_ROTAS)
    _assert_solver_matches_exhaustive(problem)


def test_solver_optimum_equals_exhaustive_search_on_a_double_up_with_travel_and_windows():
    """A hand-made case binding several rules at once: a hoist double-up, a preferred and a
    familiar carer, a volunteer who may only walk, travel between two clients, home travel,
    and windows of a few minutes in which the start matters."""
    p = build([carer("ann", skills=["hoist"], hourly_cost=12.0, contracted_minutes=60,
                     availability=[("07:00", "10:00")]),
               carer("bryn", skills=["hoist"], location=km_east(2), hourly_cost=11.0),
               volunteer("cerys", location=km_east(1))],
              [client("dai", preferred_carers=["ann"], history={"bryn": 120}),
               client("eira", location=km_east(1.5))],
              [visit("d1", "dai", "08:00", latest="08:03", roles=[role("hoist"), role(duration=15)]),
               visit("e1", "eira", "08:30", latest="08:33", max_lateness_minutes=2),
               visit("e2", "eira", "09:00", latest="09:02", volunteer_ok=True, priority="optional"),
               visit("d2", "dai", "09:15", latest="09:17", priority="important")],
              days=1, weights={"cost": 1}, rules={"home_travel": True})
    assert _search_size(p) <= MAX_ROTAS
    _assert_solver_matches_exhaustive(p)
