"""Spec rule 1 (skills): each carer on a visit holds the skills of the role they fill."""

from __future__ import annotations

import pytest

from scheduler.problem import Problem
from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    carers_of,
    client,
    km_east,
    role,
    rota,
    visit,
)


def _hoist_problem(**kw):
    return build([carer("ann", skills=["personal_care", "hoist"], location=km_east(8)),
                  carer("bryn", skills=["personal_care"])],
                 [client("dai")],
                 [visit("v1", "dai", roles=[role("personal_care", "hoist")])], **kw)


def test_carer_holding_every_skill_of_the_role_is_accepted():
    """Ann holds personal_care and hoist, the role asks for both."""
    p = _hoist_problem()
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00")]))


def test_carer_missing_one_skill_is_rejected_naming_the_skill():
    """Bryn has personal_care but no hoist: a hoist transfer needs someone trained."""
    p = _hoist_problem()
    report = assert_rejects(p, rota(p, [("v1", ["bryn"], "08:00")]), "roles_and_skills")
    assert "'hoist'" in str(report.violations[0]) and "Bryn" in str(report.violations[0])


def test_unknown_carer_is_rejected():
    """A rota naming a carer the problem does not know is invalid, not a crash."""
    p = _hoist_problem()
    assert_rejects(p, rota(p, [("v1", ["zed"], "08:00")]), "roles_and_skills")


def test_role_without_skills_accepts_anyone():
    """A role with no skills listed (companionship-style) may be filled by any staff carer."""
    p = build([carer("ann"), carer("bryn", skills=["driving"])], [client("dai")],
              [visit("v1", "dai"), visit("v2", "dai", "10:00")])
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["bryn"], "10:00")]))


def test_solver_sends_the_only_hoist_holder_even_from_far_away():
    """Bryn is next door but has no hoist; Ann lives 8 km away. Travel is cheap next to an
    uncovered essential visit, so the solver must send Ann, never Bryn."""
    p = _hoist_problem(rules={"home_travel": True})
    r, report = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"v1": ("ann",)}
    assert report.kpis["travel_minutes"] > 0


def test_solver_leaves_a_visit_unassigned_when_nobody_has_the_skill():
    """No carer holds 'dementia': the visit cannot be covered and must be listed unassigned."""
    p = build([carer("ann", skills=["personal_care"])], [client("dai")],
              [visit("v1", "dai", roles=[role("dementia")]), visit("v2", "dai", "10:00")])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert [u.visit for u in r.unassigned] == ["v1"]
    assert carers_of(r) == {"v2": ("ann",)}


# ======================================================================================
# skills_valid_until: a certificate that expires inside the week
# ======================================================================================

def _expiring_week() -> Problem:
    """Ann is the only carer with medication; her certificate expires on day 2 (Wed)."""
    from tests.rules.builders import build, carer, client, visit

    return build([carer("ann", skills=["medication"], skills_valid_until={"medication": "2026-12-02"}),
                  carer("bryn")],
                 [client("dai")],
                 [visit("mon", "dai", (0, "08:00"), roles=[{"skills": ["medication"]}]),
                  visit("wed", "dai", (2, "08:00"), roles=[{"skills": ["medication"]}])])


def test_a_skill_counts_only_before_its_expiry_date() -> None:
    """The checker refuses a medication visit on or after the expiry date, naming the date."""
    from tests.rules.builders import assert_accepts, assert_rejects, rota

    p = _expiring_week()
    assert_accepts(p, rota(p, [("mon", ["ann"], (0, "08:00"))], ["wed"]))
    report = assert_rejects(p, rota(p, [("mon", ["ann"], (0, "08:00")), ("wed", ["ann"], (2, "08:00"))]),
                            "roles_and_skills")
    assert "expires Wed 02 Dec" in str(report.violations[0])


def test_an_expired_certificate_is_the_reason_a_visit_is_left_naming_skill_carer_and_date() -> None:
    """The coordinator reads the skill, whose certificate and the date, never an internal
    per-day skill name; the solver covers the visit before the expiry and leaves the one after."""
    import json

    from scheduler.checker import check
    from scheduler.rota import rota_to_dict
    from scheduler.solve import SolveOptions, solve

    p = _expiring_week()
    r = solve(p, SolveOptions(time_limit=3, workers=1, seed=0))
    report = check(p, r)
    assert report.ok, [str(v) for v in report.violations]
    assert [a.visit for a in r.assignments] == ["mon"]
    [gap] = r.unassigned
    assert gap.visit == "wed"
    reason = " ".join(gap.reasons)
    assert "'medication'" in reason and "ann" in reason and "Wed 02 Dec" in reason, reason
    assert "@" not in json.dumps(rota_to_dict(r, p))


def test_skills_valid_until_names_the_field_when_wrong() -> None:
    """Bad input names the field and the reason: an unknown skill, a bad date."""
    from scheduler.problem import ProblemError, problem_from_dict
    from tests.rules.builders import carer, client, problem_dict, visit

    raw = problem_dict([carer("ann", skills=["medication"], skills_valid_until={"hoist": "2026-12-02",
                                                                                 "medication": "2nd Dec"})],
                       [client("dai")], [visit("v", "dai")])
    with pytest.raises(ProblemError) as exc:
        problem_from_dict(raw)
    errors = exc.value.errors
    assert "carers[0].skills_valid_until.hoist: 'hoist' is not one of the carer's skills" in errors
    assert any(e.startswith("carers[0].skills_valid_until.medication: must be a date") for e in errors)
