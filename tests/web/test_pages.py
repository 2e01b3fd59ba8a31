"""The pages without a browser: sign-in and its cookie, CSRF on every post, the board against
the API's rota, hand edits through the checked service (refusals name each rule and save
nothing), the idempotent gift form, the day map's travel minutes, bad form input, and assets
served by the app itself."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import pytest
from sqlmodel import Session

from api.models import Member
from api.services import bank
from scheduler.problem import problem_from_dict
from tests.api.conftest import FUTURE_MONDAY, auth, build_coop, solved_rota
from tests.web.conftest import csrf_of, page_csrf, sign_in

WEEK = FUTURE_MONDAY.isoformat()


@pytest.fixture(scope="module")
def world(web_app, api_client):
    a = build_coop(api_client, "pages")
    rota = solved_rota(api_client, a, FUTURE_MONDAY)
    coord = sign_in(web_app, a.members["coordinator"]["email"])
    return a, rota, coord


def _rota_now(api_client, a) -> dict:
    """The week's published rota as the API has it."""
    h = a.h("coordinator")
    published = [r for r in api_client.get("/rotas", headers=h, params={"week_start": WEEK}).json()
                 if r["status"] == "published"]
    assert len(published) == 1
    return api_client.get(f"/rotas/{published[0]['id']}", headers=h).json()


def test_sign_in_sets_an_httponly_samesite_lax_cookie_and_bearer_tokens_keep_working(world, web_app,
                                                                                        api_client):
    a, *_ = world
    from fastapi.testclient import TestClient

    c = TestClient(web_app, follow_redirects=False)
    form = c.get("/web/login")
    r = c.post("/web/login", data={"username": a.members["staff"]["email"], "password": "password123",
                                   "csrf_token": csrf_of(form.text), "next": "/web/me/timebank"})
    assert r.status_code == 303 and r.headers["location"] == "/web/me/timebank"
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("carerota_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax") and "Path=/" in cookie
    assert c.get("/web/me/week").status_code == 200
    # the API is still bearer-only: the cookie alone is not a login there, a token is
    assert c.get("/me").status_code == 401
    assert api_client.get("/me", headers=a.h("staff")).status_code == 200


