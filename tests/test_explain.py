"""Reasons for unassigned visits name the true cause: the skill, the count, the carer.

Each test builds a small week where exactly one thing stops a visit being covered and
checks that the explanation names that thing (and the words a coordinator acts on).
"""

from __future__ import annotations

from typing import Any

from scheduler.explain import explain_unassigned
from scheduler.problem import Problem, problem_from_dict
from scheduler.rota import Assignment

HOME = {"lat": 51.5842, "lon": -2.9977}
TUE = "2026-12-01"
MON = "2026-11-30"


def carer(cid: str, skills: list[str], avail: list[tuple[str, str]] | None = None,
          gender: str = "female", kind: str = "staff", **extra: Any) -> dict[str, Any]:
    return {"id": cid, "name": cid.title(), "kind": kind, "skills": skills, "location": HOME,
            "gender": gender,
            "availability": [{"start": s, "end": e}
                             for s, e in (avail or [(f"{TUE}T07:00", f"{TUE}T22:00")])],
            **extra}


def visit(vid: str, start: str, end: str, skills: list[str], roles: int = 1, duration: int = 30,
          client: str = "dai", **extra: Any) -> dict[str, Any]:
    return {"id": vid, "client": client, "earliest_start": start, "latest_start": end,
            "duration_minutes": duration, "roles": [{"skills": skills} for _ in range(roles)], **extra}


def week(carers: list[dict[str, Any]], visits: list[dict[str, Any]], client: dict[str, Any] | None = None,
         dependencies: list[dict[str, Any]] | None = None) -> Problem:
    clients = [{"id": "dai", "name": "Dai Morgan", "location": HOME, **(client or {})},
               {"id": "eira", "name": "Eira Hughes", "location": {"lat": 51.5900, "lon": -3.0050}}]
    return problem_from_dict({
        "format": "carerota.problem/1", "name": "explain test",
        "horizon": {"start": f"{MON}T00:00", "end": "2026-12-07T00:00"},
        "carers": carers, "clients": clients, "visits": visits,
        "dependencies": dependencies or [],
    })


def at(problem: Problem, when: str) -> int:
    from datetime import datetime

    return problem.minute_of(datetime.fromisoformat(when))


def text(reasons: list[str]) -> str:
    assert reasons, "an unassigned visit must have at least one reason"
    return "\n".join(reasons)


def test_a_skill_nobody_holds_is_named() -> None:
    """When no carer at all holds a skill, the reason names that skill."""
    p = week([carer("ann", ["personal_care"])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["personal_care", "hoist"])])
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "no carer holds skill 'hoist'" in out
    assert "personal_care" not in out


def test_unavailable_skilled_carers_are_listed_with_their_hours() -> None:
    """The medication holders' hours are shown: one works the late shift, one is off that day."""
    p = week([carer("ann", ["personal_care", "medication"], [(f"{TUE}T14:00", f"{TUE}T22:00")]),
              carer("bryn", ["personal_care", "medication"], [(f"{MON}T07:00", f"{MON}T14:00")]),
              carer("cerys", ["personal_care"], [(f"{TUE}T07:00", f"{TUE}T14:00")])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["medication"])])
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "skill 'medication' is available on Tue 01 Dec 07:30-08:00" in out
    assert "2 hold it" in out
    assert "ann works 14:00-22:00" in out
    assert "bryn is off that day" in out
    assert "cerys" not in out  # cerys lacks the skill: not part of this reason


def test_an_excluded_carer_is_named() -> None:
    """The only skilled carer is excluded by the client: the reason says who and by whom."""
    p = week([carer("bryn", ["personal_care", "hoist"]), carer("ann", ["personal_care"])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["hoist"])],
             client={"excluded_carers": ["bryn"]})
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "excluded: bryn (by client)" in out


def test_gender_preference_reports_how_many_skilled_carers_qualify() -> None:
    """One of four skilled carers is female and she is off: both facts are reported."""
    p = week([carer("ann", ["personal_care"], [(f"{MON}T07:00", f"{MON}T14:00")]),
              carer("bryn", ["personal_care"], gender="male"),
              carer("dewi", ["personal_care"], gender="male"),
              carer("emyr", ["personal_care"], gender="male")],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["personal_care"])],
             client={"gender_preference": "female"})
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "only female carers allowed: 1 of 4" in out
    assert "ann is off that day" in out


