"""The pages' authorization matrix: every page route (taken from the app, so a new page
without an entry here fails), called by every role of the co-op, by a member of another
co-op and without a session, is open exactly to the roles the API opens the same data to.

The pages call the API's services, so the answer for a role is the API's: a page may show a
role nothing the corresponding endpoint would not give it. Posts are sent with bodies that
would be refused for their content (an empty form), so that a 2xx or a 4xx other than 401,
403 and 404 shows the role got past authorization without changing anything.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from tests.api.conftest import FUTURE_MONDAY, auth, build_coop, solved_rota
from tests.web.conftest import page_csrf, sign_in

WEEK = FUTURE_MONDAY.isoformat()
ROLES = ("coordinator", "staff", "staff2", "volunteer", "client", "family")
COORD = {"coordinator"}
CARERS = {"staff", "staff2", "volunteer"}
ALL = set(ROLES)
BANK = ALL - COORD   # the time bank has no account for a coordinator (the API's 403)
PUBLIC = None
# (method, path) -> the roles that get past authorization; PUBLIC: no session needed
PAGES: dict[tuple[str, str], set[str] | None] = {
    ("GET", "/web/login"): PUBLIC,
    ("POST", "/web/login"): PUBLIC,
    ("POST", "/web/logout"): ALL,
    ("GET", "/web/"): ALL,
    ("GET", "/web/board"): COORD,
    ("POST", "/web/board/solve"): COORD,
    ("GET", "/web/runs/{run_id}"): COORD,
    ("GET", "/web/runs/{run_id}/status"): COORD,
    ("POST", "/web/rotas/{rota_id}/publish"): COORD,
    ("GET", "/web/rotas/{rota_id}/visits/{visit_id}"): COORD,
    ("POST", "/web/rotas/{rota_id}/visits/{visit_id}/move"): COORD,
    ("GET", "/web/me/week"): CARERS,
    ("GET", "/web/me/day"): CARERS,
    # as POST /visits/{id}/complete: the carers on the visit (here: staff) and coordinators
    ("POST", "/web/visits/{visit_id}/complete"): {"coordinator", "staff"},
    ("GET", "/web/me/timebank"): BANK,
    ("POST", "/web/me/timebank/gift"): BANK,
    ("GET", "/web/coming"): ALL,
    # as GET /federations/{id}, .../view, .../statement: coordinators and officers (here the
    # coordinator who founded the co-op's federation, its first officer)
    ("GET", "/web/federation"): COORD,
    ("GET", "/web/federation/view.csv"): COORD,
    ("GET", "/web/federation/view.png"): COORD,
}
API_COVER = "/rotas/{rota_id}/visits/{visit_id}/cover"


@pytest.fixture(scope="module")
def world(web_app, api_client):
    a, b = build_coop(api_client, "page-a"), build_coop(api_client, "page-b")
    rota = solved_rota(api_client, a, FUTURE_MONDAY)
    r = api_client.post("/federations", headers=a.h("coordinator"), json={"name": "page-a federation"})
    assert r.status_code == 201, r.text
    visit = next(v for v in rota["visits"] if v["label"] == "medication" and v["carer_ids"])
    assert visit["carer_ids"] == [a.members["staff"]["id"]]
    ids = {"run_id": rota["run_id"], "rota_id": rota["id"], "visit_id": visit["id"]}
    pages = {role: sign_in(web_app, a.members[role]["email"]) for role in ROLES}
    others = {role: sign_in(web_app, b.members[role]["email"]) for role in ("coordinator", "staff")}
    return a, b, ids, pages, others, rota


def _url(path: str, ids: dict[str, int]) -> str:
    url = re.sub(r"{(\w+)}", lambda m: str(ids[m.group(1)]), path)
    if url.endswith("/board"):
        url += f"?week_start={WEEK}"
    if url.endswith("/me/day"):
        url += f"?day={WEEK}"
    return url


def _call(c: TestClient, method: str, url: str, csrf: str | None) -> int:
    if method == "GET":
        return c.get(url).status_code
    data = {"csrf_token": csrf} if csrf else {}
    return c.post(url, data=data).status_code


def _snapshot(api: TestClient, a, rota_id: int) -> dict:
    h = a.h("coordinator")
    return {"rotas": api.get("/rotas", headers=h).json(),
            "rota": api.get(f"/rotas/{rota_id}", headers=h).json(),
            "runs": len(api.get("/runs", headers=h).json())}


def test_every_page_route_is_in_the_matrix():
    """A new page route cannot escape the matrix: the routes are read from the pages' router."""
    from api.web.app import router

    routes = {(m, r.path) for r in router.routes if isinstance(r, APIRoute)
              for m in (r.methods or set()) if m in ("GET", "POST", "PUT", "PATCH", "DELETE")}
    assert routes == set(PAGES), f"page routes not in the matrix: {routes - set(PAGES)}; " \
                                 f"stale entries: {set(PAGES) - routes}"


