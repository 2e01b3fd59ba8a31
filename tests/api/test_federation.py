"""Federations through the API (issue 13): founding, invitations and joining, officers elected by
the member co-ops' votes, gifts and help across co-ops (one atomic move per Idempotency-Key),
limits, leaving and settlements, reversals, settlement statements (JSON and CSV) and the federal
view (suppressed small counts, CSV, PNG). Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from dataclasses import dataclass

import pytest

from tests.api.conftest import FUTURE_MONDAY, Coop, build_coop, solved_rota
from timebank import AccountKind


@dataclass
class World:
    fid: int
    a: Coop
    b: Coop
    c: Coop  # not a member

    def url(self, tail: str = "") -> str:
        return f"/federations/{self.fid}{tail}"


def fund(app, coop: Coop, role: str, minutes: int) -> None:
    """Put minutes on a member's time-bank account (welcome hours from a system account)."""
    ledger = app.state.ledger
    member = coop.members[role]
    account = ledger.member_account(str(coop.id), str(member["id"]))
    welcome = ledger.open_account(str(coop.id), AccountKind.SYSTEM, name="welcome")
    ledger.adjust(
        str(coop.id),
        legs=[(welcome.id, -minutes), (account.id, minutes)],
        idempotency_key=f"fund-{uuid.uuid4().hex}",
        recorded_by="test",
        memo="welcome hours",
    )


def balance(app, coop: Coop, role: str) -> int:
    ledger = app.state.ledger
    return ledger.balance(ledger.member_account(str(coop.id), str(coop.members[role]["id"])).id)


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def make_world(client, tag: str) -> World:
    a, b, c = (build_coop(client, f"{tag}-{x}") for x in "abc")
    r = client.post(
        "/federations",
        headers=a.h("coordinator"),
        json={"name": f"Valleys {tag}", "default_limit_minutes": 600},
    )
    assert r.status_code == 201, r.text
    fid = r.json()["id"]
    assert [o["member_id"] for o in r.json()["officers"]] == [a.members["coordinator"]["id"]]
    r = client.post(f"/federations/{fid}/invitations", headers=a.h("coordinator"), json={"coop_id": b.id})
    assert r.status_code == 201, r.text
    r = client.post(f"/federations/{fid}/join", headers=b.h("coordinator"))
    assert r.status_code == 200, r.text
    assert {x["coop_id"] for x in r.json()["coops"]} == {a.id, b.id}
    assert r.json()["officers"] == []  # one vote of the two now needed
    r = client.post(
        f"/federations/{fid}/officer-votes",
        headers=b.h("coordinator"),
        json={"member_id": a.members["coordinator"]["id"]},
    )
    assert [o["member_id"] for o in r.json()["officers"]] == [a.members["coordinator"]["id"]]
    return World(fid, a, b, c)


@pytest.fixture
def world(client) -> World:
    return make_world(client, "fed")


def test_officers_are_elected_by_a_majority_of_the_member_coops(client, world: World) -> None:
    """With two member co-ops a candidate needs both votes: when A moves its vote from its
    coordinator to its staff2 neither is an officer; B's vote too makes staff2 one."""
    w = world
    staff2 = w.a.members["staff2"]["id"]
    r = client.post(w.url("/officer-votes"), headers=w.a.h("coordinator"), json={"member_id": staff2})
    assert r.status_code == 200 and r.json()["votes_needed"] == 2 and r.json()["officers"] == []
    assert client.get(w.url(), headers=w.a.h("staff2")).status_code == 403
    r = client.post(w.url("/officer-votes"), headers=w.b.h("coordinator"), json={"member_id": staff2})
    assert [o["member_id"] for o in r.json()["officers"]] == [staff2]
    assert client.get(w.url(), headers=w.a.h("staff2")).status_code == 200
    # a co-op outside the federation cannot vote, nor be voted for
    assert (
        client.post(
            w.url("/officer-votes"), headers=w.c.h("coordinator"), json={"member_id": staff2}
        ).status_code
        == 404
    )
    assert (
        client.post(
            w.url("/officer-votes"),
            headers=w.a.h("coordinator"),
            json={"member_id": w.c.members["staff"]["id"]},
        ).status_code
        == 404
    )


