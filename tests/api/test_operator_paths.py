"""Operator paths (issue 9, item 13): a missing PostgreSQL schema, ledger reconciliation from
the command line, invitations and password resets for members a coordinator creates."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from typer.testing import CliRunner

from api.main import create_app
from carerota.cli import app as cli
from tests.api.conftest import auth, build_coop, login, make_settings
from timebank import AccountKind


def _env(app) -> dict[str, str]:
    s = app.state.settings
    env = {"CAREROTA_DATABASE_URL": s.database_url, "CAREROTA_SECRET_KEY": "x" * 40}
    if s.database_schema:
        env["CAREROTA_DATABASE_SCHEMA"] = s.database_schema
    return env


# ----------------------------------------------------------------------------- schema
def test_a_schema_that_does_not_exist_is_created_at_start(pg_url, tmp_path):
    """CAREROTA_DATABASE_SCHEMA naming a missing schema used to end in a 119-line traceback."""
    schema = f"api_test_new_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    try:
        app = create_app(make_settings(pg_url, tmp_path, schema=schema), start_pool=False)
        try:
            with app.state.engine.connect() as conn:
                assert conn.execute(sa.text("select current_schema()")).scalar() == schema
                assert conn.execute(sa.text("select count(*) from member")).scalar() == 0
        finally:
            app.state.engine.dispose()
            app.state.ledger.engine.dispose()
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def test_a_schema_that_cannot_be_created_is_one_line_naming_the_setting(pg_url):
    """A database user without CREATE rights: `carerota serve` says so in one line (exit 2)."""
    role = f"carerota_nocreate_{uuid.uuid4().hex[:6]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        url = sa.make_url(pg_url).set(username=role).render_as_string(hide_password=False)
        result = CliRunner().invoke(cli, ["serve"], env={
            "CAREROTA_DATABASE_URL": url, "CAREROTA_DATABASE_SCHEMA": "no_such_schema_here",
            "CAREROTA_SECRET_KEY": "x" * 40})
        assert result.exit_code == 2, result.output
        lines = [ln for ln in result.output.splitlines() if ln.strip()]
        assert len(lines) == 1, result.output
        assert "CAREROTA_DATABASE_SCHEMA" in lines[0] and "no_such_schema_here" in lines[0]
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_a_bad_schema_name_is_refused_in_one_line():
    result = CliRunner().invoke(cli, ["serve"], env={"CAREROTA_DATABASE_SCHEMA": 'x"; drop table y; --',
                                                     "CAREROTA_SECRET_KEY": "x" * 40})
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("carerota: CAREROTA_DATABASE_SCHEMA:"), result.output


# ----------------------------------------------------------------------------- reconcile
def test_timebank_reconcile_exits_0_on_sound_books_and_1_on_a_mismatch(fresh_app):
    """Operators had no command to check the ledger; a balance that disagrees with its entries
    must be reported (and exit 1) so that a cron job or a script notices."""
    with fresh_app() as (app, client):
        coop = build_coop(client, "rec")
        ledger = app.state.ledger
        volunteer_ref = str(coop.members["volunteer"]["id"])
        vol = ledger.open_account(str(coop.id), AccountKind.VOLUNTEER, owner_ref=volunteer_ref)
        ledger.credit_visit(str(coop.id), visit_id="v1", volunteer_ref=volunteer_ref, minutes=60,
                            service_date=dt.date.today(), recorded_by="test")
        ok = CliRunner().invoke(cli, ["timebank", "reconcile"], env=_env(app))
        assert ok.exit_code == 0, ok.output
        assert "reconciles" in ok.output and "NOT" not in ok.output
        with ledger.engine.begin() as conn:   # corrupt a running balance behind the ledger's back
            conn.execute(sa.text("UPDATE tb_account SET balance = balance + 5 WHERE id = :i"), {"i": vol.id})
        bad = CliRunner().invoke(cli, ["timebank", "reconcile", "--coop", str(coop.id)], env=_env(app))
        assert bad.exit_code == 1, bad.output
        assert "does NOT reconcile" in bad.output and f"account {vol.id}" in bad.output


# ----------------------------------------------------------------------------- invites, resets
def _new_member(client, coop, password: str | None = None) -> dict:
    body = {"email": f"new-{uuid.uuid4().hex[:8]}@example.org", "full_name": "Nia New", "role": "staff",
            "lat": 51.58, "lon": -2.99}
    if password:
        body["password"] = password
    r = client.post("/members", headers=coop.h("coordinator"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_a_member_created_without_a_password_accepts_an_invitation_once(client, coop_a):
    """A coordinator who adds a carer need not choose (and pass on) their password: the
    carer gets a one-time invitation and sets their own."""
    member = _new_member(client, coop_a)
    assert client.post("/auth/token", data={"username": member["email"], "password": "anything1"}
                       ).status_code == 401
    r = client.post(f"/members/{member['id']}/password-link", headers=coop_a.h("coordinator"))
    assert r.status_code == 201, r.text
    link = r.json()
    assert link["purpose"] == "invite" and link["member_id"] == member["id"] and link["expires_at"]
    r = client.post("/auth/password", json={"token": link["token"], "password": "my-own-secret"})
    assert r.status_code == 200, r.text
    assert r.json()["id"] == member["id"]
    token = login(client, member["email"], "my-own-secret")
    assert client.get("/me", headers=auth(token)).json()["id"] == member["id"]
    # the link is spent
    r = client.post("/auth/password", json={"token": link["token"], "password": "someone-else"})
    assert r.status_code == 401 and r.json()["detail"].startswith("token:")
    login(client, member["email"], "my-own-secret")


def test_a_password_reset_link_replaces_a_forgotten_password(client, coop_a):
    member = _new_member(client, coop_a, password="forgotten-1")
    link = client.post(f"/members/{member['id']}/password-link", headers=coop_a.h("coordinator")).json()
    assert link["purpose"] == "reset"
    login(client, member["email"], "forgotten-1")   # the old one works until the link is used
    assert client.post("/auth/password", json={"token": link["token"], "password": "remembered-2"}
                       ).status_code == 200
    assert client.post("/auth/token", data={"username": member["email"], "password": "forgotten-1"}
                       ).status_code == 401
    login(client, member["email"], "remembered-2")


def test_password_links_are_for_coordinators_of_the_same_coop_and_bad_tokens_are_refused(
        client, coop_a, coop_b):
    member = _new_member(client, coop_a)
    assert client.post(f"/members/{member['id']}/password-link", headers=coop_a.h("staff")).status_code == 403
    assert client.post(f"/members/{member['id']}/password-link", headers=coop_b.h("coordinator")
                       ).status_code == 404
    # an access token is not a password link
    r = client.post("/auth/password", json={"token": coop_a.tokens["staff"], "password": "password-x1"})
    assert r.status_code == 401
    link = client.post(f"/members/{member['id']}/password-link", headers=coop_a.h("coordinator")).json()
    r = client.post("/auth/password", json={"token": link["token"], "password": "short"})
    assert r.status_code == 422 and "password" in r.text


def test_rate_limits_are_raised_by_settings_for_a_load_test(fresh_app):
    """README says how to raise the limits for a load test (the settings below, as
    CAREROTA_RATE_LIMIT_*); with them raised, 200 quick writes from one address pass the limiter."""
    def writes(c) -> list[int]:
        return [c.post("/clients", json={"name": "x", "lat": 0, "lon": 0}).status_code for _ in range(200)]

    with fresh_app(rate_limit_write="120/minute") as (_app, c):   # the default
        assert writes(c) == [401] * 120 + [429] * 80
    with fresh_app(rate_limit_write="1000/minute") as (_app, c):
        assert writes(c) == [401] * 200
