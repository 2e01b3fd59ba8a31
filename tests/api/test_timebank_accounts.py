"""Time-bank accounts are opened with the member, never by a read (issue 10).

``GET /me/timebank`` used to open the caller's account (a write, ``BEGIN IMMEDIATE`` on
SQLite, inside a read), and a member whose role had changed got a 422 ("already has a
volunteer account"). Now the account is opened when the member is created or changes role, in
the same transaction, and the read only reads; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event

from tests.api.conftest import auth, login
from timebank import AccountNotFound


@contextmanager
def _writes(app) -> Iterator[list[str]]:
    """The statements that write (and every ``BEGIN IMMEDIATE``) sent on the API's engine or the
    ledger's while the block runs."""
    seen: list[str] = []

    def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        words = statement.split(None, 2)
        head = " ".join(words[:2]).upper()
        if words and (words[0].upper() in ("INSERT", "UPDATE", "DELETE") or head == "BEGIN IMMEDIATE"):
            seen.append(statement)

    engines = [app.state.engine, app.state.ledger.engine]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", listener)


def test_reading_the_time_bank_writes_nothing(client, app, coop_a) -> None:
    """Each member's first statement read is a read: no account opened, no write transaction
    (the account is already there, opened when the coordinator created the member)."""
    for role in ("volunteer", "staff", "client", "family"):
        with _writes(app) as writes:
            r = client.get("/me/timebank", headers=coop_a.h(role))
        assert r.status_code == 200, (role, r.text)
        assert r.json()["balance"] == 0 and r.json()["lines"] == []
        assert writes == [], (role, writes)


def test_creating_a_member_opens_their_account_of_their_role(client, app, coop_a) -> None:
    """The account exists as soon as the member does, of the kind of their role; a coordinator
    has none; a member refused (a taken e-mail) leaves no account behind."""
    ledger = app.state.ledger
    coop = str(coop_a.id)
    for role in ("volunteer", "staff", "client", "family"):
        account = ledger.member_account(coop, str(coop_a.members[role]["id"]))
        assert account.kind == role and account.balance == 0
    with pytest.raises(AccountNotFound):
        ledger.member_account(coop, str(coop_a.members["coordinator"]["id"]))
    before = len(ledger.accounts(coop))
    r = client.post("/members", headers=coop_a.h("coordinator"), json={
        "email": coop_a.members["volunteer"]["email"], "full_name": "Twin", "role": "volunteer"})
    assert r.status_code == 409
    assert len(ledger.accounts(coop)) == before


def test_a_member_whose_role_changed_reads_their_time_bank_with_what_they_gave(client, app, coop_a) -> None:
    """A volunteer made staff keeps their account and their minutes: the role change gives the
    account its new kind in the same transaction, so the next read is a 200, not a 422."""
    h = coop_a.h("coordinator")
    u = uuid.uuid4().hex[:6]
    email = f"changing-{u}@example.org"
    r = client.post("/members", headers=h, json={"email": email, "full_name": "Cai Changing",
                                                 "password": "password123", "role": "volunteer",
                                                 "lat": 51.58, "lon": -3.0})
    assert r.status_code == 201, r.text
    member_id = r.json()["id"]
    ledger = app.state.ledger
    ledger.credit_visit(str(coop_a.id), visit_id=f"v-{u}", volunteer_ref=str(member_id), minutes=45,
                        service_date=dt.date.today(), recorded_by="test")
    old_token = login(client, email)
    before = client.get("/me/timebank", headers=auth(old_token)).json()
    assert before["balance"] == 45
    r = client.put(f"/members/{member_id}/role", headers=h, json={"role": "staff"})
    assert r.status_code == 200, r.text
    assert r.json()["role"] == "staff"
    assert client.get("/me/timebank", headers=auth(old_token)).status_code == 401   # role out of date
    token = login(client, email)
    with _writes(app) as writes:
        r = client.get("/me/timebank", headers=auth(token))
    assert r.status_code == 200, r.text
    assert (r.json()["account_id"], r.json()["balance"]) == (before["account_id"], 45)
    assert writes == []
    assert ledger.member_account(str(coop_a.id), str(member_id)).kind == "staff"
    assert ledger.reconcile(str(coop_a.id)).ok


def test_a_role_change_that_would_leave_the_member_inconsistent_is_refused(client, coop_a) -> None:
    """A coordinator cannot change their own role (nobody could undo it), a contract belongs to
    staff only and a client link to a client only: each refusal names the field, and nothing
    changes."""
    h = coop_a.h("coordinator")
    me = coop_a.members["coordinator"]["id"]
    r = client.put(f"/members/{me}/role", headers=h, json={"role": "staff"})
    assert r.status_code == 422 and r.json()["detail"].startswith("member_id:")
    r = client.put(f"/members/{coop_a.members['staff']['id']}/role", headers=h, json={"role": "volunteer"})
    assert r.status_code == 422 and r.json()["detail"].startswith("contracted_minutes:")
    r = client.put(f"/members/{coop_a.members['client']['id']}/role", headers=h, json={"role": "family"})
    assert r.status_code == 422 and r.json()["detail"].startswith("client_id:")
    r = client.put(f"/members/{coop_a.members['staff2']['id']}/role", headers=h, json={"role": "boss"})
    assert r.status_code == 422
    assert client.get(f"/members/{coop_a.members['staff']['id']}", headers=h).json()["role"] == "staff"


def test_the_upgrade_opens_accounts_for_existing_members_and_follows_changed_roles(empty_engine) -> None:
    """A database from before revision 0007: members who never used the time bank get their
    account, a member whose role changed keeps their account (and its balance) under the new
    kind, a coordinator gets none."""
    engine = empty_engine
    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")

    def migrate(to: str) -> None:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)

    migrate("0006")
    with engine.begin() as conn:
        run = conn.exec_driver_sql
        run("INSERT INTO coop (id, name, weekly_solve_enabled, created_at) "
            "VALUES (7, 'c', TRUE, '2026-01-01')")
        for mid, role in ((1, "volunteer"), (2, "staff"), (3, "coordinator"), (4, "family")):
            run("INSERT INTO member (id, coop_id, email, full_name, role, hashed_password, is_active, "
                "max_minutes_per_day, max_minutes_per_week, hourly_cost, created_at) "
                f"VALUES ({mid}, 7, 'm{mid}@b.c', 'M{mid}', '{role}', 'h', TRUE, 600, 2400, 0, '2026-01-01')")
        conn.execute(sa.text("INSERT INTO tb_account (coop_id, kind, owner_ref, name, balance, created_at) "
                             "VALUES ('7', 'volunteer', '2', 'member:2', 0, :t)"),
                     {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)})
    migrate("head")
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT owner_ref, kind, balance FROM tb_account WHERE coop_id = '7' "
                                    "ORDER BY owner_ref").all()
    assert [tuple(r) for r in rows] == [("1", "volunteer", 0), ("2", "staff", 0), ("4", "family", 0)]
