"""The Mankowska adapter, re-timing and verifier: the benchmark's numbers must not come from the solver."""

from __future__ import annotations

import copy
import math

import pytest

from benchmarks.mankowska import (
    BENCH_DIR,
    InstanceError,
    parse_instance,
    retime,
    solution_dict,
    to_problem_dict,
    verify,
)
from scheduler.problem import problem_from_dict

# A hand-made instance: depot at (0,0), patients 1..3, two carers, two services.
# Patient 1 needs s1, patient 2 needs s1 and s2 together (mind = maxd = 0), patient 3 needs
# s1 then s2 between 5 and 10 later. Distances are Euclidean and fractional.
TINY = """
nbNodes
5
nbVehi
2
nbServi
2
r
1 1
1 0
1 1
1 1
1 1
DS
3 4
a
1 0
1 1
x
0 3 0 6 0
y
0 4 2 8 0
d
0.0 5.0 2.0 10.0 0.0
5.0 0.0 3.605551 5.0 5.0
2.0 3.605551 0.0 8.485281 2.0
10.0 5.0 8.485281 0.0 10.0
0.0 5.0 2.0 10.0 0.0
p
0 0
0 0
10 10
10 10
4 4
4 4
6 6
6 6
0 0
0 0
mind
0 0 0 5 0
maxd
0 0 0 10 0
e
0 0 0 10 0
l
100 20 3 30 100
"""


@pytest.fixture
def tiny():
    return parse_instance(TINY, "tiny")


def test_parser_reads_services_carers_and_the_first_processing_row(tiny):
    """The parser is the benchmark's foundation: wrong sizes or indices would skew every result."""
    assert tiny.n == 5 and tiny.vehicles == 2 and tiny.services == 2
    assert tiny.required == [[], [1], [1, 2], [1, 2], []]
    assert tiny.qualified == [{1}, {1, 2}]
    assert tiny.proc[1] == [10, 10] and tiny.proc[2] == [4, 4]
    assert tiny.is_simultaneous(2) and not tiny.is_simultaneous(3)
    assert tiny.dist[1][2] == pytest.approx(3.605551)


def test_parser_names_the_section_when_a_count_is_wrong():
    """Bad input gets a clear error naming the section, never a traceback."""
    broken = TINY.replace("0 3 0 6 0", "0 3 0 6")
    with pytest.raises(InstanceError, match="section 'x' has 4 numbers, expected 5"):
        parse_instance(broken, "tiny")


def test_parser_rejects_ds_that_disagrees_with_r():
    """DS and r describe the same double services; a disagreement means a corrupt file."""
    with pytest.raises(InstanceError, match="DS"):
        parse_instance(TINY.replace("DS\n3 4", "DS\n3"), "tiny")


def test_objective_of_a_hand_made_solution(tiny):
    """(distance + total tardiness + max tardiness) / 3 computed by hand for a fixed solution.

    Carer 0: depot -> 1 (s1) -> depot. Carer 1: depot -> 2 (s1... no, s2) etc. Worked out:
    carer 0 route [(2, s1), (1, s1)], carer 1 route [(2, s2), (3, s1), (3, s2)].
    Times: both carers reach patient 2 at 2.0 (e = 0), start 2.0 together, tardiness 0 (l = 3).
    Carer 0 leaves 2 at 6.0, reaches 1 at 9.605551, tardiness 0 (l = 20).
    Carer 1 leaves 2 at 6.0, reaches 3 at 14.485281 (e = 10): s1 at 14.485281, ends 20.485281;
    s2 must start 5..10 after s1 and after 20.485281: 20.485281 (gap 6), tardiness 0 (l = 30).
    Distance: carer 0: 2 + 3.605551 + 5 = 10.605551; carer 1: 2 + 8.485281 + 0 + 10 = 20.485281.
    Objective = 31.090832 / 3 = 10.363611.
    """
    routes = [[(2, 1), (1, 1)], [(2, 2), (3, 1), (3, 2)]]
    starts = retime(tiny, routes)
    assert starts is not None
    assert starts[(2, 1)] == pytest.approx(2.0) and starts[(2, 2)] == pytest.approx(2.0)
    assert starts[(3, 1)] == pytest.approx(14.485281)
    assert starts[(3, 2)] == pytest.approx(20.485281)
    sol = solution_dict(tiny, routes, starts)
    rep = verify(tiny, sol)
    assert rep.ok, rep.errors
    assert rep.distance == pytest.approx(31.090832, abs=1e-6)
    assert rep.tardiness == 0
    assert rep.objective == pytest.approx(31.090832 / 3, abs=1e-6)