def test_sign_in_never_redirects_off_the_site(world, web_app):
    a, *_ = world
    from fastapi.testclient import TestClient

    for target in ("https://evil.example/", "//evil.example/web/", "/docs"):
        c = TestClient(web_app, follow_redirects=False)
        form = c.get("/web/login")
        r = c.post("/web/login", data={"username": a.members["staff"]["email"], "password": "password123",
                                       "csrf_token": csrf_of(form.text), "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/web/me/week", target


def test_the_sign_in_form_is_refused_without_its_csrf_cookie_or_with_a_wrong_password(world, web_app):
    a, *_ = world
    from fastapi.testclient import TestClient

    c = TestClient(web_app, follow_redirects=False)
    r = c.post("/web/login", data={"username": a.members["staff"]["email"], "password": "password123",
                                   "csrf_token": "made-up"})
    assert r.status_code == 403 and "csrf_token" in r.text and "carerota_session" not in r.headers.get(
        "set-cookie", "")
    form = c.get("/web/login")
    r = c.post("/web/login", data={"username": a.members["staff"]["email"], "password": "wrong-password",
                                   "csrf_token": csrf_of(form.text)})
    assert r.status_code == 401 and 'id="login-error"' in r.text


def test_a_post_without_the_sessions_csrf_token_is_refused_and_changes_nothing(world, web_app, api_client):
    """Another site can make the browser send the cookie but cannot read the page's token."""
    a, _rota, coord = world
    before = _rota_now(api_client, a)
    visit = next(v for v in before["visits"] if v["label"] == "morning care" and v["carer_ids"])
    other = next(m for m in (a.members["staff"]["id"], a.members["staff2"]["id"])
                 if m not in visit["carer_ids"])
    url = f"/web/rotas/{before['id']}/visits/{visit['id']}/move"
    body = {"carer_ids": [str(other)], "start": visit["start"][:16]}
    assert coord.post(url, data=body).status_code == 403
    assert coord.post(url, data={**body, "csrf_token": "guessed"}).status_code == 403
    someone_else = sign_in(web_app, a.members["coordinator"]["email"])   # another session's token
    r = coord.post(url, data={**body, "csrf_token": page_csrf(someone_else, "/web/coming")})
    assert r.status_code == 403
    assert coord.post(f"/web/rotas/{before['id']}/publish", data={}).status_code == 403
    assert _rota_now(api_client, a) == before


def test_the_board_shows_each_assigned_visit_in_its_carers_rows_and_the_unassigned_with_reasons(
        world, api_client):
    a, _rota, coord = world
    page = coord.get(f"/web/board?week_start={WEEK}")
    assert page.status_code == 200
    rota = _rota_now(api_client, a)
    blocks = re.findall(r'id="visit-(\d+)-(\d+)"', page.text)
    expected = {(str(v["id"]), str(m)) for v in rota["visits"] if v["start"] and v["status"] == "planned"
                for m in v["carer_ids"]}
    assert set(blocks) == expected and expected
    for v in rota["visits"]:
        if v["status"] == "unassigned":
            assert v["reasons"] and v["reasons"][0] in page.text.replace("&#39;", "'")
    for kpi in ("Essential visits covered", "Travel", "Carers per client", "Contract shortfall",
                "Gap to the bound"):
        assert kpi in page.text
    # a filter by carer leaves only that carer's row
    staff = a.members["staff"]["id"]
    filtered = coord.get(f"/web/board?week_start={WEEK}&carer={staff}").text
    assert set(re.findall(r'<tr data-carer="(\d+)"', filtered)) == {str(staff)}


def test_a_move_onto_a_carer_without_the_skill_is_refused_naming_the_rule_and_saves_nothing(world,
                                                                                            api_client):
    a, _rota, coord = world
    before = _rota_now(api_client, a)
    visit = next(v for v in before["visits"] if v["label"] == "medication" and v["carer_ids"])
    url = f"/web/rotas/{before['id']}/visits/{visit['id']}/move"
    body = {"carer_ids": [str(a.members["staff2"]["id"])], "start": visit["start"][:16],
            "csrf_token": page_csrf(coord, f"/web/board?week_start={WEEK}")}
    r = coord.post(url, data=body)
    assert r.status_code == 422
    text = r.text.replace("&#39;", "'")
    assert 'id="refusal-rules"' in text and "roles_and_skills" in text and "lacks 'medication'" in text
    r = coord.post(url, data=body, headers={"Accept": "application/json"})   # as the board's drag does
    assert r.status_code == 422 and not r.json()["ok"]
    assert any(e.startswith("roles_and_skills:") and "lacks 'medication'" in e for e in r.json()["errors"])
    assert _rota_now(api_client, a) == before


def test_a_move_the_checker_accepts_is_saved_as_a_new_published_version(world, api_client):
    a, _rota, coord = world
    before = _rota_now(api_client, a)
    visit = next(v for v in before["visits"] if v["label"] == "morning care" and v["carer_ids"]
                 and v["start"].startswith((FUTURE_MONDAY + dt.timedelta(days=1)).isoformat()))
    other = next(m for m in (a.members["staff"]["id"], a.members["staff2"]["id"])
                 if m not in visit["carer_ids"])
    r = coord.post(f"/web/rotas/{before['id']}/visits/{visit['id']}/move",
                   data={"carer_ids": [str(other)], "start": visit["start"][:16],
                         "csrf_token": page_csrf(coord, "/web/coming")})
    assert r.status_code == 303, r.text
    after = _rota_now(api_client, a)
    assert after["version"] == before["version"] + 1
    moved = next(v for v in after["visits"] if v["id"] == visit["id"])
    assert moved["carer_ids"] == [other]
    board = coord.get(r.headers["location"]).text
    assert f'id="visit-{visit["id"]}-{other}"' in board and "the change is saved" in board


def test_the_gift_form_sent_twice_gives_once(world, web_app, api_client):
    """A double click sends the form's one Idempotency-Key twice: the hours are given once."""
    a, *_ = world
    vol_id, family_id = a.members["volunteer"]["id"], a.members["family"]["id"]
    ledger = web_app.state.ledger
    with Session(web_app.state.engine) as s:
        vol = s.get(Member, vol_id)
        assert vol is not None
        bank.account_of(ledger, vol)
    ledger.credit_visit(str(a.id), visit_id=f"web-test-{vol_id}", volunteer_ref=str(vol_id), minutes=120,
                        service_date=dt.date.today(), recorded_by="test")
    c = sign_in(web_app, a.members["volunteer"]["email"])
    page = c.get("/web/me/timebank").text
    assert 'data-minutes="120"' in page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1), "to_member_id": str(family_id),
            "minutes": "30", "note": "for the shopping"}
    first, second = c.post("/web/me/timebank/gift", data=form), c.post("/web/me/timebank/gift", data=form)
    assert first.status_code == second.status_code == 303
    assert "already sent" in c.get(second.headers["location"]).text
    assert api_client.get("/me/timebank", headers=a.h("volunteer")).json()["balance"] == 90
    again = c.get("/web/me/timebank").text
    assert re.search(r'name="idempotency_key" value="([^"]+)"', again).group(1) != key.group(1)  # type: ignore[union-attr]


