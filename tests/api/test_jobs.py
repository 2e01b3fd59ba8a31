"""Scheduled jobs: one weekly run per co-op and week however often (or late) the job fires;
auto-confirmation credits each visit once. Runs on its own fresh database per backend so the
weekly jobs of other tests' co-ops do not fire here."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api import jobs
from api.main import create_app
from api.models import SolveRun
from tests.api.checks import assert_rota_checked
from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, build_coop, make_settings, solved_rota, wait_run


@pytest.fixture(scope="module")
def jobs_app(backend, tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp(f"jobs-{backend}")
    if backend == "sqlite":
        settings = make_settings(f"sqlite:///{tmp / 'jobs.db'}", tmp)
    else:
        pg_url = request.getfixturevalue("pg_url")
        schema = f"api_test_jobs_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

        request.addfinalizer(drop)
        settings = make_settings(pg_url, tmp, schema=schema)
    app = create_app(settings)
    with TestClient(app) as client:
        yield app, client
    app.state.pool.shutdown()
    app.state.engine.dispose()
    app.state.ledger.engine.dispose()


def _ctx(app, today: dt.date) -> jobs.JobContext:
    clock = lambda: dt.datetime.combine(today, dt.time(18, 5))  # noqa: E731
    return jobs.JobContext(settings=app.state.settings, engine=app.state.engine, pool=app.state.pool,
                           ledger=app.state.ledger, clock=clock)


def _weekly_runs(app, coop_id: int, week: dt.date) -> list[SolveRun]:
    with Session(app.state.engine) as s:
        return list(s.exec(select(SolveRun).where(SolveRun.coop_id == coop_id, SolveRun.week_start == week,
                                                  SolveRun.kind == "weekly")).all())


def test_weekly_job_fired_twice_makes_one_run_for_the_week(jobs_app):
    app, client = jobs_app
    coop = build_coop(client, "jobs1")
    thursday = FUTURE_MONDAY - dt.timedelta(days=4)
    jobs.set_context(_ctx(app, thursday))
    try:
        first = jobs.weekly_solve_job(coop.id)
        second = jobs.weekly_solve_job(coop.id)
    finally:
        jobs.set_context(None)
    assert first is not None and second is None
    assert len(_weekly_runs(app, coop.id, FUTURE_MONDAY)) == 1
    run = wait_run(client, coop.tokens["coordinator"], first)
    assert run["status"] == "succeeded" and run["kind"] == "weekly"
    assert_rota_checked(client, coop, run["rota_id"])


def test_a_run_missed_while_down_is_made_up_once_after_a_restart(jobs_app):
    app, client = jobs_app
    coop = build_coop(client, "jobs2")
    thursday = FUTURE_MONDAY - dt.timedelta(days=4)
    ctx = _ctx(app, thursday)
    sched = jobs.start_scheduler(ctx)
    job_id = f"weekly-solve-{coop.id}"
    assert sched.get_job(job_id) is not None
    jobs.stop_scheduler(sched)
    # the service stays down past the job's fire time: its stored next run is now in the past
    missed = dt.datetime.now(ZoneInfo(app.state.settings.timezone)) - dt.timedelta(hours=2)
    store = SQLAlchemyJobStore(engine=app.state.engine, tablename="apscheduler_jobs")
    store.start(BackgroundScheduler(timezone=app.state.settings.timezone), "default")
    job = store.lookup_job(job_id)
    job._modify(next_run_time=missed)
    store.update_job(job)
    assert _weekly_runs(app, coop.id, FUTURE_MONDAY) == []

    sched = jobs.start_scheduler(ctx)            # back up: the job is still in the store
    try:
        deadline = time.monotonic() + 30
        while not _weekly_runs(app, coop.id, FUTURE_MONDAY):
            assert time.monotonic() < deadline, "the missed weekly run was not made up"
            time.sleep(0.2)
        time.sleep(1.0)
        next_run = sched.get_job(job_id).next_run_time
        assert next_run > dt.datetime.now(ZoneInfo(app.state.settings.timezone))
        assert jobs.weekly_solve_job(coop.id) is None    # firing again: still one run
    finally:
        jobs.stop_scheduler(sched)
    sched = jobs.start_scheduler(ctx)             # another restart: nothing due, nothing new
    time.sleep(1.0)
    jobs.stop_scheduler(sched)
    runs = _weekly_runs(app, coop.id, FUTURE_MONDAY)
    assert len(runs) == 1
    assert wait_run(client, coop.tokens["coordinator"], runs[0].id)["status"] == "succeeded"


def test_weekly_job_records_a_week_that_cannot_be_built_once(jobs_app):
    app, client = jobs_app
    coop = build_coop(client, "jobs3")
    for t in coop.templates:
        client.delete(f"/care-plan/{t['id']}", headers=coop.h("coordinator"))
    jobs.set_context(_ctx(app, FUTURE_MONDAY - dt.timedelta(days=4)))
    try:
        assert jobs.weekly_solve_job(coop.id) is not None
        assert jobs.weekly_solve_job(coop.id) is None
    finally:
        jobs.set_context(None)
    (run,) = _weekly_runs(app, coop.id, FUTURE_MONDAY)
    assert run.status == "failed" and "no care plan visit" in run.error


def test_auto_confirmation_credits_each_finished_visit_once(jobs_app):
    app, client = jobs_app
    coop = build_coop(client, "jobs4")
    rota = solved_rota(client, coop, PAST_MONDAY)
    vol = coop.members["volunteer"]["id"]
    vol_visits = [v for v in rota["visits"] if vol in v["carer_ids"] and v["status"] == "planned"]
    assert vol_visits
    # one visit checked out by hand first: auto-confirmation must not credit it again
    r = client.post(f"/visits/{vol_visits[0]['id']}/complete", headers=coop.h("volunteer"))
    assert r.status_code == 200
    jobs.set_context(jobs.JobContext(settings=app.state.settings, engine=app.state.engine,
                                     pool=app.state.pool, ledger=app.state.ledger, clock=app.state.clock))
    try:
        jobs.auto_confirm_job()
        assert jobs.auto_confirm_job() == 0
    finally:
        jobs.set_context(None)
    detail = client.get(f"/rotas/{rota['id']}", headers=coop.h("coordinator")).json()
    planned_before = {v["id"] for v in rota["visits"] if v["status"] == "planned"}
    for v in detail["visits"]:
        if v["id"] in planned_before:
            assert v["status"] == "completed" and v["credited"]
    bank = client.get("/me/timebank", headers=coop.h("volunteer")).json()
    assert bank["balance"] == sum(v["duration_minutes"] for v in vol_visits)
    credits = [ln for ln in bank["lines"] if ln["kind"] == "visit_credit"]
    assert len(credits) == len(vol_visits)
