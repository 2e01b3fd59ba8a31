"""Subject access against the database itself: a scan of every table for the person's ids finds
rows, and the person's export holds every one of them, and nothing about anyone else.

``PERSON_COLUMNS`` are the columns that can name a person; a table that gains one (a new table
about people) and is not handled by ``_expected`` fails the scan instead of escaping it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, build_coop, solved_rota

#: every column of any table that names a member or a client
PERSON_COLUMNS = {"member_id", "client_id", "subject_member_id", "actor_id", "requested_by",
                  "completed_by", "owner_ref", "recorded_by", "on_behalf_of", "family_member_id"}
#: tables whose rows about people are checked below (a person's ids in any other table fail)
HANDLED = {"member", "client", "skill", "availability", "leave", "clientshare", "clientcarer",
           "visittemplate", "visit", "visitcarer", "accesslog", "accesslogsubject", "tb_account",
           "tb_transaction", "solverun"}


def _tables(engine: sa.Engine) -> dict[str, sa.Table]:
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    return dict(meta.tables)


def _where(engine: sa.Engine, table: str, **equals: Any) -> list[dict]:
    t = _tables(engine)[table]
    conds = [t.c[k] == v for k, v in equals.items()]
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t).where(sa.or_(*conds))).mappings().all()]


def _tables_naming(engine: sa.Engine, member_id: int, client_id: int | None) -> set[str]:
    """Every table with a row whose person column holds the member's or the client's id."""
    found = set()
    with engine.connect() as conn:
        for name, t in _tables(engine).items():
            for c in t.columns:
                if c.name not in PERSON_COLUMNS:
                    continue
                values: list[Any] = [member_id, str(member_id)] if c.name != "client_id" else [client_id]
                if isinstance(c.type, sa.String):
                    values = [str(v) for v in values if v is not None]
                else:
                    values = [v for v in values if isinstance(v, int)]
                if values and conn.execute(sa.select(sa.func.count()).select_from(t)
                                           .where(c.in_(values))).scalar_one():
                    found.add(name)
    return found


@pytest.fixture(scope="module")
def world(client):
    a = build_coop(client, "sarscan")
    h = a.h("coordinator")
    c0, vol = a.clients[0]["id"], a.members["volunteer"]["id"]
    r = client.put(f"/clients/{c0}/preferences", headers=h, json={"preferred_carers": [vol],
                                                                   "excluded_carers": []})
    assert r.status_code == 200
    first = a.templates[0]["id"]
    then = client.post(f"/clients/{c0}/care-plan", headers=h, json={
        "label": "tea", "days": [0], "earliest_start": "16:00", "latest_start": "17:00",
        "duration_minutes": 30}).json()["id"]
    assert client.post("/care-plan-dependencies", headers=h, json={
        "first_id": first, "then_id": then, "min_gap_minutes": 60}).status_code == 201
    r = client.post(f"/members/{vol}/leave", headers=h, json={"kind": "leave", "start": "2031-02-01T00:00",
                                                              "end": "2031-02-02T00:00", "note": "dentist"})
    assert r.status_code == 201
    past = solved_rota(client, a, PAST_MONDAY)
    for v in past["visits"]:
        if vol in v["carer_ids"] and v["status"] == "planned":
            assert client.post(f"/visits/{v['id']}/complete", headers=h).status_code == 200
    solved_rota(client, a, FUTURE_MONDAY)
    for role in ("client", "volunteer"):   # reads by them and about them
        assert client.get("/me/access-log", headers=a.h(role)).status_code == 200
    assert client.get(f"/clients/{c0}", headers=a.h("family")).status_code == 200
    return a


def _ids(rows: list[dict], key: str = "id") -> set:
    return {r[key] for r in rows}


@pytest.mark.parametrize("who", ["client", "volunteer"])
def test_the_export_holds_every_row_the_database_has_about_the_person_and_no_one_elses(client, app,
                                                                                        world, who):
    """For a client (their login and their care record) and for a volunteer: every table that
    names them is one the export covers, every such row is in the export, and the export's
    visits, shares, log entries and statement are theirs alone."""
    a = world
    engine = app.state.engine
    me = a.members[who]["id"]
    cid = a.clients[0]["id"] if who == "client" else None
    body = client.get("/me/export", headers=a.h(who)).json()
    naming = _tables_naming(engine, me, cid)
    assert naming - HANDLED == set(), f"tables naming the person that the export is not checked for: {naming}"

    assert body["profile"]["id"] == me
    for table, section in (("skill", "skills"), ("availability", "availability"), ("leave", "leave")):
        assert _ids(_where(engine, table, member_id=me)) == _ids(body[section]), table
    assert _ids(_where(engine, "clientshare", member_id=me)) == _ids(body["shared_with_me"])
    assert _ids(_where(engine, "clientcarer", member_id=me)) == _ids(body["preferences_about_me"])
    carer_visits = {(v["week_visit_id"], v["rota_id"]) for vc in _where(engine, "visitcarer", member_id=me)
                    for v in _where(engine, "visit", id=vc["visit_id"])}
    assert carer_visits == {(v["id"], v["rota_id"]) for v in body["visits_as_carer"]}
    assert all(me in v["carer_ids"] for v in body["visits_as_carer"])
    runs = {r["id"] for r in _where(engine, "solverun", requested_by=me)}
    runs |= {r["id"] for r in _where(engine, "solverun", coop_id=a.id)
             if f"m{me}" in (r["id_map"] or {}).get("carers", {})
             or (cid and f"c{cid}" in (r["id_map"] or {}).get("clients", {}))}
    assert runs == _ids(body["solve_runs"])

    about = {e["id"] for e in _where(engine, "accesslog", subject_member_id=me)}
    about |= {s["entry_id"] for s in _where(engine, "accesslogsubject", subject_member_id=me)}
    if cid is not None:
        about |= {e["id"] for e in _where(engine, "accesslog", client_id=cid)}
        about |= {s["entry_id"] for s in _where(engine, "accesslogsubject", client_id=cid)}
    exported = _ids(body["access_log"])
    # the export's own entry is written before it is gathered: in the file, newer than the scan
    assert about == exported   # the export's own entry included: it is written before the file is made
    assert _ids(_where(engine, "accesslog", actor_id=me)) == _ids(body["access_log_by_me"])
    for e in body["access_log"]:
        assert e["client_id"] == cid or e["subject_member_id"] == me, e
        assert all(s["client_id"] == cid or s["subject_member_id"] == me for s in e["subjects"]), e

    account = _where(engine, "tb_account", owner_ref=str(me))
    assert [x["id"] for x in account] == [body["timebank"]["account_id"]]
    entries = _where(engine, "tb_entry", account_id=account[0]["id"])
    assert _ids(entries) == {ln["entry_id"] for ln in body["timebank"]["lines"]}
    assert body["timebank"]["line_count"] == len(entries)
    recorded = _where(engine, "tb_transaction", recorded_by=str(me), on_behalf_of=str(me))
    assert _ids(recorded) <= {ln["transaction_id"] for ln in body["timebank"]["lines"]}
    if who == "volunteer":
        assert entries, "the volunteer was credited for the past week's visits"

    if cid is None:
        assert body["client"] is None
        return
    part = body["client"]
    assert part["record"]["id"] == cid
    templates = _where(engine, "visittemplate", client_id=cid)
    assert _ids(templates) == _ids(part["care_plan"])
    deps = [d for t in templates for d in _where(engine, "templatedependency", first_id=t["id"])]
    assert _ids(deps) == _ids(part["care_plan_dependencies"]) and deps
    assert {(v["week_visit_id"], v["rota_id"]) for v in _where(engine, "visit", client_id=cid)} == {
        (v["id"], v["rota_id"]) for v in part["visits"]}
    assert {v["rota_id"] for v in _where(engine, "visit", client_id=cid)} == _ids(part["rotas"])
    assert _ids(_where(engine, "clientshare", client_id=cid)) == _ids(part["shares"])
    prefs = _where(engine, "clientcarer", client_id=cid)
    assert {p["member_id"] for p in prefs} == set(part["record"]["preferred_carers"]) | set(
        part["record"]["excluded_carers"])
    assert dt.date.fromisoformat(min(r["week_start"] for r in part["rotas"])) == PAST_MONDAY
