"""Coverage: every role of a covered visit is filled by one distinct, eligible carer.

Rules (spec 1, 3 and 7): a visit is covered (every role filled) or unassigned, never half
covered; a carer fills at most one role of a visit; only eligible carers (skills, volunteer
rule, exclusions, gender preference) have a variable at all (see ``candidates``); a pinned
visit is covered by exactly its pinned carers. Objective: each uncovered visit costs the
weight of its priority (``unassigned_essential`` and so on).
"""

from __future__ import annotations

from collections import defaultdict

from scheduler.model.context import ModelContext


def add_coverage(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    for vi in sorted(ctx.scope.visits):
        visit = problem.visits[vi]
        covered = m.new_bool_var(f"covered[{visit.id}]")
        ctx.covered[vi] = covered
        by_role: dict[int, list] = defaultdict(list)
        for o in ctx.options_of_visit.get(vi, []):
            x = m.new_bool_var(f"assign[{problem.carers[o.carer].id},{visit.id},role{o.role + 1}]")
            ctx.x[(o.carer, vi, o.role)] = x
            by_role[o.role].append(x)
        for r in range(len(visit.roles)):
            if by_role[r]:
                m.add(sum(by_role[r]) == covered)
            else:
                m.add(covered == 0)
        if visit.id in problem.pin_by_visit:
            m.add(covered == 1)
        weight = ctx.weights.unassigned(visit.priority)
        # (1 - covered) * weight, written as a constant plus a negative term
        ctx.add_term(("visit", vi), f"unassigned[{visit.id}]", 1 - covered, weight)

    for (ci, vi), opts in ctx.options_of_carer_visit.items():
        xs = [ctx.x[(ci, vi, o.role)] for o in opts]
        if len(xs) == 1:
            ctx.does[(ci, vi)] = xs[0]
        else:
            does = m.new_bool_var(f"does[{problem.carers[ci].id},{problem.visits[vi].id}]")
            m.add(sum(xs) == does)  # at most one role each
            ctx.does[(ci, vi)] = does
