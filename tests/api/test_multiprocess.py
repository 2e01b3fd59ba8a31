"""Operating several processes: /health, the secret several API processes must share, the
worker command's settings, and logs that carry the run id (issue 12)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.db import StartupError
from api.main import create_app
from tests.api.conftest import make_settings


def test_health_reports_the_database_the_embedded_pool_and_its_worker(client):
    """The embedded default: the database answers, there is no broker, and the API process's
    own pool is listed among the workers seen (its row is written every heartbeat)."""
    deadline = time.monotonic() + 15
    while True:
        r = client.get("/health")
        body = r.json()
        if any(w["kind"] == "embedded" for w in body["workers"]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["database"] == "ok" and body["broker"] == "embedded"
    assert any(w["kind"] == "embedded" and w["seen_seconds_ago"] < 60 for w in body["workers"]), body


def test_health_is_a_503_naming_the_broker_when_it_cannot_be_reached(tmp_path):
    """A load balancer takes an API process whose broker is down out of rotation: 503, and the
    body says which part is down."""
    settings = make_settings(f"sqlite:///{tmp_path / 'h.db'}", tmp_path, broker_url="redis://127.0.0.1:1/0")
    app = create_app(settings, start_pool=False)
    try:
        with TestClient(app) as c:
            r = c.get("/health")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "unavailable" and body["database"] == "ok"
        assert body["broker"].startswith("unreachable:")
    finally:
        app.state.pool.shutdown()
        app.state.engine.dispose()
        app.state.ledger.engine.dispose()


def test_an_api_process_with_a_broker_refuses_to_start_without_a_shared_secret_key(tmp_path):
    """Several API processes must sign and check the same tokens and calendar links: the per-host
    generated secret file would log users out (and break feeds) between processes on different
    machines, so with a broker CAREROTA_SECRET_KEY is required and its absence is named."""
    settings = make_settings(f"sqlite:///{tmp_path / 's.db'}", tmp_path, broker_url="redis://127.0.0.1:6379/12",
                             secret_key="")
    with pytest.raises(StartupError, match="CAREROTA_SECRET_KEY"):
        create_app(settings, start_pool=False)


def test_carerota_worker_without_a_broker_exits_naming_the_setting(monkeypatch):
    from carerota.cli import app

    monkeypatch.delenv("CAREROTA_BROKER_URL", raising=False)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 2 and "CAREROTA_BROKER_URL" in result.output


def test_json_logs_carry_the_run_id_of_the_solve_being_logged():
    """A log collector can follow one run across processes: every record of a solve carries its
    run id (from the thread's current run), and other records carry null."""
    from api.logs import RunIdFilter, formatter
    from api.worker import run_context

    fmt, flt = formatter("json"), RunIdFilter()

    def line(msg: str) -> dict:
        record = logging.LogRecord("carerota.worker", logging.INFO, __file__, 1, msg, None, None)
        flt.filter(record)
        return json.loads(fmt.format(record))

    with run_context(42):
        inside = line("run claimed")
    outside = line("idle")
    assert inside["run_id"] == 42 and inside["message"] == "run claimed" and inside["level"] == "INFO"
    assert outside["run_id"] is None


def test_carerota_scheduler_runs_the_jobs_in_a_process_of_its_own_and_stops_on_sigterm(tmp_path):
    """The single scheduler of a several-process deployment: it starts with its jobs (auto-confirm
    and co-op sync at least) and ends cleanly on SIGTERM, as a process manager stops it."""
    import os
    import signal
    import subprocess

    from tests.api.cluster import CAREROTA, env_of

    settings = make_settings(f"sqlite:///{tmp_path / 'sched.db'}", tmp_path)
    proc = subprocess.Popen([CAREROTA, "scheduler", "--check-every", "0.2"], env=env_of(settings),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "scheduler running" in line or not line:
                break
        assert any("scheduler running" in ln for ln in lines), "".join(lines)
        jobs_line = next(ln for ln in lines if "scheduler running" in ln)
        assert int(jobs_line.split("(")[1].split()[0]) >= 2
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
