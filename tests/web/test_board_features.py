"""The board's later features without a browser: moving a visit to another start (the form and
what the board's drop sends), the area filter, the covered-visits count of a solve's progress,
who is coming (with the carers' names) for a family, the gift form's recipients by name, and
the who-can-cover week shared by the versions a hand edit makes."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlmodel import Session

from api.models import Member, RunStatus, SolveRun
from api.web import cover as web_cover
from api.web.views import NO_AREA, area_of
from tests.api.conftest import FUTURE_MONDAY, build_coop, solved_rota
from tests.web.conftest import csrf_of, page_csrf, sign_in

WEEK = FUTURE_MONDAY.isoformat()
BOARD_JS = Path(__file__).parents[2] / "api" / "web" / "static" / "board.js"


@pytest.fixture(scope="module")
def world(web_app, api_client):
    a = build_coop(api_client, "features")
    rota = solved_rota(api_client, a, FUTURE_MONDAY)
    coord = sign_in(web_app, a.members["coordinator"]["email"])
    return a, rota, coord


def _published(api_client, a) -> dict:
    h = a.h("coordinator")
    rows = [r for r in api_client.get("/rotas", headers=h, params={"week_start": WEEK}).json()
            if r["status"] == "published"]
    assert len(rows) == 1
    return api_client.get(f"/rotas/{rows[0]['id']}", headers=h).json()


# ----------------------------------------------------------------------------- a new start
def test_the_move_form_changes_the_start_and_the_checker_keeps_it(world, api_client):
    """The keyboard and form way: the same carer, a start 15 minutes later inside the window,
    checked and saved as a new published version with that start."""
    a, _rota, coord = world
    before = _published(api_client, a)
    visit = next(v for v in before["visits"] if v["label"] == "walk" and v["carer_ids"])
    start = dt.datetime.fromisoformat(visit["start"])
    latest = dt.datetime.fromisoformat(visit["latest_start"])
    new = start + dt.timedelta(minutes=15) if start + dt.timedelta(minutes=15) <= latest else \
        start - dt.timedelta(minutes=15)
    form = coord.get(f"/web/rotas/{before['id']}/visits/{visit['id']}").text
    assert 'id="move-form"' in form and '<label for="start">Start</label>' in form
    r = coord.post(f"/web/rotas/{before['id']}/visits/{visit['id']}/move",
                   data={"carer_ids": [str(m) for m in visit["carer_ids"]], "start": new.isoformat()[:16],
                         "csrf_token": csrf_of(form)})
    assert r.status_code == 303, r.text
    after = _published(api_client, a)
    assert after["version"] == before["version"] + 1
    moved = next(v for v in after["visits"] if v["id"] == visit["id"])
    assert moved["start"][:16] == new.isoformat()[:16] and moved["carer_ids"] == visit["carer_ids"]
    def others(r: dict) -> dict:
        return {v["id"]: (v["start"], v["carer_ids"]) for v in r["visits"] if v["id"] != visit["id"]}

    assert others(after) == others(before)


def test_a_start_outside_the_window_is_refused_naming_the_rule_and_nothing_is_saved(world, api_client):
    """What a drop on the time line sends (JSON, as board.js asks): refused with the rule
    named in words, the rota unchanged."""
    a, _rota, coord = world
    before = _published(api_client, a)
    visit = next(v for v in before["visits"] if v["label"] == "morning care" and v["carer_ids"])
    late = dt.datetime.fromisoformat(visit["latest_start"]) + dt.timedelta(hours=5)
    r = coord.post(f"/web/rotas/{before['id']}/visits/{visit['id']}/move",
                   data={"carer_ids": [str(m) for m in visit["carer_ids"]], "start": late.isoformat()[:16]},
                   headers={"Accept": "application/json",
                            "X-CSRF-Token": page_csrf(coord, f"/web/board?week_start={WEEK}")})
    assert r.status_code == 422 and r.json()["ok"] is False
    errors = r.json()["errors"]
    assert errors and all(":" in e for e in errors)
    assert any(e.startswith("start_windows:") and "starts" in e for e in errors), errors
    assert _published(api_client, a) == before


def _node(script: str) -> object:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the drop's logic is also driven in the browser test")
    out = subprocess.run([node, "-e", f"const b = require({json.dumps(str(BOARD_JS))});\n{script}"],
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_what_a_drop_sends_keeps_or_changes_the_start_by_where_it_lands():
    """board.js's dropChange, run under node: off the time line only the carer changes (same
    start); on the time line the start is that day at the pointer's time (to 5 minutes), on
    the carer's own row only the start changes; a drop that changes nothing sends nothing."""
    got = _node("""
      const block = {from: "7", carers: ["7", "9"], start: "2026-12-08T09:30"};
      console.log(JSON.stringify({
        other_row: b.dropChange(block, {carer: "8", day: "2026-12-09", minutes: null}),
        own_row_no_time: b.dropChange(block, {carer: "7", day: "2026-12-08", minutes: null}),
        partner_row: b.dropChange(block, {carer: "9", day: "2026-12-08", minutes: null}),
        own_time: b.dropChange(block, {carer: "7", day: "2026-12-08", minutes: 10 * 60 + 15}),
        other_time: b.dropChange(block, {carer: "8", day: "2026-12-10", minutes: 7 * 60}),
        same_time: b.dropChange(block, {carer: "7", day: "2026-12-08", minutes: 9 * 60 + 30}),
        at_half: b.timeAt(0.5, 360, 1320), at_left: b.timeAt(-1, 360, 1320), at_right: b.timeAt(2, 360, 1320),
        snapped: b.timeAt(0.01, 360, 1320)
      }));""")
    assert got == {
        "other_row": {"carer_ids": ["8", "9"], "start": "2026-12-08T09:30"},
        "own_row_no_time": None,
        "partner_row": None,
        "own_time": {"carer_ids": ["7", "9"], "start": "2026-12-08T10:15"},
        "other_time": {"carer_ids": ["8", "9"], "start": "2026-12-10T07:00"},
        "same_time": None,
        "at_half": 840, "at_left": 360, "at_right": 1315, "snapped": 370,
    }


