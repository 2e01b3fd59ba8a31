"""The board's pages read care data through the same services as the API, in the request's one
session: a page request that shows clients' visits or people's details is one access-log entry,
with the page's route as the endpoint and a record for each person it showed."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.conftest import FUTURE_MONDAY, build_coop, solved_rota
from tests.web.conftest import sign_in

WEEK = FUTURE_MONDAY.isoformat()


@pytest.fixture(scope="module")
def world(client):
    a = build_coop(client, "pages")
    rota = solved_rota(client, a, FUTURE_MONDAY)
    return a, rota


def _max_id(app) -> int:
    with app.state.engine.connect() as conn:
        return conn.execute(sa.text("SELECT coalesce(max(id), 0) FROM accesslog")).scalar_one()


def _since(app, after: int) -> list[dict]:
    with app.state.engine.connect() as conn:
        entries = (
            conn.execute(
                sa.text("SELECT id, endpoint FROM accesslog WHERE id > :a ORDER BY id"), {"a": after}
            )
            .mappings()
            .all()
        )
        subjects = (
            conn.execute(
                sa.text(
                    "SELECT entry_id, client_id, subject_member_id FROM accesslogsubject WHERE entry_id > :a"
                ),
                {"a": after},
            )
            .mappings()
            .all()
        )
    return [{**e, "subjects": [s for s in subjects if s["entry_id"] == e["id"]]} for e in entries]


def test_each_page_showing_care_data_is_one_entry(app, world):
    """The board (members, clients and the rota), a visit's page (with who can cover it), a
    carer's week and day, and who-is-coming each append exactly one entry per page request."""
    a, rota = world
    visit = next(v for v in rota["visits"] if v["carer_ids"])
    coordinator = sign_in(app, a.members["coordinator"]["email"])
    carer = sign_in(app, a.members["staff"]["email"])
    family = sign_in(app, a.members["family"]["email"])
    pages = [
        (coordinator, f"/web/board?week_start={WEEK}", "GET /web/board"),
        (
            coordinator,
            f"/web/rotas/{rota['id']}/visits/{visit['id']}",
            "GET /web/rotas/{rota_id}/visits/{visit_id}",
        ),
        (carer, f"/web/me/week?week_start={WEEK}", "GET /web/me/week"),
        (carer, f"/web/me/day?day={WEEK}", "GET /web/me/day"),
        (family, f"/web/coming?week_start={WEEK}", "GET /web/coming"),
    ]
    for c, url, endpoint in pages:
        before = _max_id(app)
        r = c.get(url)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
        new = _since(app, before)
        assert [e["endpoint"] for e in new] == [endpoint], url
    board = _since(app, 0)
    shown = [e for e in board if e["endpoint"] == "GET /web/board"][-1]["subjects"]
    assert {s["client_id"] for s in shown if s["client_id"]} == {c["id"] for c in a.clients}
