"""Spec rule 4: every visit a carer makes lies wholly inside ONE of their availability
intervals (half-open: a visit may end exactly when the interval ends)."""

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


def _split_day(**kw):
    return build([carer("ann", availability=[("07:00", "11:00"), ("11:00", "15:00")])], [client("dai")],
                 [visit("v1", "dai", "07:00", latest="14:00", duration=30)], **kw)


def test_visit_inside_an_interval_is_accepted_even_ending_at_its_end():
    p = _split_day()
    assert_accepts(p, rota(p, [("v1", ["ann"], "10:30")]))
    assert_accepts(p, rota(p, [("v1", ["ann"], "07:00")]))


def test_visit_outside_availability_is_rejected():
    """Ann is not working at 15:00 (her day ends then)."""
    p = build([carer("ann", availability=[("07:00", "15:00")])], [client("dai")],
              [visit("v1", "dai", "14:45")])
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "14:45")]), "availability")
    assert "Ann" in str(report.violations[0]) and "Mon 30 Nov 14:45" in str(report.violations[0])


def test_visit_spanning_two_touching_intervals_is_rejected():
    """The spec says wholly inside ONE interval: 10:45-11:15 straddles two shifts, even though
    they touch (a coordinator split them for a reason, e.g. a break or another employer)."""
    p = _split_day()
    assert_rejects(p, rota(p, [("v1", ["ann"], "10:45")]), "availability")


def test_carer_with_no_availability_cannot_work():
    p = build([carer("ann", availability=[]), carer("bryn")], [client("dai")], [visit("v1", "dai")])
    assert_rejects(p, rota(p, [("v1", ["ann"], "08:00")]), "availability")
    assert_accepts(p, rota(p, [("v1", ["bryn"], "08:00")]))


def test_solver_starts_visit_inside_the_only_carers_afternoon_shift():
    """The window is 08:00-16:00 but Ann works only 14:00-18:00: the visit must start at
    14:00 or later (the solver may not use the morning part of the window)."""
    p = build([carer("ann", availability=[("14:00", "18:00")])], [client("dai")],
              [visit("v1", "dai", "08:00", latest="16:00", duration=60)])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert minute(p, "14:00") <= starts(r)["v1"] <= minute(p, "16:00")