def test_every_board_cell_has_a_time_line_spanning_the_weeks_windows(world):
    _a, _rota, coord = world
    page = coord.get(f"/web/board?week_start={WEEK}").text
    cells = re.findall(r'<td class="cell"[^>]*>', page)
    assert cells and page.count('<div class="ruler"') == len(cells)
    day_from = int(re.search(r'data-day-from="(\d+)"', page).group(1))
    day_to = int(re.search(r'data-day-to="(\d+)"', page).group(1))
    # the care plan's windows: 08:00 earliest, 15:00 + 60 minutes latest
    assert day_from <= 8 * 60 and day_to >= 16 * 60 and day_from % 60 == 0 and day_to % 60 == 0
    windows = re.findall(r'data-window="(\d+)-(\d+)"', page)
    assert windows and all(day_from <= int(lo) <= int(hi) <= day_to for lo, hi in windows)


# ----------------------------------------------------------------------------- the area filter
def test_a_clients_area_is_the_postcode_district_else_the_town_else_a_direction():
    centre = (51.58, -3.0)
    assert area_of("1 Bridge Street, Newport NP20 1AB", 51.58, -3.0, centre) == "NP20"
    assert area_of("flat 2, 10 Park Rd, cf10 3at", 51.58, -3.0, centre) == "CF10"
    assert area_of("0 High Street, Newport", 51.58, -3.0, centre) == "Newport"
    assert area_of(None, 51.65, -3.0, centre) == f"north, {NO_AREA}"
    assert area_of("", 51.58, -2.9, centre) == f"east, {NO_AREA}"
    assert area_of(None, 51.5801, -3.0001, centre) == f"centre, {NO_AREA}"