def test_each_role_gets_past_exactly_the_pages_the_api_opens_to_it(world, api_client):
    """Every page route, every role of the co-op: allowed roles get the page (or a refusal of
    the empty form's content), the others a 403 or 404, and nothing changes."""
    a, _b, ids, pages, _others, _rota = world
    before = _snapshot(api_client, a, ids["rota_id"])
    wrong = []
    for (method, path), allowed in PAGES.items():
        if allowed is PUBLIC or path == "/web/logout":
            continue
        url = _url(path, ids)
        for role, c in pages.items():
            csrf = page_csrf(c, "/web/coming")
            status = _call(c, method, url, csrf)
            if role in allowed:
                ok = status not in (401, 403, 404) and (method == "POST" or status in (200, 303))
            else:
                ok = status in (403, 404)
            if not ok:
                wrong.append(f"{role}: {method} {url} -> {status} (allowed: {sorted(allowed)})")
    assert not wrong, "\n".join(wrong)
    assert _snapshot(api_client, a, ids["rota_id"]) == before


def test_without_a_session_pages_send_to_sign_in_and_posts_are_refused(world, web_app, api_client):
    a, _b, ids, _pages, _others, _rota = world
    anonymous = TestClient(web_app, follow_redirects=False)
    before = _snapshot(api_client, a, ids["rota_id"])
    for (method, path), allowed in PAGES.items():
        url = _url(path, ids)
        status = _call(anonymous, method, url, "forged")
        if allowed is PUBLIC:
            assert status in (200, 403, 422), f"{method} {url} -> {status}"   # the login form itself
        elif method == "GET":
            r = anonymous.get(url)
            assert r.status_code == 303, (url, status)
            assert r.headers["location"].startswith("/web/login?next="), url
        else:
            assert status == 401, f"{method} {url} -> {status}"
    assert _snapshot(api_client, a, ids["rota_id"]) == before


def test_another_coops_members_cannot_reach_this_coops_runs_rotas_or_visits(world, api_client):
    """Ids of co-op A asked for by co-op B's coordinator and carer look unknown (404), as in the API."""
    a, b, ids, _pages, others, rota = world
    before = _snapshot(api_client, a, ids["rota_id"])
    coord, staff = others["coordinator"], others["staff"]
    csrf = page_csrf(coord, "/web/coming")
    visit = next(v for v in rota["visits"] if v["id"] == ids["visit_id"])
    assert coord.get(f"/web/runs/{ids['run_id']}").status_code == 404
    assert coord.get(f"/web/runs/{ids['run_id']}/status").status_code == 404
    assert coord.get(f"/web/rotas/{ids['rota_id']}/visits/{ids['visit_id']}").status_code == 404
    assert coord.get(f"/web/board?week_start={WEEK}&rota_id={ids['rota_id']}").status_code == 404
    assert coord.post(f"/web/rotas/{ids['rota_id']}/publish", data={"csrf_token": csrf}).status_code == 404
    r = coord.post(f"/web/rotas/{ids['rota_id']}/visits/{ids['visit_id']}/move",
                   data={"csrf_token": csrf, "carer_ids": [str(b.members["staff"]["id"])],
                         "start": visit["start"][:16]})
    assert r.status_code == 404
    r = staff.post(f"/web/visits/{ids['visit_id']}/complete",
                   data={"csrf_token": page_csrf(staff, "/web/coming")})
    assert r.status_code == 404
    assert a.clients[0]["name"] not in coord.get(f"/web/coming?week_start={WEEK}").text
    assert _snapshot(api_client, a, ids["rota_id"]) == before


