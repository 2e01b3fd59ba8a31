"""Fixtures for the time bank: a fresh ledger per test on a SQLite file and on PostgreSQL.

PostgreSQL tests run in their own schema (``timebank_test_<random>`` via ``search_path``), dropped
afterwards, so they never collide with other test files using the same ``test`` database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from timebank import Ledger

# Tests trade power-loss durability (fsync at every commit) for speed: locking, atomicity and
# crash-of-a-process behaviour are unchanged. The benchmark measures the durable defaults.
SQLITE_TEST_SYNCHRONOUS = "NORMAL"


def sqlite_ledger_at(path: Path, **engine_kwargs: object) -> Ledger:
    engine_kwargs.setdefault("sqlite_synchronous", SQLITE_TEST_SYNCHRONOUS)
    ledger = Ledger.from_url(f"sqlite:///{path}", **engine_kwargs)
    ledger.create_schema()
    return ledger


class PgSchema:
    """A throwaway PostgreSQL schema; ``ledger()`` opens ledgers whose search_path points at it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = "timebank_test_" + uuid.uuid4().hex[:12]
        self._admin = sa.create_engine(url)
        with self._admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {self.name}")
        self._ledgers: list[Ledger] = []

    def connect_args(self) -> dict[str, str]:
        return {"options": f"-csearch_path={self.name} -csynchronous_commit=off"}

    def ledger(self, **engine_kwargs: object) -> Ledger:
        engine_kwargs.setdefault("pool_size", 12)
        ledger = Ledger.from_url(self.url, connect_args=self.connect_args(), **engine_kwargs)
        ledger.create_schema()
        self._ledgers.append(ledger)
        return ledger

    def drop(self) -> None:
        for ledger in self._ledgers:
            ledger.engine.dispose()
        with self._admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {self.name} CASCADE")
        self._admin.dispose()


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[PgSchema]:
    schema = PgSchema(pg_url)
    try:
        yield schema
    finally:
        schema.drop()


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Iterator[Ledger]:
    ledger = sqlite_ledger_at(tmp_path / "ledger.db")
    yield ledger
    ledger.engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A fresh ledger on each database."""
    if request.param == "sqlite":
        led = sqlite_ledger_at(tmp_path / "ledger.db")
        yield led
        led.engine.dispose()
    else:
        schema: PgSchema = request.getfixturevalue("pg_schema")
        yield schema.ledger()