def test_the_area_filter_shows_only_the_visits_of_that_areas_clients(world, api_client):
    a, _rota, coord = world
    h = a.h("coordinator")
    moved = a.clients[1]
    r = api_client.patch(f"/clients/{moved['id']}", headers=h,
                         json={"address": "9 Dock St, Newport NP20 2BB"})
    assert r.status_code == 200, r.text
    rota = _published(api_client, a)
    page = coord.get(f"/web/board?week_start={WEEK}").text
    assert '<label for="f-area">Area</label>' in page and 'value="NP20"' in page and 'value="Newport"' in page
    filtered = coord.get(f"/web/board?week_start={WEEK}&area=NP20").text
    blocks = {int(v) for v in re.findall(r'id="visit-(\d+)-\d+"', filtered)}
    expected = {v["id"] for v in rota["visits"] if v["client_id"] == moved["id"] and v["status"] == "planned"}
    assert blocks == expected and expected
    assert 'value="NP20" selected' in filtered
    r = coord.get(f"/web/board?week_start={WEEK}&area=Nowhere")
    assert r.status_code == 422 and "area:" in r.text


# ----------------------------------------------------------------------------- solve progress
def test_a_solves_progress_shows_the_covered_visits_count(world, web_app, api_client):
    """The worker writes covered and total visits with every progress report and at the end;
    the progress view and its polling answer show them."""
    a, rota, coord = world
    status = coord.get(f"/web/runs/{rota['run_id']}/status").json()
    planned = sum(1 for v in rota["visits"] if v["status"] == "planned")
    assert status["covered_visits"] == planned and status["total_visits"] == len(rota["visits"])
    page = coord.get(f"/web/runs/{rota['run_id']}").text
    assert f'id="run-covered">{planned} of {len(rota["visits"])}</dd>' in page
    assert 'id="run-line-covered"' in page

    from api.worker import _progress_writer
    from scheduler.solve import Progress

    with Session(web_app.state.engine) as s:
        run = SolveRun(coop_id=a.id, week_start=FUTURE_MONDAY, status=RunStatus.running, lease_id="lease-1")
        s.add(run)
        s.commit()
        run_id = run.id
    _progress_writer(web_app.state.engine, run_id, "lease-1")(
        Progress(elapsed=1.0, objective=120.0, bound=100.0, covered=7, visits=9, phase="search"))
    with Session(web_app.state.engine) as s:
        row = s.get(SolveRun, run_id)
        assert row is not None and (row.covered_visits, row.total_visits, row.objective) == (7, 9, 120.0)


# ----------------------------------------------------------------------------- family, gifts
def test_a_family_member_sees_who_is_coming_by_name_for_the_shared_client_only(world, web_app, api_client):
    a, _rota, _coord = world
    family = sign_in(web_app, a.members["family"]["email"])
    mine, other = a.clients[0], a.clients[1]
    page = family.get(f"/web/coming?week_start={WEEK}").text
    visits = api_client.get(f"/clients/{mine['id']}/visits", headers=a.h("family"),
                            params={"week_start": WEEK}).json()
    names = {m["id"]: m["full_name"] for m in api_client.get("/members", headers=a.h("coordinator")).json()}
    shown = [v for v in visits if v["start"]]
    assert shown
    for v in shown:
        item = re.search(rf'<li id="coming-visit-{v["id"]}">(.*?)</li>', page, re.S)
        assert item, v
        for m in v["carer_ids"]:
            assert names[m] in item.group(1)
    assert other["name"] not in page
    # the other client's carers are named nowhere on the family's page
    theirs = {m for v in api_client.get(f"/clients/{other['id']}/visits", headers=a.h("coordinator"),
                                        params={"week_start": WEEK}).json() for m in v["carer_ids"]}
    for m in theirs - {m for v in shown for m in v["carer_ids"]}:
        assert names[m] not in page


