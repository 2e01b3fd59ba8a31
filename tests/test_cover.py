""""Who can cover this?" (``scheduler.cover``): every option it offers is one the checker
accepts, with exactly the objective change it claims, and it never offers a carer the rules
or the coordinator ruled out."""

from __future__ import annotations

import pytest

from scheduler.checker import check
from scheduler.cover import CoverSession, who_can_cover
from scheduler.example import generate_problem
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment, Rota
from scheduler.solve import SolveOptions, solve
from tests.conftest import objectives_equal
from tests.rules.builders import build, carer, client, km_east, visit


def _with(r: Rota, a: Assignment, drop: str | None = None) -> Rota:
    kept = [x for x in r.assignments if x.visit not in (a.visit, drop)]
    return Rota(problem=r.problem, status="feasible", assignments=[*kept, a],
                unassigned=[u for u in r.unassigned if u.visit != a.visit], objective=None,
                best_bound=None, kpis={}, solve_seconds=0.0)


def _checker_objective(problem: Problem, r: Rota) -> float:
    report = check(problem, r)
    assert not [v for v in report.violations if v.rule not in ("objective", "kpis", "every_visit_once")], (
        [str(v) for v in report.violations])
    return report.objective


@pytest.fixture(scope="module")
def week() -> tuple[Problem, Rota]:
    problem = problem_from_dict(generate_problem(clients=6, seed=4))
    rota = solve(problem, SolveOptions(time_limit=4, workers=1, seed=0))
    assert check(problem, rota).ok
    return problem, rota


def test_a_sick_carers_visit_gets_options_the_checker_accepts_with_the_claimed_change(week) -> None:
    """The coordinator takes a suggestion in one click: it must be lawful and cost what it says."""
    problem, rota = week
    a = next(x for x in rota.assignments if len(x.carers) == 1)
    sick = a.carers[0]
    answer = CoverSession(problem).ask(rota, a.visit, without={sick})
    assert answer.options, answer.refused
    without_visit = Rota(problem=rota.problem, status="feasible",
                         assignments=[x for x in rota.assignments if x.visit != a.visit],
                         unassigned=[], objective=None, best_bound=None, kpis={}, solve_seconds=0.0)
    before = _checker_objective(problem, without_visit)
    deltas = [o.objective_delta for o in answer.options]
    assert deltas == sorted(deltas)
    for o in answer.options:
        assert sick not in o.carers and o.carer != sick
        after = _checker_objective(problem, _with(rota, Assignment(a.visit, o.carers, o.start)))
        assert objectives_equal(after - before, o.objective_delta), (o, after - before)
        penalty = problem.weights[f"unassigned_{problem.visit_by_id[a.visit].priority}"]
        assert objectives_equal(o.cost, o.objective_delta + penalty)


def test_no_option_names_a_carer_without_the_skill_or_a_volunteer_on_personal_care() -> None:
    """Eligibility is the rules', not the ranking's: a carer who may not do it is never offered."""
    p = build([carer("ann", skills=["medication"]), carer("bryn"), carer("cai", kind="volunteer",
               skills=["medication"]), carer("dee", skills=["medication"], location=km_east(5))],
              [client("eira")],
              [visit("e1", "eira", "08:00", latest="09:00", roles=[{"skills": ["medication"]}])], days=1)
    empty = Rota(problem=p.name, status="feasible", assignments=[], unassigned=[], objective=None,
                 best_bound=None, kpis={}, solve_seconds=0.0)
    answer = who_can_cover(p, empty, "e1")
    offered = [o.carer for o in answer.options]
    assert set(offered) == {"ann", "dee"}
    delta = {o.carer: o.objective_delta for o in answer.options}
    assert offered == sorted(offered, key=lambda c: (delta[c], c))
    assert "bryn" not in dict(answer.refused) and "cai" not in dict(answer.refused)


def test_a_carer_off_that_day_is_refused_with_a_reason() -> None:
    p = build([carer("ann", availability=[((0, "14:00"), (0, "22:00"))]), carer("bryn")],
              [client("eira")], [visit("e1", "eira", "08:00")], days=1)
    empty = Rota(problem=p.name, status="feasible", assignments=[], unassigned=[], objective=None,
                 best_bound=None, kpis={}, solve_seconds=0.0)
    answer = who_can_cover(p, empty, "e1")
    assert [o.carer for o in answer.options] == ["bryn"]
    assert dict(answer.refused)["ann"] == "not working then"


