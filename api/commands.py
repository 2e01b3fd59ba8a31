"""``carerota serve``, ``worker``, ``scheduler`` and ``demo``: registered on the CLI by ``register(app)``."""

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
          scheduler: Annotated[bool | None, typer.Option(
              help="run the scheduled jobs in this process (default: yes without a broker, no with "
                   "one: run one `carerota scheduler` instead)")] = None,
          ) -> None:
    """Run the API (OpenAPI docs at /docs) and, without a broker, the job scheduler.

    Configuration comes from CAREROTA_* environment variables (CAREROTA_DATABASE_URL, ...)."""
    import uvicorn

    from api.jobs import JobContext, start_scheduler, stop_scheduler
    from api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings)
    app = build_app(settings)
    sched = None
    if scheduler is None:
        scheduler = not settings.broker_url
    if scheduler:
        sched = start_scheduler(JobContext(settings=settings, engine=app.state.engine, pool=app.state.pool,
                                           ledger=app.state.ledger, clock=app.state.clock))
    try:
        uvicorn.run(app, host=host, port=port, log_config=None)
    finally:
        if sched is not None:
            stop_scheduler(sched)


def worker(concurrency: Annotated[int, typer.Option(help="solve processes (one run at a time each)")] = 1,
           name: Annotated[str | None, typer.Option(help="node name (default carerota<pid>@<host>)")] = None,
           loglevel: Annotated[str, typer.Option(help="log level")] = "INFO") -> None:
    """Run a solve worker (Celery): it takes runs from CAREROTA_BROKER_URL's queue and solves them
    against CAREROTA_DATABASE_URL. Start one on every machine that should solve."""
    from api.celery_app import run_worker
    from api.db import StartupError, ensure_schema

    settings = load_settings()
    if not settings.broker_url:
        _fail(["CAREROTA_BROKER_URL: not set; a worker takes its runs from the broker "
               "(without one, `carerota serve` solves in its own processes)"])
    try:
        ensure_schema(settings.database_url, settings.database_schema)
    except StartupError as exc:
        _fail([str(exc)])
    run_worker(settings, concurrency, name, loglevel)


def scheduler(check_every: Annotated[float, typer.Option(help="seconds between liveness checks")] = 60.0,
              ) -> None:
    """Run the scheduled jobs (weekly solves, auto-confirmation) in this one process, for a
    deployment of several API processes started with `carerota serve --no-scheduler`. With a
    broker, its weekly runs go to the workers."""
    import signal
    import threading

    from api.jobs import JobContext, start_scheduler, stop_scheduler
    from api.logs import configure_logging

    settings = load_settings()
    configure_logging(settings)
    app = build_app(settings)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: stop.set())
    sched = start_scheduler(JobContext(settings=settings, engine=app.state.engine, pool=app.state.pool,
                                       ledger=app.state.ledger, clock=app.state.clock))
    print(f"carerota: scheduler running ({len(sched.get_jobs())} jobs)", file=sys.stderr, flush=True)
    try:
        while not stop.wait(check_every):
            pass
    finally:
        stop_scheduler(sched)
        app.state.pool.shutdown()


def demo(clients: Annotated[int, typer.Option(help="clients in the demo co-op")] = 12,
         seed: Annotated[int, typer.Option(help="seed of the generated week")] = 1,
         time_limit: Annotated[float, typer.Option(help="solve time limit in seconds")] = 20.0,
         publish: Annotated[bool, typer.Option(help="publish the solved rota")] = True) -> None:
    """Seed a demo co-op, run last week's rota to the end (visits confirmed, volunteers credited
    in the time bank) and the weekly solve of next week, in the worker process."""
    import datetime as dt

    from rich.console import Console
    from sqlmodel import Session

    from api.jobs import next_week_start
    from api.models import saved_id
    from api.services.demo import seed_demo, volunteer_week
    from api.services.rotas import week_of
    from api.services.visits import auto_confirm
    from scheduler.example import generate_problem

    console = Console(highlight=False)
    settings = load_settings(solve_time_limit=time_limit)
    app = build_app(settings)
    today = app.state.clock().date()
    week = next_week_start(today)
    problem = volunteer_week(generate_problem(clients=clients, seed=seed, week_start=week))
    with Session(app.state.engine, expire_on_commit=False) as s:
        coop, email, password = seed_demo(s, problem)
    n_vol = sum(c["kind"] == "volunteer" for c in problem["carers"])
    n_calls = sum(bool(v.get("volunteer_ok")) for v in problem["visits"])
    console.print(f"seeded [bold]{coop.name}[/bold] (id {coop.id}): {len(problem['carers'])} carers "
                  f"({n_vol} volunteers), {len(problem['clients'])} clients, {len(problem['visits'])} "
                  f"visits a week ({n_calls} social calls for volunteers)")
    console.print(f"coordinator login: {email} / {password}")
    try:
        last_week = week_of(today) - dt.timedelta(days=7)
        console.print(f"last week ({last_week.isoformat()}): solved, published and its visits confirmed")
        _demo_week(console, app, settings, saved_id(coop), last_week, publish=True, quiet=True)
        confirmed = auto_confirm(app.state.engine, app.state.ledger, app.state.clock(), after_hours=0)
        console.print(f"  {confirmed} visit(s) confirmed as done; their volunteers credited")
        console.print(f"weekly solve for the week of {week.isoformat()}")
        _demo_week(console, app, settings, saved_id(coop), week, publish=publish, quiet=False)
        _demo_time_bank(console, app, saved_id(coop))
        console.print("serve it with `carerota serve` and log in at /docs")
    finally:
        app.state.pool.shutdown()


