"""The rota file (`carerota.rota/1`): values, reading and writing.

A rota names, for every visit, either the carers (one per role, in role order) and the
start minute, or the reasons it is left unassigned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scheduler.problem import Problem, ProblemError, parse_time

ROTA_FORMAT = "carerota.rota/1"
STATUSES = ("optimal", "feasible", "infeasible", "unknown")


@dataclass(frozen=True)
class Assignment:
    visit: str
    carers: tuple[str, ...]
    start: int  # minutes from the horizon start


@dataclass(frozen=True)
class Unassigned:
    visit: str
    reasons: tuple[str, ...] = ()


@dataclass
class Rota:
    problem: str
    status: str
    assignments: list[Assignment]
    unassigned: list[Unassigned]
    objective: float | None = None
    best_bound: float | None = None
    kpis: dict[str, Any] = field(default_factory=dict)
    solve_seconds: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def assignment_of(self) -> dict[str, Assignment]:
        return {a.visit: a for a in self.assignments}


def gap_of(objective: float | None, bound: float | None) -> float | None:
    """The one definition of the optimality gap (solver, CLI, API and benchmarks all use it):
    how far the rota may be from the best possible, as a fraction of its objective (0: proven
    optimal, 0.25: at most 25% could be saved). ``None`` (unknown) when no bound is proven,
    which includes a bound of 0 or less for a positive objective: every term of the objective
    is non-negative, so such a bound proves nothing."""
    if objective is None or bound is None:
        return None
    if objective <= 0:
        return 0.0 if bound >= objective else None
    if bound <= 0:
        return None
    return min(1.0, max(0.0, (objective - bound) / objective))


def gap_text(gap: float | None) -> str:
    """The gap as a person reads it: ``'3.4%'``, or ``'unknown (no bound proven)'``."""
    if gap is None:
        return "unknown (no bound proven)"
    return f"{100 * gap:.1f}%"


class RotaError(ProblemError):
    """A rota file that cannot be read (as opposed to one that breaks a rule)."""


def rota_to_dict(rota: Rota, problem: Problem) -> dict[str, Any]:
    out: dict[str, Any] = {
        "format": ROTA_FORMAT,
        "problem": rota.problem,
        "status": rota.status,
        "assignments": [{"visit": a.visit, "carers": list(a.carers), "start": problem.iso(a.start)}
                        for a in rota.assignments],
        "unassigned": [{"visit": u.visit, "reasons": list(u.reasons)} for u in rota.unassigned],
        "objective": rota.objective,
        "best_bound": rota.best_bound,
        "kpis": rota.kpis,
        "solve_seconds": rota.solve_seconds,
    }
    out.update(rota.extra)
    return out


def write_rota(rota: Rota, problem: Problem, path: str | Path) -> None:
    Path(path).write_text(json.dumps(rota_to_dict(rota, problem), indent=1) + "\n",
                          encoding="utf-8")


def rota_from_dict(raw: Any, problem: Problem) -> Rota:
    """Read a rota for ``problem``; structural errors (not rule breaks) raise RotaError."""
    errors: list[str] = []
    if not isinstance(raw, dict):
        raise RotaError(["rota: must be a JSON object"])
    if raw.get("format") != ROTA_FORMAT:
        errors.append(f"format: must be '{ROTA_FORMAT}', got {raw.get('format')!r}")
    status = raw.get("status", "unknown")
    if status not in STATUSES:
        errors.append(f"status: must be one of {', '.join(STATUSES)}, got {status!r}")
    assignments: list[Assignment] = []
    for i, a in enumerate(raw.get("assignments") or []):
        path = f"assignments[{i}]"
        if not isinstance(a, dict):
            errors.append(f"{path}: must be an object")
            continue
        visit, carers, start = a.get("visit"), a.get("carers"), a.get("start")
        if not isinstance(visit, str):
            errors.append(f"{path}.visit: must be a visit id")
            continue
        if not isinstance(carers, list) or not all(isinstance(c, str) for c in carers):
            errors.append(f"{path}.carers: must be a list of carer ids")
            continue
        try:
            when = parse_time(start) if isinstance(start, str) else None
        except ValueError:
            when = None
        if when is None:
            errors.append(f"{path}.start: must be a time like '2026-11-30T08:00'")
            continue
        assignments.append(Assignment(visit, tuple(carers), problem.minute_of(when)))
    unassigned: list[Unassigned] = []
    for i, u in enumerate(raw.get("unassigned") or []):
        if not isinstance(u, dict) or not isinstance(u.get("visit"), str):
            errors.append(f"unassigned[{i}].visit: must be a visit id")
            continue
        reasons = u.get("reasons") or []
        unassigned.append(Unassigned(u["visit"], tuple(str(x) for x in reasons)))
    if errors:
        raise RotaError(errors)
    known = {"format", "problem", "status", "assignments", "unassigned", "objective",
             "best_bound", "kpis", "solve_seconds"}
    return Rota(
        problem=str(raw.get("problem", "")), status=str(status), assignments=assignments,
        unassigned=unassigned, objective=raw.get("objective"), best_bound=raw.get("best_bound"),
        kpis=dict(raw.get("kpis") or {}), solve_seconds=raw.get("solve_seconds"),
        extra={k: v for k, v in raw.items() if k not in known},
    )


def load_rota(path: str | Path, problem: Problem) -> Rota:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RotaError([f"{path}: cannot read the file ({exc.strerror})"]) from None
    except json.JSONDecodeError as exc:
        raise RotaError([f"{path}: not valid JSON at line {exc.lineno} column {exc.colno}: "
                         f"{exc.msg}"]) from None
    return rota_from_dict(raw, problem)
