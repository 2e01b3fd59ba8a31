"""Solves run in worker processes so the API stays responsive.

Two ways to run them, the same code solving:

* **embedded** (the default, no broker): :class:`SolvePool` wraps a ``ProcessPoolExecutor``
  (spawn context: no inherited threads or connections) inside the API process. Worker processes
  die with the service process that started them (a watchdog thread on the parent pid).
* **Celery** (``CAREROTA_BROKER_URL`` set): :mod:`api.celery_app` queues a task per run for
  ``carerota worker`` processes on any machine reaching the database and the broker.

A queued run is claimed atomically (``queued`` → ``running``, one attempt counted), so a run is
solved once however often it is submitted or its message delivered. Progress (objective, bound,
gap, covered visits) is written to the run row while the solver works, readable by every API process. A solve
whose rota fails the checker, or that raises, marks the run failed and leaves every stored rota
as it was (the last good rota stays).

Leases: claiming a run gives the worker a fresh ``lease_id``; progress, heartbeats, the stored
rota and a failure are written only by an update conditioned on that lease and ``status =
running``. The holder writes ``heartbeat_at`` every ``run_heartbeat_seconds``. :func:`sweep`
(run by every API process and every worker, at start-up and then periodically) takes over a
running run whose heartbeat is older than ``run_lease_seconds``: queued again while it has
attempts left (``run_max_attempts``), else failed with the reason. A run another live worker
holds has a fresh heartbeat and is left alone; an orphaned worker's late answer, after its lease
was taken over, changes nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import logging
import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from api.db import make_engine
from api.models import RunStatus, SolveRun, SolveWorker, saved_id, utcnow
from api.services.wording import gap_of

log = logging.getLogger("carerota.worker")
PROGRESS_EVERY_SECONDS = 0.5
PARENT_POLL_SECONDS = 1.0
#: the run being solved in this thread, for the logs (``run_id`` of every record; api.logs)
current_run: contextvars.ContextVar[int | None] = contextvars.ContextVar("carerota_run", default=None)


@contextlib.contextmanager
def run_context(run_id: int) -> Iterator[None]:
    token = current_run.set(run_id)
    try:
        yield
    finally:
        current_run.reset(token)


def worker_name(kind: str) -> str:
    """``<kind>@<host>:<pid>``: which process holds a run (``solverun.worker``)."""
    return f"{kind}@{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Lifetimes:
    """How runs' leases are kept and judged (from the settings)."""

    heartbeat_seconds: float = 5.0
    lease_seconds: float = 60.0
    max_attempts: int = 2
    requeue_after_seconds: float = 120.0

    @classmethod
    def of(cls, settings: Any) -> Lifetimes:
        return cls(settings.run_heartbeat_seconds, settings.run_lease_seconds, settings.run_max_attempts,
                   settings.requeue_after_seconds)


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
    """The embedded pool: solves in processes of this (API) process."""

    def __init__(self, database_url: str, schema: str | None, processes: int = 1, workers: int = 1,
                 lifetimes: Lifetimes | None = None):
        self.database_url, self.schema = database_url, schema
        self.processes, self.workers = max(1, processes), max(1, workers)
        self.lifetimes = lifetimes or Lifetimes()
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
        fut = self.executor.submit(execute_run, self.database_url, self.schema, run_id, self.workers,
                                   heartbeat_seconds=self.lifetimes.heartbeat_seconds)
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


def _claim(engine: sa.Engine, run_id: int, worker: str | None = None) -> str | None:
    """Claim a queued run (``queued`` → ``running``, one attempt more) under a fresh lease;
    None if it is not queued (claimed by someone else, finished, or not there)."""
    lease = uuid.uuid4().hex
    now = utcnow()
    with engine.begin() as conn:
        claimed = conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id,
                                                      _RUNS.c.status == RunStatus.queued)
                               .values(status=RunStatus.running, started_at=now, heartbeat_at=now,
                                       attempts=_RUNS.c.attempts + 1, worker=worker,
                                       lease_id=lease)).rowcount
    return lease if claimed == 1 else None


def mark_enqueued(engine: sa.Engine, run_id: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id).values(enqueued_at=utcnow()))


@dataclass
class Swept:
    """What :func:`sweep` did: runs queued again after their worker was lost, runs failed
    because they ran out of attempts, queued runs sent again."""

    requeued: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)


def _stamp(value: Any) -> dt.datetime | None:
    return value if isinstance(value, dt.datetime) or value is None else dt.datetime.fromisoformat(str(value))


