"""Working time: daily and weekly caps, rest between days, contracts and cost.

Rules (spec 6): a carer's working minutes (visit minutes plus, by the rules, travel) stay
within ``max_minutes_per_day`` on every calendar day and ``max_minutes_per_week`` over the
horizon; staff who work two consecutive days have ``min_rest_minutes`` between the last
end of the first and the first start of the second (UK Working Time Regulations).
Objective: each minute a staff carer works under ``contracted_minutes`` costs
``contract_shortfall`` (volunteers complement paid staff, never displace them), and every
paid working minute costs ``cost`` x ``hourly_cost`` / 60.
"""

from __future__ import annotations

from collections import defaultdict

from scheduler.model.context import ModelContext


def add_working_time(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    days_of: dict[int, list[int]] = defaultdict(list)
    for (ci, d) in ctx.scope.carer_days:
        days_of[ci].append(d)
    fixed_week: dict[int, int] = defaultdict(int)
    for (ci, _d), minutes in ctx.fixed.day_work.items():
        if ci in days_of:
            fixed_week[ci] += minutes
    w_short = ctx.weights.w["contract_shortfall"]
    for ci, days in sorted(days_of.items()):
        carer = problem.carers[ci]
        week_terms = []
        for d in sorted(days):
            work = ctx.day_work.get((ci, d), 0)
            if not isinstance(work, int):
                m.add(work <= carer.max_minutes_per_day)
            week_terms.append(work)
        free_work = sum(week_terms)
        if not isinstance(free_work, int):
            m.add(free_work + fixed_week[ci] <= carer.max_minutes_per_week)
        if not carer.is_volunteer and problem.rules.min_rest_minutes > 0:
            _add_rest(ctx, ci, sorted(days))
        if carer.contracted_minutes and not carer.is_volunteer and w_short:
            need = carer.contracted_minutes - fixed_week[ci]
            shortfall = m.new_int_var(0, max(0, need), f"contract_shortfall[{carer.id}]")
            m.add_max_equality(shortfall, [need - free_work, 0])
            ctx.add_term(("carer", ci), f"contract_shortfall[{carer.id}]", shortfall, w_short)
        rate = ctx.weights.cost_per_minute[ci]
        if rate:
            ctx.add_term(("carer", ci), f"cost[{carer.id}]", free_work + fixed_week[ci], rate)
    # a staff carer with no day in the model and none fixed works 0 minutes: the whole
    # contract is short (a constant, but the objective and its proven bound must include it)
    worked = set(days_of) | {ci for (ci, _d) in ctx.fixed.day_work}
    for ci, carer in enumerate(problem.carers):
        if ci not in worked and carer.contracted_minutes and not carer.is_volunteer and w_short:
            ctx.add_term(("carer", ci), f"contract_shortfall[{carer.id}]", carer.contracted_minutes, w_short)


def _add_rest(ctx: ModelContext, ci: int, days: list[int]) -> None:
    m, rest = ctx.model, ctx.problem.rules.min_rest_minutes
    in_scope = set(days)
    for d in days:
        if (ci, d) not in ctx.works:
            continue
        works, first, last = ctx.works[(ci, d)], ctx.first_start[(ci, d)], ctx.last_end[(ci, d)]
        nxt = d + 1
        if nxt in in_scope and (ci, nxt) in ctx.works:
            m.add(ctx.first_start[(ci, nxt)] - last >= rest).only_enforce_if(
                [works, ctx.works[(ci, nxt)]])
        elif nxt not in in_scope and (ci, nxt) in ctx.fixed.day_span:
            m.add(ctx.fixed.day_span[(ci, nxt)][0] - last >= rest).only_enforce_if(works)
        prev = d - 1
        if prev not in in_scope and (ci, prev) in ctx.fixed.day_span:
            m.add(first - ctx.fixed.day_span[(ci, prev)][1] >= rest).only_enforce_if(works)
