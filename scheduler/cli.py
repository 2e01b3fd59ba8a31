"""The ``carerota`` command: solve a week, check a rota, make a sample week.

    carerota solve problem.json -o rota.json [--time-limit S] [--workers N] [--seed K] [--quiet]
    carerota check problem.json rota.json
    carerota example --clients N --seed K [--week-start YYYY-MM-DD] [-o FILE]

Exit codes: 0 success (``check``: the rota is valid), 1 ``check`` found violations,
2 unreadable or invalid input (the errors go to stderr, one ``field: reason`` a line,
never a traceback).

    carerota serve | demo | timebank reconcile   (the web service: ``api/commands.py``)

Adding a command: a plain function with typed parameters, registered with ``app.command()``,
importing what it needs inside its body so ``carerota solve`` does not pay for the web stack.
This module is the core's and imports nothing from ``api/``: the installed ``carerota``
command is ``carerota.cli:app``, which adds the service's commands to this ``app``.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from scheduler.problem import PRIORITIES, Problem, ProblemError, load_problem
from scheduler.rota import Rota, RotaError, gap_of, gap_text, load_rota, write_rota

app = typer.Typer(
    name="carerota",
    help="Care rota scheduling for social care co-operatives.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INVALID_ROTA = 1
EXIT_BAD_INPUT = 2
MAX_UNASSIGNED_SHOWN = 20


def _out() -> Console:
    return Console(highlight=False)


def _err() -> Console:
    return Console(stderr=True, highlight=False)


def _fail(errors: list[str], what: str) -> NoReturn:
    """Plain lines on stderr (never wrapped, so each ``field: reason`` stays greppable); exit 2."""
    typer.echo(f"error: {what}:", err=True)
    for line in errors:
        typer.echo(f"  {line}", err=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def _load(path: Path) -> Problem:
    try:
        return load_problem(path)
    except ProblemError as exc:
        _fail(exc.errors, f"{path} is not a valid problem file")


def _num(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "-"
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.{digits}f}"


def _gap(objective: float | None, bound: float | None, short: bool = False) -> str:
    gap = gap_of(objective, bound)
    return "-" if short and gap is None else gap_text(gap)


# ======================================================================================
# solve
# ======================================================================================

class _LiveProgress:
    """The solver's progress as one live line on stderr (objective, bound, gap, coverage)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.lock = threading.Lock()
        self.live = Live(Text("starting the solver ..."), console=console, refresh_per_second=4,
                         transient=False)

    def __enter__(self) -> _LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.live.__exit__(*exc)

    def __call__(self, progress: Any) -> None:
        bound = getattr(progress, "bound", None)
        objective = getattr(progress, "objective", None)
        phase = getattr(progress, "phase", "")
        line = Text.assemble(
            (f"{progress.elapsed:7.1f}s ", "dim"),
            ("objective ", "dim"), (f"{_num(objective):>14} ", "bold"),
            ("bound ", "dim"), (f"{_num(bound):>14} ", ""),
            ("gap ", "dim"), (f"{_gap(objective, bound, short=True):>8} ", "bold cyan"),
            ("covered ", "dim"), (f"{progress.covered}/{progress.visits}", "bold green"),
            (f"  {phase}" if phase else "", "dim"),
        )
        with self.lock:
            self.live.update(line)


def coverage_by_priority(problem: Problem, rota: Rota) -> dict[str, tuple[int, int]]:
    """``{priority: (covered, total)}`` from the rota's assignments."""
    covered = {a.visit for a in rota.assignments}
    total = Counter(v.priority for v in problem.visits)
    done = Counter(v.priority for v in problem.visits if v.id in covered)
    return {p: (done[p], total[p]) for p in PRIORITIES}


def coverage_bound_line(problem: Problem, rota: Rota) -> str | None:
    """What the essential-coverage bound proves about this rota, in a sentence."""
    cov = rota.kpis.get("essential_coverage_bound")
    if not isinstance(cov, dict):
        return None
    done, total = coverage_by_priority(problem, rota)["essential"]
    if done >= total:
        return None
    if cov.get("proven_maximal"):
        return (f"essential coverage proven maximal: no valid rota covers more than {done} of the "
                f"{total} essential visits ({cov.get('method')})")
    return (f"essential coverage {done} of {total}; no valid rota covers more than {cov.get('bound')} "
            f"({cov.get('method')}), so at most {int(cov.get('bound', done)) - done} more may be possible")