def sweep(engine: sa.Engine, lifetimes: Lifetimes, resubmit: Callable[[int], Any] | None = None, *,
          resend_queued: bool = False, now: dt.datetime | None = None) -> Swept:
    """Take over runs whose worker is gone; never a run a live worker holds.

    A ``running`` run whose heartbeat is older than ``lease_seconds`` lost its worker (killed,
    machine gone): its lease is revoked and it is queued again (and handed to ``resubmit``)
    while it has attempts left, else failed with the reason. With ``resend_queued`` (a broker
    is in use), a queued run not claimed for ``requeue_after_seconds`` is sent again: a broker
    that lost its messages loses no run, and a duplicate message is harmless (one claim wins).
    Every change is an update conditioned on what was read, so any number of processes may
    sweep at once."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=lifetimes.lease_seconds)
    out = Swept()
    last_sign = sa.func.coalesce(_RUNS.c.heartbeat_at, _RUNS.c.started_at, _RUNS.c.created_at)
    with engine.connect() as conn:
        stale = conn.execute(sa.select(_RUNS.c.id, _RUNS.c.lease_id, _RUNS.c.attempts, last_sign)
                             .where(_RUNS.c.status == RunStatus.running, last_sign < cutoff)
                             .order_by(_RUNS.c.id)).all()
    for run_id, lease, attempts, seen in stale:
        same = sa.and_(_RUNS.c.id == run_id, _RUNS.c.status == RunStatus.running,
                       _RUNS.c.lease_id.is_(None) if lease is None else _RUNS.c.lease_id == lease,
                       last_sign < cutoff)
        seen = _stamp(seen)
        since = f"{seen:%Y-%m-%d %H:%M:%S} UTC" if seen else "its start"
        with engine.begin() as conn:
            if (attempts or 0) >= lifetimes.max_attempts:
                done = conn.execute(sa.update(_RUNS).where(same).values(
                    status=RunStatus.failed, lease_id=None, finished_at=now,
                    error=(f"interrupted: the worker solving it stopped (no heartbeat since {since}), "
                           f"{attempts} attempt(s) made; request it again"))).rowcount
                if done:
                    out.failed.append(run_id)
                continue
            done = conn.execute(sa.update(_RUNS).where(same).values(
                status=RunStatus.queued, lease_id=None, heartbeat_at=None, enqueued_at=now)).rowcount
        if done:
            log.warning("run %s lost its worker (no heartbeat since %s): queued again (attempt %s of %s)",
                        run_id, since, (attempts or 0) + 1, lifetimes.max_attempts,
                        extra={"run_id": run_id})
            out.requeued.append(run_id)
            if resubmit is not None:
                resubmit(run_id)
    if resend_queued and resubmit is not None:
        resend_before = now - dt.timedelta(seconds=lifetimes.requeue_after_seconds)
        waiting = sa.func.coalesce(_RUNS.c.enqueued_at, _RUNS.c.created_at)
        with engine.connect() as conn:
            old = conn.execute(sa.select(_RUNS.c.id).where(_RUNS.c.status == RunStatus.queued,
                                                           waiting < resend_before)
                               .order_by(_RUNS.c.id)).scalars().all()
        for run_id in old:
            with engine.begin() as conn:
                done = conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id,
                                                           _RUNS.c.status == RunStatus.queued,
                                                           waiting < resend_before)
                                    .values(enqueued_at=now)).rowcount
            if done:
                out.resent.append(run_id)
                resubmit(run_id)
    return out


def recover_runs(engine: sa.Engine, lifetimes: Lifetimes | None = None) -> list[int]:
    """At start-up of the embedded pool: :func:`sweep` (runs whose worker is gone are queued
    again or failed; a run with a fresh heartbeat is left to its holder), then the queued runs,
    which the caller submits again."""
    sweep(engine, lifetimes or Lifetimes())
    with Session(engine) as s:
        runs = s.exec(select(SolveRun).where(SolveRun.status == RunStatus.queued)
                      .order_by(col(SolveRun.id))).all()
        return [saved_id(r) for r in runs]


def beat_worker(engine: sa.Engine, name: str, kind: str, concurrency: int) -> None:
    """Record that worker ``name`` is alive (its ``solveworker`` row, for /health)."""
    now = utcnow()
    with engine.begin() as conn:
        t = SolveWorker.__table__  # type: ignore[attr-defined]
        if conn.execute(sa.update(t).where(t.c.name == name).values(seen_at=now)).rowcount == 0:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(t).values(name=name, kind=kind, started_at=now, seen_at=now,
                                                     concurrency=concurrency))
            except IntegrityError:
                pass   # inserted by a concurrent beat of the same name: it is recorded


def forget_worker(engine: sa.Engine, name: str) -> None:
    with engine.begin() as conn:
        t = SolveWorker.__table__  # type: ignore[attr-defined]
        conn.execute(sa.delete(t).where(t.c.name == name))


class Watchdog:
    """A daemon thread that, every ``interval`` seconds, records this process's worker row
    (when ``name`` is given) and :func:`sweep`s runs whose worker is gone."""

    def __init__(self, engine: sa.Engine, lifetimes: Lifetimes, resubmit: Callable[[int], Any] | None,
                 *, resend_queued: bool, name: str | None = None, kind: str = "embedded",
                 concurrency: int = 1):
        self.engine, self.lifetimes, self.resubmit = engine, lifetimes, resubmit
        self.resend_queued, self.name, self.kind, self.concurrency = resend_queued, name, kind, concurrency
        self.interval = max(0.2, min(lifetimes.heartbeat_seconds, lifetimes.lease_seconds / 3))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> Swept | None:
        try:
            if self.name:
                beat_worker(self.engine, self.name, self.kind, self.concurrency)
            return sweep(self.engine, self.lifetimes, self.resubmit, resend_queued=self.resend_queued)
        except Exception:
            log.warning("the run watchdog could not sweep", exc_info=True)
            return None

    def start(self) -> Watchdog:
        def loop() -> None:
            self.tick()
            while not self._stop.wait(self.interval):
                self.tick()

        self._thread = threading.Thread(target=loop, name="carerota-run-watchdog", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.name:
            with contextlib.suppress(Exception):
                forget_worker(self.engine, self.name)


class _Heartbeat:
    """Writes the run's ``heartbeat_at`` every ``seconds`` while the lease holds (a thread of
    the solving process: the solver's numba and OR-Tools code release the GIL)."""

    def __init__(self, engine: sa.Engine, run_id: int, lease: str, seconds: float):
        self.engine, self.run_id, self.lease, self.seconds = engine, run_id, lease, seconds
        self._stop = threading.Event()
        self.lost = False
        self._thread = threading.Thread(target=self._loop, name=f"carerota-heartbeat-{run_id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds):
            try:
                with self.engine.begin() as conn:
                    held = conn.execute(sa.update(_RUNS).where(_held(self.run_id, self.lease))
                                        .values(heartbeat_at=utcnow())).rowcount
                if not held:
                    with self.engine.connect() as conn:
                        status = conn.execute(sa.select(_RUNS.c.status)
                                              .where(_RUNS.c.id == self.run_id)).scalar()
                    if status == RunStatus.running:   # another holder's lease: ours was revoked
                        self.lost = True
                        log.warning("run %s: the lease was taken over", self.run_id,
                                    extra={"run_id": self.run_id})
                    # else the run just ended (stored or failed by this worker): nothing to say
                    return
            except Exception:
                log.warning("could not write the heartbeat of run %s", self.run_id, exc_info=True,
                            extra={"run_id": self.run_id})

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


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
                                     covered_visits=covered, total_visits=total,
                                     heartbeat_at=utcnow()))
        except Exception:
            log.warning("could not record progress of run %s", run_id, exc_info=True)

    return progress


def execute_run(database_url: str, schema: str | None, run_id: int, workers: int = 1, *,
                heartbeat_seconds: float = 5.0, worker: str | None = None) -> str:
    """Solve run ``run_id`` (in a worker process) and store its rota as a new draft version."""
    engine = make_engine(database_url, schema)
    try:
        with run_context(run_id):
            lease = _claim(engine, run_id, worker or worker_name("embedded"))
            if lease is None:
                log.info("run %s is not queued (claimed elsewhere or finished): nothing to do", run_id)
                return "not queued"
            log.info("run %s claimed", run_id)
            with _Heartbeat(engine, run_id, lease, heartbeat_seconds):
                outcome = _solve_claimed(engine, run_id, lease, workers)
            log.info("run %s: %s", run_id, outcome)
            return outcome
    finally:
        engine.dispose()


def _solve_claimed(engine: sa.Engine, run_id: int, lease: str, workers: int) -> str:
    from scheduler.checker import check, objectives_equal
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_to_dict

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
