"""Every endpoint that reads or writes care data or a member's personal details appends exactly
one access-log entry per request, and every other endpoint appends none.

The endpoint list is the app's OpenAPI schema and what each endpoint does with personal data is
the table in ``api.services.access_log`` (``PERSONAL_DATA`` / ``NOT_PERSONAL``): a new endpoint
missing from the table, or a personal-data endpoint without a call below, fails the test instead
of escaping it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from api.services.access_log import NOT_PERSONAL, PERSONAL_DATA
from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, auth, build_coop, solved_rota, wait_run

WEEK = FUTURE_MONDAY.isoformat()
LATER = (FUTURE_MONDAY + dt.timedelta(days=7)).isoformat()
METHODS = ("get", "post", "put", "patch", "delete")
#: (headers, method, url, json body, query parameters)
Call = tuple[dict[str, str], str, str, Any, dict[str, Any] | None]


def _u() -> str:
    return uuid.uuid4().hex[:8]


class World:
    def __init__(self, client) -> None:
        self.client = client
        self.a = a = build_coop(client, "alog")
        self.h = a.h("coordinator")
        self.c0, self.c1 = a.clients[0]["id"], a.clients[1]["id"]
        self.staff = a.members["staff"]["id"]
        self.rota = solved_rota(client, a, FUTURE_MONDAY)
        self.visit = next(v for v in self.rota["visits"] if v["carer_ids"] and v["client_id"] == self.c0)
        self.past = solved_rota(client, a, PAST_MONDAY)
        self.past_visits = [v for v in self.past["visits"] if v["status"] == "planned"]
        self.draft = solved_rota(client, a, FUTURE_MONDAY + dt.timedelta(days=7), publish=False)

    def post(self, url: str, body: Any, headers: dict[str, str] | None = None) -> dict:
        r = self.client.post(url, headers=headers or self.h, json=body)
        assert r.status_code in (200, 201), r.text
        return r.json()

    def member(self, role: str = "family", **extra: Any) -> int:
        return self.post(
            "/members",
            {
                "email": f"t-{_u()}@example.org",
                "full_name": f"Temp {_u()}",
                "password": "password123",
                "role": role,
                **extra,
            },
        )["id"]

    def template(self, client_id: int, label: str = "lunch") -> int:
        return self.post(
            f"/clients/{client_id}/care-plan",
            {
                "label": label,
                "days": [0],
                "earliest_start": "12:00",
                "latest_start": "13:00",
                "duration_minutes": 30,
            },
        )["id"]

    def left_member(self) -> int:
        mid = self.member()
        assert self.client.delete(f"/members/{mid}", headers=self.h).status_code == 200
        return mid

    def ended_client(self) -> int:
        cid = self.post("/clients", {"name": f"Gone {_u()}", "lat": 51.58, "lon": -3.0})["id"]
        r = self.client.patch(f"/clients/{cid}", headers=self.h, json={"is_active": False})
        assert r.status_code == 200, r.text
        return cid


def _calls(w: World) -> dict[str, Callable[[], Call]]:
    h, c0, c1, staff = w.h, w.c0, w.c1, w.staff
    rota, visit = w.rota["id"], w.visit["id"]
    draft_visits = [v for v in w.draft["visits"] if v["carer_ids"]]

    def skill_item() -> Call:
        sid = w.post(f"/members/{staff}/skills", {"name": f"s{_u()}"})["id"]
        return h, "DELETE", f"/members/{staff}/skills/{sid}", None, None

    def availability_item() -> Call:
        item = w.post(f"/members/{staff}/availability", {"weekday": 6, "start": "00:10", "end": "00:20"})
        return h, "DELETE", f"/members/{staff}/availability/{item['id']}", None, None

    def leave_item() -> Call:
        item = w.post(
            f"/members/{staff}/leave",
            {"kind": "leave", "start": "2032-01-01T00:00", "end": "2032-01-02T00:00"},
        )
        return h, "DELETE", f"/members/{staff}/leave/{item['id']}", None, None

    def share_item() -> Call:
        share = w.post(f"/clients/{c1}/shares", {"member_id": w.member("family")})
        return h, "DELETE", f"/clients/{c1}/shares/{share['id']}", None, None

    def dependency() -> Call:
        first, then = w.template(c1, "breakfast"), w.template(c1, "tea")
        return (
            h,
            "POST",
            "/care-plan-dependencies",
            {"first_id": first, "then_id": then, "min_gap_minutes": 0},
            None,
        )

    def dependency_item() -> Call:
        first, then = w.template(c1, "elevenses"), w.template(c1, "supper")
        dep = w.post("/care-plan-dependencies", {"first_id": first, "then_id": then})
        return h, "DELETE", f"/care-plan-dependencies/{dep['id']}", None, None

    def calendar() -> Call:
        r = w.client.get("/me/calendar-link", headers=w.a.h("staff"))
        assert r.status_code == 200, r.text
        return {}, "GET", f"/calendar/{r.json()['token']}.ics", None, None

    past = iter(w.past_visits)
    return {
        "GET /me": lambda: (h, "GET", "/me", None, None),
        "POST /coops": lambda: (
            {},
            "POST",
            "/coops",
            {
                "name": f"Co-op {_u()}",
                "coordinator": {
                    "email": f"c-{_u()}@example.org",
                    "full_name": "New Coordinator",
                    "password": "password123",
                },
            },
            None,
        ),
        "GET /members": lambda: (h, "GET", "/members", None, None),
        "POST /members": lambda: (
            h,
            "POST",
            "/members",
            {"email": f"n-{_u()}@example.org", "full_name": "New Member", "role": "family"},
            None,
        ),
        "GET /members/{member_id}": lambda: (h, "GET", f"/members/{staff}", None, None),
        "PATCH /members/{member_id}": lambda: (
            h,
            "PATCH",
            f"/members/{w.member()}",
            {"full_name": "Renamed"},
            None,
        ),
        "DELETE /members/{member_id}": lambda: (h, "DELETE", f"/members/{w.member()}", None, None),
        "PUT /members/{member_id}/role": lambda: (
            h,
            "PUT",
            f"/members/{w.member()}/role",
            {"role": "client"},
            None,
        ),
        "GET /members/{member_id}/skills": lambda: (h, "GET", f"/members/{staff}/skills", None, None),
        "POST /members/{member_id}/skills": lambda: (
            h,
            "POST",
            f"/members/{staff}/skills",
            {"name": f"s{_u()}"},
            None,
        ),
        "DELETE /members/{member_id}/skills/{skill_id}": skill_item,
        "GET /members/{member_id}/availability": lambda: (
            h,
            "GET",
            f"/members/{staff}/availability",
            None,
            None,
        ),
        "POST /members/{member_id}/availability": lambda: (
            h,
            "POST",
            f"/members/{staff}/availability",
            {"weekday": 6, "start": "00:30", "end": "00:40"},
            None,
        ),
        "DELETE /members/{member_id}/availability/{item_id}": availability_item,
        "GET /members/{member_id}/leave": lambda: (h, "GET", f"/members/{staff}/leave", None, None),
        "POST /members/{member_id}/leave": lambda: (
            h,
            "POST",
            f"/members/{staff}/leave",
            {"kind": "leave", "start": "2033-01-01T00:00", "end": "2033-01-02T00:00"},
            None,
        ),
        "DELETE /members/{member_id}/leave/{item_id}": leave_item,
        "GET /clients": lambda: (h, "GET", "/clients", None, None),
        "POST /clients": lambda: (
            h,
            "POST",
            "/clients",
            {"name": f"New {_u()}", "lat": 51.58, "lon": -3.0},
            None,
        ),
        "GET /clients/{client_id}": lambda: (h, "GET", f"/clients/{c1}", None, None),
        "PATCH /clients/{client_id}": lambda: (
            h,
            "PATCH",
            f"/clients/{c1}",
            {"access_notes": "key safe 0000"},
            None,
        ),
        "PUT /clients/{client_id}/preferences": lambda: (
            h,
            "PUT",
            f"/clients/{c1}/preferences",
            {"preferred_carers": [staff], "excluded_carers": []},
            None,
        ),
        "GET /clients/{client_id}/visits": lambda: (
            h,
            "GET",
            f"/clients/{c0}/visits",
            None,
            {"week_start": WEEK},
        ),
        "GET /clients/{client_id}/shares": lambda: (h, "GET", f"/clients/{c0}/shares", None, None),
        "POST /clients/{client_id}/shares": lambda: (
            h,
            "POST",
            f"/clients/{c1}/shares",
            {"member_id": w.member("family")},
            None,
        ),
        "DELETE /clients/{client_id}/shares/{share_id}": share_item,
        "GET /clients/{client_id}/care-plan": lambda: (h, "GET", f"/clients/{c0}/care-plan", None, None),
        "POST /clients/{client_id}/care-plan": lambda: (
            h,
            "POST",
            f"/clients/{c1}/care-plan",
            {
                "label": "bath",
                "days": [3],
                "earliest_start": "10:00",
                "latest_start": "11:00",
                "duration_minutes": 30,
            },
            None,
        ),
        "PATCH /care-plan/{template_id}": lambda: (
            h,
            "PATCH",
            f"/care-plan/{w.template(c1)}",
            {"duration_minutes": 20},
            None,
        ),
        "DELETE /care-plan/{template_id}": lambda: (h, "DELETE", f"/care-plan/{w.template(c1)}", None, None),
        "GET /care-plan-dependencies": lambda: (h, "GET", "/care-plan-dependencies", None, None),
        "POST /care-plan-dependencies": dependency,
        "DELETE /care-plan-dependencies/{dependency_id}": dependency_item,
        "GET /rotas/{rota_id}": lambda: (h, "GET", f"/rotas/{rota}", None, None),
        "GET /rotas/{rota_id}/file": lambda: (h, "GET", f"/rotas/{rota}/file", None, None),
        "GET /rotas/{rota_id}/problem": lambda: (h, "GET", f"/rotas/{rota}/problem", None, None),
        "PUT /rotas/{rota_id}/visits/{visit_id}/assignment": lambda: (
            h,
            "PUT",
            f"/rotas/{w.draft['id']}/visits/{draft_visits[0]['id']}/assignment",
            {"carer_ids": draft_visits[0]["carer_ids"], "start": draft_visits[0]["start"]},
            None,
        ),
        "POST /rotas/{rota_id}/visits/{visit_id}/unassign": lambda: (
            h,
            "POST",
            f"/rotas/{w.draft['id']}/visits/{draft_visits[-1]['id']}/unassign",
            {"reason": "x"},
            None,
        ),
        "POST /rotas/{rota_id}/publish": lambda: (h, "POST", f"/rotas/{w.draft['id']}/publish", None, None),
        "GET /rotas/{rota_id}/visits/{visit_id}/cover": lambda: (
            h,
            "GET",
            f"/rotas/{rota}/visits/{visit}/cover",
            None,
            {"limit": 2},
        ),
        "POST /rotas/{rota_id}/resolve": lambda: (h, "POST", f"/rotas/{rota}/resolve", {}, None),
        "GET /runs": lambda: (h, "GET", "/runs", None, None),
        "GET /runs/{run_id}": lambda: (h, "GET", f"/runs/{w.rota['run_id']}", None, None),
        "GET /weeks/{week_start}/problem": lambda: (h, "GET", f"/weeks/{LATER}/problem", None, None),
        "GET /visits/{visit_id}": lambda: (h, "GET", f"/visits/{visit}", None, None),
        "POST /visits/{visit_id}/complete": lambda: (
            h,
            "POST",
            f"/visits/{next(past)['id']}/complete",
            None,
            None,
        ),
        "POST /visits/{visit_id}/missed": lambda: (
            h,
            "POST",
            f"/visits/{next(past)['id']}/missed",
            None,
            None,
        ),
        "POST /visits/{visit_id}/cancel": lambda: (
            h,
            "POST",
            f"/visits/{next(past)['id']}/cancel",
            None,
            None,
        ),
        "GET /me/rota": lambda: (w.a.h("staff"), "GET", "/me/rota", None, {"week_start": WEEK}),
        "GET /calendar/{token}.ics": calendar,
        "GET /access-log": lambda: (h, "GET", "/access-log", None, {"limit": 5}),
        "GET /me/access-log": lambda: (w.a.h("client"), "GET", "/me/access-log", None, {"limit": 5}),
        "GET /me/export": lambda: (w.a.h("client"), "GET", "/me/export", None, None),
        "GET /me/export.html": lambda: (w.a.h("staff"), "GET", "/me/export.html", None, None),
        "GET /members/{member_id}/export": lambda: (h, "GET", f"/members/{staff}/export", None, None),
        "GET /clients/{client_id}/export": lambda: (h, "GET", f"/clients/{c1}/export", None, None),
        "POST /members/{member_id}/erase": lambda: (
            h,
            "POST",
            f"/members/{w.left_member()}/erase",
            None,
            None,
        ),
        "POST /clients/{client_id}/erase": lambda: (
            h,
            "POST",
            f"/clients/{w.ended_client()}/erase",
            None,
            None,
        ),
        "PUT /members/{member_id}/legal-hold": lambda: (
            h,
            "PUT",
            f"/members/{staff}/legal-hold",
            {"reason": "claim 12"},
            None,
        ),
        "DELETE /members/{member_id}/legal-hold": lambda: (
            h,
            "DELETE",
            f"/members/{staff}/legal-hold",
            None,
            None,
        ),
        "PUT /clients/{client_id}/legal-hold": lambda: (
            h,
            "PUT",
            f"/clients/{c1}/legal-hold",
            {"reason": "inquest"},
            None,
        ),
        "DELETE /clients/{client_id}/legal-hold": lambda: (
            h,
            "DELETE",
            f"/clients/{c1}/legal-hold",
            None,
            None,
        ),
    }


#: endpoints of NOT_PERSONAL called to show they log nothing (the others need a set-up of
#: their own: a password token, a solve, a gift)
QUIET: dict[str, Callable[[World], Call]] = {
    "GET /coops/me": lambda w: (w.h, "GET", "/coops/me", None, None),
    "GET /coops/me/privacy": lambda w: (w.h, "GET", "/coops/me/privacy", None, None),
    "PUT /coops/me/privacy": lambda w: (
        w.h,
        "PUT",
        "/coops/me/privacy",
        {"retention_visit_days": 3000},
        None,
    ),
    "GET /rotas": lambda w: (w.h, "GET", "/rotas", None, None),
    "GET /me/calendar-link": lambda w: (w.a.h("staff"), "GET", "/me/calendar-link", None, None),
    "GET /me/timebank": lambda w: (w.a.h("volunteer"), "GET", "/me/timebank", None, None),
    "GET /health": lambda w: ({}, "GET", "/health", None, None),
}


def _operations(app) -> set[str]:
    return {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops if m in METHODS}


def _max_id(app) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM accesslog")).scalar_one()


def _since(app, after: int) -> list[dict]:
    with app.state.engine.connect() as conn:
        rows = (
            conn.execute(
                sa.text("SELECT id, endpoint, record_kind, action FROM accesslog WHERE id > :a ORDER BY id"),
                {"a": after},
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows]


@pytest.fixture(scope="module")
def world(client) -> World:
    return World(client)


def test_every_endpoint_is_in_the_personal_data_table(app):
    """The table is the one place that says which endpoints touch personal data: every
    operation of the OpenAPI schema is in exactly one of its two halves, and nothing else is."""
    ops = _operations(app)
    assert not set(PERSONAL_DATA) & set(NOT_PERSONAL)
    assert ops - set(PERSONAL_DATA) - set(NOT_PERSONAL) == set(), "endpoints missing from the table"
    assert (set(PERSONAL_DATA) | set(NOT_PERSONAL)) - ops == set(), "table rows for no endpoint"


def test_each_personal_data_endpoint_logs_exactly_one_entry_per_request(client, app, world):
    """Each endpoint that returns or writes care data or personal details, called once with a
    request that succeeds, appends exactly one entry, naming that endpoint and the kind of
    record the table gives, and nothing else is appended by the request."""
    calls = _calls(world)
    assert set(calls) == set(PERSONAL_DATA), set(PERSONAL_DATA) ^ set(calls)
    wrong = []
    for key, make in calls.items():
        headers, method, url, body, params = make()
        before = _max_id(app)
        r = client.request(method, url, headers=headers, json=body, params=params)
        if r.status_code >= 300:
            wrong.append(f"{key}: {r.status_code} {r.text[:200]}")
            continue
        new = _since(app, before)
        if len(new) != 1 or new[0]["endpoint"] != key or new[0]["record_kind"] != PERSONAL_DATA[key]:
            wrong.append(f"{key}: {[(e['endpoint'], e['record_kind']) for e in new]}")
    assert not wrong, "\n".join(wrong)
    # the resolve queued a solve; let it finish so it does not outlive the app's pool
    runs = client.get("/runs", headers=world.h).json()
    for run in runs:
        if run["status"] in ("queued", "running"):
            wait_run(client, world.a.tokens["coordinator"], run["id"])


def test_endpoints_without_personal_data_log_nothing(client, app, world):
    """The other half of the table is true too: those endpoints append no entry."""
    for key, make in QUIET.items():
        assert key in NOT_PERSONAL
        headers, method, url, body, params = make(world)
        before = _max_id(app)
        r = client.request(method, url, headers=headers, json=body, params=params)
        assert r.status_code < 300, f"{key}: {r.status_code} {r.text[:200]}"
        assert _since(app, before) == [], key
    before = _max_id(app)
    r = client.post(
        "/auth/token", data={"username": world.a.members["staff"]["email"], "password": "password123"}
    )
    assert r.status_code == 200 and _since(app, before) == []
    assert client.get("/me", headers=auth(r.json()["access_token"])).status_code == 200
    assert [e["endpoint"] for e in _since(app, before)] == ["GET /me"]
