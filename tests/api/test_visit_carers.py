"""A visit's carers have one representation (issue 10): the ``visitcarer`` rows. ``carer_ids``
is derived from them, a hand edit changes only them, and revision 0006 drops the JSON copy
after making each visit's rows say what its JSON said, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import Session, select

from api.models import Visit, VisitCarer
from tests.api.conftest import FUTURE_MONDAY, solved_rota


def test_visits_have_no_second_copy_of_their_carers(app) -> None:
    """The ``visit`` table has no ``carer_ids`` column: nothing to keep in step by hand."""
    with app.state.engine.connect() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("visit")}
    assert "carer_ids" not in columns and {"id", "status", "start"} <= columns


def test_a_hand_edit_changes_the_rows_and_the_list_follows_them(client, app, coop_a) -> None:
    """Assigning a visit by hand rewrites its carer rows; the API's ``carer_ids`` and a carer's
    own week (a query on the rows) agree with them afterwards."""
    rota = solved_rota(client, coop_a, FUTURE_MONDAY, publish=False)
    h = coop_a.h("coordinator")
    staff2 = coop_a.members["staff2"]["id"]
    visit = next(v for v in rota["visits"] if v["label"] == "morning care" and v["carer_ids"])
    r = client.put(f"/rotas/{rota['id']}/visits/{visit['id']}/assignment", headers=h,
                   json={"carer_ids": [staff2], "start": visit["start"]})
    assert r.status_code == 200, r.text
    assert r.json()["carer_ids"] == [staff2]
    with Session(app.state.engine) as s:
        row = s.exec(select(Visit).where(Visit.rota_id == rota["id"],
                                         Visit.week_visit_id == visit["id"])).one()
        rows = s.exec(select(VisitCarer.member_id, VisitCarer.role_index)
                      .where(VisitCarer.visit_id == row.id)).all()
        assert [tuple(x) for x in rows] == [(staff2, 0)]
        assert row.carer_ids == [staff2]
    again = client.get(f"/rotas/{rota['id']}", headers=h).json()
    assert next(v for v in again["visits"] if v["id"] == visit["id"])["carer_ids"] == [staff2]
    r = client.post(f"/rotas/{rota['id']}/visits/{visit['id']}/unassign", headers=h, json={"reason": "test"})
    assert r.status_code == 200 and r.json()["carer_ids"] == []
    with Session(app.state.engine) as s:
        assert s.exec(select(VisitCarer).where(VisitCarer.visit_id == row.id)).all() == []


def _migrate(engine: sa.Engine, to: str, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, to)


#: visit id -> (its JSON carer_ids before 0006, its visitcarer rows (member, role_index))
BEFORE = {
    10: ("[1, 2]", [(1, 0), (2, 1)]),   # in step
    11: ("[2]", []),                     # the rows were never written
    12: ("[]", [(1, 0)]),                # a row left behind by an unassign
    13: ("[2, 1]", [(1, 0), (2, 1)]),   # the roles in another order
    14: ("[]", []),                      # unassigned
}


def test_the_migration_keeps_each_visits_carers_as_its_json_listed_them(empty_engine) -> None:
    """A database from before revision 0006: after the upgrade every visit's rows are its JSON
    list, in role order (the list is what the API showed and the rota file holds), the JSON
    column is gone, and a downgrade writes the lists back from the rows."""
    engine = empty_engine
    _migrate(engine, "0005")
    with engine.begin() as conn:
        run = conn.exec_driver_sql
        run("INSERT INTO coop (id, name, weekly_solve_enabled, created_at) "
            "VALUES (1, 'c', TRUE, '2026-01-01')")
        run("INSERT INTO client (id, coop_id, name, lat, lon, is_active) VALUES (1, 1, 'x', 51.5, -3, TRUE)")
        for mid, name in ((1, "Ann"), (2, "Bryn")):
            run("INSERT INTO member (id, coop_id, email, full_name, role, hashed_password, is_active, "
                "max_minutes_per_day, max_minutes_per_week, hourly_cost, created_at) "
                f"VALUES ({mid}, 1, '{name}@b.c', '{name}', 'staff', 'h', TRUE, 600, 2400, 0, '2026-01-01')")
        run("INSERT INTO rota (id, coop_id, week_start, version, status, problem, id_map, rota_file, "
            "created_at) VALUES (1, 1, '2026-11-30', 1, 'published', '{}', '{}', '{}', '2026-01-01')")
        for vid, (listed, rows) in BEFORE.items():
            run("INSERT INTO weekvisit (id, coop_id, week_start, key) "
                f"VALUES ({vid}, 1, '2026-11-30', 'k{vid}')")
            run("INSERT INTO visit (id, week_visit_id, rota_id, coop_id, client_id, key, label, "
                "earliest_start, latest_start, duration_minutes, priority, volunteer_ok, status, "
                "carer_ids, reasons, credited) "
                f"VALUES ({vid}, {vid}, 1, 1, 1, 'k{vid}', '', '2026-11-30 08:00:00', "
                f"'2026-11-30 09:00:00', 30, 'essential', FALSE, 'planned', '{listed}', '[]', FALSE)")
            for member, index in rows:
                run("INSERT INTO visitcarer (visit_id, member_id, role_index) "
                    f"VALUES ({vid}, {member}, {index})")
    _migrate(engine, "0006")
    with engine.connect() as conn:
        assert "carer_ids" not in {c["name"] for c in sa.inspect(conn).get_columns("visit")}
        got: dict[int, list[tuple[int, int]]] = {vid: [] for vid in BEFORE}
        for vid, member, index in conn.exec_driver_sql(
                "SELECT visit_id, member_id, role_index FROM visitcarer ORDER BY visit_id, role_index"):
            got[vid].append((member, index))
    assert got == {10: [(1, 0), (2, 1)], 11: [(2, 0)], 12: [], 13: [(2, 0), (1, 1)], 14: []}
    _migrate(engine, "head")
    with Session(engine) as s:   # the models read the upgraded database
        assert {v.id: v.carer_ids for v in s.exec(select(Visit)).all()} == \
            {10: [1, 2], 11: [2], 12: [], 13: [2, 1], 14: []}
    _migrate(engine, "0005", down=True)
    with engine.connect() as conn:
        lists = {vid: raw for vid, raw in conn.exec_driver_sql("SELECT id, carer_ids FROM visit")}
    assert {vid: json.loads(raw) if isinstance(raw, str) else raw for vid, raw in lists.items()} == \
        {10: [1, 2], 11: [2], 12: [], 13: [2, 1], 14: []}
