"""A bounded load test of two API processes on PostgreSQL, on loopback
(``python -m benchmarks.load_bench --users 50,200 --duration 20 [--kill]``).

Setup: a fresh PostgreSQL schema with a demo co-op (``--clients`` clients), this week's rota
solved, checked and published, every volunteer given hours in the time bank; two
``carerota serve --no-scheduler`` processes on free ports sharing ``CAREROTA_SECRET_KEY`` and
rate-limit counters in Redis (``--redis``; limits raised for the test). Then, for each number
of concurrent users, a closed loop (no think time) for ``--duration`` seconds in one asyncio
client, users spread over the two processes: carers read ``GET /me/rota``, volunteers read
``GET /me/timebank`` or give a minute (``POST /me/timebank/gifts`` with an ``Idempotency-Key``),
coordinators edit a client (``PATCH /clients/{id}``). A request that cannot connect is sent
again, with the same key, to the other process.

Asserted at the end of every phase: zero 5xx, every acknowledged gift in the ledger exactly
once, and the ledger reconciling. ``--kill`` adds a phase at the largest user count where one
API process is ``kill -9``-ed halfway: what clients saw is reported (connection errors, all
retried on the survivor) and the same assertions must hold.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return round(1000 * values[min(len(values) - 1, int(q * len(values)))], 1)


class Stats:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = defaultdict(list)
        self.codes: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.conn_errors = 0
        self.timeouts = 0
        self.retried_ok = 0
        self.acked: list[tuple[int, str]] = []   # (volunteer member id, key) of gifts answered 201

    def row(self, duration: float) -> dict[str, Any]:
        out = {}
        for ep, values in sorted(self.lat.items()):
            out[ep] = {"requests": len(values), "rps": round(len(values) / duration, 1),
                       "p50_ms": _pct(values, 0.50), "p95_ms": _pct(values, 0.95),
                       "p99_ms": _pct(values, 0.99),
                       "codes": dict(sorted(self.codes[ep].items()))}
        return out


async def _phase(ports: list[int], users: list[dict], duration: float, stats: Stats, seed: int,
                 on_half: Any = None) -> None:
    import httpx

    rnd = random.Random(seed)
    volunteers = [u for u in users if u["role"] == "volunteer"]
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=len(users) + 10, max_keepalive_connections=len(users) + 10)
    async with httpx.AsyncClient(timeout=60.0, limits=limits) as http:

        async def send(method: str, path: str, u: dict, ep: str, **kw: Any) -> httpx.Response | None:
            order = [u["port"], *[p for p in ports if p != u["port"]]]
            headers = {"Authorization": f"Bearer {u['token']}", **kw.pop("headers", {})}
            for attempt, port in enumerate(order):
                t = time.perf_counter()
                try:
                    r = await http.request(method, f"http://127.0.0.1:{port}{path}", headers=headers, **kw)
                except httpx.TimeoutException:
                    stats.timeouts += 1      # no answer in 60 s: not acknowledged, not retried
                    return None
                except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
                    stats.conn_errors += 1
                    u["port"] = order[(attempt + 1) % len(order)]   # fail over for good
                    continue
                stats.lat[ep].append(time.perf_counter() - t)
                stats.codes[ep][r.status_code] += 1
                if attempt:
                    stats.retried_ok += 1
                return r
            return None

        async def user_loop(u: dict) -> None:
            while time.monotonic() < deadline:
                if u["role"] == "staff":
                    await send("GET", "/me/rota", u, "GET /me/rota")
                elif u["role"] == "volunteer":
                    if rnd.random() < 0.3 and len(volunteers) > 1:
                        to = rnd.choice([v for v in volunteers if v is not u])
                        key = uuid.uuid4().hex
                        body = {"to_member_id": to["id"], "minutes": 1}
                        r = await send("POST", "/timebank/gifts", u, "POST /timebank/gifts",
                                       json=body, headers={"Idempotency-Key": key})
                        if r is not None and r.status_code == 201:
                            stats.acked.append((u["id"], key))
                    else:
                        await send("GET", "/me/timebank", u, "GET /me/timebank", params={"limit": 20})
                else:
                    cid = rnd.choice(u["clients"])
                    await send("PATCH", f"/clients/{cid}", u, "PATCH /clients/{id}",
                               json={"access_notes": f"key safe code {rnd.randint(1000, 9999)}"})

        tasks = [asyncio.create_task(user_loop(u)) for u in users]
        if on_half is not None:
            await asyncio.sleep(duration / 2)
            on_half()
        await asyncio.gather(*tasks)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.load_bench")
    ap.add_argument("--users", default="50,200")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--kill", action="store_true", help="add a phase with one API process kill -9-ed halfway")
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/12")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    import sqlalchemy as sa
    from sqlmodel import Session, select

    from api.main import create_app
    from api.models import Client, Member, Rota, RotaStatus, SolveRun, saved_id, utcnow
    from api.security import hash_password
    from api.services.bank import account_of
    from api.services.demo import seed_demo, volunteer_week
    from api.services.problem_builder import build_problem
    from api.settings import Settings
    from api.worker import execute_run
    from scheduler.checker import check, objectives_equal
    from scheduler.example import generate_problem
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    schema = f"bench_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.pg)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / schema
    workdir.mkdir(parents=True, exist_ok=True)
    secret = uuid.uuid4().hex + uuid.uuid4().hex
    over = dict(database_url=args.pg, database_schema=schema, secret_key=secret, redis_url=args.redis,
                rate_limit_login="100000/minute", rate_limit_login_ip="1000000/minute",
                rate_limit_write="1000000/minute", argon2_time_cost=1, argon2_memory_cost=8192,
                argon2_parallelism=1, solve_time_limit=5.0, secret_key_file=workdir / "secret")
    settings = Settings(**over)
    app = create_app(settings, start_pool=False)
    engine, ledger = app.state.engine, app.state.ledger
    procs: list[subprocess.Popen] = []
    results: dict[str, Any] = {"started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "uptime_before": subprocess.run(["uptime"], capture_output=True,
                                                               text=True).stdout.strip(),
                               "duration": args.duration, "phases": []}
    failures: list[str] = []
    try:
        today = dt.date.today()
        monday = today - dt.timedelta(days=today.weekday())
        password = "load-test-pw-1"
        with Session(engine, expire_on_commit=False) as s:
            coop, _e, _p = seed_demo(s, volunteer_week(generate_problem(clients=args.clients, seed=5,
                                                                        week_start=monday)),
                                     password=password)
            coop_id = saved_id(coop)
            pw_hash = hash_password(password)
            members = list(s.exec(select(Member).where(Member.coop_id == coop_id)).all())
            for m in members:
                m.hashed_password = pw_hash
                s.add(m)
            s.commit()
            problem, id_map = build_problem(s, coop_id, monday, 4)
            run = SolveRun(coop_id=coop_id, week_start=monday, kind="request", problem=problem, id_map=id_map,
                           time_limit=5.0)
            s.add(run)
            s.commit()
            run_id = saved_id(run)
        assert execute_run(args.pg, schema, run_id) == "succeeded"
        with Session(engine, expire_on_commit=False) as s:
            run = s.get(SolveRun, run_id)
            rota = s.get(Rota, run.rota_id)
            p = problem_from_dict(rota.problem)
            report = check(p, rota_from_dict(rota.rota_file, p))
            assert report.ok and objectives_equal(rota.objective, report.objective)
            rota.status, rota.published_at = RotaStatus.published, utcnow()
            s.add(rota)
            s.commit()
            vols = [m for m in members if m.role == "volunteer"]
            pot = ledger.pot(str(coop_id)).id
            for v in vols:
                ledger.adjust(str(coop_id), legs=[(pot, -40_000), (account_of(ledger, v), 40_000)],
                              idempotency_key=f"load-seed-{v.id}", recorded_by="load-bench",
                              memo="hours to give in the load test")
            client_ids = [saved_id(c) for c in s.exec(select(Client).where(Client.coop_id == coop_id)).all()]
        ports = [_port(), _port()]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAREROTA_")}
        env.update({f"CAREROTA_{k.upper()}": str(v) for k, v in over.items()})
        carerota = str(Path(sys.executable).parent / "carerota")

        def start(port: int) -> subprocess.Popen:
            return subprocess.Popen([carerota, "serve", "--port", str(port), "--no-scheduler"], env=env,
                                    stdout=(workdir / f"api-{port}.log").open("w"), stderr=subprocess.STDOUT,
                                    start_new_session=True)

        def wait_up(port: int) -> None:
            import httpx

            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"API process on {port} did not start (log in {workdir})")
                time.sleep(0.3)

        procs = [start(p) for p in ports]
        for p in ports:
            wait_up(p)

        import httpx

        by_role = {"staff": [m for m in members if m.role == "staff"], "volunteer": vols,
                   "coordinator": [m for m in members if m.role == "coordinator"]}
        tokens: dict[int, str] = {}
        for m in [*by_role["staff"], *vols, *by_role["coordinator"]]:
            r = httpx.post(f"http://127.0.0.1:{ports[0]}/auth/token",
                           data={"username": m.email, "password": password}, timeout=30)
            assert r.status_code == 200, r.text
            tokens[saved_id(m)] = r.json()["access_token"]

        def users_of(n: int) -> list[dict]:
            mix = [("staff", 0.6), ("volunteer", 0.3), ("coordinator", 0.1)]
            out = []
            for role, share in mix:
                pool = by_role[role]
                for i in range(max(1, round(n * share))):
                    m = pool[i % len(pool)]
                    out.append({"role": role, "id": saved_id(m), "token": tokens[saved_id(m)],
                                "port": ports[len(out) % 2], "clients": client_ids})
            return out

        phases = [(int(n), False) for n in args.users.split(",")]
        if args.kill:
            phases.append((max(n for n, _ in phases), True))
        for k, (n, kill) in enumerate(phases):
            if kill and procs[0].poll() is not None:
                procs[0] = start(ports[0])
                wait_up(ports[0])
            stats = Stats()
            victim = procs[0].pid
            on_half = (lambda pid=victim: os.killpg(pid, signal.SIGKILL)) if kill else None
            t = time.monotonic()
            asyncio.run(_phase(ports, users_of(n), args.duration, stats, seed=k, on_half=on_half))
            elapsed = time.monotonic() - t
            five = sum(c for ep in stats.codes.values() for code, c in ep.items() if code >= 500)
            # every acknowledged gift exactly once, and the books reconcile
            with engine.connect() as conn:
                keys = [f"api:gift:{mid}:{key}" for mid, key in stats.acked]
                found: dict[str, int] = defaultdict(int)
                for i in range(0, len(keys), 500):
                    for (ik,) in conn.execute(sa.text("SELECT idempotency_key FROM tb_transaction "
                                                      "WHERE coop_id = :c AND idempotency_key = ANY(:k)"),
                                              {"c": str(coop_id), "k": keys[i:i + 500]}):
                        found[ik] += 1
            missing = [k for k in keys if found.get(k, 0) != 1]
            rec = ledger.reconcile(str(coop_id))
            row = {"users": n, "kill_one_api_process": kill, "seconds": round(elapsed, 1),
                   "total_rps": round(sum(len(v) for v in stats.lat.values()) / elapsed, 1),
                   "five_xx": five, "connection_errors": stats.conn_errors,
                   "client_timeouts": stats.timeouts,
                   "retried_on_other_process_ok": stats.retried_ok, "gifts_acknowledged": len(keys),
                   "acknowledged_gifts_not_exactly_once": len(missing), "ledger_reconciles": rec.ok,
                   "endpoints": stats.row(elapsed)}
            results["phases"].append(row)
            print(json.dumps(row), flush=True)
            if five:
                failures.append(f"{n} users{' (kill)' if kill else ''}: {five} 5xx answers")
            if missing:
                failures.append(f"{n} users: {len(missing)} acknowledged gifts not present exactly once")
            if not rec.ok:
                failures.append(f"{n} users: the ledger does not reconcile: {rec.problems[:5]}")
    finally:
        results["uptime_after"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        app.state.pool.shutdown()
        engine.dispose()
        ledger.engine.dispose()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
    results["failures"] = failures
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print("FAILURES:" if failures else "all assertions held", *failures, sep="\n  ")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
