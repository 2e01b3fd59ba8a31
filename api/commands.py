"""``carerota serve`` and ``carerota demo``: registered on the CLI by ``register(app)``."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from api.settings import Settings


def _fail(lines: list[str]) -> None:
    for line in lines:
        print(f"carerota: {line}", file=sys.stderr)
    raise typer.Exit(2)


def load_settings(**update: Any) -> Settings:
    """The settings from CAREROTA_* variables; a bad one is a line naming it and exit 2."""
    from pydantic import ValidationError

    from api.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        _fail([f"CAREROTA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()])
    return settings.model_copy(update=update) if update else settings


def build_app(settings: Settings):
    """``create_app`` with start-up faults (database unreachable, schema not creatable) as one
    line and exit 2 instead of a traceback."""
    import sqlalchemy as sa

    from api.db import StartupError, _first_line
    from api.main import create_app

    try:
        return create_app(settings)
    except StartupError as exc:
        _fail([str(exc)])
    except sa.exc.OperationalError as exc:
        url = sa.make_url(settings.database_url).render_as_string()
        _fail([f"CAREROTA_DATABASE_URL: cannot use the database {url}: {_first_line(exc)}"])



def serve(host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8000,
          scheduler: Annotated[bool, typer.Option(help="run the scheduled jobs in this process")] = True,
          ) -> None:
    """Run the API (OpenAPI docs at /docs) and the job scheduler.

    Configuration comes from CAREROTA_* environment variables (CAREROTA_DATABASE_URL, ...)."""
    import uvicorn

    from api.jobs import JobContext, start_scheduler, stop_scheduler

    settings = load_settings()
    app = build_app(settings)
    sched = None
    if scheduler:
        sched = start_scheduler(JobContext(settings=settings, engine=app.state.engine, pool=app.state.pool,
                                           ledger=app.state.ledger, clock=app.state.clock))
    try:
        uvicorn.run(app, host=host, port=port)
    finally:
        if sched is not None:
            stop_scheduler(sched)


def demo(clients: Annotated[int, typer.Option(help="clients in the demo co-op")] = 12,
         seed: Annotated[int, typer.Option(help="seed of the generated week")] = 1,
         time_limit: Annotated[float, typer.Option(help="solve time limit in seconds")] = 20.0,
         publish: Annotated[bool, typer.Option(help="publish the solved rota")] = True) -> None:
    """Seed a demo co-op and run its weekly solve end to end (in the worker process)."""
    import datetime as dt
    import time

    from rich.console import Console
    from sqlmodel import Session

    from api.jobs import next_week_start
    from api.models import Rota, SolveRun, Visit
    from api.services.demo import seed_demo
    from api.services.runs import weekly_run
    from api.services.wording import gap_text
    from scheduler.example import generate_problem

    console = Console(highlight=False)
    settings = load_settings(solve_time_limit=time_limit)
    app = build_app(settings)
    week = next_week_start(app.state.clock().date())
    problem = generate_problem(clients=clients, seed=seed, week_start=week)
    with Session(app.state.engine, expire_on_commit=False) as s:
        coop, email, password = seed_demo(s, problem)
    console.print(f"seeded [bold]{coop.name}[/bold] (id {coop.id}): {len(problem['carers'])} carers, "
                  f"{len(problem['clients'])} clients, {len(problem['visits'])} visits a week")
    console.print(f"coordinator login: {email} / {password}")
    run_id = weekly_run(app.state.engine, app.state.pool, coop.id, week, settings)
    if run_id is None:
        raise typer.Exit(1)
    console.print(f"weekly solve for the week of {week.isoformat()}: run {run_id}")
    try:
        while True:
            with Session(app.state.engine, expire_on_commit=False) as s:
                run = s.get(SolveRun, run_id)
                assert run is not None
                if run.status in ("succeeded", "failed"):
                    break
                if run.objective is not None:
                    console.print(f"  {run.status}: objective {run.objective:g}, gap {gap_text(run.gap)}")
            time.sleep(1.0)
        if run.status == "failed":
            console.print(f"[red]the solve failed:[/red] {run.error}")
            raise typer.Exit(1)
        with Session(app.state.engine, expire_on_commit=False) as s:
            rota = s.get(Rota, run.rota_id)
            visits = [v for v in s.query(Visit).filter(Visit.rota_id == run.rota_id)]
            if publish and rota is not None:
                rota.status, rota.published_at = "published", dt.datetime.now(dt.UTC).replace(tzinfo=None)
                s.add(rota)
                s.commit()
        covered = sum(v.status == "planned" for v in visits)
        console.print(f"rota {run.rota_id} ({'published' if publish else 'draft'}): objective "
                      f"{run.objective:g}, gap {gap_text(run.gap)}, {covered}/{len(visits)} visits covered")
        for v in visits:
            if v.status == "unassigned":
                console.print(f"  unassigned {v.label}: {'; '.join(v.reasons)}")
        console.print("serve it with `carerota serve` and log in at /docs")
    finally:
        app.state.pool.shutdown()


timebank_app = typer.Typer(help="The time bank's ledger (in the service's database).", no_args_is_help=True)


@timebank_app.command("reconcile")
def reconcile(coop: Annotated[int | None, typer.Option(help="only this co-op (id)")] = None) -> None:
    """Prove the books: running balances equal the entries, every transaction balances, every
    reversal mirrors its original, every co-op sums to zero. Exit 0 when they do, 1 on any
    mismatch (each one printed), 2 when the database cannot be used."""
    from api.db import StartupError, ensure_schema
    from api.main import make_ledger

    settings = load_settings()
    try:
        ensure_schema(settings.database_url, settings.database_schema)
        ledger = make_ledger(settings)
    except StartupError as exc:
        _fail([str(exc)])
    try:
        report = ledger.reconcile(str(coop) if coop is not None else None)
    finally:
        ledger.engine.dispose()
    scope = f"co-op {coop}" if coop is not None else "all co-ops"
    counts = f"{report.accounts} accounts, {report.transactions} transactions, {report.entries} entries"
    if report.ok:
        print(f"the ledger reconciles ({scope}): {counts}; every co-op sums to zero")
        return
    print(f"the ledger does NOT reconcile ({scope}): {len(report.problems)} problem(s) in {counts}")
    for problem in report.problems:
        print(f"  {problem}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(demo)
    app.add_typer(timebank_app, name="timebank")
