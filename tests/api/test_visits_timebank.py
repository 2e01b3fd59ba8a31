"""Visit lifecycle and the time bank: check-out credits volunteers once; gifts are idempotent."""

from __future__ import annotations

import uuid

from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, solved_rota


def _volunteer_visit(rota: dict, volunteer_id: int) -> dict:
    return next(v for v in rota["visits"] if volunteer_id in v["carer_ids"] and v["status"] == "planned")


def test_checking_out_a_visit_credits_its_volunteer_once(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    vol = coop_a.members["volunteer"]["id"]
    visit = _volunteer_visit(rota, vol)
    before = client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"]
    for _ in range(2):   # a retried check-out changes nothing
        r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "completed" and r.json()["credited"]
    bank = client.get("/me/timebank", headers=coop_a.h("volunteer")).json()
    assert bank["balance"] == before + visit["duration_minutes"]
    assert [ln["kind"] for ln in bank["lines"]].count("visit_credit") == 1
    # the coordinator completing it again does not credit again either
    assert client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("coordinator")).status_code == 200
    assert client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"] == bank["balance"]


def test_check_out_with_actual_times_credits_the_actual_minutes(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    visit = _volunteer_visit(rota, coop_a.members["volunteer"]["id"])
    start = visit["start"][:16]
    end = visit["start"][:11] + f"{int(start[11:13]) + 1:02d}:{start[14:16]}"   # one hour later
    r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer"),
                    json={"actual_start": start, "actual_end": end})
    assert r.status_code == 200, r.text
    assert client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"] == 60


def test_check_out_rejects_an_end_before_the_start_and_unknown_fields(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    visit = _volunteer_visit(rota, coop_a.members["volunteer"]["id"])
    s = visit["start"][:16]
    r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer"),
                    json={"actual_start": s, "actual_end": s})
    assert r.status_code == 422 and "actual_end" in r.text
    r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer"), json={"credited": True})
    assert r.status_code == 422 and "credited" in r.text
    assert client.get(f"/visits/{visit['id']}", headers=coop_a.h("volunteer")).json()["status"] == "planned"


def test_future_visits_and_draft_rotas_cannot_be_checked_out(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    visit = _volunteer_visit(rota, coop_a.members["volunteer"]["id"])
    r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer"))
    assert r.status_code == 409 and "not started" in r.json()["detail"]
    draft = solved_rota(client, coop_a, PAST_MONDAY, publish=False)
    visit = _volunteer_visit(draft, coop_a.members["volunteer"]["id"])
    r = client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("coordinator"))
    assert r.status_code == 409 and "draft" in r.json()["detail"]


def test_missed_and_cancelled_visits_follow_the_lifecycle(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    planned = [v for v in rota["visits"] if v["status"] == "planned"]
    h = coop_a.h("coordinator")
    r = client.post(f"/visits/{planned[0]['id']}/missed", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "missed"
    assert client.post(f"/visits/{planned[0]['id']}/complete", headers=h).status_code == 409
    r = client.post(f"/visits/{planned[1]['id']}/cancel", headers=h)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = client.post(f"/visits/{planned[2]['id']}/cancel", headers=coop_a.h("staff"))
    assert r.status_code in (403, 404)



def test_gifts_are_idempotent_by_key_and_cannot_overdraw(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    visit = _volunteer_visit(rota, coop_a.members["volunteer"]["id"])
    assert client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer")).status_code == 200
    earned = client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"]
    family = coop_a.members["family"]["id"]
    key = uuid.uuid4().hex
    body = {"to_member_id": family, "minutes": 10, "note": "for the shopping"}
    keyed = {**coop_a.h("volunteer"), "Idempotency-Key": key}
    first = client.post("/timebank/gifts", headers=keyed, json=body)
    assert first.status_code == 201, first.text
    again = client.post("/timebank/gifts", headers=keyed, json=body)
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"] == earned - 10
    assert client.get("/me/timebank", headers=coop_a.h("family")).json()["balance"] == 10
    # same key, different request: a conflict, nothing written
    r = client.post("/timebank/gifts", headers={**coop_a.h("volunteer"), "Idempotency-Key": key},
                    json={**body, "minutes": 11})
    assert r.status_code == 409
    r = client.post("/timebank/gifts", headers=coop_a.h("volunteer"), json=body)
    assert r.status_code == 422 and "Idempotency-Key" in r.text
    r = client.post("/timebank/exchanges", headers={**coop_a.h("family"), "Idempotency-Key": "x1"},
                    json={"to_member_id": coop_a.members["volunteer"]["id"], "minutes": 1000})
    assert r.status_code == 409
    assert client.get("/me/timebank", headers=coop_a.h("family")).json()["balance"] == 10
    r = client.post("/timebank/gifts", headers={**coop_a.h("volunteer"), "Idempotency-Key": "y"},
                    json={**body, "balance": 100000})
    assert r.status_code == 422


def test_a_coordinator_has_no_time_bank_account(client, coop_a):
    assert client.get("/me/timebank", headers=coop_a.h("coordinator")).status_code == 403


def test_a_donation_to_the_pot_is_given_once_and_cannot_overdraw(client, coop_a):
    """Volunteers' hours can go to the community pot as well as to family: the pot gains exactly
    what the giver loses, a retry with the same key gives nothing more, and no one gives more than
    they hold."""
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    visit = _volunteer_visit(rota, coop_a.members["volunteer"]["id"])
    assert client.post(f"/visits/{visit['id']}/complete", headers=coop_a.h("volunteer")).status_code == 200
    ledger = client.app.state.ledger
    pot_before = ledger.pot(str(coop_a.id)).balance
    earned = client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"]
    keyed = {**coop_a.h("volunteer"), "Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/timebank/donations", headers=keyed, json={"minutes": 15, "note": "for the pot"})
    assert first.status_code == 201, first.text
    assert first.json()["kind"] == "donation" and first.json()["to_member_id"] is None
    again = client.post("/timebank/donations", headers=keyed, json={"minutes": 15, "note": "for the pot"})
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["transaction_id"] == first.json()["transaction_id"]
    assert client.get("/me/timebank", headers=coop_a.h("volunteer")).json()["balance"] == earned - 15
    assert ledger.pot(str(coop_a.id)).balance == pot_before + 15
    fresh = {**coop_a.h("volunteer"), "Idempotency-Key": uuid.uuid4().hex}
    r = client.post("/timebank/donations", headers=fresh, json={"minutes": 99_999})
    assert r.status_code == 409 and "minutes" in r.text
    assert ledger.pot(str(coop_a.id)).balance == pot_before + 15
    r = client.post("/timebank/donations", headers=coop_a.h("volunteer"), json={"minutes": 5})
    assert r.status_code == 422 and "Idempotency-Key" in r.text
    assert ledger.reconcile(str(coop_a.id)).ok