def print_summary(problem: Problem, rota: Rota, console: Console) -> None:
    """Coverage, unassigned visits with reasons, KPIs and the objective, as rich tables."""
    cov = Table(title="Coverage by priority", title_justify="left")
    cov.add_column("priority")
    cov.add_column("covered", justify="right")
    cov.add_column("total", justify="right")
    cov.add_column("%", justify="right")
    for prio, (done, total) in coverage_by_priority(problem, rota).items():
        pct = f"{100 * done / total:.1f}" if total else "-"
        style = "red" if prio == "essential" and done < total else ""
        cov.add_row(prio, str(done), str(total), pct, style=style)
    console.print(cov)
    line = coverage_bound_line(problem, rota)
    if line:
        console.print(line)

    if rota.unassigned:
        un = Table(title=f"Unassigned visits ({len(rota.unassigned)}"
                   + (f", first {MAX_UNASSIGNED_SHOWN} shown" if len(rota.unassigned) > MAX_UNASSIGNED_SHOWN
                      else "") + ")", title_justify="left")
        un.add_column("visit", no_wrap=True)
        un.add_column("priority")
        un.add_column("reasons")
        order = {p: i for i, p in enumerate(PRIORITIES)}
        shown = sorted(rota.unassigned, key=lambda u: (
            order.get(problem.visit_by_id[u.visit].priority if u.visit in problem.visit_by_id else "", 9),
            u.visit))
        for u in shown[:MAX_UNASSIGNED_SHOWN]:
            v = problem.visit_by_id.get(u.visit)
            un.add_row(u.visit, v.priority if v else "?", "\n".join(u.reasons) or "-")
        console.print(un)

    k = rota.kpis
    kt = Table(title="Rota", title_justify="left", show_header=False)
    kt.add_column("measure")
    kt.add_column("value", justify="right")
    kt.add_row("status", rota.status)
    kt.add_row("visits covered", f"{k.get('covered', '-')}/{k.get('visits', len(problem.visits))}")
    kt.add_row("travel minutes", _num(k.get("travel_minutes")))
    dcpc = k.get("distinct_carers_per_client")
    kt.add_row("distinct carers per client", f"{dcpc:.2f}" if isinstance(dcpc, int | float) else "-")
    kt.add_row("lateness minutes (per carer)", _num(k.get("lateness_minutes")))
    kt.add_row("contract shortfall minutes", _num(k.get("contract_shortfall_minutes")))
    kt.add_row("objective", _num(rota.objective))
    kt.add_row("best bound", _num(rota.best_bound))
    kt.add_row("gap", _gap(rota.objective, rota.best_bound))
    kt.add_row("solve time", f"{rota.solve_seconds:.1f} s" if rota.solve_seconds is not None else "-")
    console.print(kt)


