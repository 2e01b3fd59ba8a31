"""The solve worker: a failed solve keeps the last good rota; a crash leaves no run 'running'."""

from __future__ import annotations

from sqlmodel import Session, select

from api.models import Rota, SolveRun, utcnow
from api.worker import recover_runs
from tests.api.conftest import FUTURE_MONDAY, solved_rota, wait_run


def test_a_failed_solve_keeps_the_last_good_rota(client, app, coop_a):
    good = solved_rota(client, coop_a, FUTURE_MONDAY)
    with Session(app.state.engine, expire_on_commit=False) as s:
        run = SolveRun(coop_id=coop_a.id, week_start=FUTURE_MONDAY, kind="request",
                       problem={"format": "carerota.problem/1"}, id_map={}, time_limit=1)
        s.add(run)
        s.commit()
    app.state.pool.submit(run.id)
    body = wait_run(client, coop_a.tokens["coordinator"], run.id)
    assert body["status"] == "failed" and "horizon" in body["error"] and body["rota_id"] is None
    rotas = client.get("/rotas", headers=coop_a.h("coordinator"),
                       params={"week_start": FUTURE_MONDAY.isoformat()}).json()
    assert [(r["id"], r["status"]) for r in rotas] == [(good["id"], "published")]


def test_a_run_whose_heartbeat_stopped_is_retried_once_then_failed_and_a_live_one_is_left_alone(fresh_app):
    """Start-up used to fail every run left 'running'; with several processes that would fail a
    run another live worker holds. Now only a stale heartbeat counts: such a run is queued again
    while it has attempts left, then failed with the reason; a fresh heartbeat is left alone.
    (An app of its own without a pool: no watchdog of the shared app sweeps these runs first.)"""
    import datetime as dt

    from api.worker import Lifetimes, sweep
    from tests.api.conftest import build_coop

    with fresh_app() as (app, c):
        coop = build_coop(c, "sweep")
        old = utcnow() - dt.timedelta(minutes=10)
        with Session(app.state.engine, expire_on_commit=False) as s:
            first = SolveRun(coop_id=coop.id, week_start=FUTURE_MONDAY, status="running", attempts=1,
                             lease_id="dead-1", heartbeat_at=old)
            second = SolveRun(coop_id=coop.id, week_start=FUTURE_MONDAY, status="running", attempts=2,
                              lease_id="dead-2", heartbeat_at=old)
            live = SolveRun(coop_id=coop.id, week_start=FUTURE_MONDAY, status="running", attempts=1,
                            lease_id="live", heartbeat_at=utcnow())
            for r in (first, second, live):
                s.add(r)
            s.commit()
        resubmitted: list[int] = []
        swept = sweep(app.state.engine, Lifetimes(lease_seconds=60, max_attempts=2), resubmitted.append)
        assert first.id in swept.requeued and resubmitted == [first.id]
        assert second.id in swept.failed and live.id not in swept.requeued + swept.failed
        with Session(app.state.engine) as s:
            again, gone = s.get(SolveRun, first.id), s.get(SolveRun, second.id)
            held = s.get(SolveRun, live.id)
            assert again.status == "queued" and again.lease_id is None and again.attempts == 1
            assert gone.status == "failed" and "interrupted" in gone.error and "2 attempt(s)" in gone.error
            assert held.status == "running" and held.lease_id == "live"