def _demo_week(console, app, settings, coop_id: int, week, *, publish: bool, quiet: bool) -> None:
    """Solve ``week`` for the demo co-op in the worker, wait, optionally publish, and report."""
    import datetime as dt
    import time

    from sqlmodel import Session, select

    from api.models import Member, Rota, RotaStatus, SolveRun, Visit
    from api.services.runs import weekly_run
    from api.services.wording import gap_text

    run_id = weekly_run(app.state.engine, app.state.pool, coop_id, week, settings)
    if run_id is None:
        raise typer.Exit(1)
    while True:
        with Session(app.state.engine, expire_on_commit=False) as s:
            run = s.get(SolveRun, run_id)
            assert run is not None
            if run.status in ("succeeded", "failed"):
                break
            if run.objective is not None and not quiet:
                console.print(f"  {run.status}: objective {run.objective:g}, gap {gap_text(run.gap)}")
        time.sleep(1.0)
    if run.status == "failed":
        console.print(f"[red]the solve failed:[/red] {run.error}")
        raise typer.Exit(1)
    with Session(app.state.engine, expire_on_commit=False) as s:
        rota = s.get(Rota, run.rota_id)
        visits = list(s.exec(select(Visit).where(Visit.rota_id == run.rota_id)).all())
        if publish and rota is not None:
            rota.status = RotaStatus.published
            rota.published_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            s.add(rota)
            s.commit()
        volunteers = {m.id: m.full_name for m in s.exec(select(Member).where(
            Member.coop_id == coop_id, Member.role == "volunteer")).all()}
    covered = sum(v.status == "planned" for v in visits)
    calls = [v for v in visits if v.volunteer_ok]
    by_volunteer = [v for v in calls if any(m in volunteers for m in v.carer_ids)]
    console.print(f"  rota {run.rota_id} ({'published' if publish else 'draft'}): objective "
                  f"{run.objective:g}, gap {gap_text(run.gap)}, {covered}/{len(visits)} visits covered, "
                  f"{len(by_volunteer)}/{len(calls)} social calls by volunteers")
    if quiet:
        return
    for v in visits:
        if v.status == "unassigned":
            console.print(f"  unassigned {v.label}: {'; '.join(v.reasons)}")


def _demo_time_bank(console, app, coop_id: int) -> None:
    """Each volunteer's time-bank balance: the hours credited for the visits they gave."""
    from sqlmodel import Session, col, select

    from api.models import Member
    from api.services.bank import account_of

    with Session(app.state.engine, expire_on_commit=False) as s:
        volunteers = list(s.exec(select(Member).where(Member.coop_id == coop_id, Member.role == "volunteer")
                                 .order_by(col(Member.id))).all())
    console.print("time bank (one hour given = one credit):")
    for m in volunteers:
        minutes = app.state.ledger.balance(account_of(app.state.ledger, m))
        console.print(f"  {m.full_name}: {minutes // 60} h {minutes % 60:02d} min credited")


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


privacy_app = typer.Typer(help="Retention of personal data (the co-ops' privacy policies).",
                          no_args_is_help=True)
DryRun = Annotated[bool, typer.Option("--dry-run", help="say what would be done, change nothing")]


