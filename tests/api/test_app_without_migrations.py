"""With migrations turned off (``run_migrations=False``) the app still builds the whole
database: the API's tables from the models, the ledger's through the time bank itself."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlmodel import SQLModel

from api.main import create_app
from tests.api.conftest import make_settings
from timebank.models import ledger_tables


def test_an_app_without_migrations_has_every_table_and_the_ledger_triggers(tmp_path: Path) -> None:
    """The ledger's tables are left to the time bank (which adds the append-only triggers),
    chosen by the time bank's own list rather than by a name prefix."""
    url = f"sqlite:///{tmp_path / 'carerota.db'}"
    app = create_app(make_settings(url, tmp_path, run_migrations=False), start_pool=False)
    try:
        engine = sa.create_engine(url)
        tables = set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            triggers = {row[0] for row in conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        engine.dispose()
    finally:
        app.state.pool.shutdown()
        app.state.engine.dispose()
        app.state.ledger.engine.dispose()
    assert "alembic_version" not in tables
    assert tables == set(SQLModel.metadata.tables)
    assert {t.name for t in ledger_tables()} < tables
    assert {"tb_entry_no_update", "tb_entry_no_delete", "tb_transaction_no_update",
            "tb_transaction_no_delete"} <= triggers