@app.command()
def solve(
    problem_file: Annotated[Path, typer.Argument(help="The problem file (carerota.problem/1 JSON).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the rota file.")],
    time_limit: Annotated[float, typer.Option(help="Seconds the solver may run.", min=0.1)] = 30.0,
    workers: Annotated[int, typer.Option(help="Solver threads (0: one per core).", min=0)] = 0,
    seed: Annotated[int, typer.Option(help="Random seed (one worker + seed: reproducible).")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress or tables.")] = False,
) -> None:
    """Build the week's rota for PROBLEM_FILE and write it to -o; print a summary."""
    problem = _load(problem_file)
    from scheduler.solve import SolveOptions
    from scheduler.solve import solve as run_solver

    options = SolveOptions(time_limit=time_limit, workers=workers, seed=seed)
    out, err = _out(), _err()
    if quiet:
        rota = run_solver(problem, options)
    else:
        err.print(f"solving [bold]{problem.name or problem_file}[/]: {len(problem.visits)} visits, "
                  f"{len(problem.carers)} carers, {len(problem.clients)} clients, "
                  f"time limit {time_limit:g} s")
        with _LiveProgress(err) as live:
            rota = run_solver(problem, options, progress=live)
    try:
        write_rota(rota, problem, output)
    except OSError as exc:
        _fail([f"{output}: cannot write the file ({exc.strerror})"], "cannot write the rota")
    if quiet:
        done, total = coverage_by_priority(problem, rota)["essential"]
        typer.echo(f"{rota.status}: covered {len(rota.assignments)}/{len(problem.visits)} visits "
                   f"(essential {done}/{total}), objective {_num(rota.objective)}, "
                   f"gap {_gap(rota.objective, rota.best_bound)}; rota written to {output}")
        return
    print_summary(problem, rota, out)
    out.print(f"rota written to {output}")


# ======================================================================================
# check
# ======================================================================================

@app.command()
def check(
    problem_file: Annotated[Path, typer.Argument(help="The problem file.")],
    rota_file: Annotated[Path, typer.Argument(help="The rota file to check against it.")],
) -> None:
    """Check ROTA_FILE against every rule for PROBLEM_FILE; recompute its objective and KPIs.

    Exit 0 when the rota is valid, 1 when it breaks a rule, 2 when a file cannot be read.
    """
    problem = _load(problem_file)
    try:
        rota = load_rota(rota_file, problem)
    except RotaError as exc:
        _fail(exc.errors, f"{rota_file} is not a readable rota file")
    except UnicodeDecodeError as exc:
        _fail([f"{rota_file}: not UTF-8 text (byte {exc.start})"], f"{rota_file} is not a readable rota file")
    from scheduler.checker import check as run_checker

    report = run_checker(problem, rota)
    out = _out()
    if report.violations:
        vt = Table(title=f"Violations ({len(report.violations)})", title_justify="left")
        vt.add_column("rule", no_wrap=True)
        vt.add_column("what is wrong")
        for v in report.violations:
            vt.add_row(v.rule, v.message)
        out.print(vt)
    for w in getattr(report, "warnings", []):
        out.print(f"[yellow]warning:[/] {w.message}")
    bt = Table(title="Objective (recomputed)", title_justify="left")
    bt.add_column("term")
    bt.add_column("weighted value", justify="right")
    for term, value in report.breakdown.items():
        if value:
            bt.add_row(term, _num(value))
    bt.add_row("total", _num(report.objective), style="bold")
    if rota.objective is not None:
        bt.add_row("claimed by the rota", _num(rota.objective))
    out.print(bt)
    kt = Table(title="KPIs (recomputed)", title_justify="left", show_header=False)
    kt.add_column("kpi")
    kt.add_column("value", justify="right")
    for key, value in report.kpis.items():
        kt.add_row(key, _num(value) if isinstance(value, int | float) else str(value))
    out.print(kt)
    if report.ok:
        out.print("[bold green]valid[/]: the rota keeps every rule")
        return
    out.print(f"[bold red]invalid[/]: {len(report.violations)} violation(s)")
    raise typer.Exit(EXIT_INVALID_ROTA)


# ======================================================================================
# example
# ======================================================================================

def _parse_date(text: str) -> date:
    try:
        return datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise typer.BadParameter(f"must be a date like 2026-11-30, got {text!r}") from None


@app.command()
def example(
    clients: Annotated[int, typer.Option(help="Number of clients (about 17-18 visits each).", min=1)] = 40,
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same week.")] = 1,
    week_start: Annotated[str, typer.Option(help="Monday of the week (YYYY-MM-DD; another day "
                                            "moves to the next Monday).")] = "2026-11-30",
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write here instead of stdout.")] = None,
) -> None:
    """Write a realistic sample co-op week as a problem file (JSON)."""
    from scheduler.example import generate_problem

    problem = generate_problem(clients=clients, seed=seed, week_start=_parse_date(week_start))
    text = json.dumps(problem, indent=1) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail([f"{output}: cannot write the file ({exc.strerror})"], "cannot write the example")
    _err().print(f"wrote {output}: {len(problem['visits'])} visits, {len(problem['carers'])} carers, "
                 f"{len(problem['clients'])} clients")



def main() -> None:  # pragma: no cover - the console script calls `app` directly
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