def test_start_up_recovery_resubmits_queued_runs_and_leaves_a_live_run_alone(app, coop_a):
    """``recover_runs`` (start-up of the embedded pool) returns the queued runs to submit again and
    does not touch a run whose holder's heartbeat is fresh."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        running = SolveRun(coop_id=coop_a.id, week_start=FUTURE_MONDAY, status="running", lease_id="x",
                           heartbeat_at=utcnow(), attempts=1)
        queued = SolveRun(coop_id=coop_a.id, week_start=FUTURE_MONDAY, status="queued",
                          problem={"format": "carerota.problem/1"}, id_map={})
        s.add(running)
        s.add(queued)
        s.commit()
    to_resubmit = recover_runs(app.state.engine)
    assert queued.id in to_resubmit and running.id not in to_resubmit
    with Session(app.state.engine) as s:
        assert s.get(SolveRun, running.id).status == "running"
        s.delete(s.get(SolveRun, queued.id))
        s.delete(s.get(SolveRun, running.id))
        s.commit()
        assert s.exec(select(Rota).where(Rota.coop_id == coop_a.id)).all() == []


def test_the_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/rotas" in schema["paths"] and "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]


def _queued_run(app, coop, week) -> int:
    from api.services.problem_builder import build_problem

    with Session(app.state.engine, expire_on_commit=False) as s:
        problem, id_map = build_problem(s, coop.id, week)
        run = SolveRun(coop_id=coop.id, week_start=week, kind="request", problem=problem, id_map=id_map,
                       time_limit=1)
        s.add(run)
        s.commit()
    return run.id


def test_orphaned_worker_cannot_overwrite_a_failed_run(app, app_settings, coop_a, monkeypatch):
    """A worker that outlives a crash of the service (issue 9, item 1) finished its solve after
    the restart had marked the run failed, and overwrote it with 'succeeded' and a second draft.
    Here a sweep takes the run over while the worker solves: its answer must change nothing."""
    import datetime as dt

    import scheduler.solve
    from api import worker

    run_id = _queued_run(app, coop_a, FUTURE_MONDAY)
    real_solve = scheduler.solve.solve

    def solve_across_a_restart(*args, **kwargs):
        # the worker's heartbeat was lost long enough for a sweep to take the run over (here: as
        # if ten minutes had passed, and no attempts left, so the run is failed)
        worker.sweep(app.state.engine, worker.Lifetimes(lease_seconds=60, max_attempts=1),
                     now=utcnow() + dt.timedelta(minutes=10))
        return real_solve(*args, **kwargs)

    monkeypatch.setattr(scheduler.solve, "solve", solve_across_a_restart)
    outcome = worker.execute_run(app_settings.database_url, app_settings.database_schema, run_id)
    assert outcome == worker.LEASE_LOST
    with Session(app.state.engine) as s:
        run = s.get(SolveRun, run_id)
        assert run.status == "failed" and "interrupted" in run.error and run.rota_id is None
        assert run.lease_id is None
        assert s.exec(select(Rota).where(Rota.coop_id == coop_a.id)).all() == []


def test_a_worker_whose_lease_was_revoked_cannot_record_a_failure_or_progress(app, coop_a):
    """Only the holder of a live lease writes a run: a stale worker's failure or progress
    must not replace the outcome recovery recorded."""
    import datetime as dt

    from api import worker

    run_id = _queued_run(app, coop_a, FUTURE_MONDAY)
    engine = app.state.engine
    lease = worker._claim(engine, run_id)
    assert lease is not None and worker._claim(engine, run_id) is None   # claimed once
    worker.sweep(engine, worker.Lifetimes(lease_seconds=60, max_attempts=1),
                 now=utcnow() + dt.timedelta(minutes=10))   # the heartbeat stopped: taken over
    assert worker._failed(engine, run_id, lease, "the solve failed: late") == worker.LEASE_LOST

    class P:
        objective, best_bound, gap = 5.0, 1.0, 0.8

    worker._progress_writer(engine, run_id, lease)(P())
    with Session(engine) as s:
        run = s.get(SolveRun, run_id)
        assert run.status == "failed" and "interrupted" in run.error and run.objective is None


def test_solve_processes_die_with_the_service_process(tmp_path):
    """After ``kill -9`` of the service, its solve process (about 220 MB, mid-solve) kept running
    and later wrote a stale result. A worker process must end when its parent is gone."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "service.py"
    script.write_text(
        "import os, sys, time\n"
        "from api.worker import SolvePool\n"
        "if __name__ == '__main__':\n"
        "    pool = SolvePool('sqlite:///unused.db', None)\n"
        "    print(pool.executor.submit(os.getpid).result(), flush=True)\n"
        "    pool.executor.submit(time.sleep, 120)\n"
        "    time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=os.getcwd())
    try:
        worker_pid = int(parent.stdout.readline())
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 15
        alive = True
        while alive and time.monotonic() < deadline:
            try:
                os.kill(worker_pid, 0)
                time.sleep(0.2)
            except ProcessLookupError:
                alive = False
        assert not alive, f"worker process {worker_pid} outlived its service process"
    finally:
        if parent.poll() is None:
            parent.kill()
