"""Erasure, legal holds, retention and minimised exports: a person who has left can be forgotten
without breaking the time bank or the rotas, and a week can be shared without naming anyone."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from api.models import Member, role_of
from api.services import bank
from api.services.privacy import run_retention
from scheduler.checker import check
from scheduler.problem import problem_from_dict
from scheduler.rota import rota_from_dict
from tests.api.checks import assert_rota_checked
from tests.api.conftest import FUTURE_MONDAY, PAST_MONDAY, auth, build_coop, login, solved_rota
from tests.conftest import assert_valid_solve, objectives_equal

TEXT_TYPES = (sa.String, sa.Text, sa.JSON)


def scan_text(engine: sa.Engine, needles: list[str]) -> list[str]:
    """Every (table.column: needle) where a text or JSON value of any table holds a needle."""
    meta = sa.MetaData()
    meta.reflect(bind=engine)
    found = []
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            cols = [c for c in table.columns if isinstance(c.type, TEXT_TYPES)]
            if not cols:
                continue
            for row in conn.execute(sa.select(*cols)):
                for c, value in zip(cols, row, strict=True):
                    if value is None or isinstance(value, bytes | memoryview):
                        continue
                    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    found += [f"{table.name}.{c.name}: {n}" for n in needles if n in text]
    return sorted(set(found))


def books(app, coop_id: int) -> dict[str, Any]:
    """Every member's balance and statement figures, and the co-op's reconcile result."""
    ledger = app.state.ledger
    today = dt.date.today()
    out: dict[str, Any] = {}
    with Session(app.state.engine) as s:
        for m in s.exec(select(Member).where(Member.coop_id == coop_id)).all():
            if bank.ACCOUNT_KIND.get(role_of(m)) is None:
                continue
            page = bank.my_timebank(ledger, m, today - dt.timedelta(days=60), today, today, None, 500)
            out[f"member {m.id}"] = page.model_dump(
                include={
                    "balance",
                    "opening_balance",
                    "closing_balance",
                    "given_minutes",
                    "received_minutes",
                    "other_in_minutes",
                    "other_out_minutes",
                    "line_count",
                }
            )
    report = ledger.reconcile(str(coop_id))
    out["reconcile"] = (
        report.ok,
        report.accounts,
        report.transactions,
        report.entries,
        list(report.problems),
    )
    return out


@pytest.fixture(scope="module")
def world(client, app):
    a = build_coop(client, "priv")
    h = a.h("coordinator")
    u = uuid.uuid4().hex[:8]
    c0 = a.clients[0]["id"]
    secret = {
        "address": f"{u} Marigold Lane, Newport",
        "notes": f"key safe 4471-{u}, hoist needed",
        "label": f"insulin and dementia support {u}",
    }
    r = client.patch(
        f"/clients/{c0}", headers=h, json={"address": secret["address"], "access_notes": secret["notes"]}
    )
    assert r.status_code == 200, r.text
    r = client.post(
        f"/clients/{c0}/care-plan",
        headers=h,
        json={
            "label": secret["label"],
            "days": [0, 1],
            "earliest_start": "17:00",
            "latest_start": "18:00",
            "duration_minutes": 30,
            "roles": [{"skills": ["medication"]}],
        },
    )
    assert r.status_code == 201, r.text
    past = solved_rota(client, a, PAST_MONDAY)
    vol = a.members["volunteer"]["id"]
    for v in past["visits"]:
        if vol in v["carer_ids"] and v["status"] == "planned":
            assert client.post(f"/visits/{v['id']}/complete", headers=h).status_code == 200
    future = solved_rota(client, a, FUTURE_MONDAY)
    return a, secret, past, future


def _needles(a, secret, *who: str) -> list[str]:
    out = []
    for role in who:
        out += [a.members[role]["full_name"], a.members[role]["email"]]
    if "client" in who:
        out += [a.clients[0]["name"], secret["address"], secret["notes"], secret["label"]]
    return out


def test_the_ledger_holds_no_names_or_care_data(app, world):
    """The ledger is immutable, so erasure could never remove what it held: it holds ids and
    minutes, no member's or client's name, no e-mail, address, access note or care-plan label
    (a volunteer's credit names the day, not the visit)."""
    a, secret, *_ = world
    everyone = [n for role in a.members for n in (a.members[role]["full_name"], a.members[role]["email"])]
    # the strings unique to this co-op (other tests' co-ops share the demo labels)
    needles = (
        everyone + [c["name"] for c in a.clients] + [secret["address"], secret["notes"], secret["label"]]
    )
    found = [f for f in scan_text(app.state.engine, needles) if f.startswith("tb_")]
    assert not found, found
    assert books(app, a.id)["member " + str(a.members["volunteer"]["id"])]["balance"] > 0


def test_erasure_is_refused_while_an_obligation_stands(client, world):
    """An active person, a legal hold, or an open balance under a policy that forbids erasing
    one: a 409 that gives every reason, and nothing is erased."""
    a, *_ = world
    h, vol = a.h("coordinator"), a.members["volunteer"]["id"]
    r = client.put(f"/members/{vol}/legal-hold", headers=h, json={"reason": "employment tribunal 2291"})
    assert r.status_code == 200 and r.json()["legal_hold"] == "employment tribunal 2291"
    r = client.post(f"/members/{vol}/erase", headers=h)
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert "legal hold: employment tribunal 2291" in detail and "still active" in detail
    assert "time bank: the balance is" in detail and "erase_with_open_balance" in detail
    assert client.delete(f"/members/{vol}/legal-hold", headers=h).json()["legal_hold"] is None
    r = client.put(f"/members/{vol}/legal-hold", headers=h, json={"reason": "   "})
    assert r.status_code == 422 and "reason" in r.text
    assert client.get(f"/members/{vol}", headers=h).json()["full_name"] == a.members["volunteer"]["full_name"]
    r = client.post(f"/clients/{a.clients[0]['id']}/erase", headers=h)
    assert r.status_code == 409 and "the client is still active" in r.json()["detail"]
    for role in ("staff", "volunteer", "client", "family"):
        assert client.post(f"/members/{vol}/erase", headers=a.h(role)).status_code == 403
    other = build_coop(client, "priv-other")
    assert client.post(f"/members/{vol}/erase", headers=other.h("coordinator")).status_code == 404
    r = client.put("/coops/me/privacy", headers=h, json={"retention_visit_days": 30})
    assert r.status_code == 422 and "retention_visit_days" in r.text


def test_after_erasure_no_text_holds_the_person_and_the_books_and_rotas_are_unchanged(client, app, world):
    """Erase a volunteer (with a balance, the policy allowing it) and a client with their login:
    a scan of every text column of every table finds none of their names, e-mails, the address,
    access notes or care-plan label; every balance, statement total and the reconcile result are
    exactly as before; every stored rota version still passes the checker with its objective."""
    a, secret, _past, _future = world
    h = a.h("coordinator")
    vol, cm, c0 = a.members["volunteer"]["id"], a.members["client"]["id"], a.clients[0]["id"]
    needles = _needles(a, secret, "volunteer", "client")
    assert scan_text(app.state.engine, needles), "the scan finds the person before erasure"
    before = books(app, a.id)
    assert before["reconcile"][0] is True
    r = client.put("/coops/me/privacy", headers=h, json={"erase_with_open_balance": True})
    assert r.status_code == 200 and r.json()["erase_with_open_balance"] is True
    for mid in (vol, cm):
        assert client.delete(f"/members/{mid}", headers=h).status_code == 200
        r = client.post(f"/members/{mid}/erase", headers=h)
        assert r.status_code == 200, r.text
        assert r.json()["pseudonym"] == f"Former member {mid}"
    assert client.patch(f"/clients/{c0}", headers=h, json={"is_active": False}).status_code == 200
    r = client.post(f"/clients/{c0}/erase", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["changed"]["visittemplate"] == 3 and r.json()["changed"]["rotas"] >= 2
    assert scan_text(app.state.engine, needles) == []
    assert books(app, a.id) == before
    for rota in client.get("/rotas", headers=h).json():
        assert_rota_checked(client, a, rota["id"])
    assert client.get(f"/clients/{c0}", headers=h).json()["name"] == f"Former client {c0}"
    assert (
        client.post(
            "/auth/token", data={"username": a.members["volunteer"]["email"], "password": "password123"}
        ).status_code
        == 401
    )
    # erasing again changes nothing and says so
    r = client.post(f"/clients/{c0}/erase", headers=h)
    assert r.status_code == 200 and r.json()["changed"] == {}


def _rows(engine: sa.Engine, coop_id: int) -> dict[str, list]:
    out = {}
    with engine.connect() as conn:
        for table, where in (
            ("rota", "coop_id"),
            ("visit", "coop_id"),
            ("client", "coop_id"),
            ("member", "coop_id"),
            ("solverun", "coop_id"),
        ):
            rows = conn.execute(
                sa.text(f"SELECT * FROM {table} WHERE {where} = :c ORDER BY id"), {"c": coop_id}
            ).all()
            out[table] = [tuple(str(x) for x in r) for r in rows]
    return out


def test_the_retention_job_pseudonymises_what_expired_and_a_second_run_changes_nothing(client, app):
    """Nine years on, the co-op's rota versions lose their names and an inactive client and
    member are erased; a dry run before changes nothing; the second real run finds nothing to
    do and leaves every row as the first left it; the rotas still pass the checker."""
    a = build_coop(client, "retain")
    h = a.h("coordinator")
    solved_rota(client, a, PAST_MONDAY)
    c1, fam = a.clients[1]["id"], a.members["family"]["id"]
    assert client.patch(f"/clients/{c1}", headers=h, json={"is_active": False}).status_code == 200
    assert client.delete(f"/members/{fam}", headers=h).status_code == 200
    later = dt.datetime.now() + dt.timedelta(days=9 * 366)
    engine, ledger = app.state.engine, app.state.ledger
    start = _rows(engine, a.id)
    dry = run_retention(engine, ledger, later, dry_run=True, coop_id=a.id)
    assert (dry.rotas_pseudonymised, dry.runs_pseudonymised, dry.clients_erased, dry.members_erased) == (
        1, 1, 1, 1)
    assert _rows(engine, a.id) == start
    first = run_retention(engine, ledger, later, coop_id=a.id)
    assert (first.rotas_pseudonymised, first.runs_pseudonymised, first.clients_erased,
            first.members_erased) == (1, 1, 1, 1)
    after_first = _rows(engine, a.id)
    assert after_first != start
    second = run_retention(engine, ledger, later, coop_id=a.id)
    assert (second.rotas_pseudonymised, second.runs_pseudonymised, second.clients_erased,
            second.members_erased) == (0, 0, 0, 0)
    assert _rows(engine, a.id) == after_first
    names = [a.clients[1]["name"], a.members["family"]["full_name"], a.members["family"]["email"]]
    names += [m["full_name"] for m in a.members.values()]
    problem = client.get(
        f"/rotas/{client.get('/rotas', headers=h).json()[0]['id']}/problem", headers=h
    ).json()
    assert not [n for n in names if n in json.dumps(problem)]
    for rota in client.get("/rotas", headers=h).json():
        assert_rota_checked(client, a, rota["id"])


def test_a_pseudonymised_week_names_no_one_and_still_solves_and_checks(client, world):
    """``?pseudonymise=true``: the week's problem (and a rota's problem and file) has no names,
    addresses or database ids, coordinates rounded to 3 decimals, the same pseudonyms each
    time and in the rota file; it is a valid problem file that the solver solves and the
    checker checks (the claimed objective equal to the recomputed one)."""
    a, _secret, _past, future = world
    h = a.h("coordinator")
    week = (FUTURE_MONDAY + dt.timedelta(days=7)).isoformat()
    plain = client.get(f"/weeks/{week}/problem", headers=h).json()
    r = client.get(f"/weeks/{week}/problem", headers=h, params={"pseudonymise": "true"})
    assert r.status_code == 200, r.text
    shared = r.json()
    again = client.get(f"/weeks/{week}/problem", headers=h, params={"pseudonymise": "true"}).json()
    assert shared == again
    text = json.dumps(shared)
    names = [c["name"] for c in plain["clients"]] + [c["name"] for c in plain["carers"]]
    ids = (
        [c["id"] for c in plain["clients"]]
        + [c["id"] for c in plain["carers"]]
        + [v["id"] for v in plain["visits"]]
    )
    assert not [n for n in names if n in text]
    assert not [i for i in ids if f'"{i}"' in text]
    assert len(plain["visits"]) == len(shared["visits"]) and len(plain["carers"]) == len(shared["carers"])
    for c in shared["clients"] + shared["carers"]:
        for axis in ("lat", "lon"):
            assert round(c["location"][axis], 3) == c["location"][axis]
    rota, report = assert_valid_solve(problem_from_dict(shared), time_limit=5)
    assert report.ok and rota.assignments
    prob = client.get(f"/rotas/{future['id']}/problem", headers=h, params={"pseudonymise": "true"}).json()
    file = client.get(f"/rotas/{future['id']}/file", headers=h, params={"pseudonymise": "true"}).json()
    visit_ids = {v["id"] for v in prob["visits"]}
    carer_ids = {c["id"] for c in prob["carers"]}
    assert {x["visit"] for x in file["assignments"]} <= visit_ids
    assert {c for x in file["assignments"] for c in x["carers"]} <= carer_ids
    assert not [n for n in names if n in json.dumps(prob) + json.dumps(file)]
    # every carer travels at the co-op's speed: the exact travel times are in the matrix, so the
    # shared rota file checks against the shared problem with the stored rota's objective
    shared_problem = problem_from_dict(prob)
    report = check(shared_problem, rota_from_dict(file, shared_problem))
    assert report.ok, report.violations
    assert objectives_equal(report.objective, future["objective"])
    assert (
        client.get(
            f"/weeks/{week}/problem", headers=a.h("staff"), params={"pseudonymise": "true"}
        ).status_code
        == 403
    )


def test_the_subject_access_page_is_readable_and_escapes_what_people_typed(client):
    """``/me/export.html`` (and ``?format=html``) is a page of the same export, served by the
    app; a name with markup in it is shown as text, never run."""
    a = build_coop(client, "sar-html")
    evil = '<script>alert("x")</script> & <b>bold</b>'
    staff = a.members["staff"]["id"]
    r = client.patch(f"/members/{staff}", headers=a.h("coordinator"), json={"full_name": evil})
    assert r.status_code == 200, r.text
    token = login(client, a.members["staff"]["email"])
    for url, params in (("/me/export.html", None), ("/me/export", {"format": "html"})):
        r = client.get(url, headers=auth(token), params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/html")
        page = r.text
        assert "<script>alert" not in page and "<b>bold</b>" not in page
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
        assert "Who read or changed your records" in page and a.members["staff"]["email"] in page
    assert client.get("/me/export", headers=auth(token), params={"format": "pdf"}).status_code == 422
