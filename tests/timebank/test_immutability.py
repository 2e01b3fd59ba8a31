"""The database itself refuses UPDATE and DELETE on ledger entries and transactions."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from tests.timebank.helpers import funded_member
from timebank import Ledger
from timebank.models import entry_t, txn_t


def _entries_snapshot(ledger: Ledger) -> list[tuple[object, ...]]:
    with ledger.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.select(entry_t).order_by(entry_t.c.id))]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE tb_entry SET amount = amount + 1",
        "UPDATE tb_entry SET balance_after = 0",
        "DELETE FROM tb_entry",
        "UPDATE tb_transaction SET memo = 'rewritten'",
        "DELETE FROM tb_transaction",
    ],
)
def test_update_and_delete_on_ledger_rows_are_refused_by_the_database(ledger: Ledger, sql: str) -> None:
    """Even raw SQL that bypasses the service cannot rewrite history: the triggers abort it and
    the entries stay exactly as they were."""
    funded_member(ledger, "imm", "v", 90)
    before = _entries_snapshot(ledger)
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql(sql)
    assert _entries_snapshot(ledger) == before


def test_truncate_of_entries_is_refused_on_postgresql(pg_schema) -> None:  # type: ignore[no-untyped-def]
    """TRUNCATE skips row triggers, so PostgreSQL gets a statement trigger refusing it too."""
    ledger = pg_schema.ledger()
    funded_member(ledger, "imm", "v", 90)
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE tb_entry CASCADE")
    with ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(entry_t)).scalar_one() == 2
        assert conn.execute(sa.select(sa.func.count()).select_from(txn_t)).scalar_one() == 1


def test_create_schema_twice_keeps_the_triggers(ledger: Ledger) -> None:
    """create_schema is idempotent (the API calls it at start-up) and never drops protection."""
    ledger.create_schema()
    funded_member(ledger, "imm", "v", 30)
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM tb_entry")
