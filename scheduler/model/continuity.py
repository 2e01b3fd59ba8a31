"""Continuity of care: familiar faces, preferred carers, few different carers.

Soft rules: each carer beyond the first who visits a client during the horizon costs
``distinct_carers``; each carer-visit by someone outside a client's non-empty
``preferred_carers`` costs ``non_preferred``; each carer-visit by a carer with no
``history`` with a client who has some history costs ``unfamiliar``.
"""

from __future__ import annotations

from collections import defaultdict

from scheduler.model.context import ModelContext


def add_continuity(ctx: ModelContext) -> None:
    m, problem = ctx.model, ctx.problem
    w = ctx.weights.w
    does_of_client: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for (ci, vi), does in ctx.does.items():
        visit = problem.visits[vi]
        client = problem.client_by_id[visit.client]
        carer = problem.carers[ci]
        does_of_client[client.id][ci].append(does)
        penalty = 0
        if client.preferred_carers and carer.id not in client.preferred_carers:
            penalty += w["non_preferred"]
        # a client "has history" when some carer has spent minutes with them (0 is none)
        if any(m > 0 for m in client.history.values()) and client.history.get(carer.id, 0) <= 0:
            penalty += w["unfamiliar"]
        if penalty:
            ctx.add_term(("visit", vi), f"unfamiliar_or_not_preferred[{carer.id},{visit.id}]",
                         does, penalty)
    if not w["distinct_carers"]:
        return
    fixed_carers: dict[str, set[int]] = defaultdict(set)
    for vi, (carers, _) in ctx.fixed.assignment.items():
        fixed_carers[problem.visits[vi].client].update(carers)
    clients = {problem.visits[vi].client for vi in ctx.scope.visits}
    for cid in sorted(clients):
        known = fixed_carers.get(cid, set())
        new_used = []
        for ci, lits in sorted(does_of_client.get(cid, {}).items()):
            if ci in known:
                continue
            used = m.new_bool_var(f"sees[{cid},{problem.carers[ci].id}]")
            m.add_max_equality(used, lits)
            new_used.append(used)
        if not new_used:  # nothing in this scope can change the client's count
            ctx.add_term(("client", cid), f"extra_carers[{cid}]", max(0, len(known) - 1),
                         w["distinct_carers"])
            continue
        extra = m.new_int_var(0, len(known) + len(new_used), f"extra_carers[{cid}]")
        m.add_max_equality(extra, [len(known) + sum(new_used) - 1, 0])
        ctx.add_term(("client", cid), f"extra_carers[{cid}]", extra, w["distinct_carers"])
