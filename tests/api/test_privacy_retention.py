"""Retention from the operator's side: ``carerota privacy retention`` (a dry run changes nothing,
a real run pseudonymises what expired, a second finds nothing) and the scheduler's daily job."""

from __future__ import annotations

import datetime as dt
import json

import sqlalchemy as sa
from typer.testing import CliRunner

from api import jobs
from carerota.cli import app as cli
from tests.api.conftest import PAST_MONDAY, build_coop, solved_rota

OLD_MONDAY = dt.date(2015, 1, 5)


def _env(app) -> dict[str, str]:
    s = app.state.settings
    env = {"CAREROTA_DATABASE_URL": s.database_url, "CAREROTA_SECRET_KEY": "x" * 40}
    if s.database_schema:
        env["CAREROTA_DATABASE_SCHEMA"] = s.database_schema
    return env


def _files(app, coop_id: int) -> list[str]:
    with app.state.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT problem, rota_file FROM rota WHERE coop_id = :c ORDER BY id"),
                            {"c": coop_id}).all()
        runs = conn.execute(sa.text("SELECT problem FROM solverun WHERE coop_id = :c ORDER BY id"),
                            {"c": coop_id}).all()
    return [v if isinstance(v, str) else json.dumps(v) for r in [*rows, *runs] for v in r]


def test_the_retention_command_and_job_pseudonymise_an_expired_week_once(fresh_app):
    """A week that ended eleven years ago (past the default eight): ``--dry-run`` says it would
    be pseudonymised and changes nothing; the real run takes every name out of its rota and run
    files; a second run and the scheduler's job find nothing more to do."""
    with fresh_app(start_pool=True) as (app, client):
        coop = build_coop(client, "retcli")
        rota = solved_rota(client, coop, PAST_MONDAY)
        with app.state.engine.begin() as conn:   # make the week an old one
            for table in ("rota", "solverun"):
                conn.execute(sa.text(f"UPDATE {table} SET week_start = :w WHERE coop_id = :c"),
                             {"w": OLD_MONDAY, "c": coop.id})
        names = [m["full_name"] for m in coop.members.values() if m["role"] in ("staff", "volunteer")]
        names += [c["name"] for c in coop.clients]
        before = _files(app, coop.id)
        assert [n for n in names if any(n in f for f in before)]

        dry = CliRunner().invoke(cli, ["privacy", "retention", "--dry-run", "--coop", str(coop.id)],
                                 env=_env(app))
        assert dry.exit_code == 0, dry.output
        assert "1 rota versions and 1 runs would be pseudonymised" in dry.output
        assert _files(app, coop.id) == before

        real = CliRunner().invoke(cli, ["privacy", "retention", "--coop", str(coop.id)], env=_env(app))
        assert real.exit_code == 0, real.output
        assert "1 rota versions and 1 runs were pseudonymised" in real.output
        after = _files(app, coop.id)
        assert not [n for n in names if any(n in f for f in after)]
        visits = client.get(f"/rotas/{rota['id']}", headers=coop.h("coordinator")).json()["visits"]
        assert {v["label"] for v in visits} == {"visit"}

        again = CliRunner().invoke(cli, ["privacy", "retention", "--coop", str(coop.id)], env=_env(app))
        assert "0 rota versions and 0 runs were pseudonymised" in again.output
        ctx = jobs.JobContext(settings=app.state.settings, engine=app.state.engine, pool=app.state.pool,
                              ledger=app.state.ledger, clock=lambda: dt.datetime.now())
        sched = jobs.start_scheduler(ctx)
        try:
            assert sched.get_job("retention") is not None
            report = jobs.retention_job()
        finally:
            jobs.stop_scheduler(sched)
            jobs.set_context(None)
        assert report["rotas_pseudonymised"] == report["runs_pseudonymised"] == 0
        assert _files(app, coop.id) == after