def test_a_gift_to_family_in_another_coop_moves_once_per_key(client, app, world: World) -> None:
    w = world
    fund(app, w.a, "volunteer", 300)
    body = {"to_member_id": w.b.members["family"]["id"], "minutes": 90, "note": "for my nephew"}
    headers = {**w.a.h("volunteer"), "Idempotency-Key": "gift-1"}
    r = client.post(w.url("/gifts"), headers=headers, json=body)
    assert r.status_code == 201, r.text
    move = r.json()
    assert (move["kind"], move["minutes"], move["from_coop_id"], move["to_coop_id"]) == (
        "gift",
        90,
        w.a.id,
        w.b.id,
    )
    assert move["replayed"] is False and move["balance"] == 210
    again = client.post(w.url("/gifts"), headers=headers, json=body)
    assert (
        again.status_code == 201 and again.json()["move_id"] == move["move_id"] and again.json()["replayed"]
    )
    assert balance(app, w.a, "volunteer") == 210 and balance(app, w.b, "family") == 90
    r = client.post(w.url("/gifts"), headers=headers, json={**body, "minutes": 91})
    assert r.status_code == 409 and r.json()["detail"].startswith("Idempotency-Key: already used")
    fed = client.get(w.url(), headers=w.a.h("coordinator")).json()
    assert {c["coop_id"]: c["position_minutes"] for c in fed["coops"]} == {w.a.id: 90, w.b.id: -90}
    assert app.state.ledger.reconcile().ok
    # within one co-op, or to a co-op outside the federation: not a federal gift
    r = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.a.members["family"]["id"], "minutes": 1},
    )
    assert r.status_code == 422 and "/timebank/gifts" in r.json()["detail"]
    r = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.c.members["family"]["id"], "minutes": 1},
    )
    assert r.status_code == 404


def test_help_from_a_volunteer_of_another_coop_is_paid_by_the_member_helped(
    client, app, world: World
) -> None:
    w = world
    fund(app, w.b, "client", 200)
    r = client.post(
        w.url("/help"),
        headers={**w.b.h("client"), **key()},
        json={"volunteer_member_id": w.a.members["volunteer"]["id"], "minutes": 60},
    )
    assert r.status_code == 201, r.text
    assert balance(app, w.a, "volunteer") == 60 and balance(app, w.b, "client") == 140
    # the volunteer's own statement counts it as time given
    mine = client.get("/me/timebank", headers=w.a.h("volunteer")).json()
    assert mine["given_minutes"] == 60
    r = client.post(
        w.url("/help"),
        headers={**w.b.h("client"), **key()},
        json={"volunteer_member_id": w.a.members["family"]["id"], "minutes": 60},
    )
    assert r.status_code == 422 and "not a volunteer" in r.json()["detail"]


def test_a_move_beyond_the_coops_limit_is_refused_in_the_callers_terms(client, app, world: World) -> None:
    w = world
    fund(app, w.a, "volunteer", 500)
    r = client.put(w.url(f"/coops/{w.a.id}/limit"), headers=w.a.h("coordinator"), json={"limit_minutes": 100})
    assert r.status_code == 200, r.text
    r = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 101},
    )
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert (
        detail.startswith("minutes: Co-op fed-a")
        and "limit of 100" in detail
        and "nothing was moved" in detail
    )
    assert balance(app, w.a, "volunteer") == 500 and balance(app, w.b, "family") == 0
    # a limit below the current position is refused
    client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 80},
    )
    r = client.put(w.url(f"/coops/{w.a.id}/limit"), headers=w.a.h("coordinator"), json={"limit_minutes": 79})
    assert r.status_code == 422 and r.json()["detail"].startswith("limit_minutes:")


