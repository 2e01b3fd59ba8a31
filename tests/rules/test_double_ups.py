"""Spec rule 1 (double-ups): one distinct carer per role, in role order, arriving together;
a half-covered double-up is not allowed."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    carers_of,
    client,
    role,
    rota,
    starts,
    visit,
)


def _double_up(**kw):
    return build([carer("ann", skills=["hoist"]), carer("bryn"), carer("cai")], [client("dai")],
                 [visit("v1", "dai", roles=[role("hoist"), role(duration=15)], duration=30),
                  visit("v2", "dai", "08:15")], **kw)


def test_two_distinct_carers_in_role_order_are_accepted():
    """Ann fills the hoist role, Bryn the second; Cai takes the other visit."""
    p = _double_up()
    assert_accepts(p, rota(p, [("v1", ["ann", "bryn"], "08:00"), ("v2", ["cai"], "08:15")]))


def test_same_carer_in_both_roles_is_rejected():
    """One person cannot be both pairs of hands on a hoist transfer."""
    p = _double_up()
    assert_rejects(p, rota(p, [("v1", ["ann", "ann"], "08:00"), ("v2", ["cai"], "08:15")]),
                   "roles_and_skills")


def test_half_covered_double_up_is_rejected():
    """Naming one carer for a two-role visit leaves the client with half a double-up."""
    p = _double_up()
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["cai"], "08:15")]),
                            "roles_and_skills")
    assert "needs 2 carer(s)" in str(report.violations[0])


def test_role_order_matters_for_skills():
    """Carers are listed in role order: Bryn in the hoist role is wrong even though Ann is there."""
    p = _double_up()
    assert_rejects(p, rota(p, [("v1", ["bryn", "ann"], "08:00"), ("v2", ["cai"], "08:15")]),
                   "roles_and_skills")


def test_second_role_with_shorter_duration_frees_its_carer_earlier():
    """Role 2 lasts 15 minutes, so Bryn may start the 08:15 visit; Ann (30 minutes) may not."""
    p = _double_up()
    assert_accepts(p, rota(p, [("v1", ["ann", "bryn"], "08:00"), ("v2", ["bryn"], "08:15")]))
    assert_rejects(p, rota(p, [("v1", ["ann", "bryn"], "08:00"), ("v2", ["ann"], "08:15")]), "travel")


def test_solver_covers_double_up_with_two_distinct_carers_hoist_holder_first():
    """Only Ann has a hoist; the solver must put her in role 1 and someone else in role 2,
    and both roles start at the same minute (one assignment start)."""
    p = build([carer("ann", skills=["hoist"]), carer("bryn")], [client("dai")],
              [visit("v1", "dai", "08:00", latest="09:00", roles=[role("hoist"), role()])])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"v1": ("ann", "bryn")}
    assert p.visit_by_id["v1"].earliest_start <= starts(r)["v1"] <= p.visit_by_id["v1"].latest_start


def test_solver_leaves_double_up_unassigned_rather_than_half_covered():
    """With only one carer in the week the double-up cannot be covered at all."""
    p = build([carer("ann", skills=["hoist"])], [client("dai")],
              [visit("v1", "dai", roles=[role("hoist"), role()]), visit("v2", "dai", "12:00")])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert [u.visit for u in r.unassigned] == ["v1"]
    assert carers_of(r) == {"v2": ("ann",)}
