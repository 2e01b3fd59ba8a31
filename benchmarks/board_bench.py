"""How fast the board page and "who can cover this?" answer on a large demo week
(``python -m benchmarks.board_bench --clients 500``).

It seeds a demo co-op into a SQLite file, solves and publishes its week in the worker, then
times requests in-process (FastAPI's ``TestClient``, so no network, the HTML fully received):

- ``GET /rotas/{id}``: the API's rota read;
- ``GET /web/board`` (signed in through the sign-in form, as a browser is), the whole week and
  with a one-day filter: the page is interactive once its HTML is in (the only script,
  ``board.js``, is deferred and only adds drag and drop);
- ``GET /rotas/{id}/visits/{visit_id}/cover`` for visits whose carer "cannot come": the first
  question of the process (nothing cached yet), then the others.

``--db PATH`` keeps the seeded and solved database at PATH (with ``PATH.json`` holding the
coordinator's sign-in) and reuses it on the next run, so a run after the first times a cold
process on the same week without solving again (``--fresh`` seeds again).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path


def _seed(console, app, settings, clients: int) -> tuple[str, str]:
    from sqlmodel import Session

    from api.commands import _demo_week
    from api.jobs import next_week_start
    from api.models import saved_id
    from api.services.demo import seed_demo, volunteer_week
    from scheduler.example import generate_problem

    week = next_week_start(app.state.clock().date())
    problem = volunteer_week(generate_problem(clients=clients, seed=1, week_start=week))
    with Session(app.state.engine, expire_on_commit=False) as s:
        coop, email, password = seed_demo(s, problem)
    _demo_week(console, app, settings, saved_id(coop), week, publish=True, quiet=True)
    return email, password


def _timed(fn) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def run(console, db: Path, args) -> None:
    from fastapi.testclient import TestClient

    from api.commands import build_app, load_settings

    sidecar = db.with_name(db.name + ".json")
    reuse = db.exists() and sidecar.exists() and not args.fresh
    if not reuse:
        db.unlink(missing_ok=True)
    settings = load_settings(database_url=f"sqlite:///{db}", solve_time_limit=args.time_limit)
    app = build_app(settings)
    try:
        if reuse:
            login = json.loads(sidecar.read_text())
            email, password = login["email"], login["password"]
        else:
            email, password = _seed(console, app, settings, args.clients)
            sidecar.write_text(json.dumps({"email": email, "password": password}))
        client = TestClient(app)
        token = client.post("/auth/token", data={"username": email, "password": password}).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}
        rotas = client.get("/rotas", headers=h).json()
        rota_id = rotas[-1]["id"]
        week = rotas[-1]["week_start"]

        page = TestClient(app, follow_redirects=False)
        form = page.get("/web/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]*)"', form)
        assert csrf is not None
        r = page.post("/web/login", data={"username": email, "password": password,
                                          "csrf_token": csrf.group(1), "next": ""})
        assert r.status_code == 303, r.text

        cover_times: list[float] = []
        if not args.board_only:
            # the first question of the process first: nothing of this week is cached yet
            read_s, got = _timed(lambda: client.get(f"/rotas/{rota_id}", headers=h).json())
            rota: dict = got   # type: ignore[assignment]
            singles = [v for v in rota["visits"] if len(v["carer_ids"]) == 1][: args.questions + 1]
            for v in singles:
                s, r = _timed(lambda v=v: client.get(f"/rotas/{rota_id}/visits/{v['id']}/cover", headers=h,
                                                     params={"without": v["carer_ids"][0]}))
                assert r.status_code == 200, r.text   # type: ignore[attr-defined]
                cover_times.append(s)
        board_times, day_times, size = [], [], 0
        for _ in range(args.repeat):
            s, r = _timed(lambda: page.get("/web/board", params={"week_start": week}))
            assert r.status_code == 200, r.text   # type: ignore[attr-defined]
            board_times.append(s)
            size = len(r.content)   # type: ignore[attr-defined]
            s, r = _timed(lambda: page.get("/web/board", params={"week_start": week, "day": 2}))
            assert r.status_code == 200   # type: ignore[attr-defined]
            day_times.append(s)
        console.print(f"{args.clients} clients, week {week}, rota {rota_id}")
        console.print(f"  GET /web/board: median {statistics.median(board_times):.2f} s, max "
                      f"{max(board_times):.2f} s over {len(board_times)} ({size / 1e6:.1f} MB of HTML); "
                      f"one day: median {statistics.median(day_times):.2f} s, max {max(day_times):.2f} s")
        if cover_times:
            console.print(f"  GET /rotas/{{id}} {read_s:.2f} s; who can cover: first {cover_times[0]:.2f} s, "
                          f"then median {statistics.median(cover_times[1:]):.2f} s, max "
                          f"{max(cover_times[1:]):.2f} s over {len(cover_times) - 1} questions")
    finally:
        app.state.pool.shutdown()
        app.state.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.board_bench")
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--time-limit", type=float, default=30.0)
    ap.add_argument("--questions", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3, help="board page requests of each kind")
    ap.add_argument("--db", type=Path, default=None, help="keep (and reuse) the solved week here")
    ap.add_argument("--fresh", action="store_true", help="seed and solve again even if --db exists")
    ap.add_argument("--board-only", action="store_true", help="time only the board page")
    args = ap.parse_args(argv)

    from rich.console import Console

    console = Console(highlight=False)
    if args.db is not None:
        run(console, args.db.resolve(), args)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run(console, Path(tmp) / "bench.db", args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
