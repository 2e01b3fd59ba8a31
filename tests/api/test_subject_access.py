"""Subject access: a person (or a coordinator for them) gets everything carerota holds about
them as one JSON file, with nothing about anyone else, and the export is itself logged."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import FUTURE_MONDAY, build_coop, solved_rota


@pytest.fixture(scope="module")
def world(client):
    a, b = build_coop(client, "sar-a"), build_coop(client, "sar-b")
    rota = solved_rota(client, a, FUTURE_MONDAY)
    return a, b, rota


def _others(a, b, *mine: str) -> list[str]:
    """Names and e-mails of every member and client of both co-ops except ``mine``."""
    out = []
    for coop in (a, b):
        for role, m in coop.members.items():
            if not (coop is a and role in mine):
                out += [m["email"], m["full_name"]]
        out += [c["name"] for c in coop.clients if not (coop is a and c["id"] == a.clients[0]["id"]
                                                        and "client" in mine)]
    return out


def test_a_clients_export_has_their_care_record_and_nothing_of_another_person(client, world):
    """The client's file holds their profile, care plan, visits and rotas, and names no other
    client, carer or family member (visits refer to carers by id only)."""
    a, b, rota = world
    r = client.get("/me/export", headers=a.h("client"))
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    body = r.json()
    c0 = a.clients[0]["id"]
    assert body["profile"]["email"] == a.members["client"]["email"]
    assert "hashed_password" not in body["profile"]
    assert body["client"]["record"]["name"] == a.clients[0]["name"]
    assert {t["label"] for t in body["client"]["care_plan"]} == {"morning care", "walk"}
    visits = body["client"]["visits"]
    assert visits and all(v["client_id"] == c0 for v in visits)
    assert rota["id"] in {x["id"] for x in body["client"]["rotas"]}
    assert [s["family_member_id"] for s in body["client"]["shares"]] == [a.members["family"]["id"]]
    assert body["timebank"]["account_id"] is not None
    text = json.dumps(body)
    leaked = [s for s in _others(a, b, "client") if s in text]
    assert not leaked, leaked
    assert "medication" not in text   # the other client's care plan


def test_a_carers_export_has_their_visits_rotas_skills_and_statement(client, world):
    """A staff member's file has the visits they are on (every rota version), those rotas, their
    skills and time-bank statement, and no other member's or client's name."""
    a, b, rota = world
    me = a.members["staff"]["id"]
    body = client.get("/me/export", headers=a.h("staff")).json()
    assert body["subject"] == {"kind": "member", "member_id": me, "client_id": None}
    assert body["visits_as_carer"] and all(me in v["carer_ids"] for v in body["visits_as_carer"])
    assert rota["id"] in {x["id"] for x in body["rotas_as_carer"]}
    assert {s["name"] for s in body["skills"]} == {"personal_care", "medication"}
    assert len(body["availability"]) == 7
    assert body["client"] is None and body["timebank"]["member_id"] == me
    text = json.dumps(body)
    assert not [s for s in _others(a, b, "staff") if s in text]


def test_each_export_is_logged_and_lists_itself(client, world):
    """An export reads everything about a person, so it is in their access log, and the file's
    own access log already holds it."""
    a, *_ = world
    c0 = a.clients[0]["id"]
    own = client.get("/me/export", headers=a.h("volunteer")).json()
    assert [e for e in own["access_log"]
            if e["record_kind"] == "export" and e["endpoint"] == "GET /me/export"]
    r = client.get(f"/clients/{c0}/export", headers=a.h("coordinator"))
    assert r.status_code == 200 and r.json()["client"]["record"]["id"] == c0
    log = client.get("/me/access-log", headers=a.h("client")).json()["entries"]
    assert [e for e in log if e["endpoint"] == "GET /clients/{client_id}/export"
            and e["actor_id"] == a.members["coordinator"]["id"] and e["client_id"] == c0]
    staff = a.members["staff"]["id"]
    r = client.get(f"/members/{staff}/export", headers=a.h("coordinator"))
    assert r.status_code == 200 and r.json()["profile"]["id"] == staff
    log = client.get("/me/access-log", headers=a.h("staff")).json()["entries"]
    assert [e for e in log if e["endpoint"] == "GET /members/{member_id}/export"]


def test_a_coordinator_of_another_coop_cannot_export_a_person(client, world):
    """Another co-op's ids look unknown (404); members who are not coordinators get a 403."""
    a, b, _rota = world
    paths = [f"/members/{a.members['staff']['id']}/export", f"/clients/{a.clients[0]['id']}/export"]
    for path in paths:
        assert client.get(path, headers=b.h("coordinator")).status_code == 404
        for role in ("staff", "volunteer", "client", "family"):
            assert client.get(path, headers=a.h(role)).status_code == 403
