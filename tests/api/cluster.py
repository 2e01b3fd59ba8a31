"""Helpers for the tests of the service beyond one process: a private Redis server (a broker
the test may restart), a PostgreSQL schema of its own, and ``carerota worker`` / API processes
started as real subprocesses with the same ``CAREROTA_*`` environment an operator would set."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

CAREROTA = str(Path(sys.executable).parent / "carerota")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    """A ``redis-server`` of the test's own on a free port (nothing kept on disk), so the test
    can stop and start the broker without touching the machine's Redis."""

    def __init__(self, workdir: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed (needed to restart a broker of the test's own)")
        self.port, self.workdir = free_port(), workdir
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.workdir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                assert time.monotonic() < deadline, "the private redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None


def pg_schema(pg_url: str, request: Any, prefix: str = "api_test_mp") -> str:
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    return schema


def env_of(settings: Any) -> dict[str, str]:
    """The ``CAREROTA_*`` environment of ``settings`` (what an operator sets for every process)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREROTA_")}
    fields = ["database_url", "database_schema", "secret_key", "solve_time_limit", "solve_workers",
              "broker_url", "solve_queue", "redis_url", "run_heartbeat_seconds", "run_lease_seconds",
              "run_max_attempts", "requeue_after_seconds", "history_weeks", "argon2_time_cost",
              "argon2_memory_cost", "argon2_parallelism", "rate_limit_login", "rate_limit_login_ip",
              "rate_limit_write"]
    for name in fields:
        value = getattr(settings, name)
        if value is not None:
            env[f"CAREROTA_{name.upper()}"] = str(value)
    env["CAREROTA_SECRET_KEY_FILE"] = str(settings.secret_key_file)
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path

    def kill9(self) -> None:
        """``kill -9`` of the process and its children (a worker's solve processes)."""
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
                self.popen.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                self.kill9()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Processes:
    """Processes started by a test, all ended at its end."""

    workdir: Path
    procs: list[Proc] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Proc:
        log = self.workdir / f"{name}.log"
        fh = log.open("w")
        popen = subprocess.Popen(args, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=os.getcwd(),
                                 start_new_session=True)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def worker(self, name: str, env: dict[str, str], concurrency: int = 1) -> Proc:
        return self.start(name, [CAREROTA, "worker", "--concurrency", str(concurrency), "--name",
                                 f"{name}-{uuid.uuid4().hex[:6]}@test"], env)

    def stop_all(self) -> None:
        for p in self.procs:
            p.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.output()[-3000:]}" for p in self.procs)


@contextmanager
def processes(workdir: Path) -> Iterator[Processes]:
    ps = Processes(workdir)
    try:
        yield ps
    finally:
        ps.stop_all()


def wait_for(predicate: Any, timeout: float, what: str, logs: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            extra = f"\n{logs()}" if logs else ""
            raise AssertionError(f"timed out after {timeout} s waiting for {what}{extra}")
        time.sleep(0.2)
