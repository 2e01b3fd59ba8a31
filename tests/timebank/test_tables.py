"""The time bank names its own tables, so a host application never guesses them."""

from __future__ import annotations

from sqlmodel import SQLModel

import timebank.models as models


def test_ledger_tables_are_exactly_the_tables_of_the_ledger_models() -> None:
    """A table added to the ledger's models must be listed, or an application sharing the
    database (api/main.py) would create it without its triggers, or not at all."""
    mapped = {cls.__table__ for cls in vars(models).values()
              if isinstance(cls, type) and issubclass(cls, SQLModel) and hasattr(cls, "__table__")}
    tables = models.ledger_tables()
    assert len(tables) == len(set(tables))
    assert set(tables) == mapped
    assert {t.name for t in tables} == {"tb_coop_policy", "tb_account_limit", "tb_account",
                                        "tb_transaction", "tb_entry", "tb_federation",
                                        "tb_federation_member", "tb_federal_move"}


def test_ledger_tables_returns_a_copy() -> None:
    """A caller changing the list it got cannot change what the ledger creates."""
    models.ledger_tables().clear()
    assert len(models.ledger_tables()) == 8
