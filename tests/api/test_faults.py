"""The service beyond one process, against the real PostgreSQL and Redis (issue 12): solve
workers killed mid-solve, a broker restarted with runs queued, two API processes and the
scheduler firing together, a database connection killed mid-request.

Workers and API processes are real subprocesses (``carerota worker``, ``create_app``) with the
environment an operator sets; the broker is a ``redis-server`` of the test's own on a free port
(so it can be restarted), the database a PostgreSQL schema of the test's own. Lease times are
short (heartbeat 0.5 s, lease 3 s) so each test ends within a minute. Every rota made is
checked by the solver-independent checker."""

from __future__ import annotations

import datetime as dt
import json
import sys
import textwrap
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.main import create_app
from api.models import Rota, SolveRun
from tests.api.checks import assert_rota_checked
from tests.api.cluster import RedisServer, env_of, pg_schema, processes, wait_for
from tests.api.conftest import (
    FUTURE_MONDAY,
    PAST_MONDAY,
    Coop,
    build_coop,
    login,
    make_settings,
    solved_rota,
    wait_run,
)

pytestmark = pytest.mark.postgres

RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
LIFETIMES = dict(run_heartbeat_seconds=0.5, run_lease_seconds=3.0, requeue_after_seconds=3.0)


@pytest.fixture
def broker(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def cluster(pg_url, broker, tmp_path, request):
    """An API app (in this process, no pool or sweep of its own) on a fresh schema with the
    private broker; ``cluster.env`` is the environment of its worker processes."""
    schema = pg_schema(pg_url, request)
    url = RABBITMQ_URL if getattr(request, "param", "redis") == "rabbitmq" else broker.url
    queue = f"test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(pg_url, tmp_path, schema=schema, broker_url=url, solve_queue=queue,
                             solve_time_limit=20.0, **LIFETIMES)
    app = create_app(settings, start_pool=False)
    with TestClient(app) as client, processes(tmp_path) as procs:
        yield _Cluster(app, client, settings, env_of(settings), procs)
    if url == RABBITMQ_URL:   # leave no test queue behind in the machine's RabbitMQ
        from kombu import Connection, Queue

        with Connection(url) as conn:
            Queue(queue, channel=conn.channel()).delete()
    app.state.pool.shutdown()
    app.state.engine.dispose()
    app.state.ledger.engine.dispose()


class _Cluster:
    def __init__(self, app, client, settings, env, procs):
        self.app, self.client, self.settings, self.env, self.procs = app, client, settings, env, procs

    def run(self, run_id: int) -> SolveRun:
        with Session(self.app.state.engine, expire_on_commit=False) as s:
            run = s.get(SolveRun, run_id)
            assert run is not None
            return run

    def rotas_of_run(self, run_id: int) -> list[Rota]:
        with Session(self.app.state.engine) as s:
            return list(s.exec(select(Rota).where(Rota.run_id == run_id)).all())

    def workers_seen(self) -> list[str]:
        body = self.client.get("/health").json()
        return [w["name"] for w in body["workers"] if w["kind"] == "celery"]

    def start_workers(self, *names: str):
        started = [self.procs.worker(n, self.env) for n in names]
        wait_for(lambda: len(self.workers_seen()) >= len(names), 45, "the workers to start", self.procs.logs)
        return started


def _big_coop(cluster: _Cluster, clients: int = 25) -> Coop:
    """A co-op whose week keeps the solver busy for its whole time limit (not proven optimal)."""
    from api.services.demo import seed_demo
    from scheduler.example import generate_problem

    with Session(cluster.app.state.engine, expire_on_commit=False) as s:
        week = generate_problem(clients=clients, seed=7, week_start=FUTURE_MONDAY)
        coop, email, password = seed_demo(s, week)
    return Coop(id=coop.id or 0, tokens={"coordinator": login(cluster.client, email, password)}, members={},
                clients=[])


def _request(cluster: _Cluster, coop: Coop, week: dt.date, time_limit: float) -> int:
    r = cluster.client.post("/rotas", headers=coop.h("coordinator"),
                            json={"week_start": week.isoformat(), "time_limit": time_limit})
    assert r.status_code == 202, r.text
    return r.json()["run_id"]


def _holder(cluster: _Cluster, run_id: int, procs, attempt: int):
    """The worker process solving ``run_id`` in its ``attempt``-th attempt (by its node name)."""
    def running():
        run = cluster.run(run_id)
        return run if run.status == "running" and run.attempts == attempt and run.worker else None

    run = wait_for(running, 45, f"run {run_id} to be solved (attempt {attempt})", cluster.procs.logs)
    (proc,) = [p for p in procs if f":{p.name}-" in run.worker]
    return proc


