"""Solves run in worker processes so the API stays responsive.

:class:`SolvePool` wraps a ``ProcessPoolExecutor`` (spawn context: no inherited threads or
connections). A queued run is claimed atomically (``queued`` → ``running``), so a run is
solved once however often it is submitted. Progress (objective, bound, gap) is written to
the run row while the solver works. A solve whose rota fails the checker, or that raises,
marks the run failed and leaves every stored rota as it was (the last good rota stays).
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from threading import Lock
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.db import make_engine
from api.models import RunStatus, SolveRun, utcnow

log = logging.getLogger("carerota.worker")
PROGRESS_EVERY_SECONDS = 0.5


class SolvePool:
    def __init__(self, database_url: str, schema: str | None, processes: int = 1, workers: int = 1):
        self.database_url, self.schema = database_url, schema
        self.processes, self.workers = max(1, processes), max(1, workers)
        self._executor: ProcessPoolExecutor | None = None
        self._lock = Lock()
        self.futures: dict[int, Future] = {}

    @property
    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"))
            return self._executor

    def submit(self, run_id: int) -> Future:
        fut = self.executor.submit(execute_run, self.database_url, self.schema, run_id, self.workers)
        self.futures[run_id] = fut
        fut.add_done_callback(lambda f, r=run_id: self._done(r, f))
        return fut

    def _done(self, run_id: int, fut: Future) -> None:
        exc = fut.exception()
        if exc is not None:   # the process died (e.g. killed): record it, never leave it 'running'
            log.error("solve run %s crashed: %s", run_id, exc)
            try:
                engine = make_engine(self.database_url, self.schema)
                _fail(engine, run_id, f"the solve process crashed: {type(exc).__name__}: {exc}")
                engine.dispose()
            except Exception:
                log.exception("could not record the crash of run %s", run_id)

    def wait(self, run_id: int, timeout: float | None = None) -> None:
        fut = self.futures.get(run_id)
        if fut is not None:
            fut.result(timeout=timeout)

    def shutdown(self) -> None:
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=False)
                self._executor = None


def _fail(engine: sa.Engine, run_id: int, message: str) -> None:
    with Session(engine) as s:
        run = s.get(SolveRun, run_id)
        if run is None or run.status in (RunStatus.succeeded.value, RunStatus.failed.value):
            return
        run.status, run.error, run.finished_at = RunStatus.failed.value, message[:4000], utcnow()
        s.add(run)
        s.commit()


def recover_runs(engine: sa.Engine) -> list[int]:
    """At startup: runs left ``running`` by a crash are marked failed; queued ones are returned
    so the caller submits them again."""
    with Session(engine) as s:
        for run in s.exec(select(SolveRun).where(SolveRun.status == RunStatus.running.value)).all():
            run.status = RunStatus.failed.value
            run.error = "interrupted: the service stopped during the solve; request it again"
            run.finished_at = utcnow()
            s.add(run)
        s.commit()
        return list(s.exec(select(SolveRun.id).where(SolveRun.status == RunStatus.queued.value)
                           .order_by(SolveRun.id)).all())


def _progress_writer(engine: sa.Engine, run_id: int):
    last = [0.0]

    def progress(p: Any) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS:
            return
        last[0] = now
        objective = getattr(p, "objective", None)
        bound = getattr(p, "best_bound", getattr(p, "bound", None))
        gap = getattr(p, "gap", None)
        if gap is None and objective is not None and bound is not None:
            gap = abs(objective - bound) / max(abs(objective), 1.0)
        try:
            with engine.begin() as conn:
                conn.execute(sa.update(SolveRun.__table__).where(SolveRun.__table__.c.id == run_id)
                             .values(objective=objective, best_bound=bound, gap=gap, progress_at=utcnow()))
        except Exception:
            log.warning("could not record progress of run %s", run_id, exc_info=True)

    return progress


def execute_run(database_url: str, schema: str | None, run_id: int, workers: int = 1) -> str:
    """Solve run ``run_id`` (in a worker process) and store its rota as a new draft version."""
    from scheduler.checker import check, objectives_equal
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_to_dict

    engine = make_engine(database_url, schema)
    try:
        with engine.begin() as conn:
            claimed = conn.execute(
                sa.update(SolveRun.__table__)
                .where(SolveRun.__table__.c.id == run_id, SolveRun.__table__.c.status == "queued")
                .values(status=RunStatus.running.value, started_at=utcnow())).rowcount
        if claimed != 1:
            return "not queued"
        try:
            with Session(engine) as s:
                run = s.get(SolveRun, run_id)
                assert run is not None
                problem = problem_from_dict(run.problem)
                time_limit = run.time_limit
            from scheduler.solve import SolveOptions, solve

            rota = solve(problem, SolveOptions(time_limit=time_limit, workers=workers, seed=0),
                         progress=_progress_writer(engine, run_id))
            report = check(problem, rota)
            if not report.ok:
                _fail(engine, run_id, "the solver's rota failed the checker; the last good rota is kept: "
                      + "; ".join(f"{v.rule}: {v.message}" for v in report.violations[:20]))
                return "failed"
            if rota.objective is None or not objectives_equal(float(rota.objective), report.objective):
                _fail(engine, run_id, f"the solver claimed objective {rota.objective}, the checker "
                      f"recomputed {report.objective}; the last good rota is kept")
                return "failed"
            rota_file = rota_to_dict(rota, problem)
        except Exception as exc:
            log.exception("solve run %s failed", run_id)
            _fail(engine, run_id, f"the solve failed: {type(exc).__name__}: {exc}")
            return "failed"
        return _store(engine, run_id, rota_file, rota.best_bound)
    finally:
        engine.dispose()


def _store(engine: sa.Engine, run_id: int, rota_file: dict, best_bound: float | None) -> str:
    from api.services.rotas import store_solved_rota

    for _attempt in range(5):
        try:
            with Session(engine, expire_on_commit=False) as s:
                run = s.get(SolveRun, run_id)
                assert run is not None
                rota = store_solved_rota(s, run, rota_file)
                run.status, run.rota_id, run.finished_at = RunStatus.succeeded.value, rota.id, utcnow()
                run.objective = rota_file.get("objective")
                run.best_bound = best_bound
                if run.objective is not None and best_bound is not None:
                    run.gap = abs(run.objective - best_bound) / max(abs(run.objective), 1.0)
                s.add(run)
                s.commit()
                return "succeeded"
        except IntegrityError:   # another version of the week was stored at the same moment
            time.sleep(0.05)
        except Exception as exc:
            log.exception("storing run %s failed", run_id)
            _fail(engine, run_id, f"storing the rota failed: {type(exc).__name__}: {exc}")
            return "failed"
    _fail(engine, run_id, "storing the rota failed: the week kept changing")
    return "failed"


def stateless_solve(problem_raw: dict, time_limit: float, workers: int) -> dict:
    """``POST /solve`` in a worker process: problem dict in, checked rota dict out."""
    from scheduler.checker import check
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_to_dict
    from scheduler.solve import SolveOptions, solve

    problem = problem_from_dict(problem_raw)
    rota = solve(problem, SolveOptions(time_limit=time_limit, workers=workers, seed=0))
    report = check(problem, rota)
    if not report.ok:
        return {"error": "the solver's rota failed the checker",
                "errors": [f"{v.rule}: {v.message}" for v in report.violations]}
    return {"rota": rota_to_dict(rota, problem)}
