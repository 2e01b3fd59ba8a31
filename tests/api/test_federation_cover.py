"""Shared cover (issue 13): co-op A lends its carer to co-op B for two days of a week. B's week
includes the carer only on the lent days A's published rota leaves free, with A's minutes
deducted from the weekly cap and the rest before and after A's work kept; B's solved rota uses
them. The checker passes B's week (``solved_rota`` checks every rota) and the carer's combined
week over both co-ops (caps, rest, availability)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from scheduler.checker import RotaView, check_availability, check_daily_caps, check_rest, check_weekly_caps
from scheduler.problem import parse_time, problem_from_dict
from scheduler.rota import rota_from_dict
from tests.api.conftest import FUTURE_MONDAY, solved_rota
from tests.api.test_federation import make_world


def _files(client, coop, rota_id):
    h = coop.h("coordinator")
    return (
        client.get(f"/rotas/{rota_id}/problem", headers=h).json(),
        client.get(f"/rotas/{rota_id}/file", headers=h).json(),
    )


def test_a_borrowed_carer_keeps_caps_and_rest_across_both_coops_rotas(client) -> None:
    w = make_world(client, "cover")
    lent = w.a.members["staff"]  # A's rota gives them the medication visits
    cid = f"m{lent['id']}"
    ha, hb = w.a.h("coordinator"), w.b.h("coordinator")
    assert client.post(f"/members/{lent['id']}/skills", headers=ha, json={"name": "hoist"}).status_code == 201
    assert (
        client.patch(f"/members/{lent['id']}", headers=ha, json={"max_minutes_per_week": 200}).status_code
        == 200
    )
    # B needs a hoist on Tuesday and Wednesday: only A's staff has one
    r = client.post(
        f"/clients/{w.b.clients[1]['id']}/care-plan",
        headers=hb,
        json={
            "label": "hoist transfer",
            "days": [1, 2],
            "earliest_start": "11:00",
            "latest_start": "12:00",
            "duration_minutes": 30,
            "roles": [{"skills": ["hoist"]}],
        },
    )
    assert r.status_code == 201, r.text
    rota_a = solved_rota(client, w.a, FUTURE_MONDAY)
    tue, wed = FUTURE_MONDAY + dt.timedelta(days=1), FUTURE_MONDAY + dt.timedelta(days=2)
    r = client.post(
        w.url("/cover-offers"),
        headers=ha,
        json={
            "member_id": lent["id"],
            "borrowing_coop_id": w.b.id,
            "days": [tue.isoformat(), wed.isoformat()],
        },
    )
    assert r.status_code == 201, r.text
    assert {o["day"] for o in client.get(w.url("/cover-offers"), headers=hb).json()} == {
        tue.isoformat(),
        wed.isoformat(),
    }

    # what A's published rota already asks of the carer, by the checker's own count
    pa_raw, ra_raw = _files(client, w.a, rota_a["id"])
    pa = problem_from_dict(pa_raw)
    view_a = RotaView.of(pa, rota_from_dict(ra_raw, pa))
    used = view_a.working_minutes(cid)
    a_days = {pa.horizon_start.date() + dt.timedelta(days=d) for d in view_a.days_of(cid)}

    week = client.get(f"/weeks/{FUTURE_MONDAY.isoformat()}/problem", headers=hb)
    assert week.status_code == 200, week.text
    borrowed = next(c for c in week.json()["carers"] if c["id"] == cid)
    assert used > 0 and tue in a_days  # the lending rota does use them, on Tuesday
    assert borrowed["max_minutes_per_week"] == 200 - used
    for slot in borrowed["availability"]:
        day = parse_time(slot["start"]).date()
        assert day in {tue, wed} - a_days, slot  # only lent days A leaves free

    # no lent time falls inside the rest (staff) before or after one of A's working days
    rest = dt.timedelta(minutes=pa.rules.min_rest_minutes)
    slots = [(parse_time(x["start"]), parse_time(x["end"])) for x in borrowed["availability"]]
    for stints in view_a.days_of(cid).values():
        first = pa.horizon_start + dt.timedelta(minutes=min(x.start for x in stints))
        last = pa.horizon_start + dt.timedelta(minutes=max(x.end for x in stints))
        for lo, hi in ((last, last + rest), (first - rest, first)):
            assert all(e <= lo or s >= hi for s, e in slots), (lo, hi, slots)

    rota_b = solved_rota(client, w.b, FUTURE_MONDAY)  # checked by the checker
    hoists = [v for v in rota_b["visits"] if v["label"] == "hoist transfer"]
    free = {tue, wed} - a_days
    assert all(
        v["carer_ids"] == [lent["id"]]
        for v in hoists
        if dt.datetime.fromisoformat(v["earliest_start"]).date() in free
    )
    assert free == {wed} and any(v["carer_ids"] == [lent["id"]] for v in hoists)

    # the carer's combined week: their own record (A's), the visits of both rotas they do
    pb_raw, rb_raw = _files(client, w.b, rota_b["id"])
    carer = next(c for c in pa_raw["carers"] if c["id"] == cid)
    mine = [
        (p, a)
        for p, rf in ((pa_raw, ra_raw), (pb_raw, rb_raw))
        for a in rf["assignments"]
        if cid in a["carers"]
    ]
    visit_ids = {a["visit"] for _p, a in mine}
    visits = [
        dict(v, roles=[v["roles"][a["carers"].index(cid)]], duration_minutes=v["duration_minutes"])
        for p, a in mine
        for v in p["visits"]
        if v["id"] == a["visit"]
    ]
    clients = {
        c["id"]: c
        for p in (pa_raw, pb_raw)
        for c in p["clients"]
        if any(v["client"] == c["id"] for v in visits)
    }
    combined = problem_from_dict(
        {
            "format": pa_raw["format"],
            "name": "combined week",
            "horizon": pa_raw["horizon"],
            "carers": [carer],
            "clients": [
                dict(c, preferred_carers=[], excluded_carers=[], history={}) for c in clients.values()
            ],
            "visits": visits,
            "dependencies": [],
            "pinned": [],
        }
    )
    rota = rota_from_dict(
        {
            "format": ra_raw["format"],
            "status": "feasible",
            "assignments": [{"visit": a["visit"], "carers": [cid], "start": a["start"]} for _p, a in mine],
        },
        combined,
    )
    assert len(visit_ids) == len(mine) and any(a in rb_raw["assignments"] for _p, a in mine) == bool(free)
    view = RotaView.of(combined, rota)
    problems = [
        str(v)
        for f in (check_daily_caps, check_weekly_caps, check_rest, check_availability)
        for v in f(combined, rota, view)
    ]
    assert problems == []
    assert view.working_minutes(cid) <= carer["max_minutes_per_week"]

    # and the carer sees the one week: their own co-op's visits and the borrowed ones, with the
    # borrowing co-op's client (they go there), in their week and on no other member's
    week = client.get("/me/rota", headers=w.a.h("staff"), params={"week_start": FUTURE_MONDAY.isoformat()})
    assert week.status_code == 200, week.text
    seen = {v["id"] for v in week.json()["visits"]}
    borrowed = {v["id"] for v in hoists if v["carer_ids"] == [lent["id"]]}
    own = {v["id"] for v in rota_a["visits"] if lent["id"] in v["carer_ids"]}
    assert borrowed and borrowed <= seen and own <= seen and seen == own | borrowed
    b_client = {c["name"] for c in w.b.clients}
    assert any(v["client"]["name"] in b_client for v in week.json()["visits"] if v["id"] in borrowed)


def test_a_borrowed_volunteers_visit_is_credited_through_the_federation_once(client, app) -> None:
    """The borrowing co-op's pot pays the lent volunteer's account in their own co-op (a help
    move); completing the same visit again credits nothing more."""
    from sqlalchemy.orm.attributes import set_committed_value
    from sqlmodel import Session

    from api.models import Visit, VisitCarer
    from api.services import bank
    from timebank import Federations

    w = make_world(client, "credit")
    vol = w.a.members["volunteer"]
    start = dt.datetime.combine(FUTURE_MONDAY, dt.time(14))
    visit = Visit(
        rota_id=1,
        coop_id=w.b.id,
        client_id=w.b.clients[0]["id"],
        key="t1-shared",
        label="walk",
        earliest_start=start,
        latest_start=start,
        duration_minutes=50,
        priority="optional",
        status="completed",
        start=start,
    )
    set_committed_value(visit, "carers", [VisitCarer(visit_id=0, member_id=vol["id"])])
    ledger = app.state.ledger
    with Session(app.state.engine) as session:
        assert bank.credit_visit(ledger, session, visit, "test") == 1
        assert bank.credit_visit(ledger, session, visit, "test") == 1  # a re-run replays the move
    account = ledger.member_account(str(w.a.id), str(vol["id"])).id
    assert ledger.balance(account) == 50
    fx = Federations(ledger)
    assert fx.position(str(w.fid), str(w.b.id)) == 50 and fx.position(str(w.fid), str(w.a.id)) == -50
    assert [m.kind for m in fx.moves(str(w.fid))] == ["help"]
    assert ledger.reconcile().ok


def _lend_for_hoists(client, tag: str):
    """A lends its staff carer (the only one with a hoist skill) to B on Tuesday and Wednesday;
    A's published rota uses them on Tuesday, so B's solved and published rota uses them on
    Wednesday only. Returns the world, the carer, both rotas and the two offers."""
    w = make_world(client, tag)
    lent = w.a.members["staff"]
    ha, hb = w.a.h("coordinator"), w.b.h("coordinator")
    assert client.post(f"/members/{lent['id']}/skills", headers=ha, json={"name": "hoist"}).status_code == 201
    r = client.post(
        f"/clients/{w.b.clients[1]['id']}/care-plan",
        headers=hb,
        json={"label": "hoist transfer", "days": [1, 2], "earliest_start": "11:00", "latest_start": "12:00",
              "duration_minutes": 30, "roles": [{"skills": ["hoist"]}]},
    )
    assert r.status_code == 201, r.text
    rota_a = solved_rota(client, w.a, FUTURE_MONDAY)
    tue, wed = FUTURE_MONDAY + dt.timedelta(days=1), FUTURE_MONDAY + dt.timedelta(days=2)
    r = client.post(w.url("/cover-offers"), headers=ha,
                    json={"member_id": lent["id"], "borrowing_coop_id": w.b.id,
                          "days": [tue.isoformat(), wed.isoformat()]})
    assert r.status_code == 201, r.text
    offers = {dt.date.fromisoformat(o["day"]): o["id"] for o in r.json()}
    rota_b = solved_rota(client, w.b, FUTURE_MONDAY)   # checked by the checker, and published
    return w, lent, rota_a, rota_b, offers, tue, wed


def test_the_cover_invoice_lists_the_lent_staff_carers_minutes_in_the_published_borrowing_rota(
    client,
) -> None:
    """Per lent staff carer and day: the visits and visit minutes of B's published rota (counted
    here from B's rota file and problem) and the work minutes as the checker counts them; only
    days B's rota uses them (Wednesday); the lending coordinator and an officer read it, B's
    coordinator may not read A's (until elected, B's staff2 is an officer and does)."""
    w, lent, _ra, rota_b, _offers, tue, wed = _lend_for_hoists(client, "invoice")
    cid = f"m{lent['id']}"
    pb_raw, rb_raw = _files(client, w.b, rota_b["id"])
    durations = {v["id"]: v["duration_minutes"] for v in pb_raw["visits"]}
    mine = [a for a in rb_raw["assignments"] if cid in a["carers"]]
    assert mine, "B's rota uses the lent carer, so the invoice is not vacuous"
    assert {parse_time(a["start"]).date() for a in mine} == {wed}
    pb = problem_from_dict(pb_raw)
    work = RotaView.of(pb, rota_from_dict(rb_raw, pb)).working_minutes_by_day(cid)
    params = {"start": FUTURE_MONDAY.isoformat(), "end": (FUTURE_MONDAY + dt.timedelta(days=6)).isoformat()}

    r = client.get(w.url("/cover-invoice.csv"), headers=w.a.h("coordinator"), params=params)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows == [
        {
            "lending_coop_id": str(w.a.id),
            "borrowing_coop_id": str(w.b.id),
            "borrowing_coop": rows[0]["borrowing_coop"],
            "member_id": str(lent["id"]),
            "day": wed.isoformat(),
            "rota_id": str(rota_b["id"]),
            "rota_version": str(rota_b["version"]),
            "visits": str(len(mine)),
            "visit_minutes": str(sum(durations[a["visit"]] for a in mine)),
            "work_minutes": str(work[(wed - FUTURE_MONDAY).days]),
        }
    ]
    assert rows[0]["borrowing_coop"].startswith("Co-op invoice-b")
    assert tue.isoformat() not in r.text and lent["full_name"] not in r.text
    r = client.get(w.url("/cover-invoice.csv"), headers=w.b.h("coordinator"),
                   params={**params, "lending_coop_id": w.a.id})
    assert r.status_code == 404, r.text
    # an officer of neither co-op's coordinators (B's staff2, elected by both) reads A's invoice
    officer = w.b.members["staff2"]
    for coop in (w.a, w.b):
        v = client.post(w.url("/officer-votes"), headers=coop.h("coordinator"),
                        json={"member_id": officer["id"]})
        assert v.status_code == 200, v.text
    r = client.get(w.url("/cover-invoice.csv"), headers=w.b.h("staff2"),
                   params={**params, "lending_coop_id": w.a.id})
    assert r.status_code == 200 and list(csv.DictReader(io.StringIO(r.text))) == rows
    own_b = client.get(w.url("/cover-invoice.csv"), headers=w.b.h("coordinator"), params=params)
    assert own_b.status_code == 200 and list(csv.DictReader(io.StringIO(own_b.text))) == []
    assert client.get(w.url("/cover-invoice.csv"), headers=w.a.h("staff"), params=params).status_code == 403


def test_a_cover_offer_is_withdrawn_unless_the_borrowers_published_rota_uses_the_carer_that_day(
    client,
) -> None:
    """Wednesday (B's published rota gives the carer a visit) is a 409 naming the rota and the
    day, and stays lent; Tuesday (unused by B) is withdrawn; B's coordinator cannot withdraw
    A's offer, and an unknown offer is a 404."""
    w, lent, _ra, rota_b, offers, tue, wed = _lend_for_hoists(client, "withdraw")
    ha, hb = w.a.h("coordinator"), w.b.h("coordinator")
    r = client.delete(w.url(f"/cover-offers/{offers[wed]}"), headers=ha)
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail.startswith("offer_id: ") and wed.isoformat() in detail
    assert f"version {rota_b['version']}" in detail and str(lent["id"]) in detail
    assert client.delete(w.url(f"/cover-offers/{offers[tue]}"), headers=hb).status_code == 404
    assert client.delete(w.url(f"/cover-offers/{offers[tue]}"), headers=w.a.h("staff")).status_code == 403
    r = client.delete(w.url(f"/cover-offers/{offers[tue]}"), headers=ha)
    assert r.status_code == 200, r.text
    assert [o["day"] for o in r.json()] == [wed.isoformat()]
    assert [o["day"] for o in client.get(w.url("/cover-offers"), headers=hb).json()] == [wed.isoformat()]
    assert client.delete(w.url(f"/cover-offers/{offers[tue]}"), headers=ha).status_code == 404
