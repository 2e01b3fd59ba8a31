"""The board's own reads on PostgreSQL (production): the version list with the KPIs picked out
of the rota file by the database, the visits and clients read as plain rows, the who-can-cover
question reading the problem column as text. The rest of the pages' logic does not depend on
the database (tests/web on SQLite)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import FUTURE_MONDAY, build_coop, make_settings, solved_rota
from tests.web.conftest import sign_in

pytestmark = pytest.mark.postgres
WEEK = FUTURE_MONDAY.isoformat()


@pytest.fixture(scope="module")
def pg_app(pg_url, tmp_path_factory) -> Iterator:
    schema = f"web_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    app = create_app(make_settings(pg_url, tmp_path_factory.mktemp("web-pg"), schema=schema))
    yield app
    app.state.pool.shutdown()
    app.state.engine.dispose()
    app.state.ledger.engine.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def test_the_board_and_who_can_cover_answer_on_postgresql_as_the_api_does(pg_app):
    with TestClient(pg_app) as api:
        a = build_coop(api, "web-pg")
        rota = solved_rota(api, a, FUTURE_MONDAY)
        coord = sign_in(pg_app, a.members["coordinator"]["email"])
        page = coord.get(f"/web/board?week_start={WEEK}")
        assert page.status_code == 200, page.text
        blocks = set(re.findall(r'id="visit-(\d+)-(\d+)"', page.text))
        expected = {(str(v["id"]), str(m)) for v in rota["visits"] if v["status"] == "planned"
                    for m in v["carer_ids"]}
        assert blocks == expected and expected
        assert rota["kpis"] and "Essential visits covered" in page.text   # KPIs out of the rota file
        assert 'value="Newport"' in page.text   # the areas of the clients read as rows
        single = next(v for v in rota["visits"] if v["status"] == "planned" and len(v["carer_ids"]) == 1)
        r = api.get(f"/rotas/{rota['id']}/visits/{single['id']}/cover", headers=a.h("coordinator"),
                    params={"without": single["carer_ids"][0]})
        assert r.status_code == 200, r.text
        assert all(o["member_id"] != single["carer_ids"][0] for o in r.json()["options"])
        visit_page = coord.get(f"/web/rotas/{rota['id']}/visits/{single['id']}",
                               params={"without": single["carer_ids"][0]})
        assert visit_page.status_code == 200 and 'id="cover-options"' in visit_page.text
