"""A process that dies between the statements of a write leaves no partial transaction.

A child process starts a transfer and calls ``os._exit`` right after the entries are inserted,
before the running balances are updated and before commit. The database must then show no trace
of the transfer, consistent books, and accept the same request (same key) afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from tests.timebank.conftest import sqlite_ledger_at
from tests.timebank.helpers import funded_member
from timebank import Ledger
from timebank.models import txn_t

CHILD = textwrap.dedent(
    """
    import json, os, sys
    import sqlalchemy as sa
    from timebank import Ledger

    args = json.loads(sys.argv[1])
    ledger = Ledger.from_url(args["url"], **args["engine"])
    real_execute = sa.engine.Connection.execute

    def execute_then_die(self, statement, *a, **k):
        result = real_execute(self, statement, *a, **k)
        if isinstance(statement, sa.sql.dml.Insert) and statement.table.name == "tb_entry":
            os._exit(42)  # the process dies mid-transaction: no commit, no rollback, no cleanup
        return result

    sa.engine.Connection.execute = execute_then_die
    ledger.exchange("crash", payer_id=args["payer"], payee_id=args["payee"], minutes=40,
                    idempotency_key="crash-key", recorded_by="child")
    sys.exit(0)
    """
)


def _crash_child(url: str, engine_kwargs: dict[str, object], payer: int, payee: int) -> int:
    args = json.dumps({"url": url, "engine": engine_kwargs, "payer": payer, "payee": payee})
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, args], cwd=root, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 42, proc.stderr
    return proc.returncode


def _assert_no_trace_and_retry_works(ledger: Ledger, payer: int, payee: int) -> None:
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.select(txn_t.c.id).where(txn_t.c.idempotency_key == "crash-key")).first()
    assert found is None
    assert (ledger.balance(payer), ledger.balance(payee)) == (100, 0)
    assert ledger.reconcile().ok
    t = ledger.exchange(
        "crash", payer_id=payer, payee_id=payee, minutes=40, idempotency_key="crash-key", recorded_by="retry"
    )
    assert not t.replayed
    assert (ledger.balance(payer), ledger.balance(payee)) == (60, 40)


def test_process_crash_mid_write_leaves_no_partial_transaction_on_sqlite(tmp_path: Path) -> None:
    """SQLite (WAL): uncommitted frames of a dead writer are ignored and its lock released."""
    path = tmp_path / "crash.db"
    ledger = sqlite_ledger_at(path, sqlite_synchronous="FULL")
    payer = funded_member(ledger, "crash", "payer", 100)
    payee = ledger.open_account("crash", "client", "payee")
    _crash_child(f"sqlite:///{path}", {}, payer.id, payee.id)
    _assert_no_trace_and_retry_works(ledger, payer.id, payee.id)
    ledger.engine.dispose()


def test_process_crash_mid_write_leaves_no_partial_transaction_on_postgresql(pg_schema) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL rolls back the open transaction of a client that vanished, releasing its locks."""
    ledger = pg_schema.ledger()
    payer = funded_member(ledger, "crash", "payer", 100)
    payee = ledger.open_account("crash", "client", "payee")
    _crash_child(pg_schema.url, {"connect_args": pg_schema.connect_args()}, payer.id, payee.id)
    _assert_no_trace_and_retry_works(ledger, payer.id, payee.id)
