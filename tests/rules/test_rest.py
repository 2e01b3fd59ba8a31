"""Spec rule 6 (rest): a STAFF carer working two consecutive calendar days starts the later
day at least min_rest_minutes (default 11 h) after the last END of the earlier day."""

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


def _late_early(who=None, **kw):
    return build([who or carer("ann")], [client("dai")],
                 [visit("eve", "dai", "20:00", duration=60, volunteer_ok=True),
                  visit("morn", "dai", (1, "06:00"), latest=(1, "10:00"), volunteer_ok=True),
                  visit("wed", "dai", (2, "07:00"), volunteer_ok=True)], **kw)


def test_eleven_hours_after_the_last_end_is_accepted():
    """Monday ends 21:00 (20:00 + 60 minutes); Tuesday 08:00 is exactly 11 h later."""
    p = _late_early()
    assert_accepts(p, rota(p, [("eve", ["ann"], "20:00"), ("morn", ["ann"], (1, "08:00"))], ["wed"]))


def test_rest_measured_from_the_end_not_the_start_of_the_last_visit():
    """Tuesday 07:59 is 11 h after Monday's 20:00 START but 1 minute short after its END."""
    p = _late_early()
    report = assert_rejects(p, rota(p, [("eve", ["ann"], "20:00"), ("morn", ["ann"], (1, "07:59"))], ["wed"]),
                            "rest")
    assert "10h59" in str(report.violations[0])


def test_volunteers_are_exempt_from_the_rest_rule():
    """The Working Time Regulations rest rule in the spec is for staff only."""
    p = _late_early(volunteer("cerys"))
    assert_accepts(p, rota(p, [("eve", ["cerys"], "20:00"), ("morn", ["cerys"], (1, "06:00"))], ["wed"]))


def test_only_consecutive_days_are_compared():
    """Monday 21:00 to Wednesday 07:00 skips a day with no visits: the rule compares
    consecutive calendar days only, so nothing applies (even with a 48 h minimum)."""
    p = _late_early(rules={"min_rest_minutes": 2880})
    assert_accepts(p, rota(p, [("eve", ["ann"], "20:00"), ("wed", ["ann"], (2, "07:00"))], ["morn"]))


def test_custom_min_rest_is_used():
    """With min_rest_minutes 600 (10 h), Tuesday 07:00 after Monday 21:00 is fine."""
    p = _late_early(rules={"min_rest_minutes": 600})
    assert_accepts(p, rota(p, [("eve", ["ann"], "20:00"), ("morn", ["ann"], (1, "07:00"))], ["wed"]))
    assert_rejects(p, rota(p, [("eve", ["ann"], "20:00"), ("morn", ["ann"], (1, "06:59"))], ["wed"]), "rest")


def test_solver_delays_next_morning_for_staff_rest():
    """Ann alone; Monday's visit ends 21:30, so Tuesday's visit (window 06:00-10:00) must
    start at 08:30 or later."""
    p = build([carer("ann")], [client("dai")],
              [visit("eve", "dai", "20:30", duration=60),
               visit("morn", "dai", (1, "06:00"), latest=(1, "10:00"))])
    r, _ = assert_valid_solve(p, time_limit=5)
    assert not r.unassigned
    assert starts(r)["morn"] >= minute(p, (1, "08:30"))
