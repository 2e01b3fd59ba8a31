"""The sample week generator: valid, deterministic, sized and shaped like a real co-op week."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest

from scheduler.example import generate_problem
from scheduler.problem import Problem, problem_from_dict


@pytest.fixture(scope="module")
def week40() -> Problem:
    return problem_from_dict(generate_problem(clients=40, seed=1))


def test_generated_weeks_load_without_errors_for_many_sizes_and_seeds() -> None:
    """Every generated file is a valid v1 problem (the loader raises on any fault)."""
    for clients in (1, 3, 5, 12, 40):
        for seed in (1, 2, 7):
            p = problem_from_dict(generate_problem(clients=clients, seed=seed))
            assert len(p.clients) == clients


def test_the_same_seed_gives_the_same_week_and_another_seed_another() -> None:
    """Benchmarks and tests rely on a seed reproducing the file exactly."""
    assert generate_problem(30, 4) == generate_problem(30, 4)
    assert generate_problem(30, 4) != generate_problem(30, 5)


def test_about_17_to_18_visits_per_client(week40: Problem) -> None:
    """Sizing the benchmarks rely on: 40 clients give about 700 visits."""
    assert 640 <= len(week40.visits) <= 760


def test_week_start_moves_to_the_next_monday() -> None:
    """A week starts on a Monday; another date moves forward to the next Monday."""
    p = problem_from_dict(generate_problem(5, 1, week_start=date(2027, 3, 3)))  # a Wednesday
    assert p.horizon_start.date() == date(2027, 3, 8)
    assert p.horizon_minutes == 7 * 1440


def test_the_week_has_every_kind_of_care(week40: Problem) -> None:
    """Medication, double-ups with hoists, social calls for volunteers, dependencies, preferences."""
    calls = Counter(v.id.rsplit("-", 1)[1] for v in week40.visits)
    assert {"am", "lunch", "tea", "bed"} <= set(calls)
    assert any(len(v.roles) == 2 and all("hoist" in r.skills for r in v.roles) for v in week40.visits)
    assert any("medication" in r.skills for v in week40.visits for r in v.roles)
    social = [v for v in week40.visits if v.volunteer_ok]
    assert social and all(v.priority in ("optional", "important") for v in social)
    assert all(not v.volunteer_ok for v in week40.visits if any("personal_care" in r.skills for r in v.roles))
    assert week40.dependencies and all(d.min_gap_minutes == 240 for d in week40.dependencies)
    assert any(c.history for c in week40.clients)
    assert any(c.preferred_carers for c in week40.clients)
    assert any(v.max_lateness_minutes > 0 for v in week40.visits)
    assert not any(v.max_lateness_minutes > 0 for v in week40.visits
                   if any("medication" in r.skills for r in v.roles))


def test_staff_and_volunteers_are_shaped_as_the_co_op_expects(week40: Problem) -> None:
    """Staff: caps 600/2880, contracts for most, five days; volunteers: no contract, about 1 per 5 clients."""
    staff = [c for c in week40.carers if not c.is_volunteer]
    volunteers = [c for c in week40.carers if c.is_volunteer]
    assert len(volunteers) == 8
    assert all(c.max_minutes_per_day == 600 and c.max_minutes_per_week == 2880 for c in staff)
    assert all("personal_care" in c.skills for c in staff)
    assert sum(1 for c in staff if c.contracted_minutes) >= 0.7 * len(staff)
    assert all(c.contracted_minutes is None and c.cost_per_hour == 0 for c in volunteers)
    for c in staff:
        days = {week40.day_of(a.start) for a in c.availability}
        assert len(days) == 5
    assert any(c.speed_kmh == 5 for c in volunteers)


def test_clients_live_within_15_km_of_each_other() -> None:
    """Clustered in neighbourhoods and villages of one area, even for a large co-op."""
    from scheduler.problem import haversine_km

    p = problem_from_dict(generate_problem(150, 2))
    locs = [c.location for c in p.clients]
    assert max(haversine_km(a, b) for a in locs[:60] for b in locs[:60]) <= 15.0


def test_every_essential_visit_has_someone_who_could_do_it_on_the_day() -> None:
    """No essential visit is impossible by construction: someone skilled, allowed and on shift."""
    p = problem_from_dict(generate_problem(60, 3))
    for v in p.visits:
        if v.priority != "essential":
            continue
        client = p.client_by_id[v.client]
        for i, role in enumerate(v.roles):
            able = [c for c in p.carers if role.skills <= c.skills and not c.is_volunteer
                    and c.id not in client.excluded_carers
                    and (client.gender_preference is None or c.gender == client.gender_preference)
                    and any(max(a.start, v.earliest_start) <= v.last_start
                            and max(a.start, v.earliest_start) + v.role_duration(i) <= a.end
                            for a in c.availability)]
            assert len(able) >= len(v.roles), v.id
