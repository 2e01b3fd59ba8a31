"""Spec rule 7 (dependencies): when both visits are covered, start(then) - start(first)
lies in [min_gap_minutes, max_gap_minutes]."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    client,
    minute,
    rota,
    starts,
    visit,
)

DEP = [{"first": "am", "then": "lunch", "min_gap_minutes": 240, "max_gap_minutes": 360}]


def _meds(**kw):
    return build([carer("ann"), carer("bryn")], [client("eira")],
                 [visit("am", "eira", "08:00", latest="09:00"),
                  visit("lunch", "eira", "10:00", latest="16:00")], dependencies=DEP, **kw)


def test_doses_four_to_six_hours_apart_are_accepted():
    p = _meds()
    assert_accepts(p, rota(p, [("am", ["ann"], "08:30"), ("lunch", ["ann"], "12:30")]))
    assert_accepts(p, rota(p, [("am", ["ann"], "08:00"), ("lunch", ["ann"], "14:00")]))


def test_second_dose_too_soon_is_rejected():
    """Medication doses less than four hours apart are unsafe."""
    p = _meds()
    report = assert_rejects(p, rota(p, [("am", ["ann"], "08:30"), ("lunch", ["ann"], "12:29")]),
                            "dependencies")
    assert "3h59" in str(report.violations[0])


def test_second_dose_too_late_is_rejected():
    p = _meds()
    assert_rejects(p, rota(p, [("am", ["ann"], "08:00"), ("lunch", ["ann"], "14:01")]), "dependencies")


def test_dependency_does_not_apply_when_one_visit_is_unassigned():
    """'When both are covered': an uncovered first visit leaves the second free."""
    p = _meds()
    assert_accepts(p, rota(p, [("lunch", ["ann"], "10:00")], ["am"]))


def test_solver_spaces_dependent_visits_by_the_gap():
    """The lunch window opens at 10:00, but with the morning dose at 08:00-09:00 the
    lunch visit must start between 12:00 and 15:00 and 4-6 h after the morning one."""
    p = _meds()
    r, _ = assert_valid_solve(p, time_limit=5)
    assert not r.unassigned
    gap = starts(r)["lunch"] - starts(r)["am"]
    assert 240 <= gap <= 360
    assert starts(r)["lunch"] >= minute(p, "12:00")
