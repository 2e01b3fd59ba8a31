"""Solves run in worker processes so the API stays responsive.

:class:`SolvePool` wraps a ``ProcessPoolExecutor`` (spawn context: no inherited threads or
connections). A queued run is claimed atomically (``queued`` → ``running``), so a run is
solved once however often it is submitted. Progress (objective, bound, gap, covered visits) is written to
the run row while the solver works. A solve whose rota fails the checker, or that raises,
marks the run failed and leaves every stored rota as it was (the last good rota stays).

Leases: claiming a run gives the worker a fresh ``lease_id``; progress, the stored rota and a
failure are written only by an update conditioned on that lease and ``status = running``, so
once recovery (a restart after a crash) has revoked the lease, an orphaned worker's late answer
changes nothing. Worker processes also die with the service process that started them
(a watchdog thread on the parent pid, checked every second).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import threading
import time
import uuid
from concurrent.futures import Future, ProcessPoolExecutor
from threading import Lock
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from api.db import make_engine
from api.models import RunStatus, SolveRun, saved_id, utcnow
from api.services.wording import gap_of

log = logging.getLogger("carerota.worker")
PROGRESS_EVERY_SECONDS = 0.5
PARENT_POLL_SECONDS = 1.0


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: the worker process ends when the process that started it is gone.

    A watchdog thread checks the parent pid (it changes when a process is orphaned). Not
    ``PR_SET_PDEATHSIG``: the kernel ties that to the *thread* that started the child, and the
    pool starts its processes from whichever request thread submitted first, so a solve was
    killed as soon as that thread ended (found by the browser tests)."""
    if os.getppid() != parent_pid:   # the parent died before this ran
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="carerota-parent-watch", daemon=True).start()


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
                    max_workers=self.processes, mp_context=multiprocessing.get_context("spawn"),
                    initializer=_die_with_parent, initargs=(os.getpid(),))
            return self._executor

    def submit(self, run_id: int) -> Future:
        fut = self.executor.submit(execute_run, self.database_url, self.schema, run_id, self.workers)
        self.futures[run_id] = fut
        fut.add_done_callback(functools.partial(self._done, run_id))
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


#: the run table as a Core table (SQLModel sets ``__table__`` at class creation; its stubs
#: do not declare it, the metadata does)
_RUNS = SQLModel.metadata.tables["solverun"]


def _held(run_id: int, lease: str | None) -> Any:
    """The rows of run ``run_id`` still held: running under ``lease`` (any unfinished run when
    ``lease`` is None, for the pool's record of a worker process that died)."""
    if lease is None:
        return sa.and_(_RUNS.c.id == run_id,
                       _RUNS.c.status.in_([RunStatus.queued, RunStatus.running]))
    return sa.and_(_RUNS.c.id == run_id, _RUNS.c.lease_id == lease,
                   _RUNS.c.status == RunStatus.running)


def _fail(engine: sa.Engine, run_id: int, message: str, lease: str | None = None) -> bool:
    """Mark the run failed, if its lease is still held; False when it was not (nothing written)."""
    with engine.begin() as conn:
        return conn.execute(sa.update(_RUNS).where(_held(run_id, lease)).values(
            status=RunStatus.failed, error=message[:4000], finished_at=utcnow(),
            lease_id=None)).rowcount == 1


def _claim(engine: sa.Engine, run_id: int) -> str | None:
    """Claim a queued run (``queued`` → ``running``) under a fresh lease; None if not queued."""
    lease = uuid.uuid4().hex
    with engine.begin() as conn:
        claimed = conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id,
                                                      _RUNS.c.status == RunStatus.queued)
                               .values(status=RunStatus.running, started_at=utcnow(),
                                       lease_id=lease)).rowcount
    return lease if claimed == 1 else None


def recover_runs(engine: sa.Engine) -> list[int]:
    """At startup: runs left ``running`` by a crash are marked failed and their leases revoked
    (a worker that outlived the crash can no longer write them); queued ones are returned so the
    caller submits them again."""
    with engine.begin() as conn:
        conn.execute(sa.update(_RUNS).where(_RUNS.c.status == RunStatus.running).values(
            status=RunStatus.failed, lease_id=None, finished_at=utcnow(),
            error="interrupted: the service stopped during the solve; request it again"))
    with Session(engine) as s:
        runs = s.exec(select(SolveRun).where(SolveRun.status == RunStatus.queued)
                      .order_by(col(SolveRun.id))).all()
        return [saved_id(r) for r in runs]


