"""Spec rule 3 (people): no carer the client excluded; a client's gender preference is hard."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    carers_of,
    client,
    km_east,
    rota,
    visit,
)


def _people(**kw):
    return build([carer("ann", gender="female"), carer("bryn", gender="male"), carer("cai")],
                 [client("dai", excluded_carers=["bryn"]), client("eira", gender_preference="female")],
                 [visit("d1", "dai", "08:00"), visit("e1", "eira", "10:00")], **kw)


def test_allowed_carers_are_accepted():
    p = _people()
    assert_accepts(p, rota(p, [("d1", ["cai"], "08:00"), ("e1", ["ann"], "10:00")]))


def test_excluded_carer_is_rejected():
    """Dai's family asked never to see Bryn again."""
    p = _people()
    report = assert_rejects(p, rota(p, [("d1", ["bryn"], "08:00"), ("e1", ["ann"], "10:00")]), "exclusions")
    assert "Bryn" in str(report.violations[0]) and "excluded" in str(report.violations[0])


def test_carer_of_other_gender_is_rejected():
    p = _people()
    report = assert_rejects(p, rota(p, [("d1", ["cai"], "08:00"), ("e1", ["bryn"], "10:00")]), "gender")
    assert "female" in str(report.violations[0])


def test_carer_with_no_recorded_gender_does_not_meet_a_preference():
    """Cai has no gender in the file: that cannot be taken to satisfy 'female'."""
    p = _people()
    assert_rejects(p, rota(p, [("d1", ["ann"], "08:00"), ("e1", ["cai"], "10:00")]), "gender")


def test_solver_sends_the_far_carer_rather_than_the_excluded_near_one():
    """Bryn lives at Dai's door but is excluded; Ann is 10 km away. With home travel the
    solver pays the travel rather than break the exclusion."""
    p = build([carer("ann", location=km_east(10)), carer("bryn")],
              [client("dai", excluded_carers=["bryn"])], [visit("d1", "dai", "08:00", latest="09:00")],
              rules={"home_travel": True})
    r, _ = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"d1": ("ann",)}


def test_solver_meets_gender_preference_at_extra_cost():
    """Bryn is cheap and near, Ann is expensive; Eira asks for a woman, so Ann goes."""
    p = build([carer("ann", gender="female", hourly_cost=30.0, location=km_east(5)),
               carer("bryn", gender="male", hourly_cost=10.0)],
              [client("eira", gender_preference="female")], [visit("e1", "eira", "10:00")],
              weights={"cost": 1}, rules={"home_travel": True})
    r, _ = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"e1": ("ann",)}
