"""Scheduled jobs (APScheduler 3.x, one scheduler process, SQLAlchemy job store).

* ``weekly-solve-<coop id>``: on ``CAREROTA_WEEKLY_CRON`` (default Thursday 18:00), solve the
  next week for the co-op. One run per co-op and week however often the job fires: the run's
  unique ``dedupe_key`` refuses a second one.
* ``auto-confirm``: every ``CAREROTA_AUTO_CONFIRM_INTERVAL_MINUTES``, confirm visits of
  published rotas finished more than ``CAREROTA_AUTO_CONFIRM_AFTER_HOURS`` ago and credit
  their volunteers (once: the status change and the ledger's (visit, volunteer) key).
* ``sync-coops``: adds the weekly job of co-ops created since the scheduler started.
* ``retention``: daily, pseudonymise and erase what the co-ops' retention periods say has
  expired (``api.services.privacy.run_retention``; idempotent).

Where it runs: inside ``carerota serve`` in the embedded default; with several API processes,
in one ``carerota scheduler`` process (APScheduler 3 does not support several schedulers on one
job store). The unique weekly key and auto-confirmation's per-visit credit keep a duplicate
firing harmless all the same (api/README.md, "Several processes").

Jobs live in the database (``apscheduler_jobs``), so they survive a restart; ``coalesce`` and
a week-long ``misfire_grace_time`` make a run missed while the service was down happen once
when it comes back.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.models import Coop
from api.services.runs import weekly_run
from api.services.visits import auto_confirm
from api.settings import Settings

log = logging.getLogger("carerota.jobs")
MISFIRE_GRACE_SECONDS = 7 * 24 * 3600


@dataclass
class JobContext:
    settings: Settings
    engine: Engine
    pool: Any
    ledger: Any
    clock: Any


_context: JobContext | None = None


def set_context(ctx: JobContext | None) -> None:
    global _context
    _context = ctx


def _ctx() -> JobContext:
    if _context is None:
        raise RuntimeError("the job context is not set (start the scheduler with start_scheduler)")
    return _context


def next_week_start(today: dt.date) -> dt.date:
    """The Monday after ``today`` (a Monday's next week is the following Monday)."""
    return today + dt.timedelta(days=7 - today.weekday())


def weekly_solve_job(coop_id: int) -> int | None:
    ctx = _ctx()
    with Session(ctx.engine) as s:
        coop = s.get(Coop, coop_id)
        if coop is None or not coop.weekly_solve_enabled:
            return None
    week = next_week_start(ctx.clock().date())
    run_id = weekly_run(ctx.engine, ctx.pool, coop_id, week, ctx.settings)
    log.info("weekly solve of co-op %s for %s: %s", coop_id, week,
             f"run {run_id}" if run_id else "already has its run")
    return run_id


def auto_confirm_job() -> int:
    ctx = _ctx()
    n = auto_confirm(ctx.engine, ctx.ledger, ctx.clock(), ctx.settings.auto_confirm_after_hours)
    if n:
        log.info("auto-confirmed and credited %s visits", n)
    return n


def retention_job() -> dict[str, Any]:
    """Apply the co-ops' retention periods; returns (and logs) what was done."""
    from api.services.privacy import run_retention

    ctx = _ctx()
    return run_retention(ctx.engine, ctx.ledger, dt.datetime.now(dt.UTC).replace(tzinfo=None)).model_dump()


def sync_coops_job() -> int:
    ctx = _ctx()
    sched = _scheduler
    if sched is None:
        return 0
    return _ensure_weekly_jobs(sched, ctx)


def _ensure_weekly_jobs(sched: BackgroundScheduler, ctx: JobContext) -> int:
    added = 0
    with Session(ctx.engine) as s:
        coop_ids = list(s.exec(select(Coop.id)).all())
    for coop_id in coop_ids:
        job_id = f"weekly-solve-{coop_id}"
        if sched.get_job(job_id) is None:   # an existing job keeps its next run time (misfires)
            sched.add_job("api.jobs:weekly_solve_job", CronTrigger.from_crontab(
                ctx.settings.weekly_cron, timezone=ctx.settings.timezone), args=[coop_id], id=job_id,
                name=f"weekly solve of co-op {coop_id}", coalesce=True,
                misfire_grace_time=MISFIRE_GRACE_SECONDS, max_instances=1)
            added += 1
    return added


_scheduler: BackgroundScheduler | None = None


def build_scheduler(ctx: JobContext) -> BackgroundScheduler:
    store = SQLAlchemyJobStore(engine=ctx.engine, tablename="apscheduler_jobs")
    return BackgroundScheduler(jobstores={"default": store}, timezone=ctx.settings.timezone,
                               job_defaults={"coalesce": True, "misfire_grace_time": MISFIRE_GRACE_SECONDS,
                                             "max_instances": 1})


def start_scheduler(ctx: JobContext, scheduler: BackgroundScheduler | None = None) -> BackgroundScheduler:
    """Start the scheduler with the co-ops' weekly jobs, auto-confirmation and co-op sync."""
    global _scheduler
    set_context(ctx)
    sched = scheduler or build_scheduler(ctx)
    sched.start(paused=True)   # jobs are added before anything fires
    _scheduler = sched
    _ensure_weekly_jobs(sched, ctx)
    if sched.get_job("auto-confirm") is None:
        sched.add_job("api.jobs:auto_confirm_job",
                      IntervalTrigger(minutes=ctx.settings.auto_confirm_interval_minutes), id="auto-confirm",
                      name="auto-confirm finished visits")
    if sched.get_job("retention") is None:
        sched.add_job("api.jobs:retention_job", IntervalTrigger(hours=24), id="retention",
                      name="apply the co-ops' retention periods")
    if sched.get_job("sync-coops") is None:
        sched.add_job("api.jobs:sync_coops_job", IntervalTrigger(minutes=5), id="sync-coops",
                      name="add weekly jobs of new co-ops")
    sched.resume()
    return sched


def stop_scheduler(sched: BackgroundScheduler) -> None:
    global _scheduler
    sched.shutdown(wait=True)
    if _scheduler is sched:
        _scheduler = None