@privacy_app.command("retention")
def retention(dry_run: DryRun = False,
              coop: Annotated[int | None, typer.Option(help="only this co-op (id)")] = None) -> None:
    """Pseudonymise and erase what the co-ops' retention periods say has expired (the
    scheduler's ``retention`` job does the same daily). Prints what was done (or would be)."""
    import datetime as dt

    from api.db import StartupError, engine_for, ensure_schema
    from api.main import make_ledger, migrate
    from api.services.privacy import run_retention

    settings = load_settings()
    try:
        ensure_schema(settings.database_url, settings.database_schema)
        engine = engine_for(settings)
        migrate(settings, engine)
        ledger = make_ledger(settings)
    except StartupError as exc:
        _fail([str(exc)])
    try:
        report = run_retention(engine, ledger, dt.datetime.now(dt.UTC).replace(tzinfo=None), dry_run, coop)
    finally:
        engine.dispose()
        ledger.engine.dispose()
    verb = "would be" if dry_run else "were"
    print(f"retention{' (dry run)' if dry_run else ''}: {report.rotas_pseudonymised} rota versions and "
          f"{report.runs_pseudonymised} runs {verb} pseudonymised, {report.clients_erased} clients and "
          f"{report.members_erased} members {verb} erased")
    for line in report.refused:
        print(f"  kept: {line}")


federation_app = typer.Typer(help="Federations of co-ops: positions, settlement statements, clearing checks.",
                             no_args_is_help=True)


def _ledger():
    from api.db import StartupError, ensure_schema
    from api.main import make_ledger

    settings = load_settings()
    try:
        ensure_schema(settings.database_url, settings.database_schema)
        return make_ledger(settings)
    except StartupError as exc:
        _fail([str(exc)])


def _federation_ids(ledger) -> list[str]:
    import sqlalchemy as sa

    from timebank.models import federation_t

    with ledger.engine.connect() as conn:
        return [r.id for r in conn.execute(sa.select(federation_t.c.id).order_by(federation_t.c.id))]


@federation_app.command("list")
def federation_list() -> None:
    """Every federation: its member co-ops (ids as in the API), limits and positions (minutes;
    > 0 the federation owes the co-op, < 0 the co-op owes), and whether the positions sum to zero."""
    from timebank import Federations

    ledger = _ledger()
    try:
        fx = Federations(ledger)
        ids = _federation_ids(ledger)
        if not ids:
            print("no federations")
        for fid in ids:
            f = fx.get(fid)
            total = sum(m.position for m in f.members)
            print(f"federation {f.id} ({f.name}): {len(f.members)} co-op(s), positions sum to {total}")
            for m in f.members:
                state = "member" if m.active else "left"
                print(f"  co-op {m.coop_id}: position {m.position:+d} of limit {m.limit} ({state})")
    finally:
        ledger.engine.dispose()


@federation_app.command("statement")
def federation_statement(
        federation: Annotated[int, typer.Argument(help="the federation's id")],
        coop: Annotated[int, typer.Option(help="the co-op (id)")],
        start: Annotated[str, typer.Option(help="first posting date, YYYY-MM-DD")],
        end: Annotated[str, typer.Option(help="last posting date, YYYY-MM-DD")]) -> None:
    """A co-op's settlement statement for a period as CSV on stdout (per other co-op: hours given
    and received, gifts and settlements in and out, netted)."""
    import datetime as dt

    from timebank import Federations, LedgerError

    try:
        lo, hi = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        _fail([f"--start/--end: {exc}"])
    ledger = _ledger()
    try:
        sys.stdout.write(Federations(ledger).settlement_csv(str(federation), str(coop), lo, hi))
    except LedgerError as exc:
        _fail([str(exc)])
    finally:
        ledger.engine.dispose()


@federation_app.command("reconcile")
def federation_reconcile(federation: Annotated[int | None, typer.Option(help="only this federation")] = None
                         ) -> None:
    """Check the clearing invariants (positions sum to zero and stay within their limits, every
    clearing entry is a leg of a federal move, every move's two legs and every reversal are
    sound). Exit 0 when they hold, 1 on a problem (each printed). ``carerota timebank reconcile``
    includes these checks too."""
    from timebank import Federations

    ledger = _ledger()
    try:
        problems = Federations(ledger).reconcile(str(federation) if federation is not None else None)
    finally:
        ledger.engine.dispose()
    if not problems:
        print("the federations' clearing accounts reconcile")
        return
    print(f"the federations' clearing accounts do NOT reconcile: {len(problems)} problem(s)")
    for problem in problems:
        print(f"  {problem}")
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)
    app.command()(scheduler)
    app.command()(demo)
    app.add_typer(timebank_app, name="timebank")
    app.add_typer(privacy_app, name="privacy")
    app.add_typer(federation_app, name="federation")
