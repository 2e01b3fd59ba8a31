"""Timing: start windows, availability, lateness and dependencies.

Rules (spec 2, 4 and 7): all roles of a visit start at the same minute (a double-up arrives
together) inside ``[earliest_start, latest_start + max_lateness_minutes]``; each carer's
visit lies wholly inside one of the carer's availability intervals; when both visits of a
dependency are covered, the later one starts ``min_gap``..``max_gap`` minutes after the
first. Objective: each minute after ``latest_start`` costs ``lateness`` per carer on the
visit, and the largest lateness of any visit costs ``max_lateness`` per minute.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from scheduler.candidates import start_range
from scheduler.model.context import ModelContext


def add_timing(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    w_late = ctx.weights.w["lateness"]
    late_vars = []
    late_ub = 0
    for vi in sorted(ctx.scope.visits):
        visit = problem.visits[vi]
        lo, hi = start_range(problem, visit)
        start = m.new_int_var(lo, max(lo, hi), f"start[{visit.id}]")
        ctx.start[vi] = start
        covered = ctx.covered[vi]
        if hi < lo:
            m.add(covered == 0)
        if visit.max_lateness_minutes > 0 and hi > visit.latest_start:
            raw = m.new_int_var(0, hi - visit.latest_start, f"late_if_covered[{visit.id}]")
            m.add_max_equality(raw, [start - visit.latest_start, 0])
            late = m.new_int_var(0, hi - visit.latest_start, f"late[{visit.id}]")
            m.add(late == raw).only_enforce_if(covered)
            m.add(late == 0).only_enforce_if(~covered)
            ctx.late[vi] = late
            late_vars.append(late)
            late_ub = max(late_ub, hi - visit.latest_start)
            ctx.add_term(("visit", vi), f"lateness[{visit.id}]", late, w_late * len(visit.roles))
        # availability: the role must fit in one interval of the carer
        for o in ctx.options_of_visit.get(vi, []):
            x = ctx.x[(o.carer, vi, o.role)]
            if len(o.windows) == 1:
                a, b, _ = o.windows[0]
                if a > lo:
                    m.add(start >= a).only_enforce_if(x)
                if b < hi:
                    m.add(start <= b).only_enforce_if(x)
                ctx.window_choice[(o.carer, vi, o.role)] = [x]
            else:
                choices = []
                for k, (a, b, _) in enumerate(o.windows):
                    y = m.new_bool_var(f"in_shift[{problem.carers[o.carer].id},{visit.id},{k}]")
                    m.add_linear_constraint(start, a, b).only_enforce_if(y)
                    choices.append(y)
                m.add(sum(choices) == x)
                ctx.window_choice[(o.carer, vi, o.role)] = choices

    # the week's largest lateness, fixed visits included
    w_max = ctx.weights.w["max_lateness"]
    if w_max:
        fixed_max = 0
        for vi, (_, s) in ctx.fixed.assignment.items():
            fixed_max = max(fixed_max, s - problem.visits[vi].latest_start)
        ub = max(fixed_max, late_ub)
        max_late = m.new_int_var(0, max(0, ub), "max_lateness")
        m.add_max_equality(max_late, [*late_vars, max(0, fixed_max)])
        ctx.add_term(("week",), "max_lateness", max_late, w_max)

    _add_dependencies(ctx)


def _add_dependencies(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    index = {v.id: i for i, v in enumerate(problem.visits)}
    for dep in problem.dependencies:
        a, b = index[dep.first], index[dep.then]
        free_a, free_b = a in ctx.scope.visits, b in ctx.scope.visits
        if not free_a and not free_b:
            continue
        lo, hi = dep.min_gap_minutes, dep.max_gap_minutes
        if free_a and free_b:
            lits = [ctx.covered[a], ctx.covered[b]]
            gap: cp_model.LinearExprT = ctx.start[b] - ctx.start[a]
        elif free_b:
            if a not in ctx.fixed.assignment:
                continue
            lits = [ctx.covered[b]]
            gap = ctx.start[b] - ctx.fixed.assignment[a][1]
        else:
            if b not in ctx.fixed.assignment:
                continue
            lits = [ctx.covered[a]]
            gap = ctx.fixed.assignment[b][1] - ctx.start[a]
        m.add(gap >= lo).only_enforce_if(lits)
        if hi is not None:
            m.add(gap <= hi).only_enforce_if(lits)
