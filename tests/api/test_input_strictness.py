"""Input is refused the same way on SQLite and PostgreSQL, with a 422 naming the field
(issue 9, items 3 and 6): non-finite numbers, control characters, numbers given as text or
booleans. Before, NaN gave a 500 (even the 422 could not be written), SQLite stored NUL bytes
PostgreSQL refused, and ``"3"`` or ``true`` were taken as numbers."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import FUTURE_MONDAY

NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400"]


def _post(client, coop, path: str, body: str, role: str = "coordinator", headers: dict | None = None):
    return client.post(path, headers={**coop.h(role), "content-type": "application/json", **(headers or {})},
                       content=body)


def _names_field(r, field: str, words: str) -> None:
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert any(e.startswith(f"{field}:") and words in e for e in errors), errors


@pytest.mark.parametrize("number", NON_FINITE)
def test_non_finite_numbers_are_refused_naming_the_field_in_every_body(client, coop_a, number):
    """NaN/Infinity/1e400 in a gift, a client, a rota request and a member's hourly cost."""
    staff = coop_a.members["staff"]["id"]
    cases = [
        ("/timebank/gifts", f'{{"to_member_id": {staff}, "minutes": {number}}}', "volunteer",
         {"Idempotency-Key": uuid.uuid4().hex}, "minutes"),
        ("/clients", f'{{"name": "Cai", "lat": {number}, "lon": -3.0}}', "coordinator", None, "lat"),
        ("/rotas", f'{{"week_start": "{FUTURE_MONDAY.isoformat()}", "time_limit": {number}}}',
         "coordinator", None, "time_limit"),
        ("/members", f'{{"email": "x-{uuid.uuid4().hex[:6]}@example.org", "full_name": "X", '
         f'"password": "password123", "role": "staff", "hourly_cost": {number}}}', "coordinator", None,
         "hourly_cost"),
    ]
    for path, body, role, headers, field in cases:
        r = _post(client, coop_a, path, body, role, headers)
        _names_field(r, field, "finite number")


def test_a_non_finite_number_inside_a_stateless_problem_file_is_refused_naming_it(client, coop_a):
    """``POST /solve`` takes a whole problem file: a NaN deep inside is named by its path."""
    body = '{"format": "carerota.problem/1", "carers": [{"id": "a", "location": {"lat": NaN, "lon": 0}}]}'
    r = _post(client, coop_a, "/solve", body)
    _names_field(r, "carers[0].location.lat", "finite number")


@pytest.mark.parametrize("text", ["Nia\u0000Jones", "Nia\u0007", "\u001b[31mNia"])
def test_control_characters_are_refused_naming_the_field(client, coop_a, text):
    """A NUL byte was stored by SQLite and refused by PostgreSQL with a message naming no field."""
    h = coop_a.h("coordinator")
    r = client.post("/clients", headers=h, json={"name": text, "lat": 51.5, "lon": -3.0})
    _names_field(r, "name", "control characters")
    r = client.post("/members", headers=h, json={
        "email": f"n{text}@example.org", "full_name": "Nia", "password": "password123", "role": "staff"})
    _names_field(r, "email", "control characters")
    r = client.post("/auth/token", data={"username": f"{text}@example.org", "password": "password123"})
    assert r.status_code == 422 and r.json()["detail"].startswith("username:"), r.text


def test_tabs_and_newlines_are_still_text(client, coop_a):
    """Ordinary multi-line text (an address) is not a control-character fault."""
    r = client.post("/clients", headers=coop_a.h("coordinator"),
                    json={"name": "Cai", "lat": 51.5, "lon": -3.0, "address": "1 High St\nNewport\tNP20"})
    assert r.status_code == 201, r.text
    assert r.json()["address"] == "1 High St\nNewport\tNP20"


@pytest.mark.parametrize(("path", "field", "body", "role"), [
    ("/timebank/gifts", "minutes", {"minutes": "3"}, "volunteer"),
    ("/timebank/gifts", "minutes", {"minutes": True}, "volunteer"),
    ("/clients", "lat", {"name": "Cai", "lat": "51.5", "lon": -3.0}, "coordinator"),
    ("/clients", "lon", {"name": "Cai", "lat": 51.5, "lon": False}, "coordinator"),
    ("/rotas", "time_limit", {"week_start": FUTURE_MONDAY.isoformat(), "time_limit": "5"}, "coordinator"),
])
def test_numbers_given_as_text_or_booleans_are_refused(client, coop_a, path, field, body, role):
    """Strict numbers: ``"3"`` and ``true`` are not minutes, ``"51.5"`` is not a latitude."""
    if path == "/timebank/gifts":
        body = {"to_member_id": coop_a.members["staff"]["id"], **body}
    r = client.post(path, headers={**coop_a.h(role), "Idempotency-Key": uuid.uuid4().hex}, json=body)
    _names_field(r, field, "must be a number")


def test_list_items_and_booleans_are_strict_too(client, coop_a):
    """Ids in a list are numbers, and a flag is true or false (not "yes" or 1)."""
    h = coop_a.h("coordinator")
    cid = coop_a.clients[0]["id"]
    r = client.put(f"/clients/{cid}/preferences", headers=h,
                   json={"preferred_carers": [str(coop_a.members["staff"]["id"])]})
    _names_field(r, "preferred_carers", "must be a number")
    r = client.patch(f"/clients/{cid}", headers=h, json={"is_active": "yes"})
    _names_field(r, "is_active", "true or false")
    r = client.patch(f"/clients/{cid}", headers=h, json={"is_active": 1})
    _names_field(r, "is_active", "true or false")