def _progress_writer(engine: sa.Engine, run_id: int, lease: str):
    last = [0.0]

    def progress(p: Any) -> None:
        now = time.monotonic()
        if now - last[0] < PROGRESS_EVERY_SECONDS:
            return
        last[0] = now
        objective = getattr(p, "objective", None)
        bound = getattr(p, "best_bound", getattr(p, "bound", None))
        gap = gap_of(objective, bound)   # the API's one definition, not the solver's own
        covered, total = getattr(p, "covered", None), getattr(p, "visits", None)
        try:
            with engine.begin() as conn:
                conn.execute(sa.update(_RUNS).where(_held(run_id, lease))
                             .values(objective=objective, best_bound=bound, gap=gap, progress_at=utcnow(),
                                     covered_visits=covered, total_visits=total))
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
        lease = _claim(engine, run_id)
        if lease is None:
            return "not queued"
        try:
            with Session(engine) as s:
                run = s.get(SolveRun, run_id)
                assert run is not None
                problem = problem_from_dict(run.problem)
                time_limit = run.time_limit
            from scheduler.solve import SolveOptions, solve

            rota = solve(problem, SolveOptions(time_limit=time_limit, workers=workers, seed=0),
                         progress=_progress_writer(engine, run_id, lease))
            report = check(problem, rota)
            if not report.ok:
                return _failed(engine, run_id, lease, "the solver's rota failed the checker; the last "
                               "good rota is kept: " + "; ".join(f"{v.rule}: {v.message}"
                                                                 for v in report.violations[:20]))
            if rota.objective is None or not objectives_equal(float(rota.objective), report.objective):
                return _failed(engine, run_id, lease, f"the solver claimed objective {rota.objective}, "
                               f"the checker recomputed {report.objective}; the last good rota is kept")
            rota_file = rota_to_dict(rota, problem)
        except Exception as exc:
            log.exception("solve run %s failed", run_id)
            return _failed(engine, run_id, lease, f"the solve failed: {type(exc).__name__}: {exc}")
        return _store(engine, run_id, lease, rota_file, rota.best_bound)
    finally:
        engine.dispose()


LEASE_LOST = "lease lost"


def _failed(engine: sa.Engine, run_id: int, lease: str, message: str) -> str:
    return "failed" if _fail(engine, run_id, message, lease) else LEASE_LOST


def _store(engine: sa.Engine, run_id: int, lease: str, rota_file: dict, best_bound: float | None) -> str:
    """Store the rota and mark the run succeeded in one transaction, only while ``lease`` holds:
    the run's status changes by an update conditioned on the lease, and when it matches no row
    (the lease was revoked) the new rota version is rolled back with it."""
    from api.services.rotas import store_solved_rota

    for _attempt in range(5):
        try:
            with Session(engine, expire_on_commit=False) as s:
                run = s.get(SolveRun, run_id)
                if run is None or run.lease_id != lease or run.status != RunStatus.running:
                    log.warning("run %s: the lease was revoked; its rota is not stored", run_id)
                    return LEASE_LOST
                rota = store_solved_rota(s, run, rota_file)
                objective = rota_file.get("objective")
                gap = gap_of(objective, best_bound)
                done = s.connection().execute(sa.update(_RUNS).where(_held(run_id, lease)).values(
                    status=RunStatus.succeeded, rota_id=rota.id, finished_at=utcnow(),
                    objective=objective, best_bound=best_bound, gap=gap, lease_id=None,
                    covered_visits=len(rota_file.get("assignments", [])),
                    total_visits=len((run.problem or {}).get("visits", [])))).rowcount
                if done != 1:
                    s.rollback()
                    log.warning("run %s: the lease was revoked; its rota is not stored", run_id)
                    return LEASE_LOST
                s.commit()
                return "succeeded"
        except IntegrityError:   # another version of the week was stored at the same moment
            time.sleep(0.05)
        except Exception as exc:
            log.exception("storing run %s failed", run_id)
            return _failed(engine, run_id, lease, f"storing the rota failed: {type(exc).__name__}: {exc}")
    return _failed(engine, run_id, lease, "storing the rota failed: the week kept changing")


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
