"""Hypothesis strategies for random VALID small problems (tests/test_solver_*.py).

Every problem drawn here loads without error (the loader's own validation is the judge),
and pins are only kept when a rota covering just the pinned visits is valid, so a
solver can always honour them (every other visit may be left unassigned).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from scheduler.checker import check
from scheduler.problem import Problem, problem_from_dict
from tests.rules.builders import BASE_LAT, BASE_LON, at, rota

SKILLS = ("personal_care", "hoist", "medication")
MORNING = [f"{h:02d}:{m:02d}" for h in range(7, 12) for m in range(0, 60, 15)]
EVENING = [f"{h:02d}:{m:02d}" for h in range(20, 24) for m in range(0, 60, 15)]
AFTER_MIDNIGHT = ["00:00", "00:10", "00:30", "01:00"]  # meets the evening before across midnight


def _place(draw) -> dict[str, float]:
    """Within about 3 km of the base: travel from 0 to a few minutes (minutes matter)."""
    return {"lat": BASE_LAT + draw(st.integers(0, 25)) / 1000,
            "lon": BASE_LON + draw(st.integers(0, 40)) / 1000}


@st.composite
def problems(draw, *, max_carers: int = 3, max_clients: int = 3, max_visits: int = 5, max_days: int = 2,
             tiny: bool = False) -> Problem:
    """A random valid problem. ``tiny``: windows of at most 3 minutes, lateness of at most 2,
    no window crossing midnight, so that an exhaustive search stays small."""
    days = draw(st.integers(1, max_days))
    carer_ids = [f"c{i}" for i in range(draw(st.integers(1, max_carers)))]
    carers: list[dict[str, Any]] = []
    for cid in carer_ids:
        kind = draw(st.sampled_from(["staff", "staff", "volunteer"]))
        avail = []
        if draw(st.booleans()):
            avail = [{"start": at("00:00"), "end": at((days, "00:00"))}]
        else:
            for d in range(days):
                begin = draw(st.sampled_from([6, 7, 8, 10, 19]))
                length = draw(st.sampled_from([3, 5, 8, 16]))
                end_h = min(begin + length, 24)
                avail.append({"start": at((d, f"{begin:02d}:00")),
                              "end": at((d + 1, "00:00")) if end_h == 24 else at((d, f"{end_h:02d}:00"))})
        c: dict[str, Any] = {
            "id": cid, "name": cid.upper(), "kind": kind,
            "skills": sorted(draw(st.sets(st.sampled_from(SKILLS), max_size=3))),
            "location": _place(draw), "availability": avail,
            "gender": draw(st.sampled_from([None, "female", "male"])),
            "max_minutes_per_day": draw(st.sampled_from([60, 120, 720])),
            "max_minutes_per_week": draw(st.sampled_from([120, 2880])),
        }
        if c["gender"] is None:
            del c["gender"]
        if kind == "volunteer" and draw(st.booleans()):
            c["speed_kmh"] = 5
        if kind == "staff":
            contracted = draw(st.sampled_from([None, 60, 240]))
            if contracted is not None:
                c["contracted_minutes"] = contracted
            c["hourly_cost"] = draw(st.sampled_from([0, 10.5, 13]))
        carers.append(c)

    client_ids = [f"p{i}" for i in range(draw(st.integers(1, max_clients)))]
    clients: list[dict[str, Any]] = []
    for pid in client_ids:
        excluded = sorted(draw(st.sets(st.sampled_from(carer_ids), max_size=1)))
        preferred = sorted(draw(st.sets(st.sampled_from(carer_ids), max_size=2)) - set(excluded))
        cl: dict[str, Any] = {"id": pid, "name": pid.upper(), "location": _place(draw),
                              "excluded_carers": excluded, "preferred_carers": preferred}
        if draw(st.integers(0, 3)) == 0:
            cl["gender_preference"] = "female"
        known = draw(st.sets(st.sampled_from(carer_ids), max_size=2))
        if known:
            cl["history"] = {k: draw(st.sampled_from([60, 300])) for k in sorted(known)}
        clients.append(cl)

    visits: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, max_visits))):
        day = draw(st.integers(0, days - 1))
        start = draw(st.sampled_from(MORNING + MORNING + EVENING + (AFTER_MIDNIGHT if day else [])))
        h, m = (int(x) for x in start.split(":"))
        t0 = day * 1440 + h * 60 + m
        if tiny:
            width = draw(st.integers(0, 3))
            late = draw(st.sampled_from([0, 0, 2]))
            duration = draw(st.sampled_from([15, 20, 30]))
            # keep the window (lateness included) inside the day
            width = min(width, (day + 1) * 1440 - 1 - late - t0)
        else:
            width = draw(st.sampled_from([0, 0, 15, 60, 180]))
            late = draw(st.sampled_from([0, 0, 10, 30]))
            duration = draw(st.sampled_from([15, 30, 45, 60]))
            width = min(width, days * 1440 - 1 - t0)
        n_roles = draw(st.sampled_from([1, 1, 1, 2]))
        roles = []
        for _ in range(n_roles):
            r: dict[str, Any] = {"skills": sorted(draw(st.sets(st.sampled_from(SKILLS), max_size=1)))}
            if n_roles == 2 and draw(st.booleans()):
                r["duration_minutes"] = draw(st.sampled_from([10, 15]))
            roles.append(r)
        v: dict[str, Any] = {
            "id": f"v{i}", "client": draw(st.sampled_from(client_ids)),
            "earliest_start": at((0, "00:00")), "latest_start": at((0, "00:00")),
            "duration_minutes": duration, "roles": roles,
            "volunteer_ok": draw(st.booleans()),
            "priority": draw(st.sampled_from(["essential", "important", "optional"])),
            "max_lateness_minutes": late,
        }
        v["earliest_start"] = _iso(t0)
        v["latest_start"] = _iso(t0 + width)
        visits.append(v)

    dependencies = []
    if len(visits) >= 2 and draw(st.integers(0, 2)) == 0:
        a, b = draw(st.permutations(range(len(visits))))[:2]
        lo = draw(st.sampled_from([0, 30, 60, 120]))
        dependencies.append({"first": f"v{a}", "then": f"v{b}", "min_gap_minutes": lo,
                             "max_gap_minutes": lo + draw(st.sampled_from([0, 30, 240]))})

    raw: dict[str, Any] = {
        "format": "carerota.problem/1", "name": "random",
        "horizon": {"start": at("00:00"), "end": at((days, "00:00"))},
        "travel": {"speed_kmh": 30, "road_factor": 1.3, "minimum_minutes": draw(st.sampled_from([0, 2]))},
        "rules": {"min_rest_minutes": draw(st.sampled_from([660, 600])),
                  "count_travel_as_work": draw(st.booleans()), "home_travel": draw(st.booleans())},
        "weights": draw(st.sampled_from([{}, {"cost": 1}, {"cost": 1, "max_lateness": 3, "lateness": 2},
                                         {"distinct_carers": 0, "travel": 2}])),
        "carers": carers, "clients": clients, "visits": visits, "dependencies": dependencies,
    }
    problem = problem_from_dict(raw)
    if draw(st.integers(0, 3)) == 0:
        problem = _with_pin(draw, raw, problem)
    return problem


def _iso(minute: int) -> str:
    return at((minute // 1440, f"{minute % 1440 // 60:02d}:{minute % 60:02d}"))


def _with_pin(draw, raw: dict[str, Any], problem: Problem) -> Problem:
    """Pin one visit to a lawful choice of carers (and maybe its start), when one exists."""
    vi = draw(st.integers(0, len(problem.visits) - 1))
    visit = problem.visits[vi]
    order = draw(st.permutations([c.id for c in problem.carers]))
    if len(order) < len(visit.roles):
        return problem
    carers = order[:len(visit.roles)]
    start = draw(st.integers(visit.earliest_start, visit.last_start))
    pin: dict[str, Any] = {"visit": visit.id, "carers": list(carers)}
    if draw(st.booleans()):
        pin["start"] = problem.iso(start)
    try:
        pinned = problem_from_dict({**raw, "pinned": [pin]})
    except ValueError:
        return problem  # the loader refuses it (skills, volunteer): keep the unpinned problem
    others = [v.id for v in problem.visits if v.id != visit.id]
    report = check(pinned, rota(pinned, [(visit.id, carers, _iso(start))], others))
    return pinned if report.ok else problem