def test_tardiness_counts_per_service_and_max_once(tiny):
    """A late double-up counts twice in total tardiness, once in the maximum (the literature's rule)."""
    routes = [[(2, 1), (1, 1)], [(2, 2), (3, 1), (3, 2)]]
    starts = retime(tiny, routes)
    assert starts is not None
    starts[(2, 1)] = starts[(2, 2)] = 5.0           # 2 late by 2 each (l = 3)
    starts[(1, 1)] = 9.0 + 3.605551 + 0.0           # still feasible after the later start
    starts[(3, 1)] = 17.485281                      # pushed by 3 as well
    starts[(3, 2)] = 23.485281
    sol = {"routes": solution_dict(tiny, routes, starts)["routes"]}
    rep = verify(tiny, sol)
    assert rep.ok, rep.errors
    assert rep.tardiness == pytest.approx(4.0)
    assert rep.max_tardiness == pytest.approx(2.0)


def test_verifier_rejects_broken_solutions(tiny):
    """The verifier must catch what a buggy adapter could write: the table trusts only verified rows."""
    routes = [[(2, 1), (1, 1)], [(2, 2), (3, 1), (3, 2)]]
    starts = retime(tiny, routes)
    assert starts is not None
    good = solution_dict(tiny, routes, starts)

    unqualified = copy.deepcopy(good)
    unqualified["routes"][0], unqualified["routes"][1] = good["routes"][1], good["routes"][0]
    assert any("not qualified" in e for e in verify(tiny, unqualified).errors)

    too_early = copy.deepcopy(good)
    too_early["routes"][1][1]["start"] = 12.0  # before the carer can arrive (14.49)
    errors = verify(tiny, too_early).errors
    assert any("cannot arrive" in e for e in errors)

    apart = copy.deepcopy(good)
    apart["routes"][1][0]["start"] = 2.5  # double-up no longer together
    assert any("start together" in e for e in verify(tiny, apart).errors)

    missing = copy.deepcopy(good)
    missing["routes"][0].pop()
    assert any("patient 1 service 1 is not served" in e for e in verify(tiny, missing).errors)

    gap = copy.deepcopy(good)
    gap["routes"][1][2]["start"] = 30.0  # 15.5 after s1, maxd = 10
    assert any("outside [5, 10]" in e for e in verify(tiny, gap).errors)

    lying = copy.deepcopy(good)
    lying["objective"] = good["objective"] - 1
    assert any("claimed" in e for e in verify(tiny, lying).errors)


def test_adapter_builds_a_valid_engine_problem(tiny):
    """Double-up with mind = maxd = 0 -> one visit with two roles; other doubles -> a dependency."""
    pdict = to_problem_dict(tiny)
    problem = problem_from_dict(pdict)
    ids = {v.id for v in problem.visits}
    assert ids == {"p1-s1", "p2-s1+s2", "p3-s1", "p3-s2"}
    double = problem.visit_by_id["p2-s1+s2"]
    assert [sorted(r.skills) for r in double.roles] == [["s1"], ["s2"]]
    (dep,) = problem.dependencies
    assert (dep.first, dep.then, dep.min_gap_minutes, dep.max_gap_minutes) == ("p3-s1", "p3-s2", 5, 10)
    assert problem.rules.home_travel and problem.horizon_minutes == 1440
    k0 = problem.carer_by_id["k0"]
    # travel rounded up, carer id is the depot in the matrix
    assert problem.travel_minutes("k0", "p1", k0) == 5
    assert problem.travel_minutes("p1", "p2", k0) == 4
    assert problem.travel_minutes("p3", "k0", k0) == 10


@pytest.mark.skipif(not (BENCH_DIR / "instances").exists(), reason="Mankowska data not present")
def test_published_brkga_routes_for_a1_give_the_published_cost():
    """Kummer Neto et al.'s published A1 routes (solution-10-1-13, cost 226.978, tardiness 0)
    re-timed and verified here must give their cost: our objective is the literature's."""
    from benchmarks.mankowska import load_instance

    inst = load_instance(BENCH_DIR / "instances" / "InstanzCPLEX_HCSRP_10_1.txt")
    routes = [[(10, 3), (3, 2), (5, 3), (9, 1), (7, 3)], [(8, 5), (2, 5)],
              [(8, 6), (10, 6), (6, 5), (1, 4), (9, 4), (4, 4)]]
    starts = retime(inst, routes)
    assert starts is not None
    rep = verify(inst, solution_dict(inst, routes, starts))
    assert rep.ok, rep.errors
    assert rep.distance == pytest.approx(680.934, abs=1e-3)
    assert rep.objective == pytest.approx(226.978, abs=1e-3)


def _fake_rounded(calls: list, objective_by_scale: dict[int, float], optimal: set[int]):
    """A stand-in for one engine solve: records (scale, rounding, budget), spends its budget."""
    from types import SimpleNamespace

    def fake(inst, label, rounding, limit, out_dir, workers, seed, scale):
        calls.append((scale, rounding, round(limit, 3)))
        obj = objective_by_scale[scale]
        ver = SimpleNamespace(objective=obj, distance=obj, tardiness=0.0, max_tardiness=0.0, ok=True,
                              errors=[])
        status = "optimal" if scale in optimal else "feasible"
        return {"res": {"wall_seconds": limit if status == "feasible" else 0.5, "timeline": []},
                "rounding": rounding, "scale": scale, "status": status, "objective": int(obj * 3 * scale),
                "bound": None, "ver": ver, "sol": {"objective": obj}}
    return fake


