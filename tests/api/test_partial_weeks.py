"""One bad record does not block a co-op's week: it is left out, named in the run's warnings
(and on the member), and the rest of the week is solved (issue 9, item 2)."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from api.models import Client, VisitTemplate
from tests.api.checks import assert_rota_checked
from tests.api.conftest import FUTURE_MONDAY, wait_run


def test_a_carer_without_a_home_location_is_left_out_and_the_week_is_solved(client, coop_a):
    """A staff member created without lat/lon made POST /rotas a 422 for the whole co-op."""
    h = coop_a.h("coordinator")
    r = client.post("/members", headers=h, json={
        "email": f"nohome-{uuid.uuid4().hex[:6]}@example.org", "full_name": "Dai Nohome",
        "password": "password123", "role": "staff"})
    assert r.status_code == 201, r.text
    dai = r.json()
    assert dai["roster_warnings"] == ["needs a home location (lat, lon) to be rostered"]
    assert client.get(f"/members/{coop_a.members['staff']['id']}", headers=h).json()["roster_warnings"] == []
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 202, r.text
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert len(run["warnings"]) == 1
    assert "Dai Nohome" in run["warnings"][0] and "home location" in run["warnings"][0]
    problem, _, _ = assert_rota_checked(client, coop_a, run["rota_id"])
    assert f"m{dai['id']}" not in problem.carer_by_id and len(problem.visits) == 6
    r = client.patch(f"/members/{dai['id']}", headers=h, json={"lat": 51.58, "lon": -3.0})
    assert r.json()["roster_warnings"] == []


def test_a_client_record_the_problem_file_refuses_is_left_out_with_its_visits(client, app, coop_a):
    """Any one record the problem file's validation refuses (here a client stored with an
    impossible latitude) is left out with its visits; the other clients are still rostered."""
    with Session(app.state.engine, expire_on_commit=False) as s:
        bad = Client(coop_id=coop_a.id, name="Gwen Faraway", lat=123.0, lon=-3.0)
        s.add(bad)
        s.flush()
        s.add(VisitTemplate(coop_id=coop_a.id, client_id=bad.id, label="lunch", days=[0],
                            earliest_start="12:00", latest_start="13:00", duration_minutes=30,
                            roles=[{"skills": []}], priority="essential"))
        s.commit()
    h = coop_a.h("coordinator")
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 202, r.text
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert len(run["warnings"]) == 1 and "Gwen Faraway" in run["warnings"][0]
    assert "lat" in run["warnings"][0]
    problem, _, _ = assert_rota_checked(client, coop_a, run["rota_id"])
    assert f"c{bad.id}" not in {c.id for c in problem.clients} and len(problem.visits) == 6


def test_a_week_with_no_carer_left_is_still_refused_naming_who_was_left_out(client, coop_a):
    """Leaving records out never hides a week that cannot be solved at all."""
    h = coop_a.h("coordinator")
    for name in ("staff", "staff2", "volunteer"):
        r = client.patch(f"/members/{coop_a.members[name]['id']}", headers=h, json={"lat": None, "lon": None})
        assert r.status_code == 200, r.text
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert any(e.startswith("carers:") for e in errors)
    assert sum("home location" in e for e in errors) >= 3
    assert client.get("/runs", headers=h).json() == []
