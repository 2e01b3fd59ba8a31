"""API test fixtures: one app per database backend (SQLite file, PostgreSQL schema) per session.

Tests isolate themselves by creating their own co-ops (``world``), so the app, its migrated
database and its solve process are built once per backend. PostgreSQL runs in a private schema
``api_test_<random>`` (other suites share the database ``test``) dropped at the end.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings

TODAY = dt.date.today()
THIS_MONDAY = TODAY - dt.timedelta(days=TODAY.weekday())
PAST_MONDAY = THIS_MONDAY - dt.timedelta(days=14)      # visits there can be checked out
FUTURE_MONDAY = THIS_MONDAY + dt.timedelta(days=14)


def make_settings(url: str, tmp_dir, schema: str | None = None, **over: Any) -> Settings:
    values: dict[str, Any] = dict(
        database_url=url, database_schema=schema, secret_key="test-secret-" + uuid.uuid4().hex,
        solve_time_limit=3.0, solve_workers=1, solve_processes=1, max_stateless_time_limit=3.0,
        rate_limit_login="10000/minute", rate_limit_login_ip="100000/minute",
        rate_limit_write="100000/minute", history_weeks=4,
        secret_key_file=tmp_dir / "secret", argon2_time_cost=1, argon2_memory_cost=8192,
        argon2_parallelism=1)
    values.update(over)
    return Settings(**values)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def app_settings(backend, tmp_path_factory, request) -> Settings:
    tmp = tmp_path_factory.mktemp(f"api-{backend}")
    if backend == "sqlite":
        return make_settings(f"sqlite:///{tmp / 'carerota.db'}", tmp)
    pg_url = request.getfixturevalue("pg_url")
    schema = f"api_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_settings(pg_url, tmp, schema=schema)


@pytest.fixture
def fresh_app(backend, tmp_path, request):
    """A factory of apps of their own (own settings, counters, database or schema) on the
    test's backend: ``with fresh_app(rate_limit_login="3/minute") as (app, client): ...``."""
    from contextlib import contextmanager

    @contextmanager
    def make(start_pool: bool = False, **over: Any):
        tag = uuid.uuid4().hex[:10]
        if backend == "sqlite":
            settings = make_settings(f"sqlite:///{tmp_path / f'{tag}.db'}", tmp_path, **over)
        else:
            pg_url = request.getfixturevalue("pg_url")
            schema = f"api_test_{tag}"
            admin = sa.create_engine(pg_url)
            with admin.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))

            def drop() -> None:
                with admin.begin() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                admin.dispose()

            request.addfinalizer(drop)
            settings = make_settings(pg_url, tmp_path, schema=schema, **over)
        application = create_app(settings, start_pool=start_pool)
        try:
            with TestClient(application) as c:
                yield application, c
        finally:
            application.state.pool.shutdown()
            application.state.engine.dispose()
            application.state.ledger.engine.dispose()

    return make


@pytest.fixture
def empty_engine(backend, tmp_path, request) -> Iterator[sa.Engine]:
    """An empty database (SQLite file, or a private PostgreSQL schema) to migrate by hand."""
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    pg_url = request.getfixturevalue("pg_url")
    schema = f"api_test_mig_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine = sa.create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
    yield engine
    engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def app(app_settings):
    application = create_app(app_settings)
    yield application
    application.state.pool.shutdown()
    application.state.engine.dispose()
    application.state.ledger.engine.dispose()


@pytest.fixture(scope="session")
def client(app):
    with TestClient(app) as c:
        yield c


