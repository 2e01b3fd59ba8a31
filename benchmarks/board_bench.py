"""How fast the board page and "who can cover this?" answer on a large demo week
(``python -m benchmarks.board_bench --clients 500``).

It seeds a demo co-op into a SQLite file, solves and publishes its week in the worker, then
times requests in-process (FastAPI's ``TestClient``, so no network, the HTML fully received):

- ``GET /rotas/{id}``: the API's rota read;
- ``GET /web/board`` (signed in through the sign-in form, as a browser is), the whole week and
  with a one-day filter: the page is interactive once its HTML is in (the only script,
  ``board.js``, is deferred and only adds drag and drop);
- ``GET /rotas/{id}/visits/{visit_id}/cover`` for visits whose carer "cannot come": cold (the
  first question about the week, nothing built: the board's prebuild turned off), then the
  others; then, with the week forgotten, as a coordinator meets it: the board page (which
  starts building the week in a thread) and at once the first question, then the others.

Each figure is wall seconds and the process's CPU seconds (on a shared machine the first
includes waiting for a core).

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


CPU: list[float] = []   # the process's CPU seconds of each timed call (all its threads)


def _timed(fn) -> tuple[float, object]:
    """Wall seconds of ``fn()`` (and its CPU seconds appended to ``CPU``: on a shared machine
    the wall figure includes waiting for a core, the CPU figure does not)."""
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    CPU.append(time.process_time() - c)
    return time.perf_counter() - t, out


def _cpu(n: int) -> str:
    last = CPU[-n:]
    return f"CPU median {statistics.median(last):.2f} s, max {max(last):.2f} s"


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

        from api.web import cover
        from scheduler.cover import warm_up

        def ask(v: dict) -> float:
            s, r = _timed(lambda: client.get(f"/rotas/{rota_id}/visits/{v['id']}/cover", headers=h,
                                             params={"without": v["carer_ids"][0]}))
            assert r.status_code == 200, r.text   # type: ignore[attr-defined]
            return s

        console.print(f"{args.clients} clients, week {week}, rota {rota_id}")
        if not args.board_only:
            # the first question of the process first: nothing of this week is built yet (the
            # core's struct constructors are compiled by the app's start-up warm-up, waited for
            # here as a running service has long done it)
            warm_up()
            cover.PREBUILD = False
            read_s, got = _timed(lambda: client.get(f"/rotas/{rota_id}", headers=h).json())
            read_cpu = CPU[-1]
            rota: dict = got   # type: ignore[assignment]
            singles = [v for v in rota["visits"] if len(v["carer_ids"]) == 1][: 2 * args.questions + 2]
            first = ask(singles[0])
            first_cpu = CPU[-1]
            later = [ask(v) for v in singles[1: args.questions + 1]]
            console.print(f"  GET /rotas/{{id}} {read_s:.2f} s (CPU {read_cpu:.2f} s)")
            console.print(f"  who can cover, cold (nothing built): first {first:.2f} s "
                          f"(CPU {first_cpu:.2f} s), then median {statistics.median(later):.2f} s, "
                          f"max {max(later):.2f} s over {len(later)} questions ({_cpu(len(later))})")
            # as a coordinator meets it: the board shows the week (and builds its compiled week
            # in a thread), then the first question, sent as soon as the page is in
            cover.PREBUILD = True
            cover._SESSIONS.clear()
            cover._FINGERPRINTS.clear()
            s, r = _timed(lambda: page.get("/web/board", params={"week_start": week}))
            assert r.status_code == 200   # type: ignore[attr-defined]
            after = [ask(v) for v in singles[args.questions + 1:]]
            console.print(f"  who can cover, after the board page ({s:.2f} s): first {after[0]:.2f} s "
                          f"(CPU {CPU[-len(after)]:.2f} s), then median "
                          f"{statistics.median(after[1:]):.2f} s, max {max(after[1:]):.2f} s")
        board_times, day_times, size = [], [], 0
        for _ in range(args.repeat):
            s, r = _timed(lambda: page.get("/web/board", params={"week_start": week}))
            assert r.status_code == 200, r.text   # type: ignore[attr-defined]
            board_times.append(s)
            size = len(r.content)   # type: ignore[attr-defined]
        board_cpu = _cpu(args.repeat)
        for _ in range(args.repeat):
            s, r = _timed(lambda: page.get("/web/board", params={"week_start": week, "day": 2}))
            assert r.status_code == 200   # type: ignore[attr-defined]
            day_times.append(s)
        console.print(f"  GET /web/board: median {statistics.median(board_times):.2f} s, max "
                      f"{max(board_times):.2f} s over {len(board_times)} ({board_cpu}; {size / 1e6:.1f} MB "
                      f"of HTML); one day: median {statistics.median(day_times):.2f} s, max "
                      f"{max(day_times):.2f} s ({_cpu(args.repeat)})")
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
