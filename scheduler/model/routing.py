"""Routing: each carer's day is a sequence of visits with real travel between them.

Rules (spec 4, 5 and ``home_travel``): a carer's consecutive visits leave room for the
travel between them; when ``home_travel`` is on, the trip from home to the first visit of
the day and back from the last also fits inside the availability interval. Each carer-day
is one circuit through a home node and the visits the carer makes that day; an arc
``a -> b`` means b directly follows a. Objective: every travel minute counted (between
consecutive visits of a day, plus home trips when ``home_travel``) costs ``travel``.
"""

from __future__ import annotations

from typing import Any

from ortools.sat.python import cp_model

from scheduler.model.context import ModelContext


def add_routing(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    home = problem.rules.home_travel
    w_travel = ctx.weights.w["travel"]
    for (ci, d) in sorted(ctx.scope.carer_days):
        carer = problem.carers[ci]
        visits = ctx.visits_of_carer_day.get((ci, d), [])
        name = f"{carer.id},day{d}"
        if not visits:
            ctx.day_work[(ci, d)] = 0
            continue
        works = m.new_bool_var(f"works[{name}]")
        ctx.works[(ci, d)] = works
        arcs: list[tuple[int, int, Any]] = [(0, 0, ~works)]
        travel_terms: list[tuple[cp_model.IntVar, int]] = []  # between visits
        home_terms: list[tuple[cp_model.IntVar, int]] = []    # from and to home
        node = {vi: k + 1 for k, vi in enumerate(visits)}
        ctx.nodes[(ci, d)] = node
        bounds = {vi: _bounds(ctx, ci, vi) for vi in visits}
        ctx.start_bounds.update({(ci, vi): b for vi, b in bounds.items()})
        first = last = None
        if home or (not carer.is_volunteer and problem.rules.min_rest_minutes > 0):
            first = m.new_int_var(min(b[0] for b in bounds.values()), max(b[1] for b in bounds.values()),
                                  f"first_start[{name}]")
            last = m.new_int_var(0, max(b[1] + ctx.max_duration(ci, vi) for vi, b in bounds.items()),
                                 f"last_end[{name}]")
            ctx.first_start[(ci, d)], ctx.last_end[(ci, d)] = first, last
        for vi in visits:
            does = ctx.does[(ci, vi)]
            m.add_implication(does, works)
            arcs.append((node[vi], node[vi], ~does))
            vid = problem.visits[vi].id
            client = problem.visits[vi].client
            start, dur = ctx.start[vi], ctx.duration_expr(ci, vi)
            out_lit = m.new_bool_var(f"first_visit[{name},{vid}]")
            back_lit = m.new_bool_var(f"last_visit[{name},{vid}]")
            arcs.append((0, node[vi], out_lit))
            arcs.append((node[vi], 0, back_lit))
            ctx.day_ends[(ci, vi)] = (out_lit, back_lit)
            if first is not None:
                m.add(first == start).only_enforce_if(out_lit)
                m.add(last == start + dur).only_enforce_if(back_lit)
            if home:
                t_out = problem.travel_minutes(carer.id, client, carer)
                t_back = problem.travel_minutes(client, carer.id, carer)
                home_terms.append((out_lit, t_out))
                home_terms.append((back_lit, t_back))
                _home_fits(ctx, ci, vi, out_lit, back_lit, t_out, t_back)
            earliest_end = bounds[vi][0] + ctx.min_duration(ci, vi)
            for wj in visits:
                if wj == vi:
                    continue
                _, hi_b = bounds[wj]
                t = problem.travel_minutes(client, problem.visits[wj].client, carer)
                if earliest_end + t > hi_b:
                    continue  # b cannot follow a on this day
                arc = m.new_bool_var(f"then[{name},{vid}->{problem.visits[wj].id}]")
                arcs.append((node[vi], node[wj], arc))
                m.add(ctx.start[wj] >= start + dur + t).only_enforce_if(arc)
                if t:
                    travel_terms.append((arc, t))
        m.add_circuit(arcs)
        ctx.arcs[(ci, d)] = [(a, b, lit) for a, b, lit in arcs[1:]]
        between = sum(lit * t for lit, t in travel_terms) if travel_terms else 0
        home_trips = sum(lit * t for lit, t in home_terms) if home_terms else 0
        ctx.add_term(("carerday", ci, d), f"travel[{name}]", between + home_trips, w_travel)
        # home trips count as work whenever they are travelled; other travel by the rule
        work = sum(ctx.duration_expr(ci, vi) for vi in visits) + home_trips
        if problem.rules.count_travel_as_work:
            work = work + between
        ctx.day_work[(ci, d)] = work


def add_midnight_travel(ctx: ModelContext) -> None:
    """A carer's last visit of a day and first of the next leave room for the travel between.

    Days are sequenced one by one, so this links them where a late visit could run into
    an early one (rare: windows near midnight).
    """
    m, problem = ctx.model, ctx.problem
    for (ci, d) in sorted(ctx.scope.carer_days):
        carer = problem.carers[ci]
        today = ctx.visits_of_carer_day.get((ci, d), [])
        if not today:
            continue
        if (ci, d + 1) in ctx.scope.carer_days:
            tomorrow: list[tuple[int, int | None]] = [
                (wj, None) for wj in ctx.visits_of_carer_day.get((ci, d + 1), [])]
        elif (ci, d + 1) in ctx.fixed.day_first:
            tomorrow = [(ctx.fixed.day_first[(ci, d + 1)], ctx.fixed.day_span[(ci, d + 1)][0])]
        else:
            tomorrow = []
        for vi in today:
            _, hi_v = ctx.start_bounds[(ci, vi)]
            end_v = hi_v + ctx.max_duration(ci, vi)
            for wj, fixed_start in tomorrow:
                t = problem.travel_minutes(problem.visits[vi].client, problem.visits[wj].client, carer)
                start_w = fixed_start if fixed_start is not None else ctx.start_bounds[(ci, wj)][0]
                if end_v + t <= start_w:
                    continue  # cannot clash
                back = ctx.day_ends[(ci, vi)][1]
                if fixed_start is None:
                    out = ctx.day_ends[(ci, wj)][0]
                    m.add(ctx.start[wj] >= ctx.start[vi] + ctx.duration_expr(ci, vi) + t).only_enforce_if(
                        [back, out])
                else:
                    m.add(ctx.start[vi] + ctx.duration_expr(ci, vi) + t <= fixed_start).only_enforce_if(back)
        if (ci, d - 1) not in ctx.scope.carer_days and (ci, d - 1) in ctx.fixed.day_last:
            last_v = ctx.fixed.day_last[(ci, d - 1)]
            last_end = ctx.fixed.day_span[(ci, d - 1)][1]
            for wj in today:
                t = problem.travel_minutes(problem.visits[last_v].client, problem.visits[wj].client, carer)
                if last_end + t <= ctx.start_bounds[(ci, wj)][0]:
                    continue
                m.add(ctx.start[wj] >= last_end + t).only_enforce_if(ctx.day_ends[(ci, wj)][0])


def _bounds(ctx: ModelContext, ci: int, vi: int) -> tuple[int, int]:
    opts = ctx.options_of_carer_visit[(ci, vi)]
    return min(o.lo for o in opts), max(o.hi for o in opts)


def _home_fits(ctx: ModelContext, ci: int, vi: int, out_lit: cp_model.IntVar,
               back_lit: cp_model.IntVar, t_out: int, t_back: int) -> None:
    """The trip out (back) fits in the availability interval holding the first (last) visit."""
    m, visit = ctx.model, ctx.problem.visits[vi]
    start = ctx.start[vi]
    for o in ctx.options_of_carer_visit[(ci, vi)]:
        choices = ctx.window_choice[(ci, vi, o.role)]
        for (_, _, iv), y in zip(o.windows, choices, strict=True):
            m.add(start >= iv.start + t_out).only_enforce_if([out_lit, y])
            m.add(start + visit.role_duration(o.role) + t_back <= iv.end).only_enforce_if([back_lit, y])