def test_unproven_first_model_shares_the_budget_with_the_scale_2_model(tmp_path, monkeypatch):
    """Rounding ties routes whose true objectives differ (B1 is best at scale 1, B2 at scale 2):
    when the scale-1 model of a proof class is not proven optimal it must get only half the limit,
    the scale-2 model the rest, and the better verified result is the one reported."""
    import benchmarks.mankowska as mk

    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(mk, "_solve_rounded", _fake_rounded(calls, {1: 12.0, 2: 11.5}, optimal=set()))
    row, _ = mk.solve_instance("tiny", path, tmp_path / "out", time_limit=60.0, log=lambda *_: None)
    assert calls == [(1, "down", 30.0), (2, "down", 30.0)]
    assert row["objective"] == 11.5 and row["best_rounding"] == "scale 2 down"


def test_short_limit_keeps_the_whole_budget_for_the_first_model(tmp_path, monkeypatch):
    """At A's 10 s, halving would starve the scale-1 model on a loaded machine: it keeps it all."""
    import benchmarks.mankowska as mk

    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(mk, "_solve_rounded", _fake_rounded(calls, {1: 12.0, 2: 11.5}, optimal=set()))
    mk.solve_instance("tiny", path, tmp_path / "out", time_limit=10.0, log=lambda *_: None)
    assert calls == [(1, "down", 10.0)]


def test_proven_first_model_leaves_the_rest_to_other_roundings(tmp_path, monkeypatch):
    """A proof says the rounded model is solved; the time left goes to other roundings (ties)."""
    import benchmarks.mankowska as mk

    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(mk, "_solve_rounded", _fake_rounded(calls, {1: 12.0, 2: 11.5}, optimal={1, 2}))
    mk.solve_instance("tiny", path, tmp_path / "out", time_limit=60.0, log=lambda *_: None)
    assert [c[:2] for c in calls][:4] == [(1, "down"), (2, "down"), (2, "up"), (1, "up")]
    assert calls[0][2] == 30.0 and calls[1][2] == 59.5  # the first solve's unused budget is passed on
    assert [c[:2] for c in calls][6:8] == [(1, "random-1"), (2, "random-1")]


def test_pinned_scale_gets_the_whole_limit(tmp_path, monkeypatch):
    """`--scale 1 --rounding down` is one model: it must not be cut to half the limit."""
    import benchmarks.mankowska as mk

    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    calls: list = []
    monkeypatch.setattr(mk, "_solve_rounded", _fake_rounded(calls, {1: 12.0}, optimal=set()))
    mk.solve_instance("tiny", path, tmp_path / "out", time_limit=10.0, scale=1, rounding="down",
                      log=lambda *_: None)
    assert calls == [(1, "down", 10.0)]


@pytest.mark.parametrize(("probe_covers", "second"), [(True, 2), (False, 1)])
def test_classes_without_a_proof_probe_scale_2_then_spend_the_rest(tmp_path, monkeypatch, probe_covers,
                                                                   second):
    """C-G: a tenth of the limit checks that the scale-2 model covers every service; the rest goes
    to scale 2 after a good probe and to scale 1 after a bad one, never to both."""
    import benchmarks.mankowska as mk

    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    calls: list = []
    fake = _fake_rounded(calls, {1: 12.0, 2: 11.5}, optimal=set())

    def probe_aware(inst, label, rounding, limit, out_dir, workers, seed, scale):
        one = fake(inst, label, rounding, limit, out_dir, workers, seed, scale)
        if scale == 2 and len(calls) == 1 and not probe_covers:
            one["error"] = "1 service(s) left unassigned"
        return one

    monkeypatch.setattr(mk, "_solve_rounded", probe_aware)
    monkeypatch.setattr(mk, "instance_class", lambda inst: "C")
    mk.solve_instance("tiny", path, tmp_path / "out", time_limit=120.0, log=lambda *_: None)
    assert calls == [(2, "down", 12.0), (second, "down", 108.0)]


def test_randomised_rounding_is_reproducible_and_rounds_to_a_neighbour():
    """A portfolio draw must give the same model on every run (a benchmark row can be re-run), and
    each arc must move by less than one unit, as the other roundings do."""
    from benchmarks.mankowska import quantise

    values = [i * 0.37 + 0.011 for i in range(200)]
    draw = [quantise(v, 2, "random-3") for v in values]
    assert draw == [quantise(v, 2, "random-3") for v in values]
    assert all(math.floor(2 * v) <= q <= math.ceil(2 * v) for v, q in zip(values, draw, strict=True))
    assert draw != [quantise(v, 2, "random-4") for v in values]
    bias = sum(q - 2 * v for v, q in zip(values, draw, strict=True)) / len(values)
    assert bias == pytest.approx(0, abs=0.1)
    with pytest.raises(ValueError):
        quantise(1.5, 1, "random-x")