def test_by_default_an_option_moves_no_other_visit_so_taking_it_is_one_edit() -> None:
    """A suggestion the coordinator takes with one click changes that visit only; pushing the
    carer's next visit later is offered only when asked for (keep_others=False)."""
    p = build([carer("ann"), carer("bryn")], [client("dai"), client("eira")],
              [visit("b1", "eira", "09:00", latest="11:00"), visit("a1", "dai", "08:45")], days=1,
              weights={"unassigned_essential": 1_000_000, "travel": 1})
    r = Rota(problem=p.name, status="feasible", assignments=[Assignment("b1", ("ann",), 9 * 60)],
             unassigned=[], objective=None, best_bound=None, kpis={}, solve_seconds=0.0)
    strict = CoverSession(p).ask(r, "a1")
    assert [o.carer for o in strict.options] == ["bryn"]
    assert "ann" in dict(strict.refused)
    loose = CoverSession(p).ask(r, "a1", keep_others=False)
    assert {o.carer for o in loose.options} == {"ann", "bryn"}
    for o in strict.options:
        taken = _with(r, Assignment("a1", o.carers, o.start))
        assert check(p, taken).violations == [] or all(
            v.rule in ("objective", "kpis") for v in check(p, taken).violations)


def _varied_week(seed: int) -> Problem:
    """A generated week with every eligibility rule in play: a gender preference, an excluded
    carer, a skill that expires mid-week, a pinned double-check, volunteers."""
    raw = generate_problem(clients=8, seed=seed)
    raw["clients"][0]["gender_preference"] = "female"
    raw["clients"][1]["excluded_carers"] = [raw["carers"][0]["id"]]
    skilled = next(c for c in raw["carers"] if "medication" in c.get("skills", []))
    middle = raw["visits"][len(raw["visits"]) // 2]["earliest_start"][:10]
    skilled["skills_valid_until"] = {"medication": middle}
    v = raw["visits"][3]
    needs = {s for r in v.get("roles", [{}]) for s in r.get("skills", [])}
    allowed = next(c for c in raw["carers"] if needs <= set(c.get("skills", [])) and c["kind"] == "staff")
    raw["pinned"] = [{"visit": v["id"], "carers": [allowed["id"]], "start": v["earliest_start"]}]
    return problem_from_dict(raw)


@pytest.mark.parametrize("seed", [1, 2, 5])
def test_the_compiled_weeks_eligibility_is_exactly_the_options_the_solver_builds(seed: int) -> None:
    """CoverSession builds its eligibility with numpy instead of ``build_options`` (10 s on a
    500-client week): it must give the same matrix and the same nearest-first candidate lists,
    or a suggestion could name a carer the rules exclude (or miss one they allow)."""
    from scheduler.candidates import build_options, visit_day
    from scheduler.cover import eligibility
    from scheduler.model.context import Weights
    from scheduler.search.instance import build_instance

    problem = _varied_week(seed)
    assert problem.pinned and any(c.skills_until for c in problem.carers)
    weights, days = Weights(problem), [visit_day(problem, v) for v in problem.visits]
    expected = build_instance(problem, build_options(problem), weights, days)
    elig, cand_ptr, cand = eligibility(problem, build_instance(problem, [], weights, days))
    assert expected.elig.sum() > 0
    assert (elig == expected.elig).all()
    assert (cand_ptr == expected.cand_ptr).all()
    assert (cand == expected.cand).all()


def test_the_pinned_and_expiring_skill_rules_hold_in_a_question_too() -> None:
    """A question about the pinned visit offers only its pinned carer; after the certificate
    expires the carer who held it is not offered for a visit that needs it."""
    problem = _varied_week(1)
    pin = problem.pinned[0]
    empty = Rota(problem=problem.name, status="feasible", assignments=[], unassigned=[], objective=None,
                 best_bound=None, kpis={}, solve_seconds=0.0)
    answer = CoverSession(problem).ask(empty, pin.visit)
    assert {o.carer for o in answer.options} <= {pin.carers[0]}
    expiring = next(c for c in problem.carers if c.skills_until)
    skill, until = expiring.skills_until[0]
    late = [v for v in problem.visits if v.earliest_start >= until and v.id != pin.visit
            and any(skill in r.skills for r in v.roles)]
    assert late, "the week has visits needing the skill after it expires"
    session = CoverSession(problem)
    for v in late[:5]:
        assert expiring.id not in {o.carer for o in session.ask(empty, v.id).options}
