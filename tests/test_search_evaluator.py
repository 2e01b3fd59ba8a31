"""The compiled evaluator against the independent checker, after random move sequences."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.candidates import build_options, visit_day
from scheduler.checker import check
from scheduler.example import generate_problem
from scheduler.model.context import Weights
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment, Rota, Unassigned
from scheduler.search import operators
from scheduler.search.engine import Live, Search, audit
from tests.conftest import objectives_equal


def _search(clients: int, seed: int) -> tuple[Problem, Search]:
    problem = problem_from_dict(generate_problem(clients=clients, seed=seed))
    return problem, Search(problem, build_options(problem), Weights(problem),
                           [visit_day(problem, v) for v in problem.visits])


def _rota(problem: Problem, search: Search, live: Live) -> Rota:
    assign = search.assignment(live)
    assignments = [Assignment(problem.visits[v].id, tuple(problem.carers[c].id for c in carers), start)
                   for v, (carers, start) in assign.items()]
    unassigned = [Unassigned(v.id, ("left out by the test",)) for i, v in enumerate(problem.visits)
                  if i not in assign]
    return Rota(problem=problem.name, status="feasible", assignments=assignments, unassigned=unassigned,
                objective=search.objective(live) / search.scale, best_bound=None, kpis={},
                solve_seconds=0.0)


def _anneal(search: Search, live: Live, moves: int, temperature: float, op: str | None) -> None:
    p = search.params
    weights = np.array([1.0 if op is None or name == op else 0.0 for name in operators.OP_NAMES])
    best = np.array([search.objective(live)], np.int64)
    operators.anneal(search.iref, live.ref, p.vector(), np.cumsum(weights), moves, temperature, best,
                     live.a.r_stops.copy(), live.a.r_len.copy(), search._uncovered(live), search.multi,
                     np.zeros((operators.N_OPS, 4), np.int64))


@pytest.mark.parametrize("op", [*operators.OP_NAMES, None])
def test_every_accepted_move_keeps_the_rota_valid_and_the_objective_exact(op: str | None) -> None:
    """Each operator, applied hundreds of times at a temperature that accepts most moves,
    must leave a rota the checker accepts, with the checker's objective, and running
    totals equal to a recomputation from scratch (a wrong incremental update shows here)."""
    problem, search = _search(clients=8, seed=2)
    live = search.empty_state()
    search.construct(live)
    live.a.rng[0] = np.uint64(12345)
    for _ in range(4):
        _anneal(search, live, 300, temperature=1e5 * search.scale, op=op)
        assert audit(search, live) == []
        report = check(problem, _rota(problem, search, live))
        assert report.ok, [str(v) for v in report.violations[:5]]
        assert objectives_equal(search.objective(live) / search.scale, report.objective)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 10_000), clients=st.integers(3, 10))
def test_evaluator_objective_equals_checker_after_random_moves(seed: int, clients: int) -> None:
    """Random weeks, random move sequences of every operator: the evaluator and the checker agree."""
    problem, search = _search(clients=clients, seed=seed % 50 + 1)
    live = search.empty_state()
    search.construct(live)
    live.a.rng[0] = np.uint64(seed)
    _anneal(search, live, 500, temperature=1e4 * search.scale, op=None)
    assert audit(search, live) == []
    report = check(problem, _rota(problem, search, live))
    assert report.ok, [str(v) for v in report.violations[:5]]
    assert objectives_equal(search.objective(live) / search.scale, report.objective)
    # and a rebuild from the routes alone changes nothing
    before = search.objective(live)
    assert search.rebuild(live)
    assert search.objective(live) <= before
