"""A solve process lives as long as the service, not as long as the request thread that
happened to start it (the pool starts its processes from the first submitting thread)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time

from api.worker import _die_with_parent


def _wait_in_worker(parent_pid: int, seconds: float, ready) -> None:  # type: ignore[no-untyped-def]
    _die_with_parent(parent_pid)
    ready.set()
    time.sleep(seconds)


def test_a_worker_started_from_a_short_lived_thread_outlives_that_thread() -> None:
    ctx = multiprocessing.get_context("spawn")
    box: list = []

    ready = ctx.Event()

    def start() -> None:
        p = ctx.Process(target=_wait_in_worker, args=(os.getpid(), 8.0, ready))
        p.start()
        box.append(p)
        assert ready.wait(30), "the worker did not start"

    t = threading.Thread(target=start)
    t.start()
    t.join()  # the starting thread ends once the worker is set up, as a request thread does
    proc = box[0]
    time.sleep(2.5)  # more than two watchdog periods
    try:
        assert proc.is_alive(), f"the worker died with its starting thread (exit code {proc.exitcode})"
    finally:
        proc.kill()
        proc.join()