@pytest.mark.parametrize("cluster", ["redis", "rabbitmq"], indirect=True)
def test_a_worker_killed_mid_solve_leaves_its_run_to_another_worker(cluster):
    """``kill -9`` of the worker solving a run (its main and solve processes), on Redis and on
    RabbitMQ: the other worker's sweep sees the heartbeat stop, queues the run again, and solves
    it (attempt 2); one rota is stored and it passes the checker."""
    coop = _big_coop(cluster)
    workers = cluster.start_workers("w1", "w2")
    run_id = _request(cluster, coop, FUTURE_MONDAY, time_limit=4)
    victim = _holder(cluster, run_id, workers, attempt=1)
    victim.kill9()
    body = wait_run(cluster.client, coop.tokens["coordinator"], run_id, timeout=50)
    assert body["status"] == "succeeded", (body, cluster.procs.logs())
    run = cluster.run(run_id)
    assert run.attempts == 2 and f":{victim.name}-" not in (run.worker or "")
    assert [r.id for r in cluster.rotas_of_run(run_id)] == [body["rota_id"]]
    assert_rota_checked(cluster.client, coop, body["rota_id"])


def test_a_run_whose_workers_die_twice_fails_with_the_reason_and_is_not_left_running(cluster):
    """The retry is once: when the second worker dies too, the sweep (any API process or worker
    runs it) fails the run with the reason instead of leaving it 'running'; no rota is stored."""
    from api.worker import Lifetimes, sweep

    coop = _big_coop(cluster, clients=20)
    (first,) = cluster.start_workers("w1")
    run_id = _request(cluster, coop, FUTURE_MONDAY, time_limit=20)
    _holder(cluster, run_id, [first], attempt=1).kill9()
    (second,) = cluster.start_workers("w2")   # its sweep takes the run over
    _holder(cluster, run_id, [second], attempt=2).kill9()

    def swept_failed():
        sweep(cluster.app.state.engine, Lifetimes.of(cluster.settings))
        return cluster.run(run_id).status == "failed"

    wait_for(swept_failed, 20, "the run to be failed by the sweep")
    body = wait_run(cluster.client, coop.tokens["coordinator"], run_id, timeout=5)
    assert "the worker solving it stopped" in body["error"] and "2 attempt(s)" in body["error"]
    assert body["rota_id"] is None and cluster.rotas_of_run(run_id) == []


def test_a_broker_restart_with_runs_queued_loses_none_and_solves_none_twice(cluster, broker):
    """Runs queued when the broker restarts (it keeps nothing on disk: its messages are gone), and
    one requested while it is down, are all solved once: the database is the record of what is
    queued, the sweep sends again what no worker claimed, and a second message of a run is a
    no-op because a run is claimed once."""
    coops = [build_coop(cluster.client, f"restart{i}") for i in range(3)]
    (worker,) = cluster.start_workers("w1")
    runs = [_request(cluster, c, FUTURE_MONDAY, time_limit=2) for c in coops]
    broker.stop()                                       # the broker restarts: messages lost
    late = build_coop(cluster.client, "restart-late")
    late_run = _request(cluster, late, FUTURE_MONDAY, time_limit=2)   # accepted while it is down
    broker.start()
    for coop, run_id in [*zip(coops, runs, strict=True), (late, late_run)]:
        body = wait_run(cluster.client, coop.tokens["coordinator"], run_id, timeout=45)
        assert body["status"] == "succeeded", (body, cluster.procs.logs())
        assert cluster.run(run_id).attempts == 1, f"run {run_id} was solved more than once"
        assert [r.id for r in cluster.rotas_of_run(run_id)] == [body["rota_id"]]
        assert_rota_checked(cluster.client, coop, body["rota_id"])
    assert worker.popen.poll() is None, "the worker did not survive the broker restart"


FIRE = textwrap.dedent("""
    import datetime as dt, json, os, sys, time
    from api.settings import Settings
    from api.main import create_app
    from api import jobs
    thursday = dt.date.fromisoformat(sys.argv[1])
    coops = [int(c) for c in sys.argv[2].split(",")]
    go = sys.argv[3]
    settings = Settings()
    app = create_app(settings, start_pool=False)
    jobs.set_context(jobs.JobContext(settings=settings, engine=app.state.engine, pool=app.state.pool,
                                     ledger=app.state.ledger,
                                     clock=lambda: dt.datetime.combine(thursday, dt.time(18, 5))))
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    made = [jobs.weekly_solve_job(c) for c in coops]
    confirmed = jobs.auto_confirm_job()
    print(json.dumps({"made": made, "confirmed": confirmed}), flush=True)
""")


