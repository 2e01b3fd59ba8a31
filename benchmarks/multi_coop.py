"""Many co-ops at once: N co-ops' weeks requested together, solved by 1, 2, ... Celery workers
(``python -m benchmarks.multi_coop --coops 20 --clients 150 --time-limit 10 --workers 1,2``).

It seeds the co-ops (demo weeks of ``--clients`` clients each) into a fresh PostgreSQL schema,
then for each worker count: starts that many ``carerota worker --concurrency 1`` processes (the
same command an operator runs), builds every co-op's week problem and records the runs, sends
them all to the broker at once (``t0``), and waits for the last one. Reported: the time from
``t0`` to the last run finished, each run's wait in the queue and its solve (claim to stored
rota), and the total solve time over the makespan (how busy the workers were). Every rota is
checked by the solver-independent checker and its objective compared. Each worker count solves
another week of the same co-ops (same size), so the runs of one count do not find the last
count's rotas.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any


def _env(settings: Any) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREROTA_")}
    for name in ("database_url", "database_schema", "secret_key", "broker_url", "solve_queue",
                 "solve_workers", "solve_time_limit", "run_heartbeat_seconds", "run_lease_seconds"):
        value = getattr(settings, name)
        if value is not None:
            env[f"CAREROTA_{name.upper()}"] = str(value)
    return env


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.multi_coop")
    ap.add_argument("--coops", type=int, default=20)
    ap.add_argument("--clients", type=int, default=150)
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--workers", default="1,2", help="worker counts to try, comma-separated")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    ap.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)

    import sqlalchemy as sa
    from sqlmodel import Session

    from api.main import create_app
    from api.models import Rota, SolveRun, saved_id
    from api.services.demo import seed_demo
    from api.services.problem_builder import build_problem
    from api.settings import Settings
    from scheduler.checker import check, objectives_equal
    from scheduler.example import generate_problem
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    schema = f"bench_multi_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / schema
    workdir.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=args.pg, database_schema=schema, secret_key=uuid.uuid4().hex,
                        broker_url=args.broker, solve_queue=f"bench-{schema}", solve_workers=1,
                        solve_time_limit=args.time_limit, run_heartbeat_seconds=2.0, run_lease_seconds=30.0,
                        secret_key_file=workdir / "secret", argon2_time_cost=1, argon2_memory_cost=8192,
                        argon2_parallelism=1)
    app = create_app(settings, start_pool=False)
    engine, pool = app.state.engine, app.state.pool
    carerota = str(Path(sys.executable).parent / "carerota")
    today = dt.date.today()
    monday = today + dt.timedelta(days=7 - today.weekday())
    results: dict[str, Any] = {"coops": args.coops, "clients": args.clients, "time_limit": args.time_limit,
                               "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "uptime_before": subprocess.run(["uptime"], capture_output=True,
                                                               text=True).stdout.strip(),
                               "runs": []}
    try:
        t = time.monotonic()
        coop_ids = []
        with Session(engine, expire_on_commit=False) as s:
            for i in range(args.coops):
                coop, _email, _pw = seed_demo(s, generate_problem(clients=args.clients, seed=100 + i,
                                                                  week_start=monday))
                coop_ids.append(saved_id(coop))
        results["seed_seconds"] = round(time.monotonic() - t, 1)
        print(f"seeded {args.coops} co-ops x {args.clients} clients in {results['seed_seconds']} s",
              flush=True)
        for k, n_workers in enumerate(int(w) for w in args.workers.split(",")):
            week = monday + dt.timedelta(days=7 * k)
            procs = [subprocess.Popen([carerota, "worker", "--concurrency", "1", "--name",
                                       f"bench{n_workers}-{j}@{schema}"], env=_env(settings),
                                      stdout=(workdir / f"w{n_workers}-{j}.log").open("w"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
                     for j in range(n_workers)]
            try:
                deadline = time.monotonic() + 120
                while True:
                    with engine.connect() as conn:
                        seen = conn.execute(sa.text("SELECT count(*) FROM solveworker WHERE name LIKE :p"),
                                            {"p": f"bench{n_workers}-%"}).scalar()
                    if seen == n_workers:
                        break
                    if time.monotonic() > deadline:
                        raise SystemExit(f"the {n_workers} workers did not start (logs in {workdir})")
                    time.sleep(0.5)
                t = time.monotonic()
                run_ids = []
                with Session(engine, expire_on_commit=False) as s:
                    for cid in coop_ids:
                        problem, id_map = build_problem(s, cid, week, 4)
                        run = SolveRun(coop_id=cid, week_start=week, kind="request", problem=problem,
                                       id_map=id_map, time_limit=args.time_limit)
                        s.add(run)
                        s.commit()
                        run_ids.append(saved_id(run))
                build_seconds = time.monotonic() - t
                t0_wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
                t0 = time.monotonic()
                for rid in run_ids:      # all requested together
                    pool.submit(rid)
                while True:
                    with Session(engine) as s:
                        runs = [s.get(SolveRun, rid) for rid in run_ids]
                        done = sum(r is not None and r.status in ("succeeded", "failed") for r in runs)
                    if done == len(run_ids):
                        break
                    time.sleep(0.5)
                makespan = time.monotonic() - t0
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    try:
                        p.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        p.kill()
            solves, waits, failures, checked = [], [], [], 0
            with Session(engine) as s:
                for rid in run_ids:
                    run = s.get(SolveRun, rid)
                    assert run is not None
                    if run.status != "succeeded":
                        failures.append(f"run {rid}: {run.error}")
                        continue
                    rota_row = s.get(Rota, run.rota_id)
                    assert rota_row is not None and run.started_at and run.finished_at
                    problem = problem_from_dict(rota_row.problem)
                    rota = rota_from_dict(rota_row.rota_file, problem)
                    report = check(problem, rota)
                    if not report.ok or rota.objective is None or not objectives_equal(rota.objective,
                                                                                        report.objective):
                        failures.append(f"run {rid}: the rota failed the checker")
                        continue
                    checked += 1
                    solves.append((run.finished_at - run.started_at).total_seconds())
                    waits.append(max(0.0, (run.started_at - t0_wall).total_seconds()))
            row = {"workers": n_workers, "makespan_seconds": round(makespan, 1),
                   "build_seconds": round(build_seconds, 1), "checked": checked, "failures": failures,
                   "solve_seconds_median": round(statistics.median(solves), 1) if solves else None,
                   "solve_seconds_max": round(max(solves), 1) if solves else None,
                   "queue_wait_seconds_max": round(max(waits), 1) if waits else None,
                   "busy_fraction": round(sum(solves) / (makespan * n_workers), 2) if solves else None}
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
    finally:
        results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        pool.shutdown()
        app.state.engine.dispose()
        app.state.ledger.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if all(not r["failures"] for r in results["runs"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
