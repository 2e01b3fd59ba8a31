"""Spec rule 2: a start lies in [earliest_start, latest_start + max_lateness_minutes];
each late minute is penalised once per carer on the visit."""

from __future__ import annotations

import pytest

from scheduler.checker import check
from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    assert_rejects,
    build,
    carer,
    client,
    minute,
    role,
    rota,
    starts,
    visit,
)


def _windowed(**kw):
    return build([carer("ann"), carer("bryn")], [client("dai")],
                 [visit("v1", "dai", "08:00", latest="09:00", max_lateness_minutes=15,
                        roles=[role(), role()])], **kw)


def test_start_inside_the_window_is_accepted_and_not_late():
    p = _windowed()
    report = assert_accepts(p, rota(p, [("v1", ["ann", "bryn"], "08:37")]))
    assert report.breakdown["lateness"] == 0


def test_start_before_earliest_is_rejected():
    """Arriving before the window (the client is not up yet) is not allowed."""
    p = _windowed()
    report = assert_rejects(p, rota(p, [("v1", ["ann", "bryn"], "07:59")]), "start_windows")
    assert "Mon 30 Nov 07:59" in str(report.violations[0])


def test_start_beyond_allowed_lateness_is_rejected():
    """09:16 is one minute past latest_start + 15."""
    p = _windowed()
    assert_rejects(p, rota(p, [("v1", ["ann", "bryn"], "09:16")]), "start_windows")


def test_late_double_up_is_penalised_per_carer_per_minute():
    """Five minutes late with two carers is 10 carer-minutes x weight 10 = 100; max_lateness
    counts the visit's lateness once (5 x its weight)."""
    p = _windowed(weights={"max_lateness": 7})
    report = assert_accepts(p, rota(p, [("v1", ["ann", "bryn"], "09:05")]))
    assert report.breakdown["lateness"] == 100
    assert report.breakdown["max_lateness"] == 35
    assert report.kpis["lateness_minutes"] == 10


def test_claimed_lateness_kpi_must_match():
    """Claiming 5 late minutes for a late double-up (it is 10 carer-minutes) is wrong."""
    p = _windowed()
    r = rota(p, [("v1", ["ann", "bryn"], "09:05")], kpis={"lateness_minutes": 5})
    assert check(p, r).rules_broken == {"kpis"}


def test_solver_is_late_only_as_much_as_travel_forces():
    """Ann is the only carer. v1 ends 09:00 at Dai's; v2 at Eira's (20 minutes away) should
    start by 09:00 but may be up to 30 minutes late. Best is 09:20: 20 late minutes."""
    p = build([carer("ann")], [client("dai"), client("eira")],
              [visit("v1", "dai", "08:00", duration=60),
               visit("v2", "eira", "08:30", latest="09:00", max_lateness_minutes=30)],
              travel={"matrix": {"dai": {"eira": 20}, "eira": {"dai": 20}}})
    r, report = assert_valid_solve(p, time_limit=5)
    assert starts(r)["v2"] == minute(p, "09:20")
    assert report.kpis["lateness_minutes"] == 20
    assert report.breakdown["lateness"] == pytest.approx(200)
