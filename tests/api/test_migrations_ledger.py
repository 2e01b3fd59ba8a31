"""``alembic upgrade head`` alone builds the whole database, time bank ledger included."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from timebank import Ledger


def _upgrade(url: str) -> sa.Engine:
    engine = sa.create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", "api:migrations")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine


def test_migrations_create_the_ledger_and_its_append_only_triggers(tmp_path: Path) -> None:
    """The service's schema is managed by migrations: the ledger must not depend on start-up code."""
    engine = _upgrade(f"sqlite:///{tmp_path / 'carerota.db'}")
    tables = set(sa.inspect(engine).get_table_names())
    assert {"tb_account", "tb_transaction", "tb_entry"} <= tables
    with engine.connect() as conn:
        triggers = {row[0] for row in conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"tb_entry_no_update", "tb_entry_no_delete"} <= triggers
    # running the migrations again on an up-to-date database changes nothing and does not fail
    _upgrade(f"sqlite:///{tmp_path / 'carerota.db'}")


def test_entries_cannot_be_changed_after_a_migration_only_install(tmp_path: Path) -> None:
    """The database itself refuses to rewrite history, even with no library code in the way."""
    url = f"sqlite:///{tmp_path / 'carerota.db'}"
    _upgrade(url).dispose()
    ledger = Ledger.from_url(url)  # no create_schema(): the migrations made everything
    ledger.open_account("coop-1", "volunteer", owner_ref="cerys")
    ledger.credit_visit("coop-1", visit_id="v1", volunteer_ref="cerys", minutes=60,
                        service_date=dt.date(2026, 11, 30), recorded_by="test")
    assert ledger.balance(ledger.member_account("coop-1", "cerys").id) == 60
    for statement in ("DELETE FROM tb_entry", "UPDATE tb_entry SET amount = 600"):
        with ledger.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
            conn.exec_driver_sql(statement)
    assert ledger.balance_from_entries(ledger.member_account("coop-1", "cerys").id) == 60
