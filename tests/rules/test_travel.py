"""Spec rule 5: a carer's consecutive visits leave room for the travel between them, and
travel counts (objective, work) only between consecutive visits of the same calendar day."""

from __future__ import annotations

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    client,
    km_east,
    minute,
    rota,
    starts,
    visit,
    volunteer,
)

MATRIX = {"travel": {"matrix": {"dai": {"eira": 20}, "eira": {"dai": 20}}}}


def _two_clients(**kw):
    return build([carer("ann")], [client("dai"), client("eira")],
                 [visit("v1", "dai", "08:00", duration=30), visit("v2", "eira", "08:30", latest="10:00")],
                 **(MATRIX | kw))


def test_gap_equal_to_travel_is_accepted_and_travel_is_counted():
    """08:00-08:30 at Dai's, 20 minutes to Eira's, start 08:50: just enough."""
    p = _two_clients()
    report = assert_accepts(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "08:50")]))
    assert report.kpis["travel_minutes"] == 20
    assert report.breakdown["travel"] == 20


def test_gap_one_minute_short_of_travel_is_rejected():
    p = _two_clients()
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "08:49")]), "travel")
    assert "needs 20 min" in str(report.violations[0])


def test_overlapping_visits_are_rejected():
    """Even at the same client a carer cannot be in two visits at once."""
    p = build([carer("ann")], [client("dai")], [visit("v1", "dai", "08:00"), visit("v2", "dai", "08:15")])
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "08:15")]), "travel")
    assert "overlapping" in str(report.violations[0])


def test_travel_across_midnight_must_fit_but_is_not_counted():
    """Cerys (a volunteer, so no rest rule) ends at Dai's 23:50 and starts at Eira's 00:05:
    15 minutes for a 20-minute trip is infeasible. At 00:10 it fits, and the overnight trip
    is not counted as travel (it is not within one calendar day)."""
    p = build([volunteer("cerys")], [client("dai"), client("eira")],
              [visit("v1", "dai", "23:20", volunteer_ok=True), visit("v2", "eira", (1, "00:00"),
                                                                    latest=(1, "01:00"), volunteer_ok=True)],
              **MATRIX)
    assert_rejects(p, rota(p, [("v1", ["cerys"], "23:20"), ("v2", ["cerys"], (1, "00:05"))]), "travel")
    report = assert_accepts(p, rota(p, [("v1", ["cerys"], "23:20"), ("v2", ["cerys"], (1, "00:10"))]))
    assert report.kpis["travel_minutes"] == 0


def test_travel_uses_the_carers_own_speed():
    """Cerys walks at 5 km/h: 2 km x 1.3 road factor = 32 minutes on foot (6 by car)."""
    p = build([carer("ann"), volunteer("cerys", speed_kmh=5)],
              [client("dai"), client("eira", location=km_east(2))],
              [visit("v1", "dai", "08:00", volunteer_ok=True),
               visit("v2", "eira", "08:30", latest="09:30", volunteer_ok=True)])
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "08:36")]))
    assert_rejects(p, rota(p, [("v1", ["cerys"], "08:00"), ("v2", ["cerys"], "08:36")]), "travel")
    report = assert_accepts(p, rota(p, [("v1", ["cerys"], "08:00"), ("v2", ["cerys"], "09:02")]))
    assert report.kpis["travel_minutes"] == 32


def test_solver_leaves_room_for_travel_between_visits():
    """Ann alone does both visits; the second must start at 08:50 or later."""
    p = _two_clients()
    r, report = assert_valid_solve(p, time_limit=5)
    assert starts(r)["v2"] >= minute(p, "08:50")
    assert report.kpis["travel_minutes"] == 20


def test_solver_never_overlaps_visits_across_midnight():
    """Cerys (a volunteer: no rest rule to keep days apart) is the only carer. Monday's visit
    runs 23:40-00:10 at Dai's; Tuesday's fixed 00:00 visit at Eira's cannot also be hers:
    rule 5 holds between consecutive visits of her timeline even when they fall on two days."""
    p = build([volunteer("cerys")], [client("dai"), client("eira", location=km_east(3))],
              [visit("v1", "dai", "23:40", volunteer_ok=True),
               visit("v2", "eira", (1, "00:00"), volunteer_ok=True)], days=2)
    r, _ = assert_valid_solve(p, time_limit=5)
    assert len(r.assignments) == 1 and len(r.unassigned) == 1
