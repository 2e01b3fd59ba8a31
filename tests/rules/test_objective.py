"""Spec rule 8 and the weights table: every objective term computed from the rota alone,
and a rota's claimed objective / KPIs must equal the recomputed ones."""

from __future__ import annotations

import pytest

from scheduler.checker import check, objective_breakdown
from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    build,
    carer,
    carers_of,
    client,
    role,
    rota,
    visit,
    volunteer,
)


def test_unassigned_visits_cost_their_priority_weight():
    """One uncovered visit of each priority: 1 000 000 + 10 000 + 100."""
    p = build([carer("ann")], [client("dai")],
              [visit("e", "dai", priority="essential"), visit("i", "dai", "10:00", priority="important"),
               visit("o", "dai", "12:00", priority="optional")])
    report = assert_accepts(p, rota(p, [], ["e", "i", "o"]))
    assert (report.breakdown["unassigned_essential"], report.breakdown["unassigned_important"],
            report.breakdown["unassigned_optional"]) == (1_000_000, 10_000, 100)
    assert report.objective == 1_010_100
    assert (report.kpis["visits"], report.kpis["covered"]) == (3, 0)


def test_distinct_carers_count_each_carer_beyond_the_first_per_client():
    """Dai sees Ann, Bryn, Ann (2 people: 1 beyond the first = 30); Eira sees Ann only."""
    p = build([carer("ann"), carer("bryn")], [client("dai"), client("eira")],
              [visit("d1", "dai", "08:00"), visit("d2", "dai", "10:00"), visit("d3", "dai", "12:00"),
               visit("e1", "eira", "14:00")])
    r = rota(p, [("d1", ["ann"], "08:00"), ("d2", ["bryn"], "10:00"), ("d3", ["ann"], "12:00"),
                 ("e1", ["ann"], "14:00")])
    report = assert_accepts(p, r)
    assert report.breakdown["distinct_carers"] == 30
    assert report.kpis["distinct_carers_per_client"] == pytest.approx(1.5)


def test_non_preferred_counts_carer_visits_only_for_clients_with_preferences():
    """Dai prefers Ann: a double-up Ann+Bryn has one non-preferred carer-visit (5). Eira has
    no preference, so nobody is non-preferred there."""
    p = build([carer("ann"), carer("bryn")], [client("dai", preferred_carers=["ann"]), client("eira")],
              [visit("d1", "dai", roles=[role(), role()]), visit("e1", "eira", "12:00")],
              weights={"distinct_carers": 0})
    report = assert_accepts(p, rota(p, [("d1", ["ann", "bryn"], "08:00"), ("e1", ["bryn"], "12:00")]))
    assert report.breakdown["non_preferred"] == 5


def test_unfamiliar_counts_only_where_the_client_has_some_history():
    """Dai knows Ann (600 minutes): Bryn on Dai's visit is unfamiliar (5). Eira's history
    lists Ann with 0 minutes, which is no history at all: nobody is unfamiliar there."""
    p = build([carer("ann"), carer("bryn")],
              [client("dai", history={"ann": 600}), client("eira", history={"ann": 0})],
              [visit("d1", "dai"), visit("d2", "dai", "12:00"), visit("e1", "eira", "10:00")])
    report = assert_accepts(p, rota(p, [("d1", ["ann"], "08:00"), ("d2", ["bryn"], "12:00"),
                                        ("e1", ["bryn"], "10:00")]))
    assert report.breakdown["unfamiliar"] == 5


def test_contract_shortfall_counts_idle_staff_and_ignores_volunteers():
    """Ann (contract 100) works 30 -> 70 short; Bryn (contract 60) works nothing -> 60 short."""
    p = build([carer("ann", contracted_minutes=100), carer("bryn", contracted_minutes=60),
               volunteer("cerys")], [client("dai")], [visit("d1", "dai"), visit("d2", "dai", "12:00",
                                                                                 volunteer_ok=True)])
    report = assert_accepts(p, rota(p, [("d1", ["ann"], "08:00"), ("d2", ["cerys"], "12:00")]))
    assert report.breakdown["contract_shortfall"] == 130
    assert report.kpis["contract_shortfall_minutes"] == 130


def test_cost_uses_working_minutes_including_same_day_travel():
    """Ann at 12/hour: 2 x 30 visit minutes + 15 travel = 75 minutes = 15.0 (12.0 when
    travel is not work). Weighted by the 'cost' weight (2 here)."""
    def prob(count_travel: bool):
        return build([carer("ann", hourly_cost=12.0)], [client("dai"), client("eira")],
                     [visit("d1", "dai", "08:00"), visit("e1", "eira", "09:00")],
                     travel={"matrix": {"dai": {"eira": 15}}}, weights={"cost": 2},
                     rules={"count_travel_as_work": count_travel})
    r = [("d1", ["ann"], "08:00"), ("e1", ["ann"], "09:00")]
    p = prob(True)
    assert objective_breakdown(p, rota(p, r))["cost"] == pytest.approx(30.0)
    q = prob(False)
    assert objective_breakdown(q, rota(q, r))["cost"] == pytest.approx(24.0)


def test_claimed_objective_within_a_millionth_is_accepted_beyond_is_rejected():
    """The spec: objectives are equal when they differ by less than 1e-6 of the larger."""
    p = build([carer("ann")], [client("dai")], [visit("v1", "dai"), visit("v2", "dai", "12:00")])
    true = 1_000_000.0  # v2 (essential) is unassigned; nothing else costs anything
    assert check(p, rota(p, [("v1", ["ann"], "08:00")], ["v2"])).objective == true
    assert check(p, rota(p, [("v1", ["ann"], "08:00")], ["v2"], objective=true + 0.5)).ok
    assert check(p, rota(p, [("v1", ["ann"], "08:00")], ["v2"], objective=true + 2)).rules_broken == {
        "objective"}


def test_wrong_claimed_kpi_is_rejected():
    p = build([carer("ann")], [client("dai")], [visit("v1", "dai")])
    r = rota(p, [("v1", ["ann"], "08:00")], kpis={"covered": 1, "visits": 1, "travel_minutes": 3,
                                                   "my_own_kpi": 42})
    report = check(p, r)
    assert report.rules_broken == {"kpis"}
    assert "travel_minutes" in str(report.violations[0])


def test_solver_prefers_the_preferred_familiar_carer():
    """Ann and Bryn are identical except that Dai prefers and knows Bryn: choosing Ann would
    cost 5 (non-preferred) + 5 (unfamiliar) for nothing."""
    p = build([carer("ann"), carer("bryn")],
              [client("dai", preferred_carers=["bryn"], history={"bryn": 300})],
              [visit("d1", "dai", "08:00", latest="09:00")])
    r, report = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"d1": ("bryn",)}
    assert report.objective == 0


def test_solver_treats_zero_minute_history_as_no_history():
    """Dai's history lists Ann with 0 minutes: nobody has spent time with Dai, so nobody is
    'unfamiliar' (the term is for a client who has some history). Bryn is cheaper, so the
    best rota sends Bryn at objective 0 + cost; the solver's claim must match the checker."""
    p = build([carer("ann", hourly_cost=20.0), carer("bryn", hourly_cost=10.0)],
              [client("dai", history={"ann": 0})], [visit("d1", "dai", "08:00")], weights={"cost": 1})
    r, report = assert_valid_solve(p, time_limit=5)
    assert carers_of(r) == {"d1": ("bryn",)}
    assert report.breakdown["unfamiliar"] == 0
