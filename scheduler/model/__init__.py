"""The CP-SAT model of a rota, one module per family of rules.

Each ``add_*`` function states its rule in its module docstring, adds its constraints to
the shared :class:`~scheduler.model.context.ModelContext` and attaches its part of the
objective as named terms.
"""

from scheduler.model.context import FixedPart, ModelContext, Scope, Term, Weights
from scheduler.model.continuity import add_continuity
from scheduler.model.coverage import add_coverage
from scheduler.model.routing import add_midnight_travel, add_routing
from scheduler.model.timing import add_timing
from scheduler.model.working_time import add_working_time

RULES = (add_coverage, add_timing, add_routing, add_midnight_travel, add_working_time, add_continuity)

__all__ = ["RULES", "FixedPart", "ModelContext", "Scope", "Term", "Weights"]
