"""Authorization matrix of the federation endpoints (issue 13): every role of every co-op (two
member co-ops and one outside) and the federation's officer, against every federation endpoint
in the OpenAPI schema. Those not entitled get a 403 or 404 that carries no data and changes
nothing; those entitled get their answer; no answer of any federation endpoint carries a
member's or a client's name, e-mail or address (an officer sees aggregates only, a co-op only
its own members), and the officer reads no co-op's personal data elsewhere either."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.api.conftest import auth
from tests.api.test_federation import fund, make_world

ROLES = ("coordinator", "staff", "staff2", "volunteer", "client", "family")
ACCOUNT_ROLES = {"staff", "staff2", "volunteer", "client", "family"}
READS = {
    "/federations/{federation_id}",
    "/federations/{federation_id}/statement",
    "/federations/{federation_id}/statement.csv",
    "/federations/{federation_id}/view",
    "/federations/{federation_id}/view.csv",
    "/federations/{federation_id}/view.png",
    "/federations/{federation_id}/cover-invoice.csv",
}


@pytest.fixture(scope="module")
def fworld(client, app):
    """A and B in a federation whose officer is A's staff2 (both co-ops' votes); C outside; one
    gift from A's volunteer to B's family member, so positions are not zero."""
    w = make_world(client, "fauthz")
    officer = w.a.members["staff2"]["id"]
    for coop in (w.a, w.b):
        r = client.post(w.url("/officer-votes"), headers=coop.h("coordinator"), json={"member_id": officer})
        assert r.status_code == 200, r.text
    assert [o["member_id"] for o in r.json()["officers"]] == [officer]
    fund(app, w.a, "volunteer", 200)
    r = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), "Idempotency-Key": "authz-gift"},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 30},
    )
    assert r.status_code == 201, r.text
    return w, r.json()["move_id"]


def callers(w) -> dict[str, tuple[str, str]]:
    """``who`` -> (token, category): ``officer``, ``member-coordinator``, ``member``, ``outsider``."""
    out = {}
    for name, coop in (("A", w.a), ("B", w.b), ("C", w.c)):
        for role in ROLES:
            if name == "A" and role == "staff2":
                cat = "officer"
            elif name == "C":
                cat = "outsider"
            else:
                cat = "member-coordinator" if role == "coordinator" else "member"
            out[f"{name} {role}"] = (coop.tokens[role], cat)
    return out


def expected(method: str, path: str, who: str, cat: str) -> set[int] | None:
    """The statuses allowed for this caller; ``None``: an entitled write tested elsewhere."""
    role = who.split()[1]
    coop = who.split()[0]
    if path in READS:
        return {200} if cat in ("officer", "member-coordinator") else {403, 404}
    tail = path.removeprefix("/federations/{federation_id}")
    if path == "/federations":
        if role != "coordinator":
            return {403}
        return {409} if coop in "AB" else None  # A and B are already in a federation
    if tail in ("/invitations", "/coops/{coop_id}/limit", "/settlements"):
        if cat == "officer":
            return None if tail != "/settlements" else {409}  # beyond the limit
        return {403, 404}
    if tail == "/join":
        return {200} if cat == "member-coordinator" else {403, 404}  # a member joining again: no-op
    if tail == "/leave":
        return {409} if cat == "member-coordinator" else {403, 404}  # positions are not zero
    if tail in ("/officer-votes", "/moves/{move_id}/reverse"):
        if cat == "member-coordinator" or (cat == "officer" and tail.startswith("/moves")):
            return None
        return {403, 404}
    if tail == "/cover-offers":
        if cat == "member-coordinator":
            return {200} if method == "GET" else None
        return {403, 404}
    if tail == "/cover-offers/{offer_id}":
        return None if cat == "member-coordinator" else {403, 404}  # withdrawal: test_federation_cover
    if tail in ("/gifts", "/help"):
        if cat in ("member", "officer") and role in ACCOUNT_ROLES:
            return {409, 422}  # more minutes than they have, or a member of their own co-op
        return {403, 404}
    raise AssertionError(f"no expectation for {method} {path}")


def _bodies(w, tail: str) -> object:
    return {
        "/federations": {"name": "another"},
        "/invitations": {"coop_id": w.c.id},
        "/coops/{coop_id}/limit": {"limit_minutes": 0},
        "/officer-votes": {"member_id": w.a.members["staff"]["id"]},
        "/gifts": {"to_member_id": w.b.members["family"]["id"], "minutes": 100_000},
        "/help": {"volunteer_member_id": w.a.members["volunteer"]["id"], "minutes": 1440},
        "/settlements": {"from_coop_id": w.a.id, "to_coop_id": w.b.id, "minutes": 10_000_000},
        "/cover-offers": {"member_id": w.a.members["staff"]["id"], "borrowing_coop_id": w.b.id,
                          "days": ["2031-01-06"]},
    }.get(tail)


def _state(client, w) -> tuple:
    fed = client.get(w.url(), headers=w.a.h("staff2")).json()
    st_a = client.get(w.url("/statement"), headers=w.a.h("coordinator")).json()
    return fed, st_a["lines"], st_a["closing_position_minutes"]


def _personal(w) -> list[str]:
    out = []
    for coop in (w.a, w.b, w.c):
        for m in coop.members.values():
            out += [m["email"], m["full_name"]]
        for c in coop.clients:
            out += [c["name"], c["address"]]
    return [x for x in out if x and x != "Cari Coordinator"]


def test_every_role_of_every_coop_against_every_federation_endpoint(client, app, fworld) -> None:
    w, move_id = fworld
    paths = app.openapi()["paths"]
    calls = [
        (m.upper(), p)
        for p, ops in paths.items()
        if p.startswith("/federations")
        for m in sorted(ops)
        if m in ("get", "post", "put", "patch", "delete")
    ]
    assert len(calls) == 20, calls
    before = _state(client, w)
    personal = _personal(w)
    wrong, leaks, answered = [], [], 0
    for method, path in calls:
        url = re.sub(
            r"{(\w+)}",
            lambda m: str(
                {"federation_id": w.fid, "coop_id": w.b.id, "move_id": move_id, "offer_id": 1}[m.group(1)]
            ),
            path,
        )
        tail = path.removeprefix("/federations/{federation_id}") if path != "/federations" else path
        for who, (token, cat) in callers(w).items():
            allowed = expected(method, path, who, cat)
            if allowed is None:
                continue
            headers = {**auth(token), "Idempotency-Key": f"m-{uuid.uuid4().hex}"}
            r = client.request(method, url, headers=headers, json=_bodies(w, tail))
            answered += 1
            if r.status_code not in allowed:
                wrong.append(f"{who} ({cat}): {method} {url} -> {r.status_code} {r.text[:150]}")
            if r.status_code in (403, 404) and set(r.json()) - {"detail", "errors"}:
                leaks.append(f"{who}: {method} {url} answered a refusal with data {r.text[:120]}")
            text = r.content.decode("utf-8", "replace")
            leaks += [f"{who}: {method} {url} shows {p!r}" for p in personal if p in text]
    assert not wrong, "\n".join(wrong)
    assert not leaks, "\n".join(leaks)
    assert answered > 150
    assert _state(client, w) == before


def test_the_officer_reads_no_coops_personal_data_elsewhere(client, fworld) -> None:
    """Being an officer adds no access to members or clients: B's records are a 404 for them,
    and in their own co-op they keep only their staff role's access (a 403 for the member list)."""
    w, _move = fworld
    h = w.a.h("staff2")
    for path in (
        f"/members/{w.b.members['family']['id']}",
        f"/clients/{w.b.clients[0]['id']}",
        f"/members/{w.b.members['volunteer']['id']}/export",
    ):
        assert client.get(path, headers=h).status_code in (403, 404), path
    assert client.get("/members", headers=h).status_code == 403


def test_the_officer_reads_every_member_coops_statement_but_a_coordinator_only_their_own(
    client, fworld
) -> None:
    w, _move = fworld
    for coop in (w.a, w.b):
        r = client.get(w.url("/statement"), headers=w.a.h("staff2"), params={"coop_id": coop.id})
        assert r.status_code == 200 and r.json()["coop_id"] == coop.id
    assert (
        client.get(w.url("/statement"), headers=w.a.h("coordinator"), params={"coop_id": w.b.id}).status_code
        == 404
    )
    view = client.get(w.url("/view"), headers=w.b.h("coordinator")).json()
    assert {r["coop_id"] for r in view["rows"]} <= {w.b.id}
