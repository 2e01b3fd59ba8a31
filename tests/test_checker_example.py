"""The spec's own example: the checker must agree with the contract's published numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scheduler.checker import check
from scheduler.problem import load_problem
from scheduler.rota import rota_from_dict

# copies of ../shared/spec/example-*.json, so the tests run from any checkout
SPEC = Path(__file__).resolve().parent / "data" / "spec"


@pytest.fixture
def example():
    problem = load_problem(SPEC / "example-problem.json")
    raw = json.loads((SPEC / "example-rota.json").read_text(encoding="utf-8"))
    return problem, raw


def test_spec_example_rota_is_valid_with_objective_314_15(example):
    """The spec says the example rota is valid with objective 314.15; a checker that
    disagrees has misread the contract."""
    problem, raw = example
    report = check(problem, rota_from_dict(raw, problem))
    assert report.ok, [str(v) for v in report.violations]
    assert report.objective == pytest.approx(314.15, abs=1e-9)


def test_spec_example_breakdown_matches_each_published_term(example):
    """Each term the spec lists (travel 3, distinct 60, non-preferred 10, unfamiliar 10,
    shortfall 192, cost 39.15) must come out exactly, and every other term is zero."""
    problem, raw = example
    breakdown = check(problem, rota_from_dict(raw, problem)).breakdown
    expected = {"travel": 3, "distinct_carers": 60, "non_preferred": 10, "unfamiliar": 10,
                "contract_shortfall": 192, "cost": 39.15}
    for key, value in breakdown.items():
        assert value == pytest.approx(expected.get(key, 0.0), abs=1e-9), key


def test_spec_example_kpis_follow_the_spec_definitions(example):
    """KPIs: 5 visits all covered, 3 travel minutes, 2 distinct carers per client on average
    (Dai: Ann+Bryn, Eira: Ann+Cerys), Ann 192 minutes short of her 300."""
    problem, raw = example
    kpis = check(problem, rota_from_dict(raw, problem)).kpis
    assert (kpis["visits"], kpis["covered"], kpis["travel_minutes"], kpis["lateness_minutes"]) == (5, 5, 3, 0)
    assert kpis["distinct_carers_per_client"] == pytest.approx(2.0)
    assert kpis["contract_shortfall_minutes"] == 192


def test_spec_example_with_wrong_claimed_objective_is_rejected(example):
    """Rule 8: a rota claiming an objective its assignments do not give is invalid."""
    problem, raw = example
    raw["objective"] = 314.0
    report = check(problem, rota_from_dict(raw, problem))
    assert report.rules_broken == {"objective"}


def test_spec_example_with_male_carer_for_eira_is_rejected(example):
    """Eira asks for female carers: moving her morning visit to Bryn breaks gender (and the
    claimed objective no longer matches, since Bryn now works longer)."""
    problem, raw = example
    raw["assignments"][1]["carers"] = ["bryn"]
    report = check(problem, rota_from_dict(raw, problem))
    assert "gender" in report.rules_broken
    msg = next(str(v) for v in report.violations if v.rule == "gender")
    assert "Bryn Evans" in msg and "Mon 30 Nov 08:20" in msg
