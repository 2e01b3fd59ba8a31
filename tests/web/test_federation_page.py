"""The federation page (``/web/federation``, issue 13): an officer sees the member co-ops with
their limits and positions and the federal view (aggregates only, small counts shown as "fewer
than 5", with the CSV and the chart), a coordinator their co-op's position, limit and
statement, and nobody sees a member's or a client's name but their own; a carer who is not an
officer gets the API's 403, a coordinator of a co-op outside any federation a plain answer."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest

from tests.api.conftest import FUTURE_MONDAY, solved_rota
from tests.api.test_federation import fund, make_world
from tests.web.conftest import sign_in

PERIOD = {"start": FUTURE_MONDAY.isoformat(), "end": (FUTURE_MONDAY + dt.timedelta(days=6)).isoformat()}


@pytest.fixture(scope="module")
def fed(web_app, api_client):
    """A and B in a federation whose officer is A's staff2 (both co-ops' votes), both with a
    published rota in the week, and one gift of 30 minutes from A's volunteer to B's family."""
    w = make_world(api_client, "fpage")
    officer = w.a.members["staff2"]["id"]
    for coop in (w.a, w.b):
        r = api_client.post(w.url("/officer-votes"), headers=coop.h("coordinator"),
                            json={"member_id": officer})
        assert r.status_code == 200, r.text
    solved_rota(api_client, w.a, FUTURE_MONDAY)
    solved_rota(api_client, w.b, FUTURE_MONDAY)
    fund(web_app, w.a, "volunteer", 100)
    r = api_client.post(w.url("/gifts"), headers={**w.a.h("volunteer"), "Idempotency-Key": "fpage-gift"},
                        json={"to_member_id": w.b.members["family"]["id"], "minutes": 30})
    assert r.status_code == 201, r.text
    return w


def _names(w, viewer: dict) -> list[str]:
    """Every member's and client's name, e-mail and address of the three co-ops, but the
    viewer's own name (the page header shows who is signed in)."""
    out = []
    for coop in (w.a, w.b, w.c):
        for m in coop.members.values():
            out += [m["email"], m["full_name"]]
        for c in coop.clients:
            out += [c["name"], c["address"]]
    return [x for x in out if x and x != viewer["full_name"]]


def _coop_names(api_client, w) -> dict[int, str]:
    info = api_client.get(w.url(), headers=w.a.h("coordinator")).json()
    return {c["coop_id"]: c["name"] for c in info["coops"]}


def test_an_officer_sees_coops_limits_positions_and_the_suppressed_federal_view(fed, web_app, api_client):
    """The officer's page has each member co-op with its limit and position (as
    GET /federations/{id}), and the federal view's table as GET .../view gives it, with
    "fewer than 5" where the API suppresses (two clients per co-op here) and no statement."""
    w = fed
    page = sign_in(web_app, w.a.members["staff2"]["email"]).get("/web/federation", params=PERIOD)
    assert page.status_code == 200, page.text
    text = page.text
    info = api_client.get(w.url(), headers=w.a.h("staff2")).json()
    for c in info["coops"]:
        row = re.search(rf'<tr id="fed-coop-{c["coop_id"]}">(.*?)</tr>', text, re.S)
        assert row, c
        assert c["name"] in row.group(1) and f'{c["position_minutes"]:+d} min' in row.group(1)
    positions = {c["coop_id"]: c["position_minutes"] for c in info["coops"]}
    assert positions == {w.a.id: 30, w.b.id: -30}   # A's member gave: the federation owes A
    view = api_client.get(w.url("/view"), headers=w.a.h("staff2"), params=PERIOD).json()
    assert {r["coop_id"] for r in view["rows"]} == {w.a.id, w.b.id}
    body = re.search(r'<table class="statement" id="fed-view">(.*?)</table>', text, re.S)
    assert body
    assert body.group(1).count("<tr>") == 2 + len(view["rows"])   # two header rows
    suppressed = sum(1 for r in view["rows"] for v in
                     [r["hours_given"], r["carers_per_client"], *r["visits_covered"].values(),
                      *r["unmet_need"].values()] if v is None)
    assert suppressed > 0 and body.group(1).count("fewer than 5") == suppressed
    assert 'href="/web/federation/view.csv?' in text and 'href="/web/federation/view.png?' in text
    assert 'id="fed-statement"' not in text   # the officer is staff in their co-op, not a coordinator
    assert 'href="/web/federation"' in text   # the nav links the page for an officer


