"""Spec rule 7 (pins): a pinned visit is covered by exactly the pinned carers, in role
order, at the pinned start when one is given."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    carers_of,
    client,
    minute,
    role,
    rota,
    starts,
    visit,
)


def _pinned(**kw):
    return build([carer("ann", skills=["hoist"]), carer("bryn", skills=["hoist"]), carer("cai")],
                 [client("dai", preferred_carers=["cai"])],
                 [visit("v1", "dai", "08:00", latest="09:00", roles=[role("hoist"), role()])],
                 pinned=[{"visit": "v1", "carers": ["bryn", "ann"], "start": "2026-11-30T08:30"}], **kw)


def test_pinned_carers_and_start_are_accepted():
    p = _pinned()
    assert_accepts(p, rota(p, [("v1", ["bryn", "ann"], "08:30")]))


def test_pinned_carers_in_another_role_order_are_rejected():
    """A published rota told Bryn to lead the hoist; swapping roles changes what people do."""
    p = _pinned()
    assert_rejects(p, rota(p, [("v1", ["ann", "bryn"], "08:30")]), "pins")


def test_pinned_visit_at_another_start_is_rejected():
    p = _pinned()
    report = assert_rejects(p, rota(p, [("v1", ["bryn", "ann"], "08:00")]), "pins")
    assert "08:30" in str(report.violations[0])


def test_pinned_visit_left_unassigned_is_rejected():
    p = _pinned()
    assert_rejects(p, rota(p, [], ["v1"]), "pins")


def test_solver_keeps_the_pin_against_preference():
    """Dai prefers Cai (the solver would otherwise pick Cai for role 2), but the pin holds."""
    p = _pinned()
    r, _ = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"v1": ("bryn", "ann")}
    assert starts(r)["v1"] == minute(p, "08:30")
