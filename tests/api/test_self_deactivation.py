"""A coordinator cannot deactivate themself (the co-op would lose its way in): a well-formed
request refused because of who asks is a 409 saying so, not a 422 about the input."""

from __future__ import annotations


def test_a_coordinator_deactivating_themself_gets_a_409_naming_the_reason(client, coop_a):
    me = coop_a.members["coordinator"]["id"]
    r = client.delete(f"/members/{me}", headers=coop_a.h("coordinator"))
    assert r.status_code == 409
    assert "cannot deactivate themself" in r.json()["detail"]
    assert client.get(f"/members/{me}", headers=coop_a.h("coordinator")).json()["is_active"] is True
