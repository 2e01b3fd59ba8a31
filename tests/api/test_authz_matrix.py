"""Authorization matrix: every endpoint that takes an id, called with co-op A's ids by every role
of co-op B and by A's members who are not entitled, reads and writes nothing that is not theirs.

The endpoint list is taken from the app's OpenAPI schema, so a new id-taking endpoint without an entry in
``BODIES`` fails the test instead of escaping it."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from tests.api.conftest import FUTURE_MONDAY, auth, build_coop, login, solved_rota

WEEK = FUTURE_MONDAY.isoformat()
# a valid body per (method, path) so that a 2xx would be a real read or write
BODIES: dict[tuple[str, str], object] = {
    ("GET", "/members/{member_id}"): None,
    ("GET", "/rotas/{rota_id}/visits/{visit_id}/cover"): None,
    ("PATCH", "/members/{member_id}"): {"full_name": "hijacked", "hourly_cost": 99.0},
    ("DELETE", "/members/{member_id}"): None,
    ("PUT", "/members/{member_id}/role"): {"role": "coordinator"},
    ("POST", "/members/{member_id}/password-link"): None,
    ("GET", "/members/{member_id}/skills"): None,
    ("POST", "/members/{member_id}/skills"): {"name": "hoist"},
    ("DELETE", "/members/{member_id}/skills/{skill_id}"): None,
    ("GET", "/members/{member_id}/availability"): None,
    ("POST", "/members/{member_id}/availability"): {"weekday": 0, "start": "01:00", "end": "02:00"},
    ("DELETE", "/members/{member_id}/availability/{item_id}"): None,
    ("GET", "/members/{member_id}/leave"): None,
    ("POST", "/members/{member_id}/leave"): {"kind": "leave", "start": f"{WEEK}T00:00",
                                             "end": f"{WEEK}T23:00"},
    ("DELETE", "/members/{member_id}/leave/{item_id}"): None,
    ("GET", "/members/{member_id}/export"): None,
    ("POST", "/members/{member_id}/erase"): None,
    ("PUT", "/members/{member_id}/legal-hold"): {"reason": "hijacked"},
    ("DELETE", "/members/{member_id}/legal-hold"): None,
    ("GET", "/clients/{client_id}"): None,
    ("PATCH", "/clients/{client_id}"): {"name": "hijacked"},
    ("PUT", "/clients/{client_id}/preferences"): {"preferred_carers": [], "excluded_carers": []},
    ("GET", "/clients/{client_id}/visits"): None,
    ("GET", "/clients/{client_id}/shares"): None,
    ("GET", "/clients/{client_id}/export"): None,
    ("POST", "/clients/{client_id}/erase"): None,
    ("PUT", "/clients/{client_id}/legal-hold"): {"reason": "hijacked"},
    ("DELETE", "/clients/{client_id}/legal-hold"): None,
    ("POST", "/clients/{client_id}/shares"): "attacker",
    ("DELETE", "/clients/{client_id}/shares/{share_id}"): None,
    ("GET", "/clients/{client_id}/care-plan"): None,
    ("POST", "/clients/{client_id}/care-plan"): {"label": "x", "days": [0], "earliest_start": "08:00",
                                                 "latest_start": "09:00", "duration_minutes": 30},
    ("PATCH", "/care-plan/{template_id}"): {"duration_minutes": 5},
    ("DELETE", "/care-plan/{template_id}"): None,
    ("DELETE", "/care-plan-dependencies/{dependency_id}"): None,
    ("GET", "/rotas/{rota_id}"): None,
    ("GET", "/rotas/{rota_id}/file"): None,
    ("GET", "/rotas/{rota_id}/problem"): None,
    ("POST", "/rotas/{rota_id}/publish"): None,
    ("PUT", "/rotas/{rota_id}/visits/{visit_id}/assignment"): "assignment",
    ("POST", "/rotas/{rota_id}/visits/{visit_id}/unassign"): {"reason": "x"},
    ("POST", "/rotas/{rota_id}/resolve"): {},
    ("GET", "/runs/{run_id}"): None,
    ("GET", "/visits/{visit_id}"): None,
    ("POST", "/visits/{visit_id}/complete"): None,
    ("POST", "/visits/{visit_id}/missed"): None,
    ("POST", "/visits/{visit_id}/cancel"): None,
    # federations (issue 13): co-op A's federation, of which co-op B is no member
    ("GET", "/federations/{federation_id}"): None,
    ("POST", "/federations/{federation_id}/invitations"): "coop",
    ("POST", "/federations/{federation_id}/join"): None,
    ("POST", "/federations/{federation_id}/leave"): None,
    ("PUT", "/federations/{federation_id}/coops/{coop_id}/limit"): {"limit_minutes": 0},
    ("POST", "/federations/{federation_id}/officer-votes"): "voter",
    ("POST", "/federations/{federation_id}/gifts"): "fed-gift",
    ("POST", "/federations/{federation_id}/help"): "fed-help",
    ("POST", "/federations/{federation_id}/settlements"): "settlement",
    ("POST", "/federations/{federation_id}/moves/{move_id}/reverse"): None,
    ("GET", "/federations/{federation_id}/statement"): None,
    ("GET", "/federations/{federation_id}/statement.csv"): None,
    ("GET", "/federations/{federation_id}/view"): None,
    ("GET", "/federations/{federation_id}/view.csv"): None,
    ("GET", "/federations/{federation_id}/view.png"): None,
    ("GET", "/federations/{federation_id}/cover-offers"): None,
    ("POST", "/federations/{federation_id}/cover-offers"): "cover",
    ("DELETE", "/federations/{federation_id}/cover-offers/{offer_id}"): None,
    ("GET", "/federations/{federation_id}/cover-invoice.csv"): None,
}
# id-taking paths that are not object ids of the co-op's data
NOT_OBJECT_IDS = {"/calendar/{token}.ics", "/weeks/{week_start}/problem"}


@pytest.fixture(scope="module")
def world(client):
    a, b = build_coop(client, "authz-a"), build_coop(client, "authz-b")
    h = a.h("coordinator")
    staff = a.members["staff"]["id"]
    c1 = a.clients[1]["id"]
    u = uuid.uuid4().hex[:6]
    r = client.post("/members", headers=h, json={"email": f"family2-{u}@example.org", "full_name": "F2",
                                                 "password": "password123", "role": "family"})
    family2 = r.json()["id"]
    share = client.post(f"/clients/{c1}/shares", headers=h, json={"member_id": family2}).json()
    lunch = client.post(f"/clients/{c1}/care-plan", headers=h, json={
        "label": "lunch", "days": [0, 1], "earliest_start": "13:30", "latest_start": "14:30",
        "duration_minutes": 30, "roles": [{"skills": ["personal_care"]}]}).json()
    med = next(t for t in a.templates if t["label"] == "medication")
    dep = client.post("/care-plan-dependencies", headers=h, json={
        "first_id": med["id"], "then_id": lunch["id"], "min_gap_minutes": 180}).json()
    leave = client.post(f"/members/{staff}/leave", headers=h, json={
        "kind": "leave", "start": "2030-01-01T00:00", "end": "2030-01-02T00:00"}).json()
    rota = solved_rota(client, a, FUTURE_MONDAY)
    visit = next(v for v in rota["visits"] if v["label"] == "medication" and v["carer_ids"])
    assert visit["carer_ids"] == [staff]
    ids = {
        "member_id": staff,
        "skill_id": client.get(f"/members/{staff}/skills", headers=h).json()[0]["id"],
        "client_id": c1, "share_id": share["id"], "template_id": med["id"], "dependency_id": dep["id"],
        "rota_id": rota["id"], "run_id": rota["run_id"], "visit_id": visit["id"],
    }
    avail = client.get(f"/members/{staff}/availability", headers=h).json()[0]["id"]
    fed = client.post("/federations", headers=h, json={"name": f"A's federation {u}"})
    assert fed.status_code == 201, fed.text
    ids.update(federation_id=fed.json()["id"], coop_id=a.id, move_id=1, offer_id=1)
    return a, b, ids, avail, leave["id"], visit


def _snapshot(client, a, ids) -> dict:
    h = a.h("coordinator")
    paths = [f"/members/{ids['member_id']}", f"/members/{ids['member_id']}/skills",
             f"/members/{ids['member_id']}/availability", f"/members/{ids['member_id']}/leave",
             f"/clients/{ids['client_id']}", f"/clients/{ids['client_id']}/shares",
             f"/clients/{ids['client_id']}/care-plan", "/care-plan-dependencies", f"/rotas/{ids['rota_id']}",
             f"/runs/{ids['run_id']}", f"/visits/{ids['visit_id']}", "/rotas", "/runs", "/members",
             f"/federations/{ids['federation_id']}", f"/federations/{ids['federation_id']}/statement"]
    return {p: client.get(p, headers=h).json() for p in paths}


def test_no_role_of_another_coop_or_another_member_reads_or_writes_what_is_not_theirs(client, app, world):
    a, b, ids, avail_id, leave_id, visit = world
    paths = app.openapi()["paths"]
    calls = [(m.upper(), p) for p, ops in paths.items() if "{" in p and p not in NOT_OBJECT_IDS
             for m in sorted(ops) if m in ("get", "post", "put", "patch", "delete")]
    missing = [c for c in calls if c not in BODIES]
    assert not missing, f"id-taking endpoints missing from the authorization matrix: {missing}"
    assert len(calls) == len(BODIES)

    callers = {f"other-coop {role}": b.tokens[role] for role in b.tokens}
    # members of the same co-op who are neither the object's owner nor entitled to it
    callers.update({f"same-coop {role}": a.tokens[role]
                    for role in ("staff2", "volunteer", "client", "family")})
    before = _snapshot(client, a, ids)
    leaks = []
    for method, path in calls:
        values = dict(ids)
        values["item_id"] = leave_id if path.endswith("/leave/{item_id}") else avail_id
        url = re.sub(r"{(\w+)}", lambda m, v=values: str(v[m.group(1)]), path)
        for who, token in callers.items():
            body = BODIES[(method, path)]
            if body == "attacker":
                body = {"member_id": b.members["family"]["id"] if who.startswith("other")
                        else a.members["family"]["id"]}
            elif body == "assignment":
                body = {"carer_ids": visit["carer_ids"], "start": visit["start"]}
            elif body == "coop":
                body = {"coop_id": b.id}
            elif body == "voter":
                body = {"member_id": a.members[who.split()[-1]]["id"]}
            elif body == "fed-gift":
                body = {"to_member_id": b.members["family"]["id"], "minutes": 1}
            elif body == "fed-help":
                body = {"volunteer_member_id": b.members["volunteer"]["id"], "minutes": 1}
            elif body == "cover":
                body = {"member_id": a.members["staff"]["id"], "borrowing_coop_id": b.id, "days": [WEEK]}
            elif body == "settlement":
                body = {"from_coop_id": a.id, "to_coop_id": b.id, "minutes": 1}
            params = {"week_start": WEEK} if path.endswith("/visits") and method == "GET" else None
            headers = {**auth(token), "Idempotency-Key": f"authz-{uuid.uuid4().hex}"}
            r = client.request(method, url, headers=headers, json=body, params=params)
            if r.status_code not in (403, 404):
                leaks.append(f"{who}: {method} {url} -> {r.status_code} {r.text[:120]}")
            elif set(r.json()) - {"detail", "errors"}:
                leaks.append(f"{who}: {method} {url} answered with data {r.text[:120]}")
    assert not leaks, "\n".join(leaks)
    assert _snapshot(client, a, ids) == before


def test_the_owner_and_entitled_members_do_get_their_data(client, world):
    """The matrix is not vacuous: the same ids work for those entitled to them."""
    a, _b, ids, _avail, _leave, _visit = world
    staff = a.tokens["staff"]
    assert client.get(f"/members/{ids['member_id']}", headers=auth(staff)).status_code == 200
    assert client.get(f"/members/{ids['member_id']}/skills", headers=auth(staff)).status_code == 200
    assert client.get(f"/visits/{ids['visit_id']}", headers=auth(staff)).status_code == 200
    for path in ("/clients/{c}", "/clients/{c}/visits", "/clients/{c}/care-plan"):
        url = path.format(c=a.clients[0]["id"])
        params = {"week_start": WEEK} if url.endswith("visits") else None
        assert client.get(url, headers=a.h("family"), params=params).status_code == 200
        assert client.get(url, headers=a.h("client"), params=params).status_code == 200
    for role in ("coordinator",):
        for path in (f"/rotas/{ids['rota_id']}", f"/runs/{ids['run_id']}", f"/rotas/{ids['rota_id']}/file"):
            assert client.get(path, headers=a.h(role)).status_code == 200


def test_gifts_never_cross_coops(client, world):
    a, b, *_ = world
    r = client.post("/timebank/gifts", headers={**b.h("volunteer"), "Idempotency-Key": "k"},
                    json={"to_member_id": a.members["volunteer"]["id"], "minutes": 1})
    assert r.status_code == 404


def test_a_deactivated_member_or_changed_role_loses_access(client, world):
    a, *_ = world
    h = a.h("coordinator")
    u = uuid.uuid4().hex[:6]
    email = f"temp-{u}@example.org"
    r = client.post("/members", headers=h, json={"email": email, "full_name": "T", "password": "password123",
                                                 "role": "staff", "lat": 51.5, "lon": -3.0})
    token = login(client, email)
    assert client.get("/me", headers=auth(token)).status_code == 200
    assert client.delete(f"/members/{r.json()['id']}", headers=h).status_code == 200
    assert client.get("/me", headers=auth(token)).status_code == 401
    r = client.post("/auth/token", data={"username": email, "password": "password123"})
    assert r.status_code == 401


def test_tokens_are_checked(client, world):
    a, *_ = world
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers=auth("not.a.jwt")).status_code == 401
    forged = a.tokens["staff"][:-4] + ("AAAA" if not a.tokens["staff"].endswith("AAAA") else "BBBB")
    assert client.get("/me", headers=auth(forged)).status_code == 401
    import jwt

    other_key = jwt.encode({"sub": str(a.members["staff"]["id"]), "coop": a.id, "scopes": ["coordinator"],
                            "purpose": "access", "exp": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)},
                           "guessed-secret-guessed-secret-guessed", algorithm="HS256")
    assert client.get("/members", headers=auth(other_key)).status_code == 401


def test_the_access_log_is_read_only_by_the_coops_coordinators_and_those_it_is_about(client, world):
    """The log says who read whose care data, so it is care data too: another co-op's roles get
    a 403 or 404 for co-op A's client and member, A's carers, clients and family a 403 for the
    co-op's log, and nobody's own log (``/me/access-log``) shows entries about a client who did
    not share their record with them."""
    a, b, ids, *_ = world
    leaks = []
    for role, token in b.tokens.items():
        for params in ({"client_id": ids["client_id"]}, {"member_id": ids["member_id"]}):
            r = client.get("/access-log", headers=auth(token), params=params)
            if r.status_code not in (403, 404) or set(r.json()) - {"detail", "errors"}:
                leaks.append(f"other-coop {role}: /access-log {params} -> {r.status_code}")
    for role in ("staff", "staff2", "volunteer", "client", "family"):
        r = client.get("/access-log", headers=a.h(role), params={"client_id": ids["client_id"]})
        if r.status_code != 403:
            leaks.append(f"same-coop {role}: /access-log -> {r.status_code}")
    callers = {f"other-coop {role}": token for role, token in b.tokens.items()}
    callers.update({f"same-coop {role}": a.tokens[role]
                    for role in ("staff2", "volunteer", "client", "family")})
    for who, token in callers.items():
        r = client.get("/me/access-log", headers=auth(token), params={"limit": 500})
        assert r.status_code == 200, r.text
        about = [e for e in r.json()["entries"] if e["client_id"] == ids["client_id"]
                 or (e["subject_member_id"] == ids["member_id"])]
        if about:
            leaks.append(f"{who}: /me/access-log shows {about[0]}")
    assert not leaks, "\n".join(leaks)
    assert client.get("/access-log", headers=a.h("coordinator"),
                      params={"client_id": ids["client_id"]}).status_code == 200
