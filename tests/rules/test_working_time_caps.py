"""Spec rule 6 (caps): working minutes (visit minutes + same-day travel when
count_travel_as_work + home trips when home_travel) within the daily and weekly caps; a
visit and the travel before it belong to the day the visit starts."""

from __future__ import annotations

from collections import Counter

from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    client,
    rota,
    visit,
    volunteer,
)

MATRIX = {"matrix": {"dai": {"eira": 10}, "eira": {"dai": 10}}}


def _day(count_travel: bool = True, cap: int = 60):
    return build([carer("ann", max_minutes_per_day=cap)], [client("dai"), client("eira")],
                 [visit("v1", "dai", "08:00"), visit("v2", "eira", "09:00")],
                 travel=MATRIX, rules={"count_travel_as_work": count_travel})


def test_day_within_cap_is_accepted():
    p = _day(cap=70)
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "09:00")]))


def test_travel_counted_as_work_pushes_day_over_cap():
    """60 visit minutes + 10 travel minutes = 70 > 60 (UK minimum-wage rules count travel)."""
    p = _day()
    report = assert_rejects(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "09:00")]), "daily_caps")
    assert "1h10" in str(report.violations[0]) and "Mon 30 Nov" in str(report.violations[0])


def test_travel_not_counted_when_rule_is_off():
    """With count_travel_as_work false the same day is exactly 60 minutes: allowed."""
    p = _day(count_travel=False)
    assert_accepts(p, rota(p, [("v1", ["ann"], "08:00"), ("v2", ["ann"], "09:00")]))


def test_visit_crossing_midnight_counts_wholly_on_the_day_it_starts():
    """Cerys (40/day) does 23:50-00:20 and Tuesday 10:00-10:30: Monday 30, Tuesday 30. Were
    the late visit split at midnight, Tuesday would be 50. Two Monday visits make 60 > 40."""
    p = build([volunteer("cerys", max_minutes_per_day=40)], [client("dai")],
              [visit("v1", "dai", "23:50", volunteer_ok=True),
               visit("v2", "dai", (1, "10:00"), volunteer_ok=True),
               visit("v3", "dai", "22:00", volunteer_ok=True)])
    assert_accepts(p, rota(p, [("v1", ["cerys"], "23:50"), ("v2", ["cerys"], (1, "10:00"))], ["v3"]))
    assert_rejects(p, rota(p, [("v1", ["cerys"], "23:50"), ("v3", ["cerys"], "22:00")], ["v2"]), "daily_caps")


def test_weekly_cap_counts_all_days():
    """Four 30-minute days are 120 minutes, over a 90-minute week; three are fine."""
    p = build([carer("ann", max_minutes_per_week=90)], [client("dai")],
              [visit(f"v{d}", "dai", (d, "08:00")) for d in range(4)])
    assert_accepts(p, rota(p, [(f"v{d}", ["ann"], (d, "08:00")) for d in range(3)], ["v3"]))
    report = assert_rejects(p, rota(p, [(f"v{d}", ["ann"], (d, "08:00")) for d in range(4)]), "weekly_caps")
    assert "2h00" in str(report.violations[0])


def test_solver_splits_a_day_that_would_break_the_daily_cap():
    """Three 30-minute visits to one client; each carer may work 60 minutes a day. Continuity
    would favour one carer, the cap forces two."""
    p = build([carer("ann", max_minutes_per_day=60), carer("bryn", max_minutes_per_day=60)],
              [client("dai")], [visit(f"v{i}", "dai", f"{8 + i:02d}:00") for i in range(3)])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert not r.unassigned
    per_carer = Counter(c for a in r.assignments for c in a.carers)
    assert sorted(per_carer.values()) == [1, 2]


def test_solver_respects_weekly_cap_across_days():
    """Ann may work 60 minutes in the week; a visit each day for three days needs Bryn too."""
    p = build([carer("ann", max_minutes_per_week=60), carer("bryn", hourly_cost=20.0)], [client("dai")],
              [visit(f"v{d}", "dai", (d, "08:00")) for d in range(3)], weights={"cost": 1})
    r, _ = assert_valid_solve(p, time_limit=5)
    per_carer = Counter(c for a in r.assignments for c in a.carers)
    assert per_carer["ann"] <= 2 and sum(per_carer.values()) == 3
