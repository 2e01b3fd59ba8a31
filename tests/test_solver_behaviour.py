"""Whole-solve behaviour a coordinator relies on: determinism, over-full weeks, re-solving
with pins, and the large-neighbourhood path giving the same guarantees as the exact one."""

from __future__ import annotations

import copy

import pytest

from scheduler.checker import check
from scheduler.example import generate_problem
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import rota_to_dict
from scheduler.solve import SolveOptions, solve
from tests.conftest import assert_valid_solve, objectives_equal


def _small_week(clients: int = 4, seed: int = 3) -> dict:
    return generate_problem(clients=clients, seed=seed)


@pytest.mark.parametrize("strategy", ["exact", "search"])
def test_same_seed_and_one_worker_give_the_same_rota(strategy: str) -> None:
    """The issue promises reproducible rotas: same input, seed 0, one worker, same rota."""
    problem = problem_from_dict(_small_week())
    options = SolveOptions(time_limit=3, workers=1, seed=7, strategy=strategy)
    first = rota_to_dict(solve(problem, options), problem)
    second = rota_to_dict(solve(problem, options), problem)
    for rota in (first, second):
        rota.pop("solve_seconds")
        rota.pop("stats", None)
    assert first == second


def test_large_neighbourhood_search_rota_passes_the_checker_with_its_own_objective() -> None:
    """The LNS keeps the objective as a sum of model-valued parts; the checker must agree."""
    problem = problem_from_dict(_small_week(clients=6, seed=5))
    rota = solve(problem, SolveOptions(time_limit=4, workers=1, strategy="search"))
    report = check(problem, rota)
    assert report.ok, [str(v) for v in report.violations]
    assert rota.objective is not None and objectives_equal(rota.objective, report.objective)
    assert rota.kpis["covered"] > 0


def test_over_full_week_still_returns_a_valid_rota_with_a_reason_per_gap() -> None:
    """Ten simultaneous essential visits and one carer: one covered, nine explained."""
    raw = {
        "format": "carerota.problem/1", "name": "over-full",
        "horizon": {"start": "2026-11-30T00:00", "end": "2026-12-01T00:00"},
        "carers": [{"id": "ann", "kind": "staff", "skills": ["personal_care"],
                    "location": {"lat": 51.58, "lon": -3.0},
                    "availability": [{"start": "2026-11-30T07:00", "end": "2026-11-30T12:00"}]}],
        "clients": [{"id": f"k{i}", "location": {"lat": 51.58 + i / 1000, "lon": -3.0}} for i in range(10)],
        "visits": [{"id": f"v{i}", "client": f"k{i}", "earliest_start": "2026-11-30T08:00",
                    "latest_start": "2026-11-30T08:00", "duration_minutes": 30,
                    "roles": [{"skills": ["personal_care"]}]} for i in range(10)],
    }
    problem = problem_from_dict(raw)
    rota, _ = assert_valid_solve(problem, time_limit=5)
    assert len(rota.assignments) == 1
    assert len(rota.unassigned) == 9
    for gap in rota.unassigned:
        assert gap.reasons and all(isinstance(r, str) and r for r in gap.reasons)
        assert any("ann" in r for r in gap.reasons), gap.reasons


def test_resolving_with_published_visits_pinned_keeps_them_unchanged() -> None:
    """Minimal disruption: pin what was published, solve again, the pinned part stays put."""
    raw = _small_week(clients=4, seed=11)
    problem = problem_from_dict(raw)
    first, _ = assert_valid_solve(problem, time_limit=4)
    published = first.assignments[: len(first.assignments) // 2]
    assert published
    again = copy.deepcopy(raw)
    again["pinned"] = [{"visit": a.visit, "carers": list(a.carers), "start": problem.iso(a.start)}
                       for a in published]
    problem2 = problem_from_dict(again)
    second, _ = assert_valid_solve(problem2, time_limit=4)
    kept = second.assignment_of()
    for a in published:
        assert kept[a.visit].carers == a.carers and kept[a.visit].start == a.start


def test_pins_that_cannot_all_hold_make_the_status_infeasible_not_a_crash() -> None:
    """Two pins put one carer in two places at once: no valid rota exists, and we say so."""
    raw = {
        "format": "carerota.problem/1", "name": "clashing pins",
        "horizon": {"start": "2026-11-30T00:00", "end": "2026-12-01T00:00"},
        "carers": [{"id": "ann", "kind": "staff", "skills": [],
                    "location": {"lat": 51.58, "lon": -3.0},
                    "availability": [{"start": "2026-11-30T07:00", "end": "2026-11-30T12:00"}]}],
        "clients": [{"id": "k1", "location": {"lat": 51.58, "lon": -3.0}},
                    {"id": "k2", "location": {"lat": 51.60, "lon": -3.0}}],
        "visits": [{"id": f"v{i}", "client": f"k{i}", "earliest_start": "2026-11-30T08:00",
                    "latest_start": "2026-11-30T08:00", "duration_minutes": 30} for i in (1, 2)],
        "pinned": [{"visit": "v1", "carers": ["ann"]}, {"visit": "v2", "carers": ["ann"]}],
    }
    for strategy in ("exact", "search"):
        rota = solve(problem_from_dict(raw), SolveOptions(time_limit=2, workers=1, strategy=strategy))
        assert rota.status == "infeasible"
        assert {u.visit for u in rota.unassigned} == {"v1", "v2"}


# ======================================================================================
# The exact path never trusts CP-SAT's word for the rota it returns
# ======================================================================================

def _exact_week() -> Problem:
    return problem_from_dict(_small_week(clients=3, seed=2))


def test_exact_path_keeps_the_search_rota_when_cp_sat_finds_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """CP-SAT may stop with no solution (time, memory, a model fault): the rota returned is then
    the local search's, valued by the evaluator (checker-equal), never an all-unassigned value,
    and its status claims no proof."""
    from ortools.sat.python import cp_model

    problem = _exact_week()
    monkeypatch.setattr(cp_model.CpSolver, "solve", lambda self, model, cb=None: cp_model.UNKNOWN)
    rota, _report = assert_valid_solve(problem, time_limit=3, strategy="exact")
    assert rota.assignments, "the search's rota was dropped"
    assert rota.status == "feasible"
    assert rota.extra["stats"].get("exact_improved") is not True


def test_exact_path_refuses_a_cp_sat_rota_that_breaks_a_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """If the model and the rules ever disagree, the exact path's answer is loaded into the
    evaluator first; a rota it refuses is dropped and the search's (valid) rota is kept, with no
    claim of optimality from the model's proof."""
    from scheduler import solve as solve_mod

    problem = _exact_week()
    real_extract = solve_mod.Solver._extract

    def broken_extract(self, ctx, solver, st):  # type: ignore[no-untyped-def]
        new = real_extract(self, ctx, solver, st)
        # every covered visit at the start of the horizon on the first carer: overlapping
        # visits, windows missed: no rule-keeping evaluator can accept it
        new.assign = {vi: ((0,) * len(carers), 0) for vi, (carers, _start) in new.assign.items()}
        return new

    monkeypatch.setattr(solve_mod.Solver, "_extract", broken_extract)
    rota, _report = assert_valid_solve(problem, time_limit=3, strategy="exact")
    assert rota.assignments
    assert rota.extra["stats"].get("exact_improved") is not True
    if rota.status == "optimal":
        assert rota.best_bound is not None and rota.best_bound >= rota.objective - 1e-6
