"""What every rule module shares: the CP-SAT model, its scope and its variables.

A model covers a *scope*: a set of free carer-days and a set of free visits. Everything
outside the scope is a fixed part of the current rota and enters the model as constants
(minutes already worked this week, carers a client already sees, a neighbouring day's
last visit for the rest rule). The whole week is simply the scope that frees everything,
so one model serves the exact small solve and each step of the large-neighbourhood search.

Objective terms are attached to *entities* (a visit, a carer-day, a carer, a client, the
week) so that the value of every entity can be read back after a solve and the global
objective kept exactly as a sum over entities. Penalty variables are named after what they
penalise (``late[dai-am]``, ``extra_carers[dai]``) so explanations come from the names.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from ortools.sat.python import cp_model

from scheduler.candidates import Option
from scheduler.problem import Problem

Entity = tuple  # ("visit", vi) | ("carerday", ci, d) | ("carer", ci) | ("client", k) | ("week",)
LinExpr = Any  # OR-Tools expression types do not mix cleanly with numpy-typed stubs


@dataclass
class Term:
    """``coef`` (scaled integer) times ``expr`` belongs to ``entity``; ``name`` says why."""

    entity: Entity
    name: str
    expr: LinExpr
    coef: int


@dataclass
class FixedPart:
    """The rota outside the scope, as the constants the model needs."""

    # visit index -> (carer indices in role order, start minute) for covered fixed visits
    assignment: dict[int, tuple[tuple[int, ...], int]] = field(default_factory=dict)
    # (carer, day) -> working minutes / (first start, last end) of fixed carer-days
    day_work: dict[tuple[int, int], int] = field(default_factory=dict)
    day_span: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    # (carer, day) -> first / last visit index of fixed carer-days
    day_first: dict[tuple[int, int], int] = field(default_factory=dict)
    day_last: dict[tuple[int, int], int] = field(default_factory=dict)


@dataclass
class Scope:
    carer_days: set[tuple[int, int]]
    visits: set[int]


class Weights:
    """The spec's weights as integers: every coefficient is multiplied by ``scale``."""

    def __init__(self, problem: Problem):
        fractions: dict[str, Fraction] = {k: Fraction(v).limit_denominator(10_000)
                                          for k, v in problem.weights.items()}
        cost_rates = [Fraction(c.cost_per_hour).limit_denominator(10_000) * fractions["cost"] / 60
                      for c in problem.carers]
        scale = 1
        for f in [*fractions.values(), *cost_rates]:
            scale = scale * f.denominator // _gcd(scale, f.denominator)
            if scale > 10**7:  # keep the model's integers small; rounding then applies
                scale = 10**7
                break
        self.scale = scale
        self.exact = all((f * scale).denominator == 1 for f in [*fractions.values(), *cost_rates])
        self.w = {k: round(f * scale) for k, f in fractions.items()}
        self.cost_per_minute = [round(f * scale) for f in cost_rates]

    def unassigned(self, priority: str) -> int:
        return self.w[f"unassigned_{priority}"]


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


class ModelContext:
    """The CP-SAT model of one scope, and the variables the rule modules share."""

    def __init__(self, problem: Problem, scope: Scope, fixed: FixedPart, options: list[Option],
                 weights: Weights, day_of_visit: list[int]):
        self.problem = problem
        self.scope = scope
        self.fixed = fixed
        self.weights = weights
        self.day_of_visit = day_of_visit
        self.model = cp_model.CpModel()
        self.terms: list[Term] = []
        # the options that live inside the scope
        self.options = [o for o in options
                        if o.visit in scope.visits and (o.carer, day_of_visit[o.visit]) in scope.carer_days]
        self.options_of_visit: dict[int, list[Option]] = defaultdict(list)
        self.options_of_carer_visit: dict[tuple[int, int], list[Option]] = defaultdict(list)
        for o in self.options:
            self.options_of_visit[o.visit].append(o)
            self.options_of_carer_visit[(o.carer, o.visit)].append(o)
        self.visits_of_carer_day: dict[tuple[int, int], list[int]] = defaultdict(list)
        for (ci, vi) in self.options_of_carer_visit:
            self.visits_of_carer_day[(ci, day_of_visit[vi])].append(vi)
        for lst in self.visits_of_carer_day.values():
            lst.sort(key=lambda vi: (problem.visits[vi].earliest_start, vi))
        # variables filled in by the rule modules
        self.start: dict[int, cp_model.IntVar] = {}
        self.covered: dict[int, cp_model.IntVar] = {}
        self.x: dict[tuple[int, int, int], cp_model.IntVar] = {}   # (carer, visit, role)
        self.does: dict[tuple[int, int], cp_model.IntVar] = {}     # (carer, visit)
        self.window_choice: dict[tuple[int, int, int], list[cp_model.IntVar]] = {}
        self.late: dict[int, cp_model.IntVar] = {}
        self.arcs: dict[tuple[int, int], list[tuple[int, int, cp_model.IntVar]]] = {}
        self.nodes: dict[tuple[int, int], dict[int, int]] = {}  # carer-day -> visit -> node
        self.start_bounds: dict[tuple[int, int], tuple[int, int]] = {}  # (carer, visit) -> lo, hi
        self.day_ends: dict[tuple[int, int], tuple[cp_model.IntVar, cp_model.IntVar]] = {}
        self.works: dict[tuple[int, int], cp_model.IntVar] = {}
        self.day_work: dict[tuple[int, int], LinExpr] = {}
        self.first_start: dict[tuple[int, int], cp_model.IntVar] = {}
        self.last_end: dict[tuple[int, int], cp_model.IntVar] = {}

    # -- helpers ------------------------------------------------------------------------
    def add_term(self, entity: Entity, name: str, expr: LinExpr, coef: int) -> None:
        if coef:
            self.terms.append(Term(entity, name, expr, coef))

    def duration_expr(self, ci: int, vi: int) -> LinExpr:
        """Minutes carer ``ci`` spends on visit ``vi`` (0 when not on it)."""
        visit = self.problem.visits[vi]
        opts = self.options_of_carer_visit[(ci, vi)]
        durations = {visit.role_duration(o.role) for o in opts}
        if len(durations) == 1:
            return self.does[(ci, vi)] * durations.pop()
        return sum(self.x[(ci, vi, o.role)] * visit.role_duration(o.role) for o in opts)

    def max_duration(self, ci: int, vi: int) -> int:
        visit = self.problem.visits[vi]
        return max(visit.role_duration(o.role) for o in self.options_of_carer_visit[(ci, vi)])

    def min_duration(self, ci: int, vi: int) -> int:
        visit = self.problem.visits[vi]
        return min(visit.role_duration(o.role) for o in self.options_of_carer_visit[(ci, vi)])

    def entities(self) -> set[Entity]:
        """Every entity whose value this model decides (even where its terms are zero)."""
        ents: set[Entity] = {("week",)}
        for vi in self.scope.visits:
            ents.add(("visit", vi))
            ents.add(("client", self.problem.visits[vi].client))
        for (ci, d) in self.scope.carer_days:
            ents.add(("carerday", ci, d))
            ents.add(("carer", ci))
        return ents
