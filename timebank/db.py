"""Engines for the ledger: SQLite (WAL, busy timeout, ``BEGIN IMMEDIATE`` writes) and PostgreSQL.

:func:`create_schema` creates only the ledger's tables (``tb_*``) and installs the triggers that make
the database itself refuse UPDATE and DELETE on transactions and entries, on both dialects.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from timebank.models import IMMUTABLE_TABLES, LEDGER_TABLES

READ_ONLY = "timebank_read_only"  # execution option: plain deferred BEGIN on SQLite


def create_engine(
    url: str,
    *,
    busy_timeout_ms: int = 30_000,
    sqlite_synchronous: str = "FULL",
    **kwargs: Any,
) -> Engine:
    """An engine configured for the ledger.

    SQLite: WAL journal, ``busy_timeout``, foreign keys on, ``synchronous=FULL`` by default (a
    committed transaction survives power loss), and every write transaction starts with
    ``BEGIN IMMEDIATE`` so writers queue on the database lock instead of failing at commit.
    Connections opened with the ``timebank_read_only`` execution option use a deferred ``BEGIN``.

    PostgreSQL: READ COMMITTED; the service takes row locks on accounts in id order.
    """
    u = sa.make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database in (None, "", ":memory:"):
            raise ValueError("url: the ledger needs a file-backed SQLite database (WAL), not :memory:")
        connect_args = dict(kwargs.pop("connect_args", {}))
        connect_args.setdefault("check_same_thread", False)
        connect_args.setdefault("timeout", busy_timeout_ms / 1000)
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        _configure_sqlite(engine, busy_timeout_ms, sqlite_synchronous)
        return engine
    kwargs.setdefault("isolation_level", "READ COMMITTED")
    return sa.create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int, synchronous: str) -> None:
    if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
        raise ValueError(f"sqlite_synchronous: {synchronous!r} is not OFF, NORMAL, FULL or EXTRA")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite would defer it)
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def create_schema(engine: Engine) -> None:
    """Create the ledger tables (only ours) and the append-only triggers; safe to call twice."""
    with engine.begin() as conn:
        LEDGER_TABLES[0].metadata.create_all(conn, tables=LEDGER_TABLES)
        install_immutability_triggers(conn)


def install_immutability_triggers(conn: Connection) -> None:
    """Make the database refuse UPDATE and DELETE on ledger transactions and entries."""
    if conn.dialect.name == "sqlite":
        for table in IMMUTABLE_TABLES:
            for op in ("UPDATE", "DELETE"):
                conn.exec_driver_sql(
                    f"CREATE TRIGGER IF NOT EXISTS {table.name}_no_{op.lower()} BEFORE {op} ON {table.name} "
                    f"BEGIN SELECT RAISE(ABORT, 'timebank: {table.name} is append-only, {op} refused'); END"
                )
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(
            """
            CREATE OR REPLACE FUNCTION timebank_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'timebank: %% is append-only, %% refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END
            $$
            """
        )
        for table in IMMUTABLE_TABLES:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table.name}_append_only ON {table.name}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table.name}_append_only BEFORE UPDATE OR DELETE ON {table.name} "
                "FOR EACH ROW EXECUTE FUNCTION timebank_refuse_change()"
            )
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table.name}_no_truncate ON {table.name}")
            conn.exec_driver_sql(
                f"CREATE TRIGGER {table.name}_no_truncate BEFORE TRUNCATE ON {table.name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION timebank_refuse_change()"
            )
    else:
        raise ValueError(f"engine: unsupported database dialect {conn.dialect.name!r} (SQLite or PostgreSQL)")
