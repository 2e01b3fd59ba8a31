"""``carerota serve`` and ``carerota demo``: registered on the CLI by ``register(app)``."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port")] = 8000,
          scheduler: Annotated[bool, typer.Option(help="run the scheduled jobs in this process")] = True,
          ) -> None:
    """Run the API (OpenAPI docs at /docs) and the job scheduler.

    Configuration comes from CAREROTA_* environment variables (CAREROTA_DATABASE_URL, ...)."""
    import uvicorn

    from api.jobs import JobContext, start_scheduler, stop_scheduler
    from api.main import create_app
    from api.settings import get_settings

    settings = get_settings()
    app = create_app(settings)
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
    from api.main import create_app
    from api.models import Rota, SolveRun, Visit
    from api.services.demo import seed_demo
    from api.services.runs import weekly_run
    from api.settings import get_settings
    from scheduler.example import generate_problem

    console = Console(highlight=False)
    settings = get_settings().model_copy(update={"solve_time_limit": time_limit})
    app = create_app(settings)
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
                    gap = f", gap {run.gap:.1%}" if run.gap is not None else ""
                    console.print(f"  {run.status}: objective {run.objective:g}{gap}")
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
                      f"{run.objective:g}, {covered}/{len(visits)} visits covered")
        for v in visits:
            if v.status == "unassigned":
                console.print(f"  unassigned {v.label}: {'; '.join(v.reasons)}")
        console.print("serve it with `carerota serve` and log in at /docs")
    finally:
        app.state.pool.shutdown()


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(demo)