def test_the_gift_form_gives_to_the_pot_once(world, web_app, api_client):
    """The pot is one of the form's recipients: the hours leave the volunteer and reach the co-op's
    pot, once however often the form is sent."""
    a, *_ = world
    vol_id = a.members["volunteer"]["id"]
    ledger = web_app.state.ledger
    ledger.credit_visit(str(a.id), visit_id=f"web-pot-{vol_id}", volunteer_ref=str(vol_id), minutes=60,
                        service_date=dt.date.today(), recorded_by="test")
    before = api_client.get("/me/timebank", headers=a.h("volunteer")).json()["balance"]
    pot_before = ledger.pot(str(a.id)).balance
    c = sign_in(web_app, a.members["volunteer"]["email"])
    page = c.get("/web/me/timebank").text
    assert '<option value="pot"' in page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page)
    assert key
    form = {"csrf_token": csrf_of(page), "idempotency_key": key.group(1), "to_member_id": "pot",
            "minutes": "20", "note": ""}
    first, second = c.post("/web/me/timebank/gift", data=form), c.post("/web/me/timebank/gift", data=form)
    assert first.status_code == second.status_code == 303
    assert "community pot" in c.get(first.headers["location"]).text
    assert api_client.get("/me/timebank", headers=a.h("volunteer")).json()["balance"] == before - 20
    assert ledger.pot(str(a.id)).balance == pot_before + 20


def test_bad_form_input_is_a_4xx_naming_the_field(world, web_app):
    a, rota, coord = world
    csrf = page_csrf(coord, "/web/coming")
    visit = rota["visits"][0]
    r = coord.post(f"/web/rotas/{rota['id']}/visits/{visit['id']}/move",
                   data={"carer_ids": ["ann"], "start": "tomorrow", "csrf_token": csrf})
    assert r.status_code == 422 and "carer_ids[0]" in r.text
    r = coord.post(f"/web/rotas/{rota['id']}/visits/{visit['id']}/move",
                   data={"carer_ids": [str(a.members["staff"]["id"])], "start": "tomorrow",
                         "csrf_token": csrf})
    assert r.status_code == 422 and "start:" in r.text
    r = coord.post("/web/board/solve", data={"week_start": "2026-13-01", "csrf_token": csrf})
    assert r.status_code == 422 and "week_start" in r.text
    r = coord.get("/web/board?week_start=2026-12-02")
    assert r.status_code == 422 and "week_start" in r.text
    vol = sign_in(web_app, a.members["volunteer"]["email"])
    r = vol.post("/web/me/timebank/gift",
                 data={"csrf_token": page_csrf(vol, "/web/me/timebank"), "idempotency_key": "k1",
                       "to_member_id": "x", "minutes": "-5"})
    assert r.status_code == 422 and "to_member_id:" in r.text and "minutes:" in r.text


def test_the_day_map_shows_the_rotas_own_travel_minutes(world, web_app, api_client):
    """The map's minutes are ``Problem.travel_minutes`` of the published rota, home first."""
    a, *_ = world
    rota = _rota_now(api_client, a)
    staff = a.members["staff"]["id"]
    mine = sorted((v for v in rota["visits"] if staff in v["carer_ids"] and v["start"].startswith(WEEK)),
                  key=lambda v: v["start"])
    assert mine
    problem = problem_from_dict({**api_client.get(f"/rotas/{rota['id']}/problem",
                                                  headers=a.h("coordinator")).json(), "pinned": []})
    me = problem.carer_by_id[f"m{staff}"]
    places = [me.id] + [f"c{v['client_id']}" for v in mine]
    expected = [problem.travel_minutes(x, y, me) for x, y in itertools.pairwise(places)]
    page = sign_in(web_app, a.members["staff"]["email"]).get(f"/web/me/day?day={WEEK}").text
    shown = [int(x) for x in re.findall(r'class="travel">(\d+) min travel', page)]
    assert shown == expected
    assert f"Travel between visits: {sum(expected)} minutes" in page
    assert "<svg" in page and "tile" not in page.split("<figcaption>")[0]


