"""Spec rules.home_travel: when true, the trip from the carer's home to the first visit of
a day and back from the last is travelled: it must fit the availability interval, it counts
as travel in the objective, and it counts as work."""

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
    volunteer,
)

MATRIX = {"matrix": {"ann": {"dai": 10}, "dai": {"ann": 10, "eira": 5}, "eira": {"dai": 5, "ann": 10}}}


def _morning(home: bool = True, **carer_fields):
    return build([carer("ann", availability=[("08:00", "12:00")], **carer_fields)],
                 [client("dai"), client("eira")],
                 [visit("v1", "dai", "08:00", latest="11:30"), visit("v2", "eira", "08:00", latest="11:30")],
                 travel=MATRIX, rules={"home_travel": home})


def test_first_visit_leaves_room_for_the_trip_from_home():
    """Ann's shift starts 08:00 and Dai is 10 minutes from home: 08:10 is the earliest start."""
    p = _morning()
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:10")], ["v2"]))
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "08:09")], ["v2"]), "availability")
    assert "from home" in str(report.violations[0])


def test_last_visit_leaves_room_for_the_trip_home():
    """The shift ends 12:00; a 30-minute visit at Dai's must end by 11:50."""
    p = _morning()
    assert_accepts(p, rota(p, [("v1", ["ann"], "11:20")], ["v2"]))
    assert_rejects(p, rota(p, [("v1", ["ann"], "11:21")], ["v2"]), "availability")


def test_without_home_travel_the_shift_edges_are_usable():
    p = _morning(home=False)
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00")], ["v2"]))
    assert_accepts(p, rota(p, [("v1", ["ann"], "11:30")], ["v2"]))


def test_home_trips_count_as_travel_in_the_objective():
    """Home->Dai 10, Dai->Eira 5, Eira->home 10: 25 travel minutes (5 without home travel)."""
    assignments = [("v1", ["ann"], "08:10"), ("v2", ["ann"], "08:45")]
    p = _morning()
    assert assert_accepts(p, rota(p, assignments)).kpis["travel_minutes"] == 25
    q = _morning(home=False)
    assert assert_accepts(q, rota(q, assignments)).kpis["travel_minutes"] == 5


def test_home_trips_count_as_work_for_caps_and_cost():
    """60 visit minutes + 25 travel = 85 working minutes: a 84-minute day cap is broken, and
    the cost at 12/hour is 17.0."""
    assignments = [("v1", ["ann"], "08:10"), ("v2", ["ann"], "08:45")]
    p = build([carer("ann", availability=[("08:00", "12:00")], max_minutes_per_day=84, hourly_cost=12.0)],
              [client("dai"), client("eira")],
              [visit("v1", "dai", "08:00", latest="11:30"), visit("v2", "eira", "08:00", latest="11:30")],
              travel=MATRIX, rules={"home_travel": True}, weights={"cost": 1})
    report = assert_rejects(p, rota(p, assignments), "daily_caps")
    assert report.breakdown["cost"] == 17.0


def test_overnight_gap_must_allow_going_home_and_back():
    """Cerys (volunteer, no rest rule) ends at Dai's 23:50 Monday and starts at Eira's
    Tuesday. With home travel she goes home in between (10 + 10 minutes), although Dai to
    Eira direct is 5: 00:05 is too soon, 00:10 is fine."""
    p = build([volunteer("cerys")], [client("dai"), client("eira")],
              [visit("v1", "dai", "23:20", volunteer_ok=True),
               visit("v2", "eira", (1, "00:00"), latest=(1, "01:00"), volunteer_ok=True)],
              travel={"matrix": {"cerys": {"dai": 10, "eira": 10}, "dai": {"cerys": 10, "eira": 5},
                                 "eira": {"cerys": 10, "dai": 5}}},
              rules={"home_travel": True})
    assert_rejects(p, rota(p, [("v1", ["cerys"], "23:20"), ("v2", ["cerys"], (1, "00:05"))]), "travel")
    report = assert_accepts(p, rota(p, [("v1", ["cerys"], "23:20"), ("v2", ["cerys"], (1, "00:10"))]))
    assert report.kpis["travel_minutes"] == 40  # two round trips from home, one per day


def test_solver_leaves_room_for_the_trip_from_home():
    """With home travel Ann cannot start Dai's visit before 08:15 (15 minutes from home)."""
    p = build([carer("ann", availability=[("08:00", "12:00")])], [client("dai")],
              [visit("v1", "dai", "08:00", latest="09:00")],
              travel={"matrix": {"ann": {"dai": 15}, "dai": {"ann": 15}}}, rules={"home_travel": True})
    r, report = assert_valid_solve(p, time_limit=5)
    assert starts(r)["v1"] >= minute(p, "08:15")
    assert report.kpis["travel_minutes"] == 30