def test_volunteers_cannot_fill_a_visit_that_is_not_volunteer_ok() -> None:
    """The only carer with the skill is a volunteer and the visit is personal care."""
    p = week([carer("cerys", ["companionship"], kind="volunteer"), carer("ann", ["personal_care"])],
             [visit("dai-sit", f"{TUE}T13:00", f"{TUE}T14:00", ["companionship"])])
    out = text(explain_unassigned(p, [], "dai-sit"))
    assert "volunteers cannot fill it (not volunteer_ok): cerys" in out


def test_a_double_up_whose_hoist_carers_are_all_busy_names_their_visits() -> None:
    """Three hoist holders, all on other visits at the time: the count, names and visits appear."""
    p = week([carer(c, ["personal_care", "hoist"]) for c in ("ann", "bryn", "cerys")]
             + [carer("dafydd", ["personal_care"])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["hoist"], roles=2),
              visit("eira-am", f"{TUE}T07:30", f"{TUE}T07:30", ["hoist"], roles=2, duration=60,
                    client="eira"),
              visit("eira-2", f"{TUE}T07:15", f"{TUE}T07:15", ["hoist"], duration=75, client="eira")])
    start = at(p, f"{TUE}T07:30")
    busy = [Assignment("eira-am", ("ann", "bryn"), start),
            Assignment("eira-2", ("cerys",), at(p, f"{TUE}T07:15"))]
    out = text(explain_unassigned(p, busy, "dai-am"))
    assert "needs 'hoist' x2" in out
    assert "3 carer(s) hold it" in out
    assert "all 3 are already on other visits" in out
    assert "ann: eira-am 07:30-08:30" in out
    assert "cerys: eira-2 07:15-08:30" in out
    assert "over-full" in out and "essential" in out
    # With the clashing visits gone, the same visit could be covered.
    free = text(explain_unassigned(p, [], "dai-am"))
    assert "could be covered" in free


def test_a_carer_at_the_daily_cap_is_reported_with_minutes_already_worked() -> None:
    """Ann has worked 580 of her 600 minutes that day; the 30-minute visit would break the cap."""
    p = week([carer("ann", ["personal_care"], max_minutes_per_day=600)],
             [visit("long", f"{TUE}T07:00", f"{TUE}T07:00", [], duration=580),
              visit("dai-bed", f"{TUE}T20:00", f"{TUE}T21:00", [])])
    out = text(explain_unassigned(p, [Assignment("long", ("ann",), at(p, f"{TUE}T07:00"))], "dai-bed"))
    assert "ann would exceed her daily cap of 600 minutes (already 580" in out


def test_the_weekly_cap_is_reported() -> None:
    """Bryn is at his weekly cap after Monday's long visit."""
    p = week([carer("bryn", ["personal_care"], [(f"{MON}T07:00", f"{TUE}T22:00")], gender="male",
                    max_minutes_per_week=300)],
             [visit("long", f"{MON}T08:00", f"{MON}T08:00", [], duration=290),
              visit("dai-bed", f"{TUE}T20:00", f"{TUE}T21:00", [])])
    out = text(explain_unassigned(p, [Assignment("long", ("bryn",), at(p, f"{MON}T08:00"))], "dai-bed"))
    assert "bryn would exceed his weekly cap of 300 minutes (already 290)" in out


def test_the_rest_between_days_is_reported() -> None:
    """Ann worked until 22:00 on Monday, so she cannot start at 07:00 on Tuesday (11 h rest)."""
    p = week([carer("ann", ["personal_care"], [(f"{MON}T07:00", f"{TUE}T22:00")])],
             [visit("late", f"{MON}T21:30", f"{MON}T21:30", []),
              visit("dai-am", f"{TUE}T07:00", f"{TUE}T07:30", [])])
    out = text(explain_unassigned(p, [Assignment("late", ("ann",), at(p, f"{MON}T21:30"))], "dai-am"))
    assert "ann would not get her 660-minute rest" in out
    assert "Mon 30 Nov 22:00" in out


def test_a_dependency_that_leaves_no_slot_names_the_other_visit() -> None:
    """The morning dose was at 08:00; lunch must be 300-360 min later but its window ends 12:30."""
    p = week([carer("ann", ["personal_care", "medication"])],
             [visit("eira-am", f"{TUE}T07:30", f"{TUE}T09:00", ["medication"], client="eira"),
              visit("eira-lunch", f"{TUE}T12:00", f"{TUE}T12:30", ["medication"], client="eira")],
             dependencies=[{"first": "eira-am", "then": "eira-lunch", "min_gap_minutes": 300,
                            "max_gap_minutes": 360}])
    out = text(explain_unassigned(p, [Assignment("eira-am", ("ann",), at(p, f"{TUE}T08:00"))],
                                  "eira-lunch"))
    assert "dependency with 'eira-am'" in out
    assert "300-360 min after it (it starts Tue 01 Dec 08:00)" in out
    assert "leaves no slot" in out