def test_a_carer_page_shows_exactly_the_visits_the_api_gives_that_carer(world, api_client):
    """A carer sees only their own week: the page lists the same visits as GET /me/rota."""
    a, _b, _ids, pages, _others, _rota = world
    for role in ("staff", "staff2", "volunteer"):
        api_ids = {v["id"] for v in api_client.get("/me/rota", headers=a.h(role),
                                                   params={"week_start": WEEK}).json()["visits"]}
        page = pages[role].get(f"/web/me/week?week_start={WEEK}").text
        page_ids = {int(x) for x in re.findall(r'id="my-visit-(\d+)"', page)}
        assert page_ids == api_ids, role
    staff_visits = api_client.get("/me/rota", headers=a.h("staff"),
                                  params={"week_start": WEEK}).json()["visits"]
    assert staff_visits, "the staff member has visits, so the comparison above is not vacuous"


def test_who_can_cover_answers_coordinators_of_the_coop_only(world, api_client):
    """The cover endpoint (bearer tokens) is a rota read: coordinators of the co-op only."""
    a, b, ids, _pages, _others, _rota = world
    url = API_COVER.format(**ids)
    r = api_client.get(url, headers=a.h("coordinator"), params={"without": a.members["staff"]["id"]})
    assert r.status_code == 200, r.text
    options = r.json()["options"]
    assert {o["member_id"] for o in options} <= {a.members["staff2"]["id"]}
    assert [o["cost"] for o in options] == sorted(o["cost"] for o in options)
    for role in ("staff", "staff2", "volunteer", "client", "family"):
        assert api_client.get(url, headers=a.h(role)).status_code == 403, role
    for role in b.tokens:
        assert api_client.get(url, headers=auth(b.tokens[role])).status_code in (403, 404), role
    assert api_client.get(url).status_code == 401


def test_signing_out_ends_the_page_session(world, web_app):
    a, *_ = world
    c = sign_in(web_app, a.members["staff2"]["email"])
    r = c.post("/web/logout", data={"csrf_token": page_csrf(c, "/web/me/week")})
    assert r.status_code == 303
    r = c.get("/web/me/week")
    assert r.status_code == 303 and r.headers["location"].startswith("/web/login")


def test_a_family_member_and_a_client_see_who_is_coming_for_their_client_only(world, api_client):
    """The family member sees the client who shared with them, the client themself, each with
    the visits GET /clients/{id}/visits gives them, and never the co-op's other client."""
    a, _b, _ids, pages, _others, _rota = world
    mine, other = a.clients[0], a.clients[1]
    for role in ("family", "client"):
        page = pages[role].get(f"/web/coming?week_start={WEEK}").text
        assert mine["name"] in page and other["name"] not in page, role
        visits = api_client.get(f"/clients/{mine['id']}/visits", headers=a.h(role),
                                params={"week_start": WEEK}).json()
        shown = [v for v in visits if v["start"]]
        assert shown and page.count('<li id="coming-visit-') == len(shown), role
        r = pages[role].get(f"/web/coming?week_start={WEEK}&client_id={other['id']}")
        assert r.status_code == 404, role
