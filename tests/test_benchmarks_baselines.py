"""Baselines are only a yardstick if their rotas are valid: the checker holds them to every rule."""

from __future__ import annotations

import pytest

from benchmarks.baselines.greedy import greedy_rota
from benchmarks.baselines.routing import restrict_rota, routable_subset, routing_rota
from benchmarks.mankowska import BENCH_DIR, load_instance, retime, rota_routes, to_problem_dict, verify
from scheduler.checker import check
from scheduler.example import generate_problem
from scheduler.problem import problem_from_dict


@pytest.mark.parametrize("clients,seed", [(5, 1), (20, 2)])
def test_greedy_rota_passes_the_checker(clients, seed):
    """The greedy coordinator must keep every hard rule (caps, rest, travel, double-ups...)."""
    problem = problem_from_dict(generate_problem(clients=clients, seed=seed))
    rota = greedy_rota(problem)
    report = check(problem, rota)
    assert report.ok, "\n".join(str(v) for v in report.violations[:10])
    assert report.kpis["covered"] > 0.8 * len(problem.visits)
    assert rota.objective == pytest.approx(report.objective)


def test_greedy_rota_fills_a_double_up_with_distinct_carers_at_one_start():
    """Double-ups need all roles at once; a half-covered double-up is not allowed."""
    problem = problem_from_dict(generate_problem(clients=20, seed=1))
    doubles = {v.id for v in problem.visits if len(v.roles) > 1}
    assert doubles, "the generated week should contain double-ups"
    rota = greedy_rota(problem)
    placed = [a for a in rota.assignments if a.visit in doubles]
    assert placed
    assert all(len(set(a.carers)) == len(a.carers) == 2 for a in placed)


@pytest.mark.skipif(not (BENCH_DIR / "instances").exists(), reason="Mankowska data not present")
def test_greedy_on_a_mankowska_instance_is_valid_and_verifiable():
    """The adapter's problem is an ordinary problem: any valid rota maps back to a verified solution."""
    inst = load_instance(BENCH_DIR / "instances" / "InstanzCPLEX_HCSRP_10_1.txt")
    problem = problem_from_dict(to_problem_dict(inst))
    rota = greedy_rota(problem)
    assert check(problem, rota).ok
    routes = rota_routes(inst, rota.assignments)
    starts = retime(inst, routes)
    assert starts is not None
    from benchmarks.mankowska import solution_dict

    rep = verify(inst, solution_dict(inst, routes, starts))
    assert rep.ok, rep.errors
    # rounding travel up makes the rota's own objective an upper bound on 3 x the literature's
    assert rep.objective <= rota.objective / 3 + 1e-9


def test_routing_baseline_rota_passes_the_checker_on_the_routable_subset():
    """OR-Tools' routes must obey the same rules once turned into a rota (windows, skills, caps)."""
    pdict = generate_problem(clients=5, seed=1)
    sub = problem_from_dict(routable_subset(pdict))
    assert all(len(v.roles) == 1 for v in sub.visits) and not sub.dependencies
    rota = routing_rota(sub, time_limit=7)
    report = check(sub, rota)
    assert report.ok, "\n".join(str(v) for v in report.violations[:10])
    assert report.kpis["covered"] > 0


def test_a_valid_rota_restricted_to_the_subset_stays_valid():
    """The comparison on the subset relies on cutting a week rota down without breaking it."""
    pdict = generate_problem(clients=20, seed=1)
    problem = problem_from_dict(pdict)
    rota = greedy_rota(problem)
    sub = problem_from_dict(routable_subset(pdict))
    report = check(sub, restrict_rota(rota, sub))
    assert report.ok, "\n".join(str(v) for v in report.violations[:10])