def test_every_asset_a_page_loads_is_served_by_the_app(world, web_app):
    """No CDN: each script and style a page refers to is a path of this app, and it answers."""
    a, rota, coord = world
    staff = sign_in(web_app, a.members["staff"]["email"])
    pages = [(coord, f"/web/board?week_start={WEEK}"), (coord, f"/web/runs/{rota['run_id']}"),
             (coord, f"/web/rotas/{rota['id']}/visits/{rota['visits'][0]['id']}"), (staff, "/web/me/week"),
             (staff, f"/web/me/day?day={WEEK}"), (staff, "/web/me/timebank"), (staff, "/web/coming")]
    seen = set()
    for c, path in pages:
        text = c.get(path).text
        assert "http://" not in text.split("calendar-link")[0] and "https://" not in text, path
        seen |= set(re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', text))
    assert seen >= {"/web/static/app.css", "/web/static/board.js", "/web/static/run.js"}
    for asset in seen:
        assert asset.startswith("/web/static/")
        assert coord.get(asset).status_code == 200, asset


def test_a_carer_can_check_out_a_due_visit_from_their_week(world, web_app, api_client):
    """The check-out form calls the API's check-out: a past visit becomes completed."""
    from tests.api.conftest import PAST_MONDAY

    b = build_coop(api_client, "pages-past")
    past = solved_rota(api_client, b, PAST_MONDAY)
    staff = b.members["staff"]["id"]
    visit = next(v for v in past["visits"] if staff in v["carer_ids"])
    c = sign_in(web_app, b.members["staff"]["email"])
    page = c.get(f"/web/me/week?week_start={PAST_MONDAY.isoformat()}").text
    assert f'action="/web/visits/{visit["id"]}/complete"' in page
    r = c.post(f"/web/visits/{visit['id']}/complete", data={"csrf_token": csrf_of(page)})
    assert r.status_code == 303
    got = api_client.get(f"/visits/{visit['id']}", headers=auth(b.tokens["staff"])).json()
    assert got["status"] == "completed"


def test_every_form_field_has_a_label_and_every_visit_block_is_a_keyboard_link(world, web_app):
    """Accessibility basics the pages promise: a language, a main landmark, a label for each
    field, text on each button, and visit blocks that are links (reachable with Tab, opened
    with Enter: the keyboard way to move a visit is the form on its page)."""
    a, rota, coord = world
    staff = sign_in(web_app, a.members["staff"]["email"])
    pages = [(coord, f"/web/board?week_start={WEEK}"), (coord, f"/web/runs/{rota['run_id']}"),
             (coord, f"/web/rotas/{rota['id']}/visits/{rota['visits'][0]['id']}"), (staff, "/web/me/week"),
             (staff, f"/web/me/day?day={WEEK}"), (staff, "/web/me/timebank"), (staff, "/web/coming")]
    for c, path in pages:
        text = c.get(path).text
        assert '<html lang="en-GB">' in text and '<main id="main"' in text, path
        labels = set(re.findall(r'<label for="([^"]+)"', text))
        for tag in re.findall(r"<(?:input|select)\b[^>]*>", text):
            if 'type="hidden"' in tag:
                continue
            field_id = re.search(r'id="([^"]+)"', tag)
            assert field_id and field_id.group(1) in labels, f"{path}: field without a label: {tag}"
        for label in re.findall(r"<button\b[^>]*>(.*?)</button>", text, flags=re.S):
            assert re.sub(r"<[^>]+>", "", label).strip(), f"{path}: a button without text"
    board = coord.get(f"/web/board?week_start={WEEK}").text
    blocks = re.findall(r'<a class="visit [^"]*"[^>]*>', board)
    assert blocks and all('href="/web/rotas/' in b for b in blocks)


def test_solving_again_shows_the_new_draft_beside_the_published_rota(world, api_client):
    """Solve from the board makes a run (the progress page follows it); its draft opens beside
    the published rota: both versions' numbers, what moves, and a Publish button."""
    from tests.api.conftest import wait_run

    a, _rota, coord = world
    published = _rota_now(api_client, a)
    r = coord.post("/web/board/solve",
                   data={"week_start": WEEK, "csrf_token": page_csrf(coord, "/web/coming")})
    assert r.status_code == 303 and r.headers["location"].startswith("/web/runs/")
    run_id = int(r.headers["location"].rsplit("/", 1)[1])
    progress = coord.get(r.headers["location"]).text
    assert 'id="run-status"' in progress and 'src="/web/static/run.js"' in progress
    run = wait_run(api_client, a.tokens["coordinator"], run_id)
    assert run["status"] == "succeeded"
    status = coord.get(f"/web/runs/{run_id}/status").json()
    assert status["rota_id"] == run["rota_id"] and status["gap_text"] == run["gap_text"]
    page = coord.get(f"/web/board?week_start={WEEK}&rota_id={run['rota_id']}").text
    h = a.h("coordinator")
    draft = next(x for x in api_client.get("/rotas", headers=h, params={"week_start": WEEK}).json()
                 if x["id"] == run["rota_id"])
    assert f"Draft version {draft['version']} beside published version {published['version']}" in page
    assert f'id="publish-{run["rota_id"]}"' in page
    before = {p["id"]: (p["start"], p["carer_ids"]) for p in published["visits"]}
    moved = [v for v in api_client.get(f"/rotas/{run['rota_id']}", headers=h).json()["visits"]
             if (v["start"], v["carer_ids"]) != before.get(v["id"])]
    if moved:
        assert f"{len(moved)} visit(s) change in the draft" in page
    else:
        assert "The draft assigns every visit as the published rota does." in page
