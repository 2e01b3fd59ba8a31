"""How fast the service answers "who can cover this?" and the rota read behind the board, on a
large demo week (``python -m benchmarks.board_bench --clients 500``).

It seeds a demo co-op into a fresh SQLite file, solves and publishes its week in the worker,
then times requests in-process (FastAPI's ``TestClient``, so no network): ``GET /rotas/{id}``
(the rota read the board is built from) and ``GET /rotas/{id}/visits/{visit_id}/cover`` for
visits whose carer "cannot come" (the first question of a week builds the compiled week; the
figure reported for the others is what a coordinator waits after that).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.board_bench")
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--questions", type=int, default=8)
    args = ap.parse_args(argv)

    from fastapi.testclient import TestClient
    from rich.console import Console
    from sqlmodel import Session

    from api.commands import _demo_week, build_app, load_settings
    from api.jobs import next_week_start
    from api.models import saved_id
    from api.services.demo import seed_demo, volunteer_week
    from scheduler.example import generate_problem

    console = Console(highlight=False)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}",
                                 solve_time_limit=args.time_limit)
        app = build_app(settings)
        try:
            week = next_week_start(app.state.clock().date())
            problem = volunteer_week(generate_problem(clients=args.clients, seed=1, week_start=week))
            with Session(app.state.engine, expire_on_commit=False) as s:
                coop, email, password = seed_demo(s, problem)
            _demo_week(console, app, settings, saved_id(coop), week, publish=True, quiet=True)
            client = TestClient(app)
            token = client.post("/auth/token", data={"username": email, "password": password}).json()
            h = {"Authorization": f"Bearer {token['access_token']}"}
            rotas = client.get("/rotas", headers=h).json()
            rota_id = rotas[0]["id"]
            t = time.perf_counter()
            rota = client.get(f"/rotas/{rota_id}", headers=h).json()
            read_s = time.perf_counter() - t
            singles = [v for v in rota["visits"] if len(v["carer_ids"]) == 1][: args.questions + 1]
            times = []
            for v in singles:
                t = time.perf_counter()
                r = client.get(f"/rotas/{rota_id}/visits/{v['id']}/cover", headers=h,
                               params={"without": v["carer_ids"][0]})
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.text
            console.print(f"{args.clients} clients, {len(rota['visits'])} visits: GET /rotas/{{id}} "
                          f"{read_s:.2f} s; who can cover: first {times[0]:.2f} s, then median "
                          f"{statistics.median(times[1:]):.2f} s, max {max(times[1:]):.2f} s "
                          f"over {len(times) - 1} questions")
        finally:
            app.state.pool.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
