"""A carer's own week (issue 9, item 4): whom they visit, where, how to get in and with whom,
and a default week that shows the visits the weekly solve has just published."""

from __future__ import annotations

from icalendar import Calendar

from tests.api.conftest import FUTURE_MONDAY, THIS_MONDAY, solved_rota


def _add_double_up(client, coop) -> dict:
    """A Monday hoist transfer for client 0 needing two carers with personal care."""
    r = client.post(f"/clients/{coop.clients[0]['id']}/care-plan", headers=coop.h("coordinator"), json={
        "label": "hoist transfer", "days": [0], "earliest_start": "11:00", "latest_start": "12:00",
        "duration_minutes": 30, "roles": [{"skills": ["personal_care"]}, {"skills": ["personal_care"]}]})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_carer_sees_the_client_name_address_access_notes_and_double_up_partner_of_own_visits(
        client, coop_a):
    """A carer must know whom they visit, where, how to get in and who comes with them;
    before, ``/me/rota`` gave only a ``client_id`` and the client itself was a 404 to carers."""
    h = coop_a.h("coordinator")
    c0 = coop_a.clients[0]
    r = client.patch(f"/clients/{c0['id']}", headers=h, json={"access_notes": "key safe 1234, side door"})
    assert r.status_code == 200 and r.json()["access_notes"] == "key safe 1234, side door"
    template = _add_double_up(client, coop_a)
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    staff, staff2 = coop_a.members["staff"], coop_a.members["staff2"]
    hoist = next(v for v in rota["visits"] if v["template_id"] == template["id"])
    assert sorted(hoist["carer_ids"]) == sorted([staff["id"], staff2["id"]]), hoist
    body = client.get("/me/rota", headers=coop_a.h("staff"),
                      params={"week_start": FUTURE_MONDAY.isoformat()}).json()
    assert body["week_start"] == FUTURE_MONDAY.isoformat() and body["shown"] == "requested"
    mine = {v["id"]: v for v in body["visits"]}
    assert hoist["id"] in mine
    seen = mine[hoist["id"]]
    assert seen["client"] == {"id": c0["id"], "name": c0["name"], "address": c0["address"],
                              "access_notes": "key safe 1234, side door"}
    assert seen["partners"] == [{"member_id": staff2["id"], "full_name": staff2["full_name"]}]
    # only the carer's own visits are shown, each with its own client's details
    assert all(staff["id"] in v["carer_ids"] for v in body["visits"])
    names = {c["id"]: c["name"] for c in coop_a.clients}
    assert all(v["client"]["name"] == names[v["client_id"]] for v in body["visits"])
    single = [v for v in body["visits"] if len(v["carer_ids"]) == 1]
    assert all(v["partners"] == [] for v in single)
    # so does the visit itself, for the carers on it, while a carer not on it gets nothing
    one = client.get(f"/visits/{hoist['id']}", headers=coop_a.h("staff2")).json()
    assert one["client"]["access_notes"] == "key safe 1234, side door"
    assert one["partners"] == [{"member_id": staff["id"], "full_name": staff["full_name"]}]
    assert client.get(f"/visits/{hoist['id']}", headers=coop_a.h("volunteer")).status_code == 404
    family = client.get(f"/visits/{hoist['id']}", headers=coop_a.h("family")).json()
    assert family["client"] is None and family["partners"] == []
    # the phone calendar says the same: access notes and the partner in the description
    token = client.get("/me/calendar-link", headers=coop_a.h("staff")).json()["token"]
    cal = Calendar.from_ical(client.get(f"/calendar/{token}.ics").content)
    descriptions = [str(e.get("description", "")) for e in cal.walk("VEVENT")]
    assert any("key safe 1234" in d and staff2["full_name"] in d for d in descriptions)


def test_my_rota_defaults_to_the_next_published_week_with_visits_and_says_so(client, coop_a):
    """The weekly solve (and the demo) publish a later week; a carer opening the app without a
    week used to see this week's empty list. The default is the first published week from this
    week on that has the carer's visits, and the answer names the week shown."""
    empty = client.get("/me/rota", headers=coop_a.h("staff")).json()
    assert empty["week_start"] == THIS_MONDAY.isoformat() and empty["visits"] == []
    assert empty["shown"] == "this week" and "no visits" in empty["note"]
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    staff_id = coop_a.members["staff"]["id"]
    expected = {v["id"] for v in rota["visits"] if staff_id in v["carer_ids"]}
    assert expected
    body = client.get("/me/rota", headers=coop_a.h("staff")).json()
    assert body["week_start"] == FUTURE_MONDAY.isoformat()
    assert body["shown"] == "next published week with visits"
    assert FUTURE_MONDAY.strftime("%d %b %Y") in body["note"]
    assert {v["id"] for v in body["visits"]} == expected


def test_a_coordinator_has_no_rota_of_their_own(client, coop_a):
    """``/me/rota`` is a carer's view; a coordinator gets a 403 saying so (the route's scope names
    the roles), not an empty week."""
    r = client.get("/me/rota", headers=coop_a.h("coordinator"))
    assert r.status_code == 403 and r.json()["detail"] == "needs one of the roles: staff, volunteer"
