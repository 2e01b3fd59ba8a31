"""A database built by the migrations alone (to head, whatever head is) has exactly the
schema the models describe, on SQLite and on PostgreSQL.

Revisions are frozen DDL (0002 no longer reads ``timebank.models``), so a column added to a
model without a new revision, or a revision that builds something the models do not say,
shows up here as a difference reported by Alembic's ``compare_metadata``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import api.models  # noqa: F401  (registers the API's tables)
import timebank.models  # noqa: F401  (registers the ledger's tables)

TRIGGERS = {
    "sqlite": {"tb_transaction_no_update", "tb_transaction_no_delete", "tb_entry_no_update",
               "tb_entry_no_delete", "accesslog_no_update", "accesslog_no_delete",
               "accesslogsubject_no_update", "accesslogsubject_no_delete",
               "tb_federal_move_no_update", "tb_federal_move_no_delete"},
    "postgresql": {"tb_transaction_append_only", "tb_transaction_no_truncate", "tb_entry_append_only",
                   "tb_entry_no_truncate", "accesslog_append_only", "accesslog_no_truncate",
                   "accesslogsubject_append_only", "accesslogsubject_no_truncate",
                   "tb_federal_move_append_only", "tb_federal_move_no_truncate"},
}


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")
    return cfg


@pytest.fixture(params=["sqlite", "postgres"])
def migrated(request, tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database brought to the head revision by ``alembic upgrade head`` alone."""
    if request.param == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'carerota.db'}")
        drop = None
    else:
        pg_url = request.getfixturevalue("pg_url")
        schema = f"mig_test_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine = sa.create_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})

        def drop() -> None:
            with admin.begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    cfg = _config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        yield engine
    finally:
        engine.dispose()
        if drop is not None:
            drop()


def _differences(engine: sa.Engine, metadata: sa.MetaData) -> list:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, metadata)


def test_a_database_built_by_migrations_alone_matches_the_models(migrated: sa.Engine) -> None:
    """The migrations, not ``create_all``, build production databases: if they drift from the
    models (API and time bank), a fresh install and an upgraded one differ from the code."""
    script = ScriptDirectory.from_config(_config())
    with migrated.connect() as conn:
        assert MigrationContext.configure(conn).get_current_heads() == tuple(script.get_heads())
    assert set(SQLModel.metadata.tables) >= {"tb_account", "tb_transaction", "tb_entry", "visit", "solverun"}
    assert _differences(migrated, SQLModel.metadata) == []


def test_the_comparison_sees_a_column_the_migrations_never_added(migrated: sa.Engine) -> None:
    """The check above can fail: a model with one more column than the migrations built
    is reported as a difference."""
    drifted = sa.MetaData()
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(drifted)
    drifted.tables["tb_entry"].append_column(sa.Column("note", sa.String(200), nullable=True))
    diffs = _differences(migrated, drifted)  # add_column: (op, schema, table, column)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "tb_entry", "note")]


def test_migrations_install_the_ledger_append_only_triggers(migrated: sa.Engine) -> None:
    """``compare_metadata`` does not see triggers: check the frozen 0002 (ledger) and 0008
    (access log) install all of them."""
    dialect = migrated.dialect.name
    with migrated.connect() as conn:
        if dialect == "sqlite":
            rows = conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        else:
            rows = conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace")
        assert {row[0] for row in rows} == TRIGGERS[dialect]
