"""The solve worker: a failed solve keeps the last good rota; a crash leaves no run 'running'."""

from __future__ import annotations

from sqlmodel import Session, select

from api.models import Rota, SolveRun
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


def test_runs_left_running_by_a_crash_are_marked_failed_and_queued_ones_resubmitted(app, coop_a):
    with Session(app.state.engine, expire_on_commit=False) as s:
        running = SolveRun(coop_id=coop_a.id, week_start=FUTURE_MONDAY, status="running")
        queued = SolveRun(coop_id=coop_a.id, week_start=FUTURE_MONDAY, status="queued",
                          problem={"format": "carerota.problem/1"}, id_map={})
        s.add(running)
        s.add(queued)
        s.commit()
    to_resubmit = recover_runs(app.state.engine)
    assert queued.id in to_resubmit and running.id not in to_resubmit
    with Session(app.state.engine) as s:
        again = s.get(SolveRun, running.id)
        assert again.status == "failed" and "interrupted" in again.error
        s.delete(s.get(SolveRun, queued.id))   # leave no queued run for other tests' restarts
        s.commit()
        assert s.exec(select(Rota).where(Rota.coop_id == coop_a.id)).all() == []


def test_the_openapi_docs_are_served(client):
    assert client.get("/docs").status_code == 200
    schema = client.get("/openapi.json").json()
    assert "/rotas" in schema["paths"] and "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]