def test_the_pages_show_no_member_or_client_names(fed, web_app):
    """Neither the officer's nor a coordinator's federation page (nor the CSV) carries a
    member's or a client's name, e-mail or address, of any co-op."""
    w = fed
    for coop, role in ((w.a, "staff2"), (w.a, "coordinator"), (w.b, "coordinator")):
        viewer = coop.members[role]
        c = sign_in(web_app, viewer["email"])
        for path in ("/web/federation", "/web/federation/view.csv"):
            r = c.get(path, params=PERIOD)
            assert r.status_code == 200, (role, path, r.text)
            shown = [x for x in _names(w, viewer) if x in r.text]
            assert shown == [], (role, path, shown)


def test_a_coordinator_sees_their_coops_position_limit_and_statement(fed, web_app, api_client):
    """B's coordinator sees B's position (-30: B's member received the gift) and limit and
    this period's statement as GET .../statement gives it (the gift in from A), and not the
    member co-ops' table."""
    w = fed
    today = dt.date.today()
    text = sign_in(web_app, w.b.members["coordinator"]["email"]).get("/web/federation").text
    own = re.search(r'<p id="own-position">(.*?)</p>', text, re.S)
    assert own and "-30 minutes" in own.group(1) and "your co-op owes the federation" in own.group(1)
    assert "limit 10 h 00 min either way" in own.group(1)   # the federation's limit, 600 minutes
    st = api_client.get(w.url("/statement"), headers=w.b.h("coordinator")).json()
    assert st["start"] == today.replace(day=1).isoformat()
    table = re.search(r'<table class="statement" id="fed-statement"[^>]*>(.*?)</table>', text, re.S)
    assert table
    names = _coop_names(api_client, w)
    line = next(ln for ln in st["lines"] if ln["counterparty_coop_id"] == w.a.id)
    assert line["gifts_in_minutes"] == 30
    row = re.search(rf'<th scope="row">{re.escape(names[w.a.id])}</th>(.*?)</tr>', table.group(1), re.S)
    assert row and "<td>30</td>" in row.group(1) and "<td>+30</td>" in row.group(1)
    assert 'id="fed-coops"' not in text and 'id="fed-view"' not in text


def test_a_carer_who_is_no_officer_gets_403_and_an_outside_coordinator_is_told(fed, web_app):
    """A's staff (not an officer) gets the API's 403 and no nav link; C's coordinator (outside
    any federation) is told their co-op is in none, and the CSV is a 404 for them."""
    w = fed
    staff = sign_in(web_app, w.a.members["staff"]["email"])
    r = staff.get("/web/federation")
    assert r.status_code == 403 and "coordinator, officer" in r.text
    assert 'href="/web/federation"' not in staff.get("/web/me/week").text
    outside = sign_in(web_app, w.c.members["coordinator"]["email"])
    r = outside.get("/web/federation")
    assert r.status_code == 200 and 'id="no-federation"' in r.text
    assert outside.get("/web/federation/view.csv").status_code == 404


def test_the_csv_and_chart_links_give_the_federal_view(fed, web_app, api_client):
    """The page's CSV is GET .../view.csv's (same rows, ``suppressed`` cells) and its chart a PNG."""
    w = fed
    c = sign_in(web_app, w.a.members["staff2"]["email"])
    r = c.get("/web/federation/view.csv", params=PERIOD)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    api = api_client.get(w.url("/view.csv"), headers=w.a.h("staff2"), params=PERIOD)
    assert list(csv.reader(io.StringIO(r.text))) == list(csv.reader(io.StringIO(api.text)))
    assert "suppressed" in r.text
    png = c.get("/web/federation/view.png", params=PERIOD)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

