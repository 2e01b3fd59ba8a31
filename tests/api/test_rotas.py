"""Rotas end to end: request → worker solve → checked rota → publish → hand edits → re-solve."""

from __future__ import annotations

import datetime as dt

from tests.api.checks import assert_rota_checked
from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, auth, solved_rota, wait_run


def test_requesting_a_rota_returns_202_and_the_worker_stores_a_checked_draft(client, coop_a):
    """The solve runs in a worker process; the stored rota passes the checker with its objective."""
    r = client.post("/rotas", headers=coop_a.h("coordinator"), json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 202
    assert r.json()["status"] == "queued"
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert run["objective"] is not None and run["finished_at"] is not None
    assert run["best_bound"] is not None and run["gap"] is not None and 0 <= run["gap"] <= 1
    problem, rota, _ = assert_rota_checked(client, coop_a, run["rota_id"])
    assert len(problem.visits) == 6            # 3 care plan visits x 2 days
    detail = client.get(f"/rotas/{run['rota_id']}", headers=coop_a.h("coordinator")).json()
    assert detail["status"] == "draft" and detail["version"] == 1
    assert {v["key"] for v in detail["visits"]} == {v.id for v in problem.visits}
    covered = [v for v in detail["visits"] if v["status"] == "planned"]
    assert len(covered) == len(rota.assignments)
    assert all(v["carer_ids"] and v["start"] for v in covered)


def test_unassigned_visits_come_back_with_reasons(client, coop_a):
    """A visit nobody can do (a skill no carer has) is unassigned with a reason in the run."""
    h = coop_a.h("coordinator")
    r = client.post(f"/clients/{coop_a.clients[1]['id']}/care-plan", headers=h, json={
        "label": "hoist transfer", "days": [2], "earliest_start": "10:00", "latest_start": "11:00",
        "duration_minutes": 30, "roles": [{"skills": ["hoist"]}]})
    assert r.status_code == 201
    hoist_template = r.json()
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded"
    wednesday = (FUTURE_MONDAY + dt.timedelta(days=2)).strftime("%Y%m%d")
    hoist_key = f"t{hoist_template['id']}-{wednesday}"
    hoist = [u for u in run["unassigned"] if u["key"] == hoist_key]
    assert len(hoist) == 1 and any("hoist" in reason for reason in hoist[0]["reasons"])
    assert all(u["reasons"] for u in run["unassigned"])


def test_publishing_supersedes_the_previous_version_and_versions_are_kept(client, coop_a):
    h = coop_a.h("coordinator")
    first = solved_rota(client, coop_a, FUTURE_MONDAY)
    second = solved_rota(client, coop_a, FUTURE_MONDAY)
    rotas = client.get("/rotas", headers=h, params={"week_start": FUTURE_MONDAY.isoformat()}).json()
    by_id = {r["id"]: r for r in rotas}
    assert by_id[first["id"]]["status"] == "superseded"
    assert by_id[second["id"]]["status"] == "published"
    assert second["version"] == first["version"] + 1
    r = client.post(f"/rotas/{first['id']}/publish", headers=h)
    assert r.status_code == 409


def test_a_carer_sees_only_their_own_week_and_a_calendar_feed(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    staff_id = coop_a.members["staff"]["id"]
    mine = client.get("/me/rota", headers=coop_a.h("staff"), params={"week_start": FUTURE_MONDAY.isoformat()})
    assert mine.status_code == 200
    expected = {v["id"] for v in rota["visits"] if staff_id in v["carer_ids"]}
    assert {v["id"] for v in mine.json()["visits"]} == expected
    assert all(staff_id in v["carer_ids"] for v in mine.json()["visits"])
    link = client.get("/me/calendar-link", headers=coop_a.h("staff"))
    assert link.status_code == 200
    token = link.json()["token"]
    feed = client.get(f"/calendar/{token}.ics")
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    from icalendar import Calendar

    events = [c for c in Calendar.from_ical(feed.content).walk() if c.name == "VEVENT"]
    assert len(events) == len(expected)
    assert client.get("/calendar/not-a-token.ics").status_code == 404
    # the access token is not a calendar token
    assert client.get(f"/calendar/{coop_a.tokens['staff']}.ics").status_code == 404


def test_a_hand_edit_that_breaks_a_rule_is_refused_naming_the_rule(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY, publish=False)
    h = coop_a.h("coordinator")
    med = next(v for v in rota["visits"] if v["label"] == "medication")
    volunteer = coop_a.members["volunteer"]["id"]
    r = client.put(f"/rotas/{rota['id']}/visits/{med['id']}/assignment", headers=h,
                   json={"carer_ids": [volunteer], "start": med["earliest_start"]})
    assert r.status_code == 422
    body = r.json()
    rules = " ".join(body["errors"])
    assert "skills" in rules or "volunteer" in rules
    after = client.get(f"/rotas/{rota['id']}", headers=h).json()
    assert next(v for v in after["visits"] if v["id"] == med["id"]) == med   # nothing written


def test_a_valid_hand_edit_of_a_published_rota_makes_a_new_checked_version(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    h = coop_a.h("coordinator")
    walk = next(v for v in rota["visits"] if v["label"] == "walk")
    new_start = (dt.datetime.fromisoformat(walk["earliest_start"]) + dt.timedelta(minutes=30)).isoformat()
    r = client.put(f"/rotas/{rota['id']}/visits/{walk['id']}/assignment", headers=h,
                   json={"carer_ids": [coop_a.members["volunteer"]["id"]], "start": new_start})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["rota_id"] != rota["id"] and edited["start"].startswith(new_start[:16])
    assert client.get(f"/rotas/{rota['id']}", headers=h).json()["status"] == "superseded"
    assert client.get(f"/rotas/{edited['rota_id']}", headers=h).json()["status"] == "published"
    assert_rota_checked(client, coop_a, edited["rota_id"])


def test_resolve_after_an_absence_pins_the_unaffected_visits(client, coop_a):
    """Minimal disruption: visits of carers still available keep their carer and start."""
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    h = coop_a.h("coordinator")
    staff2 = coop_a.members["staff2"]["id"]
    day = FUTURE_MONDAY + dt.timedelta(days=1)
    r = client.post(f"/members/{staff2}/leave", headers=h, json={
        "kind": "leave", "start": f"{day.isoformat()}T00:00", "end": f"{day.isoformat()}T23:59"})
    assert r.status_code == 201
    r = client.post(f"/rotas/{rota['id']}/resolve", headers=h, json={})
    assert r.status_code == 202, r.text
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    problem, new, _ = assert_rota_checked(client, coop_a, run["rota_id"])
    pinned = {p.visit for p in problem.pinned}
    before = {v["key"]: v for v in rota["visits"]}
    for v in rota["visits"]:
        on_leave_day = v["start"] and v["start"].startswith(day.isoformat())
        if v["status"] == "planned" and not (staff2 in v["carer_ids"] and on_leave_day):
            assert v["key"] in pinned
    for a in new.assignments:
        carers = [int(c[1:]) for c in a.carers]
        assert not (staff2 in carers and problem.iso(a.start).startswith(day.isoformat()))
        if a.visit in pinned:
            assert carers == before[a.visit]["carer_ids"]


def test_the_week_problem_exports_a_valid_problem_file(client, coop_a):
    from scheduler.problem import problem_from_dict

    r = client.get(f"/weeks/{FUTURE_MONDAY.isoformat()}/problem", headers=coop_a.h("coordinator"))
    assert r.status_code == 200
    problem = problem_from_dict(r.json())
    assert len(problem.visits) == 6 and len(problem.carers) == 3


def test_history_of_published_weeks_feeds_continuity(client, coop_a):
    rota = solved_rota(client, coop_a, PAST_MONDAY)
    r = client.get(f"/weeks/{(PAST_MONDAY + dt.timedelta(days=7)).isoformat()}/problem",
                   headers=coop_a.h("coordinator"))
    history = {c["id"]: c.get("history", {}) for c in r.json()["clients"]}
    minutes: dict[str, dict[str, int]] = {}
    for v in rota["visits"]:
        if v["status"] == "planned":
            for m in v["carer_ids"]:
                d = minutes.setdefault(f"c{v['client_id']}", {})
                d[f"m{m}"] = d.get(f"m{m}", 0) + v["duration_minutes"]
    assert history == {k: minutes.get(k, {}) for k in history}


def test_expired_skill_makes_the_carer_ineligible_from_that_date(client, coop_a):
    """A certificate that expires mid-week: the problem file says so in the format's own
    field (no per-day skill names), the visit after it is left with a reason naming the skill
    and the date, and no '@' reaches what a coordinator reads."""
    h = coop_a.h("coordinator")
    staff = coop_a.members["staff"]["id"]
    skills = client.get(f"/members/{staff}/skills", headers=h).json()
    med = next(s for s in skills if s["name"] == "medication")
    assert client.delete(f"/members/{staff}/skills/{med['id']}", headers=h).status_code == 204
    expiry = FUTURE_MONDAY + dt.timedelta(days=1)
    r = client.post(f"/members/{staff}/skills", headers=h, json={"name": "medication",
                                                                  "expires_on": expiry.isoformat()})
    assert r.status_code == 201
    problem = client.get(f"/weeks/{FUTURE_MONDAY.isoformat()}/problem", headers=h).json()
    carer = next(c for c in problem["carers"] if c["id"] == f"m{staff}")
    assert "medication" in carer["skills"]
    assert carer["skills_valid_until"] == {"medication": expiry.isoformat()}
    assert not [s for c in problem["carers"] for s in c["skills"] if "@" in s]
    assert not [s for v in problem["visits"] for r in v["roles"] for s in r["skills"] if "@" in s]
    rota = solved_rota(client, coop_a, FUTURE_MONDAY, publish=False)
    tuesday_med = next(v for v in rota["visits"] if v["label"] == "medication"
                       and v["earliest_start"].startswith(expiry.isoformat()))
    assert tuesday_med["status"] == "unassigned" and tuesday_med["reasons"]
    reasons = " ".join(tuesday_med["reasons"])
    assert "@" not in reasons
    assert "'medication'" in reasons and expiry.strftime("%a %d %b") in reasons, reasons
    assert coop_a.members["staff"]["full_name"] in reasons  # the person, not 'm<id>'



def test_a_week_that_cannot_be_built_is_refused_and_nothing_is_written(client, coop_a):
    h = coop_a.h("coordinator")
    tuesday = (FUTURE_MONDAY + dt.timedelta(days=1)).isoformat()
    r = client.post("/rotas", headers=h, json={"week_start": tuesday})
    assert r.status_code == 422 and "Monday" in r.json()["detail"]
    for t in coop_a.templates:
        assert client.delete(f"/care-plan/{t['id']}", headers=h).status_code == 200
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 422
    assert any("visits" in e for e in r.json()["errors"])
    assert client.get("/runs", headers=h).json() == []


def test_stateless_solve_returns_a_checked_rota_file(client, coop_a):
    import json
    from pathlib import Path

    from scheduler.checker import check
    from scheduler.problem import problem_from_dict
    from scheduler.rota import rota_from_dict

    spec = Path(__file__).resolve().parents[1] / "data" / "spec" / "example-problem.json"
    raw = json.loads(spec.read_text())
    r = client.post("/solve", headers=coop_a.h("coordinator"), params={"time_limit": 2}, json=raw)
    assert r.status_code == 200, r.text
    problem = problem_from_dict(raw)
    report = check(problem, rota_from_dict(r.json(), problem))
    assert report.ok
    bad = dict(raw, visits=[dict(raw["visits"][0], client="p99")])
    r = client.post("/solve", headers=coop_a.h("coordinator"), json=bad)
    assert r.status_code == 422
    assert any("unknown client 'p99'" in e for e in r.json()["errors"])


def test_runs_and_rotas_are_for_coordinators_only(client, coop_a):
    for role in ("staff", "volunteer", "client", "family"):
        r = client.post("/rotas", headers=auth(coop_a.tokens[role]),
                        json={"week_start": FUTURE_MONDAY.isoformat()})
        assert r.status_code == 403


def test_resolve_with_an_absent_carer_gives_their_future_visits_to_others(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY)
    h = coop_a.h("coordinator")
    staff2 = coop_a.members["staff2"]["id"]
    r = client.post(f"/rotas/{rota['id']}/resolve", headers=h, json={"absent_member_ids": [staff2]})
    assert r.status_code == 202
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    problem, new, _ = assert_rota_checked(client, coop_a, run["rota_id"])
    assert all(f"m{staff2}" not in a.carers for a in new.assignments)
    assert next(c for c in problem.carers if c.id == f"m{staff2}").availability == ()
    r = client.post(f"/rotas/{rota['id']}/resolve", headers=h, json={"absent_member_ids": [999999]})
    assert r.status_code == 422 and "absent_member_ids[0]" in r.json()["detail"]


def test_unassigning_by_hand_keeps_the_rota_valid_and_records_the_reason(client, coop_a):
    rota = solved_rota(client, coop_a, FUTURE_MONDAY, publish=False)
    h = coop_a.h("coordinator")
    walk = next(v for v in rota["visits"] if v["label"] == "walk" and v["status"] == "planned")
    r = client.post(f"/rotas/{rota['id']}/visits/{walk['id']}/unassign", headers=h,
                    json={"reason": "client in hospital"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "unassigned" and r.json()["reasons"] == ["client in hospital"]
    assert r.json()["rota_id"] == rota["id"]          # a draft is edited in place
    _, file_rota, report = assert_rota_checked(client, coop_a, rota["id"])
    assert walk["key"] in {u.visit for u in file_rota.unassigned}
    assert report.breakdown.get("unassigned_optional", 0) > 0
