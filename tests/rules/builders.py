"""Small hand-built problems and rotas for the rule-family tests.

Every builder returns plain v1 JSON dicts, so a test overrides any field by keyword and
the problem still goes through the real loader (``problem_from_dict``). The horizon is the
week of Mon 30 Nov 2026; times are written ``"08:00"`` (day 0) or ``(2, "08:00")``
(Wed 02 Dec). All places sit at one spot unless a test moves them, so travel is 0 unless
the test says otherwise (``km_east`` moves a place; ``matrix`` fixes travel minutes).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from scheduler.checker import CheckReport, check
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Rota, rota_from_dict

MONDAY = datetime(2026, 11, 30)
BASE_LAT, BASE_LON = 51.5842, -2.9977
Time = str | tuple[int, str]


def at(when: Time) -> str:
    """``"08:00"`` -> Monday 08:00; ``(1, "08:00")`` -> Tuesday 08:00, as ISO text (ISO passes)."""
    if isinstance(when, str) and "T" in when:
        return when  # already ISO
    day, hhmm = (0, when) if isinstance(when, str) else when
    h, m = (int(x) for x in hhmm.split(":"))
    return (MONDAY + timedelta(days=day, hours=h, minutes=m)).strftime("%Y-%m-%dT%H:%M")


def km_east(km: float) -> dict[str, float]:
    """A location ``km`` kilometres east of the base point (about 1.3 min/km by road at 30 km/h)."""
    from math import cos, radians
    return {"lat": BASE_LAT, "lon": BASE_LON + km / (111.32 * cos(radians(BASE_LAT)))}


def carer(cid: str, *, skills: list[str] | None = None, kind: str = "staff",
          availability: list[tuple[Time, Time]] | None = None, **fields: Any) -> dict[str, Any]:
    """A carer available the whole week (unless ``availability`` says otherwise)."""
    avail = availability if availability is not None else [("00:00", (7, "00:00"))]
    out: dict[str, Any] = {
        "id": cid, "name": cid.capitalize(), "kind": kind, "skills": skills or [],
        "location": {"lat": BASE_LAT, "lon": BASE_LON},
        "availability": [{"start": at(s), "end": at(e)} for s, e in avail],
    }
    out.update(fields)
    return out


def volunteer(cid: str, **fields: Any) -> dict[str, Any]:
    return carer(cid, kind="volunteer", **fields)


def client(cid: str, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": cid, "name": cid.capitalize(),
                           "location": {"lat": BASE_LAT, "lon": BASE_LON}}
    out.update(fields)
    return out


def visit(vid: str, client_id: str, start: Time = "08:00", *, latest: Time | None = None,
          duration: int = 30, roles: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    """A visit at ``start`` (fixed unless ``latest`` widens the window), one role, no skills."""
    out: dict[str, Any] = {
        "id": vid, "client": client_id, "earliest_start": at(start),
        "latest_start": at(latest if latest is not None else start), "duration_minutes": duration,
    }
    if roles is not None:
        out["roles"] = roles
    out.update(fields)
    return out


def role(*skills: str, duration: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"skills": list(skills)}
    if duration is not None:
        out["duration_minutes"] = duration
    return out


def problem_dict(carers: list[dict[str, Any]], clients: list[dict[str, Any]], visits: list[dict[str, Any]],
                 *, days: int = 7, weights: dict[str, float] | None = None, **top: Any) -> dict[str, Any]:
    """A v1 problem dict. By default only the terms a test cares about are weighted: every
    weight not given is the spec default, so pass ``weights`` to silence the rest."""
    out: dict[str, Any] = {
        "format": "carerota.problem/1", "name": "test",
        "horizon": {"start": at("00:00"), "end": at((days, "00:00"))},
        "carers": carers, "clients": clients, "visits": visits,
    }
    if weights is not None:
        out["weights"] = weights
    out.update(top)
    return out


def build(carers: list[dict[str, Any]], clients: list[dict[str, Any]], visits: list[dict[str, Any]],
          **top: Any) -> Problem:
    return problem_from_dict(problem_dict(carers, clients, visits, **top))


def rota(problem: Problem, assignments: Sequence[tuple[str, Sequence[str], Time]],
         unassigned: Sequence[str] = (), **fields: Any) -> Rota:
    """A rota from ``(visit, [carers], start)`` triples; unassigned visits get a reason."""
    raw: dict[str, Any] = {
        "format": "carerota.rota/1", "problem": problem.name, "status": "feasible",
        "assignments": [{"visit": v, "carers": list(c), "start": at(s)} for v, c, s in assignments],
        "unassigned": [{"visit": v, "reasons": ["left out by the test"]} for v in unassigned],
    }
    raw.update(fields)
    return rota_from_dict(raw, problem)


def assert_accepts(problem: Problem, r: Rota) -> CheckReport:
    report = check(problem, r)
    assert report.ok, "checker rejected a valid rota:\n" + "\n".join(str(v) for v in report.violations)
    return report


def assert_rejects(problem: Problem, r: Rota, rule: str) -> CheckReport:
    """The checker rejects ``r`` for ``rule`` and for no other rule."""
    report = check(problem, r)
    assert rule in report.rules_broken, f"expected a '{rule}' violation, got {report.violations}"
    assert report.rules_broken == {rule}, f"only '{rule}' should break, got {report.violations}"
    return report


def starts(r: Rota) -> dict[str, int]:
    return {a.visit: a.start for a in r.assignments}


def carers_of(r: Rota) -> dict[str, tuple[str, ...]]:
    return {a.visit: a.carers for a in r.assignments}


def minute(problem: Problem, when: Time) -> int:
    return problem.minute_of(datetime.fromisoformat(at(when)))