# ----------------------------------------------------------------------------- helpers
def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: TestClient, email: str, password: str = "password123") -> str:
    r = client.post("/auth/token", data={"username": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def wait_run(client: TestClient, token: str, run_id: int, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = client.get(f"/runs/{run_id}", headers=auth(token))
        assert r.status_code == 200, r.text
        body = r.json()
        if body["status"] in ("succeeded", "failed"):
            return body
        assert time.monotonic() < deadline, f"run {run_id} still {body['status']}"
        time.sleep(0.2)


@dataclass
class Coop:
    """One co-op with a member of every role, two clients and a small care plan."""

    id: int
    tokens: dict[str, str]
    members: dict[str, dict]
    clients: list[dict]
    templates: list[dict] = field(default_factory=list)

    def h(self, role: str) -> dict[str, str]:
        return auth(self.tokens[role])


def build_coop(client: TestClient, tag: str, week_days: tuple[int, ...] = (0, 1)) -> Coop:
    u = uuid.uuid4().hex[:8]
    coord_email = f"coord-{tag}-{u}@example.org"
    r = client.post("/coops", json={"name": f"Co-op {tag} {u}", "coordinator": {
        "email": coord_email, "full_name": "Cari Coordinator", "password": "password123"}})
    assert r.status_code == 201, r.text
    coop_id = r.json()["coop_id"]
    tokens = {"coordinator": login(client, coord_email)}
    h = auth(tokens["coordinator"])
    clients = []
    for i, (lat, lon) in enumerate([(51.5842, -2.9977), (51.5900, -3.0050)]):
        r = client.post("/clients", headers=h, json={"name": f"Client {i} {u}", "lat": lat, "lon": lon,
                                                     "address": f"{i} High Street, Newport"})
        assert r.status_code == 201, r.text
        clients.append(r.json())
    members: dict[str, dict] = {"coordinator": client.get("/me", headers=h).json()}
    specs = {
        "staff": dict(role="staff", lat=51.589, lon=-2.995, gender="female", contracted_minutes=300,
                      hourly_cost=13.0),
        "staff2": dict(role="staff", lat=51.579, lon=-3.010, gender="male"),
        "volunteer": dict(role="volunteer", lat=51.585, lon=-2.999, gender="female"),
        "client": dict(role="client", client_id=clients[0]["id"]),
        "family": dict(role="family"),
    }
    for name, spec in specs.items():
        email = f"{name}-{tag}-{u}@example.org"
        r = client.post("/members", headers=h, json={"email": email, "full_name": f"{name} {u}",
                                                     "password": "password123", **spec})
        assert r.status_code == 201, r.text
        members[name] = r.json()
        tokens[name] = login(client, email)
    for name in ("staff", "staff2", "volunteer"):
        mid = members[name]["id"]
        for wd in range(7):
            r = client.post(f"/members/{mid}/availability", headers=h,
                            json={"weekday": wd, "start": "07:00", "end": "21:00"})
            assert r.status_code == 201, r.text
    for name, skill in (("staff", "personal_care"), ("staff", "medication"), ("staff2", "personal_care"),
                        ("volunteer", "companionship")):
        r = client.post(f"/members/{members[name]['id']}/skills", headers=h, json={"name": skill})
        assert r.status_code == 201, r.text
    coop = Coop(id=coop_id, tokens=tokens, members=members, clients=clients)
    plan = [
        (clients[0]["id"], dict(label="morning care", days=list(week_days), earliest_start="08:00",
                                latest_start="09:00", duration_minutes=45,
                                roles=[{"skills": ["personal_care"]}])),
        (clients[0]["id"], dict(label="walk", days=list(week_days), earliest_start="14:00",
                                latest_start="15:00", duration_minutes=60,
                                roles=[{"skills": ["companionship"]}], volunteer_ok=True,
                                priority="optional")),
        (clients[1]["id"], dict(label="medication", days=list(week_days), earliest_start="09:30",
                                latest_start="10:30", duration_minutes=30,
                                roles=[{"skills": ["personal_care", "medication"]}])),
    ]
    for cid, body in plan:
        r = client.post(f"/clients/{cid}/care-plan", headers=h, json=body)
        assert r.status_code == 201, r.text
        coop.templates.append(r.json())
    r = client.post(f"/clients/{clients[0]['id']}/shares", headers=auth(tokens["client"]),
                    json={"member_id": members["family"]["id"]})
    assert r.status_code == 201, r.text
    return coop


@pytest.fixture
def coop_a(client) -> Coop:
    return build_coop(client, "a")


@pytest.fixture
def coop_b(client) -> Coop:
    return build_coop(client, "b")


def solved_rota(client: TestClient, coop: Coop, week: dt.date, publish: bool = True) -> dict:
    """Request, wait, check independently, optionally publish; returns the rota detail."""
    from tests.api.checks import assert_rota_checked

    r = client.post("/rotas", headers=coop.h("coordinator"), json={"week_start": week.isoformat()})
    assert r.status_code == 202, r.text
    run = wait_run(client, coop.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded", run
    assert_rota_checked(client, coop, run["rota_id"])
    if publish:
        r = client.post(f"/rotas/{run['rota_id']}/publish", headers=coop.h("coordinator"))
        assert r.status_code == 200, r.text
    r = client.get(f"/rotas/{run['rota_id']}", headers=coop.h("coordinator"))
    assert r.status_code == 200
    return r.json()
