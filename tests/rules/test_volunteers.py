"""Spec rule 3 (volunteers): a volunteer only fills roles of volunteer_ok visits, and
volunteers cost nothing."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    carers_of,
    client,
    rota,
    visit,
    volunteer,
)


def _mixed(**kw):
    return build([carer("ann", skills=["personal_care"], hourly_cost=12.0),
                  volunteer("cerys", skills=["personal_care", "companionship"], hourly_cost=50.0)],
                 [client("dai")],
                 [visit("care", "dai", "08:00", roles=[{"skills": ["personal_care"]}]),
                  visit("walk", "dai", "14:00", duration=60, volunteer_ok=True, priority="optional")],
                 **kw)


def test_volunteer_on_volunteer_ok_visit_is_accepted():
    p = _mixed()
    assert_accepts(p, rota(p, [("care", ["ann"], "08:00"), ("walk", ["cerys"], "14:00")]))


def test_volunteer_on_personal_care_visit_is_rejected_even_with_the_skill():
    """Cerys holds personal_care, but the visit is not volunteer_ok: volunteers complement
    paid staff and never do personal care unless the co-op says so."""
    p = _mixed()
    report = assert_rejects(p, rota(p, [("care", ["cerys"], "08:00")], unassigned=["walk"]), "volunteers")
    assert "volunteer" in str(report.violations[0]) and "Cerys" in str(report.violations[0])


def test_volunteers_cost_nothing_whatever_their_hourly_cost_says():
    """Cerys's file says 50/hour; only Ann's 30 minutes at 12/hour cost anything."""
    p = _mixed(weights={"cost": 1})
    report = assert_accepts(p, rota(p, [("care", ["ann"], "08:00"), ("walk", ["cerys"], "14:00")]))
    assert report.breakdown["cost"] == 6.0


def test_volunteer_never_fills_personal_care_visit():
    """Only the volunteer is free for the personal-care visit (Ann is away on Monday
    morning), so the solver must leave it unassigned, yet may still send Cerys on the walk."""
    p = build([carer("ann", skills=["personal_care"], availability=[("12:00", "20:00")]),
               volunteer("cerys", skills=["personal_care", "companionship"])],
              [client("dai")],
              [visit("care", "dai", "08:00", roles=[{"skills": ["personal_care"]}]),
               visit("walk", "dai", "14:00", duration=60, volunteer_ok=True, priority="optional")],
              weights={"cost": 1})
    r, _ = assert_valid_solve(p, time_limit=5)
    assert [u.visit for u in r.unassigned] == ["care"]
    assert "walk" in carers_of(r)
