"""The essential-coverage bound (``scheduler.bound``) is valid, and exact where it should be.

Valid means: no rota that the independent checker accepts covers more essential visits
than the bound. The tests hold it against hand-made problems whose answer is known, against
rotas the solver finds (each checked), and against an exhaustive search over every rota of
random tiny problems (each rota judged by ``scheduler.checker.check``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from scheduler.bound import CoverageBound, essential_coverage_bound
from scheduler.candidates import build_options
from scheduler.checker import (
    check,
    check_exclusions,
    check_gender,
    check_roles_and_skills,
    check_start_windows,
    check_volunteers,
)
from scheduler.example import generate_problem
from scheduler.problem import Problem, Visit, problem_from_dict
from scheduler.rota import Assignment, Rota, Unassigned
from tests.conftest import assert_valid_solve
from tests.rules.builders import (
    assert_accepts,
    at,
    build,
    carer,
    client,
    km_east,
    role,
    rota,
    visit,
    volunteer,
)
from tests.rules.strategies import problems

Choice = tuple[tuple[str, ...], int] | None
# exhaustive searches larger than this many complete rotas are not drawn
MAX_SEARCH = 4_000


def essential_covered(problem: Problem, r: Rota) -> int:
    essential = {v.id for v in problem.visits if v.priority == "essential"}
    return sum(1 for a in r.assignments if a.visit in essential)


def bound_of(problem: Problem, time_limit: float = 5.0) -> CoverageBound:
    result = essential_coverage_bound(problem, time_limit=time_limit, workers=1)
    assert 0 <= result.bound <= result.essential_total
    assert result.essential_total == sum(1 for v in problem.visits if v.priority == "essential")
    return result


# ======================================================================================
# Exhaustive search: the most essential visits any checked rota covers
# ======================================================================================

def _single_visit_faults(problem: Problem, v: Visit, carers: tuple[str, ...], start: int) -> bool:
    """Rules a visit breaks on its own, whatever else the rota holds (so pruning on them
    never removes a valid rota): skills and distinct carers, window, volunteers,
    exclusions, gender, pins, and a stint outside every availability interval."""
    alone = Rota(problem.name, "feasible", [Assignment(v.id, carers, start)], [])
    if any(rule(problem, alone) for rule in (check_roles_and_skills, check_start_windows, check_volunteers,
                                             check_exclusions, check_gender)):
        return True
    pin = problem.pin_by_visit.get(v.id)
    if pin is not None and (carers != pin.carers or (pin.start is not None and start != pin.start)):
        return True
    return not all(any(iv.contains(start, start + v.role_duration(i)) for iv in
                       problem.carer_by_id[cid].availability) for i, cid in enumerate(carers))


def _choices(problem: Problem, v: Visit) -> list[Choice]:
    """Every (carers, start) of ``v`` lawful on its own; None (unassigned) unless pinned."""
    out: list[Choice] = []
    for carers in itertools.permutations([c.id for c in problem.carers], len(v.roles)):
        for start in range(v.earliest_start, v.last_start + 1):
            if not _single_visit_faults(problem, v, carers, start):
                out.append((carers, start))
    if v.id not in problem.pin_by_visit:
        out.append(None)
    return out


def _overlap(problem: Problem, chosen: Sequence[tuple[Visit, Choice]], v: Visit, c: Choice) -> bool:
    """Two stints of one carer overlapping in time: no rota holding both is valid."""
    if c is None:
        return False
    spans = {cid: (c[1], c[1] + v.role_duration(i)) for i, cid in enumerate(c[0])}
    for w, d in chosen:
        if d is None:
            continue
        for i, cid in enumerate(d[0]):
            if cid in spans:
                a, b = spans[cid]
                if a < d[1] + w.role_duration(i) and d[1] < b:
                    return True
    return False


def search_size(problem: Problem) -> int:
    size = 1
    for v in problem.visits:
        size *= len(_choices(problem, v))
    return size


def most_essential_covered(problem: Problem) -> int | None:
    """The most essential visits covered by any rota the checker accepts (None: no valid rota).

    Depth-first over the visits, covered choices before "unassigned"; a branch is cut when
    it cannot beat the best found or when it already has two overlapping stints of one
    carer. Every complete rota reached is judged by ``check``.
    """
    visits = sorted(problem.visits, key=lambda v: v.priority != "essential")
    choices = [_choices(problem, v) for v in visits]
    essential = [v.priority == "essential" for v in visits]
    best: list[int] = [-1]

    def go(k: int, chosen: list[tuple[Visit, Choice]], covered: int) -> None:
        if covered + sum(essential[k:]) <= best[0]:
            return
        if k == len(visits):
            r = Rota(problem.name, "feasible",
                     [Assignment(v.id, c[0], c[1]) for v, c in chosen if c is not None],
                     [Unassigned(v.id, ("left out",)) for v, c in chosen if c is None])
            if check(problem, r).ok:
                best[0] = covered
            return
        v = visits[k]
        for c in choices[k]:
            if _overlap(problem, chosen, v, c):
                continue
            chosen.append((v, c))
            go(k + 1, chosen, covered + (1 if c is not None and essential[k] else 0))
            chosen.pop()

    go(0, [], 0)
    return None if best[0] < 0 else best[0]


# ======================================================================================
# 1. Hand-made problems with a known answer: the bound is exact
# ======================================================================================

def test_two_visits_at_the_same_fixed_time_with_one_carer_bound_one():
    """One carer cannot be in two places at once: the no-overlap rule must be in the bound."""
    p = build([carer("ann")], [client("dai"), client("eira")],
              [visit("d1", "dai", "08:00"), visit("e1", "eira", "08:00")], days=1)
    result = bound_of(p)
    assert result.bound == 1
    assert result.optimal
    assert_accepts(p, rota(p, [("d1", ["ann"], "08:00")], ["e1"]))


def test_a_double_up_needing_two_hoist_holders_when_one_holds_it_bound_zero():
    """A double-up needs two distinct carers with the skill; one holder (and a carer without
    it) can never cover it."""
    p = build([carer("ann", skills=["hoist"]), carer("bryn")], [client("dai")],
              [visit("d1", "dai", "08:00", roles=[role("hoist"), role("hoist")])], days=1)
    assert bound_of(p).bound == 0


def test_a_double_up_with_two_holders_is_coverable_bound_one():
    """The counterpart: with two holders the double-up is covered (so the bound above is not
    just zero for every double-up)."""
    p = build([carer("ann", skills=["hoist"]), carer("bryn", skills=["hoist"])], [client("dai")],
              [visit("d1", "dai", "08:00", roles=[role("hoist"), role("hoist")])], days=1)
    assert bound_of(p).bound == 1
    assert_accepts(p, rota(p, [("d1", ["ann", "bryn"], "08:00")]))


def test_a_visit_outside_every_availability_bound_zero():
    """Availability is a hard rule: a visit at 08:00 cannot go to carers who work from 14:00."""
    p = build([carer("ann", availability=[("14:00", "22:00")])], [client("dai")],
              [visit("d1", "dai", "08:00", latest="09:00"), visit("d2", "dai", "15:00")], days=1)
    result = bound_of(p)
    assert result.bound == 1


def test_a_double_up_with_one_holder_free_at_the_time_bound_counts_only_times_both_work():
    """Both carers of a double-up must be free at the same minute: with one hoist holder
    working mornings and the other afternoons, a morning double-up is impossible while an
    afternoon single-role visit is fine."""
    p = build([carer("ann", skills=["hoist"], availability=[("07:00", "12:00")]),
               carer("bryn", skills=["hoist"], availability=[("12:00", "20:00")])],
              [client("dai")],
              [visit("d1", "dai", "08:00", latest="11:00", roles=[role("hoist"), role("hoist")]),
               visit("d2", "dai", "13:00", roles=[role("hoist")])], days=1)
    assert bound_of(p).bound == 1


def test_three_hoisted_double_ups_at_once_with_four_holders_bound_two():
    """A cumulative of capacity four holds two double-ups at a time, not three: the class
    relaxation must keep two units per double-up."""
    holders = [carer(f"c{i}", skills=["hoist"]) for i in range(4)]
    p = build(holders, [client("dai"), client("eira"), client("fion")],
              [visit(f"v{i}", cl, "08:00", roles=[role("hoist"), role("hoist")])
               for i, cl in enumerate(["dai", "eira", "fion"])], days=1)
    assert bound_of(p).bound == 2


def test_the_daily_cap_limits_how_many_visits_a_carer_makes():
    """A 60-minute daily cap allows two 30-minute visits, not three."""
    p = build([carer("ann", max_minutes_per_day=60)], [client("dai")],
              [visit("d1", "dai", "08:00"), visit("d2", "dai", "10:00"), visit("d3", "dai", "12:00")],
              days=1)
    assert bound_of(p).bound == 2
    assert_accepts(p, rota(p, [("d1", ["ann"], "08:00"), ("d2", ["ann"], "10:00")], ["d3"]))


def test_travel_between_back_to_back_visits_at_different_clients_is_counted():
    """The travel tail: a visit ending at 08:30 and one starting 08:30 ten kilometres away
    cannot both go to the only carer (about 26 minutes of travel), and no rule lets them."""
    p = build([carer("ann")], [client("dai"), client("eira", location=km_east(10))],
              [visit("d1", "dai", "08:00"), visit("e1", "eira", "08:30")], days=1)
    assert bound_of(p).bound == 1
    assert most_essential_covered(p) == 1


def test_back_to_back_visits_at_the_same_client_are_both_coverable():
    """The tail must not over-reach: at the same client no travel is needed, so both are covered."""
    p = build([carer("ann")], [client("dai")],
              [visit("d1", "dai", "08:00"), visit("d2", "dai", "08:30")], days=1)
    assert bound_of(p).bound == 2
    assert_accepts(p, rota(p, [("d1", ["ann"], "08:00"), ("d2", ["ann"], "08:30")]))


def test_a_dependency_that_cannot_hold_leaves_one_of_the_pair():
    """Dependencies between essential visits of a day are kept: doses four hours apart
    cannot both be given when their windows are two hours apart."""
    p = build([carer("ann")], [client("dai")],
              [visit("am", "dai", "08:00"), visit("noon", "dai", "10:00")], days=1,
              dependencies=[{"first": "am", "then": "noon", "min_gap_minutes": 240}])
    assert bound_of(p).bound == 1


def test_non_essential_visits_never_count_and_never_block():
    """Only essential visits are counted; an optional visit at the same time does not take
    the carer away (leaving it unassigned is always allowed)."""
    p = build([carer("ann")], [client("dai")],
              [visit("d1", "dai", "08:00", priority="optional"), visit("d2", "dai", "08:00")], days=1)
    result = bound_of(p)
    assert result.essential_total == 1
    assert result.bound == 1


def test_a_window_running_past_midnight_is_not_cut_at_midnight():
    """The spec does not cut a start window at midnight (the engine's candidates do): a bed
    call that may start 23:50-00:20 can go to a carer who starts at midnight, so it must
    count even though ``build_options`` gives it no option."""
    p = build([carer("ann", availability=[((1, "00:00"), (1, "06:00"))])], [client("dai")],
              [visit("bed", "dai", "23:50", latest=(1, "00:20"))], days=2)
    assert not [o for o in build_options(p) if p.visits[o.visit].id == "bed"]
    assert_accepts(p, rota(p, [("bed", ["ann"], (1, "00:00"))]))
    assert bound_of(p).bound == 1
    assert essential_coverage_bound(p, options=build_options(p), time_limit=2).bound == 1


def test_a_pinned_visit_counts_only_with_its_pinned_carer():
    """A pin restricts the visit to its carer: pinned to bryn, the only hoist holder, it takes
    him from the hoist visit at the same time (unpinned, ann could take it and both count)."""
    carers = [carer("ann"), carer("bryn", skills=["hoist"])]
    clients = [client("dai"), client("eira")]
    visits = [visit("d1", "dai", "08:00"), visit("e1", "eira", "08:00", roles=[role("hoist")])]
    free = build(carers, clients, visits, days=1)
    pinned = build(carers, clients, visits, days=1, pinned=[{"visit": "d1", "carers": ["bryn"]}])
    assert bound_of(free).bound == 2
    assert bound_of(pinned).bound == 1
    assert_accepts(pinned, rota(pinned, [("d1", ["bryn"], "08:00")], ["e1"]))


@pytest.mark.parametrize("pinned", [False, True])
def test_a_visit_that_may_start_after_midnight_is_not_held_to_the_earlier_days_cap(pinned: bool):
    """A bed call that may start 23:50-00:20 can belong to the next calendar day (and does
    when pinned to 00:10): a 30-minute daily cap already used by a 20:00 visit on the first
    day must not rule it out."""
    pins = [{"visit": "bed", "carers": ["ann"], "start": at((1, "00:10"))}] if pinned else []
    p = build([carer("ann", max_minutes_per_day=30)], [client("dai")],
              [visit("tea", "dai", "20:00"), visit("bed", "dai", "23:50", latest=(1, "00:20"))], days=2,
              pinned=pins, rules={"min_rest_minutes": 0})
    assert_accepts(p, rota(p, [("tea", ["ann"], "20:00"), ("bed", ["ann"], (1, "00:10"))]))
    assert bound_of(p).bound == 2


def test_a_volunteer_never_stands_in_for_a_staff_carer_with_the_same_hours():
    """Volunteers may not do a visit that is not volunteer_ok, but a staff carer with the
    same hours still may: grouping carers must keep the two apart."""
    p = build([volunteer("vic"), carer("ann")], [client("dai")], [visit("d1", "dai", "08:00")], days=1)
    assert bound_of(p).bound == 1
    only_volunteer = build([volunteer("vic")], [client("dai")], [visit("d1", "dai", "08:00")], days=1)
    assert bound_of(only_volunteer).bound == 0


def test_a_gender_preference_counts_only_carers_of_that_gender():
    """A client asking for female carers can be visited by the female carer only; a male
    carer with the same hours must neither count nor hide her."""
    carers = [carer("al", gender="male"), carer("bea", gender="female")]
    p = build(carers, [client("dai", gender_preference="female")],
              [visit("d1", "dai", "08:00"), visit("d2", "dai", "08:00")], days=1)
    assert bound_of(p).bound == 1
    men_only = build(carers[:1], [client("dai", gender_preference="female")],
                     [visit("d1", "dai", "08:00")], days=1)
    assert bound_of(men_only).bound == 0


def test_a_hoist_bottleneck_inside_a_busy_morning_is_found():
    """Three double-ups at 08:00 need six hoist holders and there are four, while ten other
    visits keep everyone busy: the bound must see the bottleneck (12 of 13) inside one big
    component, which the greedy alone cannot settle."""
    holders = [carer(f"h{i}", skills=["hoist"]) for i in range(4)]
    others = [carer(f"n{i}") for i in range(6)]
    clients = [client(f"k{i}", location=km_east(i * 0.2)) for i in range(13)]
    visits = [visit(f"d{i}", f"k{i}", "08:00", duration=45, roles=[role("hoist"), role("hoist")])
              for i in range(3)]
    visits += [visit(f"s{i}", f"k{3 + i}", f"07:{10 + 4 * i:02d}", latest=f"08:{10 + 4 * i:02d}")
               for i in range(10)]
    p = build(holders + others, clients, visits, days=1)
    result = bound_of(p)
    assert result.bound == 12
    assert result.optimal
    singles = [(f"s{i}", [f"n{i}"], f"07:{10 + 4 * i:02d}") for i in range(6)]
    singles += [(f"s{i}", [f"n{i - 6}"], f"07:{45 + 4 * (i - 6):02d}") for i in range(6, 10)]
    assert_accepts(p, rota(p, [("d0", ["h0", "h1"], "08:00"), ("d1", ["h2", "h3"], "08:00"), *singles],
                           ["d2"]))


def test_capacity_over_a_morning_bounds_many_identical_visits():
    """Five carers free 08:00-10:00 have 600 minutes: twenty 30-minute visits, not thirty,
    whatever their order (the capacity LP settles this without a search)."""
    p = build([carer(f"c{i}", availability=[("08:00", "10:00")]) for i in range(5)], [client("dai")],
              [visit(f"v{i}", "dai", "08:00", latest="09:30") for i in range(30)], days=1)
    result = essential_coverage_bound(p, time_limit=1.0)
    assert result.bound == 20
    assert result.optimal


def test_passing_unpruned_options_gives_the_same_bound():
    """The ``options`` argument (unpruned ``build_options``) only narrows eligibility the
    same way the bound works it out itself."""
    p = problem_from_dict(generate_problem(clients=5, seed=2))
    assert (essential_coverage_bound(p, options=build_options(p), time_limit=5).bound
            == essential_coverage_bound(p, time_limit=5).bound)


def test_with_no_time_the_bound_falls_back_to_eligibility_and_stays_valid():
    """A part CP-SAT gets no time for keeps its eligibility count, never less."""
    p = build([carer("ann", skills=["hoist"]), carer("bryn", availability=[("14:00", "20:00")])],
              [client("dai"), client("eira")],
              [visit("d1", "dai", "08:00"), visit("e1", "eira", "08:00"),
               visit("x", "dai", "09:00", roles=[role("hoist"), role()]),
               visit("y", "dai", "10:00", roles=[role("medication")])], days=1)
    result = essential_coverage_bound(p, time_limit=0.0)
    # both 08:00 visits are eligible; the double-up has one carer at 09:00, 'y' no holder
    assert result.bound == 2
    assert result.method == "eligibility"
    assert not result.optimal
    assert bound_of(p).bound == 1


# ======================================================================================
# 2. Validity against the solver's rotas (each checked)
# ======================================================================================

def _solver_rota(problem: Problem) -> Rota:
    from scheduler.solve import SolveOptions, solve

    r = solve(problem, SolveOptions(time_limit=5, workers=1, seed=0))
    report = check(problem, r)
    assert report.ok, "solver returned an invalid rota:\n" + "\n".join(str(v) for v in report.violations)
    return r


def test_bound_is_at_least_the_solvers_coverage_on_small_generated_weeks():
    """Any checked rota is a witness: the bound must not fall below its essential coverage."""
    for clients, seed in ((3, 1), (4, 2)):
        p = problem_from_dict(generate_problem(clients=clients, seed=seed))
        result = bound_of(p)
        assert result.bound >= essential_covered(p, _solver_rota(p)), (clients, seed)


def test_bound_is_at_least_the_solvers_coverage_on_a_tight_hand_made_day():
    """A day with a hoist double-up, travel, a dependency and a daily cap all binding."""
    p = build([carer("ann", skills=["hoist", "medication"], max_minutes_per_day=120,
                     availability=[("07:00", "12:00")]),
               carer("bryn", skills=["hoist"], location=km_east(3)),
               carer("cai", location=km_east(1), availability=[("08:00", "11:00")])],
              [client("dai"), client("eira", location=km_east(2)), client("fion", location=km_east(4))],
              [visit("d1", "dai", "08:00", latest="08:30", duration=45, roles=[role("hoist"), role("hoist")]),
               visit("e1", "eira", "08:15", latest="08:45", roles=[role("medication")]),
               visit("f1", "fion", "08:30", latest="09:00"),
               visit("e2", "eira", "12:15", latest="13:00", roles=[role("medication")]),
               visit("d2", "dai", "09:00", latest="09:10", duration=60)],
              days=1, dependencies=[{"first": "e1", "then": "e2", "min_gap_minutes": 240}])
    result = bound_of(p)
    assert result.bound >= essential_covered(p, _solver_rota(p))
    best = most_essential_covered(p)
    assert best is not None and result.bound >= best


# ======================================================================================
# 3. Property: never below an exhaustive search's best on random tiny problems
# ======================================================================================

def _at_least_two_essential(problem: Problem) -> bool:
    return sum(1 for v in problem.visits if v.priority == "essential") >= 2


SHIFTS = [[("07:00", "12:00")], [("07:30", "08:45")], [("08:00", "12:00")],
          [("07:00", "08:15"), ("08:30", "10:00")]]


@st.composite
def contended_days(draw: st.DrawFn) -> Problem:
    """A morning where 2-4 essential visits compete for 1-3 carers within about an hour:
    skills, double-ups, volunteers, clients a few minutes apart, short availability, small
    daily caps, home travel and a dependency, so that the bound's rules all bind."""
    carers = []
    for i in range(draw(st.integers(1, 3))):
        carers.append(carer(
            f"c{i}", skills=sorted(draw(st.sets(st.sampled_from(["hoist", "medication"]), max_size=2))),
            kind=draw(st.sampled_from(["staff", "staff", "volunteer"])),
            location=km_east(draw(st.sampled_from([0, 1, 3]))),
            availability=draw(st.sampled_from(SHIFTS)),
            max_minutes_per_day=draw(st.sampled_from([45, 90, 720]))))
    clients = [client("p0"), client("p1", location=km_east(draw(st.sampled_from([0.5, 2, 6]))))]
    visits = []
    for i in range(draw(st.integers(2, 4))):
        begin = 7 * 60 + 30 + 10 * draw(st.integers(0, 9))
        width = draw(st.integers(0, 2))
        roles = [role(*draw(st.sets(st.sampled_from(["hoist", "medication"]), max_size=1)))
                 for _ in range(draw(st.sampled_from([1, 1, 2])))]
        visits.append(visit(
            f"v{i}", draw(st.sampled_from(["p0", "p1"])), at(f"{begin // 60:02d}:{begin % 60:02d}"),
            latest=at(f"{(begin + width) // 60:02d}:{(begin + width) % 60:02d}"),
            duration=draw(st.sampled_from([15, 30, 45])), roles=roles, volunteer_ok=draw(st.booleans()),
            priority=draw(st.sampled_from(["essential", "essential", "essential", "optional"]))))
    dependencies = []
    if draw(st.booleans()):
        dependencies.append({"first": "v0", "then": "v1", "max_gap_minutes": 90,
                             "min_gap_minutes": draw(st.sampled_from([0, 30, 60]))})
    return build(carers, clients, visits, days=1, dependencies=dependencies,
                 rules={"home_travel": draw(st.booleans()), "count_travel_as_work": draw(st.booleans())})


def _assert_never_below_exhaustive(problem: Problem) -> None:
    assume(search_size(problem) <= MAX_SEARCH)
    best = most_essential_covered(problem)
    assume(best is not None)  # a problem whose pins no valid rota can honour bounds nothing
    result = essential_coverage_bound(problem, time_limit=2.0, workers=1)
    assert result.bound >= best, f"bound {result.bound} < {best} covered by a checked rota"


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(problems(max_carers=3, max_clients=2, max_visits=4, tiny=True).filter(_at_least_two_essential))
def test_bound_is_never_below_the_best_rota_of_an_exhaustive_search(problem: Problem):
    """Whatever rules a random tiny problem binds (skills, volunteers, exclusions, gender,
    availability, travel, home travel, caps, rest, dependencies, pins, windows across
    midnight), no checked rota covers more essential visits than the bound."""
    _assert_never_below_exhaustive(problem)


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(contended_days())
def test_bound_is_never_below_the_best_rota_on_contended_mornings(problem: Problem):
    """Random problems where the carers cannot do everything, so that the bound is below the
    essential total and its relaxation (classes, travel tails, caps) is what is tested."""
    _assert_never_below_exhaustive(problem)


# ======================================================================================
# 4. The solver shows the bound beside its coverage
# ======================================================================================

def test_a_rota_that_leaves_an_essential_visit_says_coverage_is_proven_maximal():
    """An over-full week (one carer, two visits at one fixed time): the coordinator must read
    that no rota covers more, not guess whether a longer search would."""
    p = build([carer("ann")], [client("dai"), client("eira")],
              [visit("d1", "dai", "08:00"), visit("e1", "eira", "08:00")], days=1)
    r, _report = assert_valid_solve(p, time_limit=4)
    cov = r.kpis["essential_coverage_bound"]
    assert essential_covered(p, r) == 1
    assert cov["essential_total"] == 2 and cov["bound"] == 1
    assert cov["proven_maximal"] is True
    assert "relaxation" in cov["method"] or "eligibility" in cov["method"]


def test_a_rota_covering_every_essential_visit_needs_no_bound_search():
    """Full essential coverage is its own proof; the bound equals the total and costs nothing."""
    p = build([carer("ann")], [client("dai")], [visit("d1", "dai", "08:00")], days=1)
    r, _report = assert_valid_solve(p, time_limit=4)
    cov = r.kpis["essential_coverage_bound"]
    assert cov == {"essential_total": 1, "bound": 1, "method": "every essential visit covered",
                   "proven_maximal": True}