def test_the_gift_form_offers_by_name_exactly_the_members_a_gift_may_go_to(world, web_app, api_client):
    """The volunteer picks the family member by name; the choices are the co-op's active
    members with a time-bank account but the giver (so never the coordinator), and a gift to
    the chosen one goes through the API's rules, once per rendered form."""
    a, *_ = world
    b = build_coop(api_client, "features-other")
    vol = sign_in(web_app, a.members["volunteer"]["email"])
    page = vol.get("/web/me/timebank").text
    options = dict(re.findall(r'<option value="(\d+)"[^>]*>([^<]+)</option>', page))
    expected = {str(a.members[r]["id"]): a.members[r]["full_name"]
                for r in ("staff", "staff2", "client", "family")}
    assert options == expected
    assert '<optgroup label="Family members">' in page and '<label for="to">Give to</label>' in page
    assert all(str(m["id"]) not in options for m in b.members.values())
    with Session(web_app.state.engine) as s:
        volunteer = s.get(Member, a.members["volunteer"]["id"])
        assert volunteer is not None
        web_app.state.ledger.credit_visit(str(a.id), visit_id="features-gift",
                                          volunteer_ref=str(volunteer.id), minutes=60,
                                          service_date=FUTURE_MONDAY, recorded_by="test")
    page = vol.get("/web/me/timebank").text
    key = re.search(r'name="idempotency_key" value="([^"]+)"', page).group(1)
    form = {"csrf_token": csrf_of(page), "idempotency_key": key,
            "to_member_id": str(a.members["family"]["id"]), "minutes": "20", "note": ""}
    first = vol.post("/web/me/timebank/gift", data=form)
    again = vol.post("/web/me/timebank/gift", data=form)
    assert first.status_code == again.status_code == 303
    assert a.members["family"]["full_name"] in vol.get(first.headers["location"]).text.replace("&#39;", "'")
    assert "given once" in vol.get(again.headers["location"]).text
    fam = api_client.get("/me/timebank", headers=a.h("family")).json()
    assert fam["balance"] == 20


# ----------------------------------------------------------------------------- the compiled week
def test_the_versions_a_hand_edit_makes_share_one_compiled_week(world, web_app, api_client):
    """Who can cover this builds the compiled week once per problem: a hand edit makes a new
    version with the same problem, whose questions find the week built (no second build)."""
    a, _rota, _coord = world
    before = _published(api_client, a)
    h = a.h("coordinator")
    single = next(v for v in before["visits"] if len(v["carer_ids"]) == 1 and v["status"] == "planned")
    r = api_client.get(f"/rotas/{before['id']}/visits/{single['id']}/cover", headers=h,
                       params={"without": single["carer_ids"][0]})
    assert r.status_code == 200, r.text
    walk = next(v for v in before["visits"]
                if v["label"] == "walk" and v["carer_ids"] and v["id"] != single["id"])
    start = dt.datetime.fromisoformat(walk["start"])
    new = start + dt.timedelta(minutes=5) if start + dt.timedelta(minutes=5) <= dt.datetime.fromisoformat(
        walk["latest_start"]) else start - dt.timedelta(minutes=5)
    r = api_client.put(f"/rotas/{before['id']}/visits/{walk['id']}/assignment", headers=h,
                       json={"carer_ids": walk["carer_ids"], "start": new.isoformat()[:16]})
    assert r.status_code == 200, r.text
    after = _published(api_client, a)
    assert after["id"] != before["id"]
    url = str(web_app.state.engine.url)
    with Session(web_app.state.engine) as s:
        key = (url, web_cover._fingerprint(url, before["id"], web_cover._problem_of(s, before["id"])))
        assert web_cover._fingerprint(url, after["id"], web_cover._problem_of(s, after["id"])) == key[1]
    built = web_cover._SESSIONS[key]
    r = api_client.get(f"/rotas/{after['id']}/visits/{single['id']}/cover", headers=h,
                       params={"without": single["carer_ids"][0]})
    assert r.status_code == 200, r.text
    assert web_cover._SESSIONS[key] is built and built.cover is not None


def test_the_board_builds_the_compiled_week_before_the_first_question(world, web_app):
    """Showing the board starts building its rota's compiled week in a thread, so the
    coordinator's first question finds it built (or being built) instead of starting it."""
    import time

    _a, _rota, coord = world
    web_cover._SESSIONS.clear()
    web_cover._FINGERPRINTS.clear()
    page = coord.get(f"/web/board?week_start={WEEK}").text
    rota_id = int(re.search(r'id="board" data-csrf="[^"]*" data-rota="(\d+)"', page).group(1))
    url = str(web_app.state.engine.url)
    with Session(web_app.state.engine) as s:
        key = (url, web_cover._fingerprint(url, rota_id, web_cover._problem_of(s, rota_id)))
    deadline = time.monotonic() + 120
    while key not in web_cover._SESSIONS or not web_cover._SESSIONS[key].done.is_set():
        assert time.monotonic() < deadline, "the board did not build the week"
        time.sleep(0.05)
    assert web_cover._SESSIONS[key].cover is not None
