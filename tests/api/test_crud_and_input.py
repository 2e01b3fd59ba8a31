"""CRUD of the co-op's data, and bad input: a clear 4xx naming the field and reason, nothing
half-written. Also the rate limits, the migrations and the login flow."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import FUTURE_MONDAY, make_settings


def test_login_gives_a_bearer_token_with_the_role_as_scope(client, coop_a):
    email = coop_a.members["volunteer"]["email"]
    r = client.post("/auth/token", data={"username": email, "password": "password123"})
    assert r.status_code == 200 and r.json()["scopes"] == ["volunteer"]
    r = client.post("/auth/token", data={"username": email, "password": "wrong-password"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = client.post("/auth/token", data={"username": "nobody@example.org", "password": "wrong-password"})
    assert r.status_code == 401


def test_members_skills_availability_and_leave_round_trip(client, coop_a):
    h = coop_a.h("coordinator")
    email = f"new-{uuid.uuid4().hex[:6]}@example.org"
    r = client.post(
        "/members",
        headers=h,
        json={
            "email": email,
            "full_name": "Nia",
            "password": "password123",
            "role": "volunteer",
            "lat": 51.6,
            "lon": -3.0,
            "speed_kmh": 5,
        },
    )
    assert r.status_code == 201
    m = r.json()
    assert "hashed_password" not in m and "password" not in m
    assert (
        client.patch(f"/members/{m['id']}", headers=h, json={"full_name": "Nia Jones"}).json()["full_name"]
        == "Nia Jones"
    )
    skill = client.post(
        f"/members/{m['id']}/skills", headers=h, json={"name": "driving", "expires_on": "2031-01-01"}
    ).json()
    assert [s["name"] for s in client.get(f"/members/{m['id']}/skills", headers=h).json()] == ["driving"]
    av = client.post(
        f"/members/{m['id']}/availability", headers=h, json={"weekday": 2, "start": "09:00", "end": "12:00"}
    ).json()
    lv = client.post(
        f"/members/{m['id']}/leave",
        headers=h,
        json={"kind": "extra", "start": "2030-05-01T10:00", "end": "2030-05-01T12:00"},
    ).json()
    assert client.delete(f"/members/{m['id']}/skills/{skill['id']}", headers=h).status_code == 204
    assert client.delete(f"/members/{m['id']}/availability/{av['id']}", headers=h).status_code == 204
    assert client.delete(f"/members/{m['id']}/leave/{lv['id']}", headers=h).status_code == 204
    assert client.get(f"/members/{m['id']}/leave", headers=h).json() == []
    assert client.post(f"/members/{m['id']}/skills/{skill['id']}", headers=h).status_code == 405
    r = client.post(
        "/members",
        headers=h,
        json={"email": email, "full_name": "Dup", "password": "password123", "role": "staff"},
    )
    assert r.status_code == 409 and "email" in r.json()["detail"]


def test_clients_preferences_and_care_plans(client, coop_a):
    h = coop_a.h("coordinator")
    c = coop_a.clients[1]["id"]
    staff, staff2 = coop_a.members["staff"]["id"], coop_a.members["staff2"]["id"]
    r = client.put(
        f"/clients/{c}/preferences",
        headers=h,
        json={"preferred_carers": [staff], "excluded_carers": [staff2]},
    )
    assert r.status_code == 200
    assert r.json()["preferred_carers"] == [staff] and r.json()["excluded_carers"] == [staff2]
    problem = client.get(f"/weeks/{FUTURE_MONDAY.isoformat()}/problem", headers=h).json()
    cl = next(x for x in problem["clients"] if x["id"] == f"c{c}")
    assert cl["preferred_carers"] == [f"m{staff}"] and cl["excluded_carers"] == [f"m{staff2}"]
    r = client.put(
        f"/clients/{c}/preferences", headers=h, json={"preferred_carers": [staff], "excluded_carers": [staff]}
    )
    assert r.status_code == 422 and "both preferred and excluded" in r.json()["detail"]
    t = coop_a.templates[0]["id"]
    r = client.patch(f"/care-plan/{t}", headers=h, json={"duration_minutes": 50, "days": [0, 3]})
    assert r.status_code == 200 and r.json()["duration_minutes"] == 50 and r.json()["days"] == [0, 3]
    assert (
        client.patch(f"/clients/{c}", headers=h, json={"address": "1 Stow Hill"}).json()["address"]
        == "1 Stow Hill"
    )


@pytest.mark.parametrize(
    "body, field",
    [
        (
            {
                "label": "x",
                "days": [0],
                "earliest_start": "10:00",
                "latest_start": "09:00",
                "duration_minutes": 30,
            },
            "latest_start",
        ),
        (
            {
                "label": "x",
                "days": [0, 0],
                "earliest_start": "08:00",
                "latest_start": "09:00",
                "duration_minutes": 30,
            },
            "days",
        ),
        (
            {
                "label": "x",
                "days": [7],
                "earliest_start": "08:00",
                "latest_start": "09:00",
                "duration_minutes": 30,
            },
            "days",
        ),
        (
            {
                "label": "x",
                "days": [0],
                "earliest_start": "8am",
                "latest_start": "09:00",
                "duration_minutes": 30,
            },
            "earliest_start",
        ),
        (
            {
                "label": "x",
                "days": [0],
                "earliest_start": "08:00",
                "latest_start": "09:00",
                "duration_minutes": 0,
            },
            "duration_minutes",
        ),
        (
            {
                "label": "x",
                "days": [0],
                "earliest_start": "08:00",
                "latest_start": "09:00",
                "duration_minutes": 30,
                "coop_id": 999,
            },
            "coop_id",
        ),
    ],
)
def test_bad_care_plan_visits_are_refused_with_the_field_and_nothing_is_written(client, coop_a, body, field):
    h = coop_a.h("coordinator")
    c = coop_a.clients[0]["id"]
    before = client.get(f"/clients/{c}/care-plan", headers=h).json()
    r = client.post(f"/clients/{c}/care-plan", headers=h, json=body)
    assert r.status_code == 422
    assert field in r.text
    assert client.get(f"/clients/{c}/care-plan", headers=h).json() == before


def test_windows_that_end_before_they_start_are_refused(client, coop_a):
    h = coop_a.h("coordinator")
    staff = coop_a.members["staff"]["id"]
    r = client.post(
        f"/members/{staff}/availability", headers=h, json={"weekday": 0, "start": "12:00", "end": "09:00"}
    )
    assert r.status_code == 422 and "end" in r.text
    r = client.post(
        f"/members/{staff}/leave", headers=h, json={"start": "2030-01-02T00:00", "end": "2030-01-01T00:00"}
    )
    assert r.status_code == 422 and "end" in r.text
    r = client.patch(f"/care-plan/{coop_a.templates[0]['id']}", headers=h, json={"latest_start": "07:00"})
    assert r.status_code == 422 and "latest_start" in r.json()["detail"]


def test_malformed_json_unknown_fields_and_unknown_ids_get_clear_4xx(client, coop_a):
    h = coop_a.h("coordinator")
    r = client.post("/clients", headers={**h, "Content-Type": "application/json"}, content=b'{"name": "x",')
    assert r.status_code == 422 and "json" in r.text.lower()
    r = client.post("/clients", headers=h, json={"name": "x", "lat": 51, "lon": -3, "coop_id": 1})
    assert r.status_code == 422 and "coop_id" in r.text
    r = client.post(
        "/members",
        headers=h,
        json={
            "email": "z@example.org",
            "full_name": "Z",
            "password": "password123",
            "role": "staff",
            "is_active": False,
        },
    )
    assert r.status_code == 422 and "is_active" in r.text
    r = client.patch(f"/members/{coop_a.members['staff']['id']}", headers=h, json={"role": "coordinator"})
    assert r.status_code == 422 and "role" in r.text
    for path in (
        "/members/999999",
        "/clients/999999",
        "/rotas/999999",
        "/runs/999999",
        "/visits/999999",
        "/members/999999/skills",
    ):
        r = client.get(path, headers=h)
        assert r.status_code == 404 and "not found" in r.json()["detail"], path
    r = client.get("/members/99999999999", headers=h)
    assert r.status_code == 422
    r = client.post("/clients/999999/shares", headers=h, json={"member_id": coop_a.members["family"]["id"]})
    assert r.status_code == 404


def test_family_sees_only_what_the_client_shared(client, coop_a):
    fam = coop_a.h("family")
    shared, other = coop_a.clients[0]["id"], coop_a.clients[1]["id"]
    assert [c["id"] for c in client.get("/clients", headers=fam).json()] == [shared]
    assert client.get(f"/clients/{other}", headers=fam).status_code == 404
    share = client.get(f"/clients/{shared}/shares", headers=coop_a.h("client")).json()[0]
    assert (
        client.delete(f"/clients/{shared}/shares/{share['id']}", headers=coop_a.h("client")).status_code
        == 204
    )
    assert client.get(f"/clients/{shared}", headers=fam).status_code == 404


def test_login_and_writes_are_rate_limited(tmp_path):
    settings = make_settings(
        f"sqlite:///{tmp_path / 'rl.db'}", tmp_path, rate_limit_login="3/minute", rate_limit_write="5/minute"
    )
    app = create_app(settings, start_pool=False)
    with TestClient(app) as c:
        codes = [
            c.post("/auth/token", data={"username": "a@b.c", "password": "x"}).status_code for _ in range(5)
        ]
        assert codes[:3] == [401, 401, 401] and codes[3:] == [429, 429]
        r = c.post("/auth/token", data={"username": "a@b.c", "password": "x"})
        assert "retry-after" in r.headers
        writes = [c.post("/clients", json={"name": "x", "lat": 0, "lon": 0}).status_code for _ in range(7)]
        assert writes[:5] == [401] * 5 and writes[5:] == [429, 429]
        assert c.get("/health").status_code == 200  # reads are not write-limited
    app.state.engine.dispose()
    app.state.ledger.engine.dispose()


def test_migrations_build_the_schema_the_models_describe(app):
    """The app was migrated with Alembic (upgrade head); the models and migrations agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlmodel import SQLModel

    with app.state.engine.connect() as conn:
        version = conn.execute(sa.text("select version_num from alembic_version")).scalar()
        assert version == _head_revision()
        ctx = MigrationContext.configure(conn, opts={"include_object": _include})
        diff = compare_metadata(ctx, SQLModel.metadata)
    assert diff == []


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")
    return ScriptDirectory.from_config(cfg).get_current_head()


def _include(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and (name.startswith("tb_") or name.startswith("apscheduler")))


def test_values_the_database_cannot_store_are_a_4xx_not_a_crash(client, coop_a):
    """PostgreSQL refuses NUL characters in text; that is the caller's input, not a server error,
    and it is refused the same way on SQLite (issue 9, item 6), naming the field."""
    body = {"name": "A\u0000B", "lat": 51, "lon": -3}
    r = client.post("/clients", headers=coop_a.h("coordinator"), json=body)
    assert r.status_code == 422
    assert r.json()["errors"] == ["name: must not contain control characters (found U+0000)"]
