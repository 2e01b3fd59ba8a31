"""A visit's record says what happened (issue 9, item 7): a visit cannot be marked missed
before it was due, and a second check-out cannot silently disagree with the first."""

from __future__ import annotations

from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, solved_rota


def _planned(rota: dict, member_id: int | None = None) -> list[dict]:
    return [v for v in rota["visits"] if v["status"] == "planned"
            and (member_id is None or member_id in v["carer_ids"])]


def test_a_future_visit_cannot_be_marked_missed(client, coop_a):
    """Marking next week's visit missed answered 200 while its check-out was refused."""
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    visit = _planned(rota)[0]
    h = coop_a.h("coordinator")
    r = client.post(f"/visits/{visit['id']}/missed", headers=h)
    assert r.status_code == 409 and "not started yet" in r.json()["detail"], r.text
    assert client.get(f"/visits/{visit['id']}", headers=h).json()["status"] == "planned"
    r = client.post(f"/visits/{visit['id']}/cancel", headers=h)   # cancelling ahead is fine
    assert r.status_code == 200 and r.json()["status"] == "cancelled"


def test_a_second_check_out_with_different_times_is_a_conflict(client, coop_a):
    """A repeated check-out with other actual times answered 200 and kept the first times."""
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    vol = coop_a.members["volunteer"]["id"]
    visit = _planned(rota, vol)[0]
    day, hh, mm = visit["start"][:11], int(visit["start"][11:13]), visit["start"][14:16]
    first = {"actual_start": f"{day}{hh:02d}:{mm}", "actual_end": f"{day}{hh + 1:02d}:{mm}"}
    other = {"actual_start": f"{day}{hh:02d}:{mm}", "actual_end": f"{day}{hh + 2:02d}:{mm}"}
    h = coop_a.h("volunteer")
    assert client.post(f"/visits/{visit['id']}/complete", headers=h, json=first).status_code == 200
    r = client.post(f"/visits/{visit['id']}/complete", headers=h, json=other)
    assert r.status_code == 409 and "already checked out" in r.json()["detail"], r.text
    again = client.post(f"/visits/{visit['id']}/complete", headers=h, json=first)   # a plain retry
    assert again.status_code == 200
    assert again.json()["actual_end"].startswith(first["actual_end"])
    assert client.post(f"/visits/{visit['id']}/complete", headers=h).status_code == 200
    assert client.get("/me/timebank", headers=h).json()["balance"] == 60
