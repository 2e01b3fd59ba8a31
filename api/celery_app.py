"""Solve workers on Celery: with ``CAREROTA_BROKER_URL`` set, runs are queued for ``carerota worker``.

* :class:`CeleryDispatcher` is the API's ``pool`` in that case: ``submit(run_id)`` sends the
  task ``carerota.solve_run`` to ``CAREROTA_SOLVE_QUEUE``. A broker that cannot be reached
  loses nothing: the run is in the database as ``queued`` and the sweep sends it again. The
  stateless ``POST /solve`` still solves in the API process's own pool.
* The task solves with :func:`api.worker.execute_run`, the same code as the embedded pool.
  Messages are acknowledged **late** (after the task returns) and **rejected when the worker
  process is lost**, so a message taken by a worker that died goes back to the queue; the
  database claim makes any second delivery a no-op, and the sweep of every worker takes over a
  run whose heartbeat stopped (queued again once, then failed with the reason).
* Every worker records itself in ``solveworker`` (for ``/health``) and sweeps runs whose worker
  is gone (:class:`api.worker.Watchdog`).

The worker reads its settings from the environment (the same ``CAREROTA_*`` variables as the API).
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from celery import Celery, signals

from api.settings import Settings

log = logging.getLogger("carerota.celery")
TASK = "carerota.solve_run"


def make_celery(settings: Settings) -> Celery:
    if not settings.broker_url:
        raise ValueError("CAREROTA_BROKER_URL is not set")
    app = Celery("carerota", broker=settings.broker_url, set_as_current=False)
    lease = settings.run_lease_seconds
    app.conf.update(
        task_acks_late=True,                   # acknowledged after the task ran, not when taken
        task_reject_on_worker_lost=True,       # a killed worker process: the message goes back
        task_acks_on_failure_or_timeout=True,  # a task that raised recorded its failure itself
        worker_prefetch_multiplier=1,          # a busy worker hoards no queued runs
        task_default_queue=settings.solve_queue,
        task_routes={TASK: {"queue": settings.solve_queue}},
        task_ignore_result=True,               # progress and outcome live in the run row
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_proc_alive_timeout=120.0,       # a solve process warms the solver up first
        # Redis: an unacknowledged message is delivered again after this; a second delivery of
        # a claimed run is a no-op, and the sweep does not wait for it
        broker_transport_options={"visibility_timeout": max(300.0, 4 * lease)},
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
    )
    return app


class CeleryDispatcher:
    """The API's pool with a broker: runs go to the queue, stateless solves stay local."""

    def __init__(self, settings: Settings, local: Any, engine: Any):
        self.settings, self.local, self.engine = settings, local, engine
        self.app = make_celery(settings)

    @property
    def executor(self) -> Any:   # the stateless POST /solve
        return self.local.executor

    def submit(self, run_id: int) -> bool:
        """Queue run ``run_id``; False (logged, the run stays queued for the sweep) when the broker
        cannot take it now."""
        from api.worker import mark_enqueued

        try:
            self.app.send_task(TASK, args=[run_id], queue=self.settings.solve_queue)
        except Exception as exc:
            log.error("run %s: the broker did not take it (%s); it stays queued and is sent again",
                      run_id, exc, extra={"run_id": run_id})
            return False
        with contextlib.suppress(Exception):
            mark_enqueued(self.engine, run_id)
        return True

    def shutdown(self) -> None:
        self.local.shutdown()
        with contextlib.suppress(Exception):
            self.app.pool.force_close_all()


# ----------------------------------------------------------------------------- the worker side
_state: dict[str, Any] = {}


def worker_app(settings: Settings) -> Celery:
    """The Celery app of ``carerota worker``: the solve task and the worker's watchdog."""
    app = make_celery(settings)

    @app.task(name=TASK, bind=True, acks_late=True, reject_on_worker_lost=True)
    def solve_run(self: Any, run_id: int) -> str:
        from api.worker import execute_run, worker_name

        hostname = getattr(self.request, "hostname", None) or "worker"
        return execute_run(settings.database_url, settings.database_schema, int(run_id),
                           settings.solve_workers, heartbeat_seconds=settings.run_heartbeat_seconds,
                           worker=worker_name(f"celery:{hostname}"))

    return app


def start_watchdog(settings: Settings, app: Celery, name: str, concurrency: int) -> Any:
    """In the worker's main process: its ``solveworker`` row and the sweep, in a thread."""
    from api.db import engine_for
    from api.worker import Lifetimes, Watchdog

    engine = engine_for(settings)

    def resend(run_id: int) -> None:
        from api.worker import mark_enqueued

        app.send_task(TASK, args=[run_id], queue=settings.solve_queue)
        mark_enqueued(engine, run_id)

    dog = Watchdog(engine, Lifetimes.of(settings), resend, resend_queued=True, name=name, kind="celery",
                   concurrency=concurrency)
    return dog.start()


def warm_up() -> None:
    """Import the solver and solve a two-client week once (loads the compiled search from the
    numba cache), so a worker's first run costs what the others do."""
    import time

    t = time.monotonic()
    try:
        from scheduler.checker import check
        from scheduler.example import generate_problem
        from scheduler.problem import problem_from_dict
        from scheduler.solve import SolveOptions, solve

        problem = problem_from_dict(generate_problem(clients=2, seed=1))
        check(problem, solve(problem, SolveOptions(time_limit=0.5, workers=1, seed=0)))
    except Exception:   # the first real run then pays for it, and records any fault itself
        log.warning("the solver warm-up failed", exc_info=True)
        return
    log.info("solve process warmed up in %.1f s", time.monotonic() - t)


def run_worker(settings: Settings, concurrency: int, name: str | None, loglevel: str = "INFO") -> None:
    """``carerota worker``: a Celery worker (prefork pool of ``concurrency`` processes)."""
    import os
    import socket

    from api.logs import configure_logging

    configure_logging(settings)
    app = worker_app(settings)
    node = name or f"carerota{os.getpid()}@{socket.gethostname()}"

    @signals.setup_logging.connect
    def _keep_our_logging(**_kw: Any) -> None:   # Celery leaves the root logger to us
        configure_logging(settings)

    @signals.worker_process_init.connect
    def _warm(**_kw: Any) -> None:   # each solve process: load the solver before its first run
        warm_up()

    @signals.worker_ready.connect
    def _ready(sender: Any = None, **_kw: Any) -> None:
        _state["watchdog"] = start_watchdog(settings, app, node, concurrency)
        log.info("worker %s ready: queue %s, %s process(es)", node, settings.solve_queue, concurrency)

    @signals.worker_shutdown.connect
    def _down(**_kw: Any) -> None:
        dog = _state.pop("watchdog", None)
        if dog is not None:
            dog.stop()

    app.worker_main(["worker", f"--concurrency={concurrency}", "--pool=prefork", f"--hostname={node}",
                     f"--queues={settings.solve_queue}", f"--loglevel={loglevel}", "--without-gossip",
                     "--without-mingle", "--without-heartbeat"])
