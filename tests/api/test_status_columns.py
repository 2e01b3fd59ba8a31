"""Status columns are typed by their enums (issue 10): a role, a rota's or visit's status, a run's
status and kind, a priority, a leave kind and a client's carer choice are read back as the enum
member, an unknown string is refused before it reaches the database, rows written as plain text
before the columns were typed still read back (no data migration), and the API's JSON is the
same strings as before, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import pytest
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from api.models import (
    CarerChoice,
    Coop,
    LeaveKind,
    Priority,
    Role,
    Rota,
    RotaStatus,
    RunKind,
    RunStatus,
    VisitStatus,
    WorkerKind,
)

#: (table, column) -> the enum the column holds
TYPED = {
    ("member", "role"): Role, ("leave", "kind"): LeaveKind, ("clientcarer", "kind"): CarerChoice,
    ("visittemplate", "priority"): Priority, ("solverun", "kind"): RunKind,
    ("solverun", "status"): RunStatus, ("rota", "status"): RotaStatus, ("visit", "priority"): Priority,
    ("visit", "status"): VisitStatus, ("solveworker", "kind"): WorkerKind,
}


def test_every_status_column_is_typed_by_its_enum() -> None:
    """A status held as ``str`` accepts any typo; each of these columns names its enum, and no
    other column of the API called status, kind, priority or role is left a plain string."""
    found = {}
    for table in SQLModel.metadata.tables.values():
        if table.name.startswith("tb_"):
            continue
        for column in table.columns:
            if column.name in ("status", "kind", "priority", "role"):
                found[(table.name, column.name)] = getattr(column.type, "enum_class", None)
    assert found == TYPED


def _coop(engine: sa.Engine) -> int:
    with Session(engine) as s:
        coop = Coop(name=f"enum test {uuid.uuid4().hex[:6]}")
        s.add(coop)
        s.commit()
        assert coop.id is not None
        return coop.id


def test_a_row_written_as_plain_text_reads_back_as_its_enum(app) -> None:
    """Rows stored before the columns were typed hold plain strings; they read back as the enum
    member, unchanged, so typing the columns needed no data migration."""
    engine = app.state.engine
    coop_id = _coop(engine)
    with engine.begin() as conn:
        rota_id = conn.execute(sa.text(
            "INSERT INTO rota (coop_id, week_start, version, status, problem, id_map, rota_file, created_at) "
            "VALUES (:c, '2031-01-06', 1, 'published', '{}', '{}', '{}', '2031-01-01') RETURNING id"),
            {"c": coop_id}).scalar_one()
    with Session(engine) as s:
        rota = s.get(Rota, rota_id)
        assert rota is not None
        assert type(rota.status) is RotaStatus and rota.status is RotaStatus.published
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM rota WHERE id = :i"), {"i": rota_id}).scalar() == \
            "published"


def test_a_status_outside_its_enum_is_refused_before_it_reaches_the_database(app) -> None:
    """A typo in code that sets a status (``'publised'``) is an error at once, not a row that
    no query for published rotas will ever find."""
    engine = app.state.engine
    coop_id = _coop(engine)
    with Session(engine) as s:
        s.add(Rota(coop_id=coop_id, week_start=dt.date(2031, 1, 13), version=1,
                   status="publised",  # type: ignore[arg-type]  # the typo under test
                   problem={}, id_map={}, rota_file={}))
        with pytest.raises(sa.exc.StatementError, match="publised"):
            s.commit()


@pytest.mark.parametrize(("schema", "field", "enum_type"), [
    ("RotaPublic", "status", RotaStatus), ("VisitPublic", "status", VisitStatus),
    ("VisitPublic", "priority", Priority), ("RunPublic", "status", RunStatus),
    ("RunPublic", "kind", RunKind), ("MemberPublic", "role", Role),
])
def test_the_api_documents_each_status_as_its_list_of_strings(app, schema: str, field: str,
                                                             enum_type: type[enum.StrEnum]) -> None:
    """The JSON is the same strings as before; the schema now says which ones a client can get."""
    components = app.openapi()["components"]["schemas"]
    prop = components[schema]["properties"][field]
    ref = prop.get("$ref") or next((a["$ref"] for a in prop.get("allOf", []) if "$ref" in a), None)
    assert ref is not None, prop
    assert components[ref.rsplit("/", 1)[1]]["enum"] == [m.value for m in enum_type]


def test_statuses_in_answers_are_the_plain_strings(client, coop_a) -> None:
    """A rota request answers ``"status": "queued"`` as a JSON string, as before the typing."""
    from tests.api.conftest import FUTURE_MONDAY, wait_run

    r = client.post("/rotas", headers=coop_a.h("coordinator"), json={"week_start": FUTURE_MONDAY.isoformat()})
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "queued"
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded" and run["kind"] == "request"
    rota = client.get(f"/rotas/{run['rota_id']}", headers=coop_a.h("coordinator")).json()
    assert rota["status"] == "draft"
    assert {v["status"] for v in rota["visits"]} <= {"planned", "unassigned"}
    assert {v["priority"] for v in rota["visits"]} <= {"essential", "important", "optional"}
