"""The access log: who read or wrote a client's record or a member's personal details, through
the API, is recorded in one append-only table the database itself will not let anyone edit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.conftest import FUTURE_MONDAY, auth, build_coop, solved_rota

WEEK = FUTURE_MONDAY.isoformat()


@pytest.fixture(scope="module")
def world(client):
    a, b = build_coop(client, "log-a"), build_coop(client, "log-b")
    rota = solved_rota(client, a, FUTURE_MONDAY)
    c0 = a.clients[0]["id"]
    visit = next(v for v in rota["visits"] if v["client_id"] == c0 and v["label"] == "morning care"
                 and v["carer_ids"])
    carer = next(name for name in ("staff", "staff2") if a.members[name]["id"] == visit["carer_ids"][0])
    return a, b, visit, carer


def _entries(client, headers, path="/me/access-log", **params) -> list[dict]:
    r = client.get(path, headers=headers, params=params or None)
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_the_database_refuses_update_and_delete_of_access_log_entries(client, app, world):
    """Append-only is the database's rule (triggers, as the ledger's), not the service's good
    manners: not even a direct SQL UPDATE or DELETE can rewrite who saw care data."""
    a, *_ = world
    assert client.get(f"/clients/{a.clients[0]['id']}", headers=a.h("coordinator")).status_code == 200
    with app.state.engine.connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM accesslog WHERE coop_id = :c"),
                         {"c": a.id}).scalar_one()
    assert n > 0
    for statement in ("UPDATE accesslog SET actor_id = 1 WHERE coop_id = :c",
                      "DELETE FROM accesslog WHERE coop_id = :c"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), app.state.engine.begin() as conn:
            conn.execute(sa.text(statement), {"c": a.id})
    with app.state.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM accesslog WHERE coop_id = :c"),
                            {"c": a.id}).scalar_one() >= n


def test_a_carer_reading_a_clients_visit_appears_in_that_clients_log(client, world):
    """The carer's read of the visit (which shows the client's address and access notes) is in
    the log the client, their shared family member and the coordinator read: who, what, why."""
    a, _b, visit, carer = world
    assert client.get(f"/visits/{visit['id']}", headers=a.h(carer)).status_code == 200
    carer_id = a.members[carer]["id"]

    def the_read(entries):
        return [e for e in entries if e["actor_id"] == carer_id and e["record_kind"] == "visit"
                and e["record_id"] == visit["id"] and e["endpoint"] == "GET /visits/{visit_id}"]

    for who in ("client", "family"):
        found = the_read(_entries(client, a.h(who)))
        assert len(found) == 1, who
        assert found[0]["actor_role"] == "staff" and found[0]["action"] == "read"
        assert found[0]["client_id"] == a.clients[0]["id"]
    found = the_read(_entries(client, a.h("coordinator"), "/access-log", client_id=a.clients[0]["id"]))
    assert len(found) == 1
    # the carer's own /me/rota read of the same visit is logged too, under its own endpoint
    assert client.get("/me/rota", headers=a.h(carer), params={"week_start": WEEK}).status_code == 200
    rota_reads = [e for e in _entries(client, a.h("client")) if e["endpoint"] == "GET /me/rota"
                  and any(s["record_id"] == visit["id"] for s in e["subjects"])]
    assert len(rota_reads) == 1


def test_a_coordinator_of_another_coop_cannot_read_the_log(client, world):
    """Another co-op's client id is a 404, and the other co-op's own log holds nothing of this
    co-op's; carers, clients and family are refused the co-op's log (403)."""
    a, b, _visit, _carer = world
    c0 = a.clients[0]["id"]
    r = client.get("/access-log", headers=b.h("coordinator"), params={"client_id": c0})
    assert r.status_code == 404
    theirs = _entries(client, b.h("coordinator"), "/access-log", limit=500)
    ours = {m["id"] for m in a.members.values()}
    assert theirs and not [e for e in theirs if e["actor_id"] in ours or e["client_id"] == c0]
    for role in ("staff", "volunteer", "client", "family"):
        assert client.get("/access-log", headers=a.h(role)).status_code == 403


def test_a_client_sees_only_their_own_records_log(client, world):
    """The client's log is of their own record: a coordinator's read of another client is not in it."""
    a, *_ = world
    other = a.clients[1]["id"]
    assert client.get(f"/clients/{other}/care-plan", headers=a.h("coordinator")).status_code == 200
    mine = _entries(client, a.h("client"), limit=500)
    assert mine and all(e["client_id"] in (a.clients[0]["id"], None) for e in mine)
    assert all(e["client_id"] == a.clients[0]["id"] or e["subject_member_id"] == a.members["client"]["id"]
               for e in mine)
    coord = _entries(client, a.h("coordinator"), "/access-log", client_id=other)
    assert [e for e in coord if e["record_kind"] == "care_plan" and e["endpoint"] ==
            "GET /clients/{client_id}/care-plan"]


def test_reads_of_the_log_are_logged(client, world):
    """Reading the log leaves a trace: the client's read of their own log is in it next time,
    and the coordinator's read of a client's log is in that client's log."""
    a, *_ = world
    me = a.members["client"]["id"]
    _entries(client, a.h("client"))
    first = _entries(client, a.h("client"))[0]
    assert (first["actor_id"], first["record_kind"], first["endpoint"]) == (
        me, "access_log", "GET /me/access-log")
    _entries(client, a.h("coordinator"), "/access-log", client_id=a.clients[0]["id"])
    first = _entries(client, a.h("client"))[1]   # [0] is this read itself
    assert (first["actor_id"], first["record_kind"], first["endpoint"]) == (
        a.members["coordinator"]["id"], "access_log", "GET /access-log")


