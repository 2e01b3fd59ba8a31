"""Where each rule of the spec lives: its independent check, its CP-SAT part, its evaluator.

Every rule of ``problem-format.md`` (the numbered list of "What valid rota means" and every
weight of the objective) is written three times on purpose, by three readers that must
agree: the **checker** (``scheduler.checker``, from the spec alone, one ``check_*`` per
rule), the **CP-SAT model** (``scheduler.model``, one module per family of rules, used for
the exact whole-week solve and its bound) and the **evaluator** (``scheduler.search``, the
compiled core the local search moves with). The reasons a coordinator reads for an
unassigned visit come from ``scheduler.explain``; the rule tests from ``tests/rules``.

This table is the map between them. ``tests/test_rule_homes.py`` fails when a rule of the
spec has no entry, when an entry names a function that does not exist, or when a checker
function belongs to no rule; so a rule added to the spec without its three parts, or a part
renamed without its entry, is caught.

Each place is ``"module:attribute"`` (``attribute`` may be ``Class.method``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleHome:
    key: str
    spec: tuple[str, ...]        # "valid 1" .. "valid 8" and/or "weight <name>"
    checker: tuple[str, ...]
    model: tuple[str, ...]
    evaluator: tuple[str, ...]
    explain: tuple[str, ...]
    tests: tuple[str, ...]       # files under tests/


ELIGIBILITY = "scheduler.candidates:role_allows"  # shared by the model, the evaluator and the bound

RULE_HOMES: tuple[RuleHome, ...] = (
    RuleHome("every visit once", ("valid 1",),
             ("scheduler.checker:check_every_visit_once",),
             ("scheduler.model.coverage:add_coverage",),
             ("scheduler.search.core:insert_stop", "scheduler.search.core:remove_stop"),
             ("scheduler.explain:explain_unassigned",),
             ("test_checker_robustness.py",)),
    RuleHome("roles and skills", ("valid 1",),
             ("scheduler.checker:check_roles_and_skills",),
             ("scheduler.model.coverage:add_coverage", ELIGIBILITY),
             ("scheduler.search.instance:build_instance", "scheduler.search.operators:may_take"),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_skills.py",)),
    RuleHome("double-ups: distinct carers, one start", ("valid 1",),
             ("scheduler.checker:check_roles_and_skills",),
             ("scheduler.model.coverage:add_coverage", "scheduler.model.timing:add_timing"),
             ("scheduler.search.operators:carer_free_for", "scheduler.search.core:visit_start"),
             ("scheduler.explain:Explainer._match",),
             ("rules/test_double_ups.py",)),
    RuleHome("start windows and lateness", ("valid 2", "weight lateness", "weight max_lateness"),
             ("scheduler.checker:check_start_windows",),
             ("scheduler.model.timing:add_timing",),
             ("scheduler.search.core:visit_start", "scheduler.search.core:_set_start"),
             ("scheduler.explain:Explainer._window",),
             ("rules/test_windows_and_lateness.py",)),
    RuleHome("volunteers only on volunteer_ok visits", ("valid 3",),
             ("scheduler.checker:check_volunteers",),
             ("scheduler.model.coverage:add_coverage", ELIGIBILITY),
             ("scheduler.search.instance:build_instance", ELIGIBILITY),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_volunteers.py",)),
    RuleHome("exclusions", ("valid 3",),
             ("scheduler.checker:check_exclusions",),
             ("scheduler.model.coverage:add_coverage", ELIGIBILITY),
             ("scheduler.search.instance:build_instance", ELIGIBILITY),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_exclusions_and_gender.py",)),
    RuleHome("gender preferences", ("valid 3",),
             ("scheduler.checker:check_gender",),
             ("scheduler.model.coverage:add_coverage", ELIGIBILITY),
             ("scheduler.search.instance:build_instance", ELIGIBILITY),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_exclusions_and_gender.py",)),
    RuleHome("availability (split shifts, home trips)", ("valid 4",),
             ("scheduler.checker:check_availability",),
             ("scheduler.model.timing:add_timing", "scheduler.model.routing:add_routing"),
             ("scheduler.search.core:earliest_fit", "scheduler.search.core:visit_start"),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_availability.py", "rules/test_home_travel.py")),
    RuleHome("travel between consecutive visits", ("valid 5", "weight travel"),
             ("scheduler.checker:check_travel",),
             ("scheduler.model.routing:add_routing", "scheduler.model.routing:add_midnight_travel"),
             ("scheduler.search.core:visit_start", "scheduler.search.core:route_aggregates"),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_travel.py", "rules/test_home_travel.py")),
    RuleHome("daily caps", ("valid 6",),
             ("scheduler.checker:check_daily_caps",),
             ("scheduler.model.working_time:add_working_time",),
             ("scheduler.search.core:evaluate", "scheduler.search.core:route_aggregates"),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_working_time_caps.py",)),
    RuleHome("weekly caps", ("valid 6",),
             ("scheduler.checker:check_weekly_caps",),
             ("scheduler.model.working_time:add_working_time",),
             ("scheduler.search.core:evaluate",),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_working_time_caps.py",)),
    RuleHome("rest between days", ("valid 6",),
             ("scheduler.checker:check_rest",),
             ("scheduler.model.working_time:add_working_time", "scheduler.model.routing:add_midnight_travel"),
             ("scheduler.search.core:_prev_day_end",),
             ("scheduler.explain:Explainer._funnel",),
             ("rules/test_rest.py",)),
    RuleHome("dependencies", ("valid 7",),
             ("scheduler.checker:check_dependencies",),
             ("scheduler.model.timing:add_timing",),
             ("scheduler.search.core:visit_start", "scheduler.search.core:propagate"),
             ("scheduler.explain:Explainer._window",),
             ("rules/test_dependencies.py",)),
    RuleHome("pins", ("valid 7",),
             ("scheduler.checker:check_pins",),
             ("scheduler.model.coverage:add_coverage",),
             ("scheduler.solve:Solver._place_pins", "scheduler.search.operators:may_take"),
             ("scheduler.explain:Explainer._window",),
             ("rules/test_pins.py",)),
    RuleHome("coverage by priority",
             ("valid 8", "weight unassigned_essential", "weight unassigned_important",
              "weight unassigned_optional"),
             ("scheduler.checker:check_objective_and_kpis",),
             ("scheduler.model.coverage:add_coverage",),
             ("scheduler.search.core:_count", "scheduler.search.core:objective"),
             ("scheduler.explain:explain_unassigned",),
             ("rules/test_objective.py",)),
    RuleHome("continuity: faces, preferred and familiar carers",
             ("valid 8", "weight distinct_carers", "weight non_preferred", "weight unfamiliar"),
             ("scheduler.checker:check_objective_and_kpis",),
             ("scheduler.model.continuity:add_continuity",),
             ("scheduler.search.core:_count", "scheduler.search.instance:build_instance"),
             (),
             ("rules/test_objective.py",)),
    RuleHome("contracts and cost", ("valid 8", "weight contract_shortfall", "weight cost"),
             ("scheduler.checker:check_objective_and_kpis",),
             ("scheduler.model.working_time:add_working_time",),
             ("scheduler.search.core:_carer_terms", "scheduler.search.core:evaluate"),
             (),
             ("rules/test_objective.py",)),
)