def test_leaving_is_refused_until_an_officer_settles_the_position(client, app, world: World) -> None:
    w = world
    fund(app, w.a, "volunteer", 100)
    client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 40},
    )
    r = client.post(w.url("/leave"), headers=w.b.h("coordinator"))
    assert r.status_code == 409 and "-40 minutes" in r.json()["detail"]
    r = client.post(
        w.url("/settlements"),
        headers={**w.a.h("coordinator"), **key()},
        json={"from_coop_id": w.b.id, "to_coop_id": w.a.id, "minutes": 40},
    )
    assert r.status_code == 201 and r.json()["kind"] == "settlement"
    r = client.post(w.url("/leave"), headers=w.b.h("coordinator"))
    assert r.status_code == 200
    assert {c["coop_id"]: c["active"] for c in r.json()["coops"]} == {w.a.id: True, w.b.id: False}
    r = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 1},
    )
    assert r.status_code == 404
    assert client.post(w.url("/join"), headers=w.b.h("coordinator")).status_code == 200
    assert app.state.ledger.reconcile().ok


def test_a_coordinator_of_either_coop_reverses_a_move_once(client, app, world: World) -> None:
    w = world
    fund(app, w.a, "volunteer", 100)
    move = client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 30},
    ).json()
    r = client.post(w.url(f"/moves/{move['move_id']}/reverse"), headers={**w.b.h("coordinator"), **key()})
    assert r.status_code == 201 and r.json()["reverses_move_id"] == move["move_id"]
    assert balance(app, w.a, "volunteer") == 100 and balance(app, w.b, "family") == 0
    r = client.post(w.url(f"/moves/{move['move_id']}/reverse"), headers={**w.a.h("coordinator"), **key()})
    assert r.status_code == 409 and "already reversed" in r.json()["detail"]


def test_the_settlement_statement_nets_each_other_coop_with_a_csv_export(client, app, world: World) -> None:
    w = world
    fund(app, w.a, "volunteer", 300)
    fund(app, w.b, "client", 300)
    client.post(
        w.url("/gifts"),
        headers={**w.a.h("volunteer"), **key()},
        json={"to_member_id": w.b.members["family"]["id"], "minutes": 50},
    )
    client.post(
        w.url("/help"),
        headers={**w.b.h("client"), **key()},
        json={"volunteer_member_id": w.a.members["volunteer"]["id"], "minutes": 120},
    )
    r = client.get(w.url("/statement"), headers=w.a.h("coordinator"))
    assert r.status_code == 200, r.text
    s = r.json()
    assert s["coop_id"] == w.a.id and len(s["lines"]) == 1
    line = s["lines"][0]
    assert (
        line["counterparty_coop_id"],
        line["help_given_minutes"],
        line["gifts_out_minutes"],
        line["net_minutes_in"],
    ) == (w.b.id, 120, 50, 70)
    assert s["closing_position_minutes"] - s["opening_position_minutes"] == -70
    r = client.get(w.url("/statement.csv"), headers=w.a.h("coordinator"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.text)))
    table = {row[0]: dict(zip(rows[3], row, strict=True)) for row in rows[4:]}
    assert table[str(w.b.id)]["net_minutes_in"] == "70" and table["total"]["moves"] == "2"
    # a coordinator reads only their own co-op's statement
    assert (
        client.get(w.url("/statement"), headers=w.b.h("coordinator"), params={"coop_id": w.a.id}).status_code
        == 404
    )
    r = client.get(
        w.url("/statement"), headers=w.a.h("coordinator"), params={"start": "2030-02-01", "end": "2030-01-01"}
    )
    assert r.status_code == 422
    r = client.get(w.url("/statement"), headers=w.a.h("coordinator"), params={"start": "1999-12-31"})
    assert r.status_code == 422 and r.json()["detail"].startswith("start: 1999-12-31 is out of range")


def test_the_federal_view_shows_no_names_and_suppresses_small_counts(client, app, world: World) -> None:
    """Co-op A's published week has two clients: every visit count is over fewer than five people,
    so it is suppressed (null in JSON, ``suppressed`` in CSV); the chart is a PNG; no member's or
    client's name or e-mail appears anywhere."""
    w = world
    solved_rota(client, w.a, FUTURE_MONDAY)
    start, end = FUTURE_MONDAY.replace(day=1), FUTURE_MONDAY + dt.timedelta(days=6)
    params = {"start": start.isoformat(), "end": end.isoformat()}
    r = client.get(w.url("/view"), headers=w.a.h("coordinator"), params=params)
    assert r.status_code == 200, r.text
    view = r.json()
    rows = [x for x in view["rows"] if x["coop_id"] == w.a.id]
    assert rows and all(v is None for x in rows for v in x["visits_covered"].values())
    assert all(x["carers_per_client"] is None for x in rows)
    csv_text = client.get(w.url("/view.csv"), headers=w.a.h("coordinator"), params=params).text
    assert "suppressed" in csv_text
    png = client.get(w.url("/view.png"), headers=w.a.h("coordinator"), params=params)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    text = r.text + csv_text
    for coop in (w.a, w.b):
        for m in coop.members.values():
            assert m["email"] not in text and m["full_name"] not in text
        for c in coop.clients:
            assert c["name"] not in text and (c["address"] or "") not in text