def test_two_api_processes_and_the_scheduler_firing_together_make_one_run_per_coop_and_week(
        cluster, tmp_path):
    """Three processes (two API processes with the scheduler wrongly left on, and the one
    ``carerota scheduler``) fire the weekly job of the same co-ops and auto-confirmation at the
    same moment: one weekly run per co-op and week (the run's unique key), and each finished
    visit confirmed and its volunteer credited once (the ledger's visit key)."""
    import subprocess

    coops = [build_coop(cluster.client, f"fire{i}") for i in range(3)]
    cluster.start_workers("w1")
    past = solved_rota(cluster.client, coops[0], PAST_MONDAY)   # published, its visits finished
    vol = coops[0].members["volunteer"]["id"]
    vol_visits = [v for v in past["visits"] if vol in v["carer_ids"] and v["status"] == "planned"]
    assert vol_visits
    go = tmp_path / "go"
    thursday = FUTURE_MONDAY - dt.timedelta(days=4)
    procs = [subprocess.Popen([sys.executable, "-c", FIRE, thursday.isoformat(),
                               ",".join(str(c.id) for c in coops), str(go)], env=cluster.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(3)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()                                     # all three fire now
        results = [json.loads(p.stdout.readline()) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    for i, coop in enumerate(coops):
        made = [r["made"][i] for r in results if r["made"][i] is not None]
        assert len(made) == 1, f"co-op {coop.id}: runs {made} made by {len(made)} processes"
        with Session(cluster.app.state.engine) as s:
            weekly = s.exec(select(SolveRun).where(SolveRun.coop_id == coop.id,
                                                   SolveRun.kind == "weekly")).all()
        assert [r.id for r in weekly] == made
        body = wait_run(cluster.client, coop.tokens["coordinator"], made[0], timeout=45)
        assert body["status"] == "succeeded", body
        assert_rota_checked(cluster.client, coop, body["rota_id"])
    bank = cluster.client.get("/me/timebank", headers=coops[0].h("volunteer")).json()
    credits = [ln for ln in bank["lines"] if ln["kind"] == "visit_credit"]
    assert len(credits) == len(vol_visits)
    assert bank["balance"] == sum(v["duration_minutes"] for v in vol_visits)


def test_a_database_connection_killed_mid_request_fails_cleanly_and_writes_nothing(pg_url, tmp_path, request):
    """``pg_terminate_backend`` of the request's own connection between the member's insert and
    its time-bank account's (one transaction): a 503 in the error shape, no member and no account
    half-written, and the next request works (the pool replaces the dead connection)."""
    schema = pg_schema(pg_url, request)
    settings = make_settings(pg_url, tmp_path, schema=schema)
    app = create_app(settings, start_pool=False)
    admin = sa.create_engine(pg_url)
    killed: list[int] = []

    def kill_on_account_insert(conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith("INSERT INTO TB_ACCOUNT") and not killed:
            pid = conn.connection.dbapi_connection.info.backend_pid
            with admin.begin() as a:
                a.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            killed.append(pid)

    try:
        with TestClient(app) as client:
            coop = build_coop(client, "pgkill")
            h = coop.h("coordinator")
            email = f"killed-{uuid.uuid4().hex[:6]}@example.org"
            sa.event.listen(app.state.engine, "before_cursor_execute", kill_on_account_insert)
            try:
                r = client.post("/members", headers=h, json={"email": email, "full_name": "Half Written",
                                                             "password": "password123", "role": "volunteer"})
            finally:
                sa.event.remove(app.state.engine, "before_cursor_execute", kill_on_account_insert)
            assert killed, "the request never reached the account insert"
            assert r.status_code == 503 and isinstance(r.json().get("detail"), str), r.text
            members = client.get("/members", headers=h).json()
            assert email not in [m["email"] for m in members]
            with app.state.engine.connect() as conn:
                n = conn.execute(sa.text("SELECT count(*) FROM member WHERE email = :e"),
                                 {"e": email}).scalar()
            assert n == 0
            r = client.post("/members", headers=h, json={"email": email, "full_name": "Written Once",
                                                         "password": "password123", "role": "volunteer"})
            assert r.status_code == 201, r.text
    finally:
        app.state.pool.shutdown()
        app.state.engine.dispose()
        app.state.ledger.engine.dispose()
        admin.dispose()
