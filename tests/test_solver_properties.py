"""Property: on random valid small problems, every rota the solver returns passes the
independent checker, and its claimed objective equals the checker's recomputed one.

The problems (tests/rules/strategies.py) mix skills, double-ups with role durations,
volunteers, exclusions, gender preferences, split availability, evening visits near
midnight, caps, rest, home travel, dependencies and (sometimes) pins, so each rule of the
spec gets exercised together with the others.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from scheduler.problem import Problem
from tests.conftest import assert_valid_solve
from tests.rules.strategies import problems


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_solved_rota_passes_the_checker_with_its_claimed_objective(problem: Problem):
    """The solver's model and the checker are written independently from the spec; any
    disagreement is a bug in one of them (or a spec ambiguity to settle)."""
    rota, _ = assert_valid_solve(problem, time_limit=1.0, workers=1)
    assert {a.visit for a in rota.assignments} | {u.visit for u in rota.unassigned} == {
        v.id for v in problem.visits}
    assert all(u.reasons for u in rota.unassigned), "every unassigned visit must say why"