def test_a_write_is_logged_with_its_endpoint_and_member_details_reads_too(client, world):
    """Writes of care data (preferences) and reads of a member's personal details are logged,
    each once per request, with the endpoint as the why."""
    a, *_ = world
    c0, staff = a.clients[0]["id"], a.members["staff"]["id"]
    h = a.h("coordinator")
    r = client.put(f"/clients/{c0}/preferences", headers=h, json={"preferred_carers": [staff],
                                                                  "excluded_carers": []})
    assert r.status_code == 200
    assert client.get(f"/members/{staff}", headers=h).status_code == 200
    log = _entries(client, h, "/access-log", limit=10)
    writes = [e for e in log if e["endpoint"] == "PUT /clients/{client_id}/preferences"]
    assert len(writes) == 1 and writes[0]["action"] == "write" and writes[0]["record_kind"] == "preferences"
    reads = [e for e in log if e["endpoint"] == "GET /members/{member_id}"]
    assert len(reads) == 1 and reads[0]["subject_member_id"] == staff
    # the staff member sees who read their personal details
    theirs = _entries(client, a.h("staff"))
    assert [e for e in theirs if e["endpoint"] == "GET /members/{member_id}"
            and e["actor_id"] == a.members["coordinator"]["id"]]


def test_the_log_pages_newest_first_with_a_cursor(client, world):
    """Pages do not overlap and follow on: ``next_cursor`` as ``before`` gives the older page."""
    a, *_ = world
    h = a.h("coordinator")
    page = client.get("/access-log", headers=h, params={"limit": 3}).json()
    assert len(page["entries"]) == 3 and page["next_cursor"] is not None
    ids = [e["id"] for e in page["entries"]]
    assert ids == sorted(ids, reverse=True)
    nxt = client.get("/access-log", headers=h, params={"limit": 3, "before": page["next_cursor"]}).json()
    assert nxt["entries"] and max(e["id"] for e in nxt["entries"]) < min(ids)
    assert client.get("/access-log", headers=auth(a.tokens["coordinator"]),
                      params={"limit": 0}).status_code == 422


def test_the_rota_board_is_one_entry_with_a_record_per_client_and_carer(client, world):
    """A rota shows every client's visits and its carers' details: reading it is one entry
    (one request) whose records name each client and carer on it, so it shows in each client's
    log with only that client's record; a carer's skills are personal details of the carer."""
    a, *_ = world
    h = a.h("coordinator")
    rotas = client.get("/rotas", headers=h).json()
    rota_id = rotas[0]["id"]
    assert client.get(f"/rotas/{rota_id}", headers=h).status_code == 200
    board = [e for e in _entries(client, h, "/access-log", limit=10)
             if e["endpoint"] == "GET /rotas/{rota_id}"]
    assert len(board) == 1
    subjects = board[0]["subjects"]
    assert sorted(s["client_id"] for s in subjects if s["client_id"]) == sorted(c["id"] for c in a.clients)
    assert {s["subject_member_id"] for s in subjects if s["subject_member_id"]} >= {
        a.members["staff"]["id"], a.members["volunteer"]["id"]}
    assert all(s["record_kind"] == "rota" and s["record_id"] == rota_id for s in subjects)
    theirs = [e for e in _entries(client, a.h("client")) if e["endpoint"] == "GET /rotas/{rota_id}"]
    assert theirs and all(s["client_id"] == a.clients[0]["id"] for e in theirs for s in e["subjects"])
    staff = a.members["staff"]["id"]
    assert client.get(f"/members/{staff}/skills", headers=h).status_code == 200
    skills = [e for e in _entries(client, a.h("staff")) if e["endpoint"] == "GET /members/{member_id}/skills"]
    assert len(skills) == 1 and skills[0]["record_kind"] == "member_skills"


def test_the_database_refuses_update_and_delete_of_an_entrys_records(client, app, world):
    """An entry's records (``accesslogsubject``) are as append-only as the entry itself."""
    a, *_ = world
    assert client.get("/clients", headers=a.h("coordinator")).status_code == 200
    for statement in ("UPDATE accesslogsubject SET client_id = 1 WHERE coop_id = :c",
                      "DELETE FROM accesslogsubject WHERE coop_id = :c"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), app.state.engine.begin() as conn:
            conn.execute(sa.text(statement), {"c": a.id})
    with app.state.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM accesslogsubject WHERE coop_id = :c"),
                            {"c": a.id}).scalar_one() > 0