def test_view_rows_suppress_exactly_below_five_people() -> None:
    """The threshold itself: four clients' visits are suppressed, five are shown; hours over four
    carers are suppressed, over five shown."""
    from sqlalchemy.orm.attributes import set_committed_value

    from api.models import Visit, VisitCarer
    from api.services.federation import _view_row

    def visits(clients: int, carers: int) -> list[Visit]:
        out = []
        for i in range(max(clients, carers)):
            v = Visit(
                rota_id=1,
                coop_id=1,
                client_id=1 + i % clients,
                key=f"v{i}",
                earliest_start=dt.datetime(2026, 1, 5, 9),
                latest_start=dt.datetime(2026, 1, 5, 10),
                duration_minutes=60,
                priority="essential",
                status="completed",
            )
            set_committed_value(v, "carers", [VisitCarer(visit_id=i, member_id=100 + i % carers)])
            out.append(v)
        return out

    small = _view_row(1, "x", "2026-01", visits(4, 4))
    assert small.visits_covered["essential"] is None and small.hours_given is None
    assert small.carers_per_client is None
    big = _view_row(1, "x", "2026-01", visits(5, 5))
    assert big.visits_covered["essential"] == 5 and big.hours_given == 5.0 and big.carers_per_client == 1.0
    assert big.unmet_need["essential"] is None  # no unmet visits: zero people, suppressed too


def test_the_federation_commands_list_positions_export_statements_and_check_the_clearing(fresh_app) -> None:
    """``carerota federation list / statement / reconcile`` on the service's database: the
    reconcile exits 1 once a clearing account is changed behind the federation's back."""
    import sqlalchemy as sa
    from typer.testing import CliRunner

    from carerota.cli import app as cli
    from tests.api.test_operator_paths import _env

    with fresh_app() as (app, client):
        w = make_world(client, "cli")
        fund(app, w.a, "volunteer", 100)
        r = client.post(
            w.url("/gifts"),
            headers={**w.a.h("volunteer"), **key()},
            json={"to_member_id": w.b.members["family"]["id"], "minutes": 25},
        )
        assert r.status_code == 201, r.text
        env = _env(app)
        out = CliRunner().invoke(cli, ["federation", "list"], env=env)
        assert out.exit_code == 0, out.output
        assert f"co-op {w.a.id}: position +25 of limit 600 (member)" in out.output
        assert "positions sum to 0" in out.output
        today = dt.date.today().isoformat()
        out = CliRunner().invoke(
            cli,
            ["federation", "statement", str(w.fid), "--coop", str(w.b.id), "--start", today, "--end", today],
            env=env,
        )
        assert out.exit_code == 0, out.output
        rows = list(csv.reader(io.StringIO(out.output)))
        assert rows[4][0] == str(w.a.id) and rows[4][rows[3].index("gifts_in_minutes")] == "25"
        ok = CliRunner().invoke(cli, ["federation", "reconcile"], env=env)
        assert ok.exit_code == 0 and "reconcile" in ok.output and "NOT" not in ok.output
        from timebank import Federations

        acct = Federations(app.state.ledger).membership(str(w.fid), str(w.a.id)).clearing_account_id
        with app.state.ledger.engine.begin() as conn:
            conn.execute(sa.text("UPDATE tb_account SET balance = balance + 5 WHERE id = :i"), {"i": acct})
        bad = CliRunner().invoke(cli, ["federation", "reconcile", "--federation", str(w.fid)], env=env)
        assert bad.exit_code == 1 and "clearing accounts sum to 5" in bad.output, bad.output
        assert CliRunner().invoke(cli, ["timebank", "reconcile"], env=env).exit_code == 1