def test_a_double_up_with_one_able_carer_says_two_are_needed_together() -> None:
    """Both roles can only be filled by ann (bryn lacks the skill): a double-up needs two people."""
    p = week([carer("ann", ["personal_care", "hoist"]), carer("bryn", ["personal_care"])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["hoist"], roles=2)])
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "needs 2 carers together" in out
    assert "role 1: ann" in out and "role 2: ann" in out


def test_a_visit_that_fits_says_who_could_cover_it() -> None:
    """With nothing in the way the reason admits the visit could be covered, and by whom."""
    p = week([carer("ann", ["personal_care"])],
             [visit("dai-tea", f"{TUE}T16:30", f"{TUE}T17:30", [], priority="important")])
    out = text(explain_unassigned(p, [], "dai-tea"))
    assert "could be covered by ann at Tue 01 Dec 16:30" in out
    assert "important" in out


def test_travel_between_visits_counts_when_deciding_a_carer_is_busy() -> None:
    """Ann finishes at eira's at 08:00; dai is a few minutes' drive, so an 08:00 start clashes."""
    p = week([carer("ann", ["personal_care"])],
             [visit("eira-am", f"{TUE}T07:30", f"{TUE}T07:30", [], client="eira"),
              visit("dai-am", f"{TUE}T08:00", f"{TUE}T08:00", [])])
    out = text(explain_unassigned(p, [Assignment("eira-am", ("ann",), at(p, f"{TUE}T07:30"))], "dai-am"))
    assert "ann: eira-am 07:30-08:00 (+3 min travel)" in out


def test_the_solver_puts_explanations_in_the_rota() -> None:
    """A solved rota's unassigned visit carries the explainer's reason (and the rota is valid)."""
    from tests.conftest import assert_valid_solve

    p = week([carer("ann", ["personal_care"])],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["hoist"]),
              visit("dai-bed", f"{TUE}T20:00", f"{TUE}T21:00", [])])
    rota, _ = assert_valid_solve(p, time_limit=5)
    reasons = {u.visit: u.reasons for u in rota.unassigned}
    assert list(reasons) == ["dai-am"]
    assert "no carer holds skill 'hoist'" in reasons["dai-am"][0]


def test_long_lists_of_carers_are_capped_with_a_count() -> None:
    """Eight skilled carers all off: five are named, the rest counted, so the reason stays short."""
    off = [(f"{MON}T07:00", f"{MON}T14:00")]
    p = week([carer(f"c{i}", ["personal_care", "medication"], off) for i in range(8)],
             [visit("dai-am", f"{TUE}T07:30", f"{TUE}T08:00", ["medication"])])
    out = text(explain_unassigned(p, [], "dai-am"))
    assert "8 hold it" in out
    assert "c4 is off that day and 3 more" in out
    assert "c5" not in out


def test_a_visit_the_solver_left_out_that_fits_names_a_place_the_checker_accepts() -> None:
    """The solver's reasons come from the evaluator's own verdict: when it says a visit
    "could be covered by X at T", adding exactly that to the rota must pass the checker (a
    reason a coordinator acts on must not be a guess)."""
    import re

    from scheduler.checker import check
    from scheduler.rota import Rota
    from scheduler.solve import SolveOptions, solve
    from tests.rules.builders import build, carer, client, visit

    # an optional social call that costs more (the carer's pay) than leaving it out
    p = build([carer("ann", hourly_cost=1000)], [client("dai")],
              [visit("d1", "dai", "10:00", latest="11:00", priority="optional")], days=1,
              weights={"unassigned_optional": 100, "cost": 1})
    r = solve(p, SolveOptions(time_limit=2, workers=1, seed=0))
    assert check(p, r).ok
    [gap] = r.unassigned
    reason = gap.reasons[0]
    m = re.match(r"could be covered by (\w+) at \w{3} \d\d \w{3} (\d\d):(\d\d) without breaking", reason)
    assert m, reason
    start = int(m[2]) * 60 + int(m[3])  # the horizon starts at midnight of that day
    added = Rota(problem=r.problem, status="feasible",
                 assignments=[*r.assignments, Assignment("d1", ("ann",), start)],
                 unassigned=[], objective=None, best_bound=None, kpis={}, solve_seconds=0.0)
    report = check(p, added)
    assert not [v for v in report.violations if v.rule not in ("objective", "kpis")], report.violations
