"""A visit keeps its id across rota versions (issue 9, item 12): each hand edit of a
published rota makes a new version, and used to give every visit a new id, breaking links
and check-outs in flight. Versions now record their own assignment of the same visit."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.api.checks import assert_rota_checked
from tests.api.conftest import PAST_MONDAY, solved_rota, wait_run


def test_a_visit_keeps_its_id_through_a_hand_edit_and_each_version_records_its_assignment(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    h = coop_a.h("coordinator")
    walk = next(v for v in rota["visits"] if v["label"] == "walk" and v["status"] == "planned")
    vol = coop_a.members["volunteer"]["id"]
    new_start = (dt.datetime.fromisoformat(walk["earliest_start"]) + dt.timedelta(minutes=30)).isoformat()
    r = client.put(f"/rotas/{rota['id']}/visits/{walk['id']}/assignment", headers=h,
                   json={"carer_ids": [vol], "start": new_start})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["id"] == walk["id"] and edited["rota_id"] != rota["id"]
    new = client.get(f"/rotas/{edited['rota_id']}", headers=h).json()
    old = client.get(f"/rotas/{rota['id']}", headers=h).json()
    assert [v["id"] for v in new["visits"]] == [v["id"] for v in old["visits"]]   # every id kept
    # each version records its own assignment of the same visit
    in_old = next(v for v in old["visits"] if v["id"] == walk["id"])
    in_new = next(v for v in new["visits"] if v["id"] == walk["id"])
    assert in_old["start"] == walk["start"] and in_new["start"].startswith(new_start[:16])
    assert_rota_checked(client, coop_a, new["id"])
    # the id a carer already had still works: it shows, and checks out, the current version
    assert client.get(f"/visits/{walk['id']}", headers=coop_a.h("volunteer")).json()["rota_id"] == new["id"]
    r = client.post(f"/visits/{walk['id']}/complete", headers=coop_a.h("volunteer"))
    assert r.status_code == 200, r.text
    assert r.json()["rota_id"] == new["id"] and r.json()["status"] == "completed"
    # a second edit of the rota keeps the id and the completed record
    other = next(v for v in new["visits"] if v["status"] == "unassigned" or v["label"] == "medication")
    r = client.post(f"/rotas/{new['id']}/visits/{other['id']}/unassign", headers=h, json={"reason": "test"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == other["id"]
    again = client.get(f"/visits/{walk['id']}", headers=h).json()
    assert again["status"] == "completed" and again["rota_id"] == r.json()["rota_id"]


def test_a_re_solve_keeps_the_weeks_visit_ids(client, coop_a):
    """A new draft of the same week (a second solve, a re-solve) names the same visits by the same ids."""
    first = solved_rota(client, coop_a, PAST_MONDAY)
    r = client.post(f"/rotas/{first['id']}/resolve", headers=coop_a.h("coordinator"), json={})
    assert r.status_code == 202, r.text
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    second = client.get(f"/rotas/{run['rota_id']}", headers=coop_a.h("coordinator")).json()
    assert second["id"] != first["id"]
    assert {v["key"]: v["id"] for v in second["visits"]} == {v["key"]: v["id"] for v in first["visits"]}


@pytest.fixture
def old_engine(backend, tmp_path: Path, request):
    """An empty database (SQLite file, or a private PostgreSQL schema) for migrating by hand."""
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"api_test_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_migration_gives_existing_visits_lasting_ids_from_their_first_version(old_engine):
    """A database from before revision 0005 upgrades: visits of one week and key share one id,
    the id of their first version's row (so links to the first version keep working), and new
    week visits get ids after those."""
    engine = old_engine
    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")

    def upgrade(to: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)

    upgrade("0004")
    with engine.begin() as conn:
        run = conn.exec_driver_sql
        run("INSERT INTO coop (id, name, weekly_solve_enabled, created_at) "
            "VALUES (1, 'c', TRUE, '2026-01-01')")
        run("INSERT INTO client (id, coop_id, name, lat, lon, is_active) VALUES (1, 1, 'x', 51.5, -3, TRUE)")
        run("INSERT INTO member (id, coop_id, email, full_name, role, hashed_password, is_active, "
            "max_minutes_per_day, max_minutes_per_week, hourly_cost, created_at) "
            "VALUES (1, 1, 'a@b.c', 'Ann', 'staff', 'h', TRUE, 600, 2400, 0, '2026-01-01')")
        for rid, version in ((1, 1), (2, 2)):
            run(f"INSERT INTO rota (id, coop_id, week_start, version, status, problem, id_map, rota_file, "
                f"created_at) VALUES ({rid}, 1, '2026-11-30', {version}, 'draft', '{{}}', '{{}}', '{{}}', "
                "'2026-01-01')")
        rows = [(10, 1, "t1-20261130"), (11, 1, "t2-20261130"),
                (20, 2, "t1-20261130"), (21, 2, "t2-20261130")]
        for vid, rid, key in rows:
            run("INSERT INTO visit (id, rota_id, coop_id, client_id, key, label, earliest_start, "
                "latest_start, duration_minutes, priority, volunteer_ok, status, carer_ids, reasons, "
                "credited) "
                f"VALUES ({vid}, {rid}, 1, 1, '{key}', '', '2026-11-30 08:00', '2026-11-30 09:00', 30, "
                "'essential', FALSE, 'planned', '[1]', '[]', FALSE)")
            run(f"INSERT INTO visitcarer (visit_id, member_id, role_index) VALUES ({vid}, 1, 0)")
    upgrade("head")
    with engine.connect() as conn:
        got = dict(conn.exec_driver_sql("SELECT id, week_visit_id FROM visit").all())
        weeks = conn.exec_driver_sql("SELECT id, key FROM weekvisit ORDER BY id").all()
    assert got == {10: 10, 11: 11, 20: 10, 21: 11}
    assert [tuple(w) for w in weeks] == [(10, "t1-20261130"), (11, "t2-20261130")]
    with engine.begin() as conn:   # the next week visit is numbered after the kept ids
        conn.exec_driver_sql("INSERT INTO weekvisit (coop_id, week_start, key) VALUES (1, '2026-12-07', 'k')")
        assert conn.exec_driver_sql("SELECT MAX(id) FROM weekvisit").scalar() > 11
