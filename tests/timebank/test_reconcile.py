"""The running balance is proved equal to the sum of entries, and tampering is detected."""

from __future__ import annotations

import sqlalchemy as sa

from tests.timebank.helpers import funded_member
from timebank import Ledger
from timebank.models import account_t


def _books(ledger: Ledger) -> tuple[int, int]:
    a = funded_member(ledger, "rc", "a", 300)
    b = ledger.open_account("rc", "client", "b")
    t = ledger.exchange("rc", payer_id=a.id, payee_id=b.id, minutes=70, idempotency_key="k", recorded_by="u")
    ledger.reverse(t.id, idempotency_key="r", recorded_by="u")
    ledger.exchange("rc", payer_id=a.id, payee_id=b.id, minutes=20, idempotency_key="k2", recorded_by="u")
    return a.id, b.id


def test_reconciliation_passes_on_honest_books(ledger: Ledger) -> None:
    """After normal activity every check passes and the co-op sums to zero."""
    a, b = _books(ledger)
    report = ledger.reconcile("rc")
    assert report.ok, report.problems
    assert report.coop_totals == {"rc": 0}
    assert report.transactions == 4 and report.entries == 8
    assert ledger.balance(a) == ledger.balance_from_entries(a) == 280
    assert ledger.balance(b) == ledger.balance_from_entries(b) == 20


def test_reconciliation_detects_a_tampered_running_balance(ledger: Ledger) -> None:
    """The running balance is a cache; if anything corrupts it, reconcile says which account."""
    a, _b = _books(ledger)
    with ledger.engine.begin() as conn:
        conn.execute(account_t.update().where(account_t.c.id == a).values(balance=account_t.c.balance + 5))
    report = ledger.reconcile("rc")
    assert not report.ok
    assert any(
        p.startswith(f"account {a}: running balance 285 != sum of entries 280") for p in report.problems
    )
    assert any("balances sum to 5" in p for p in report.problems)


def test_reconciliation_detects_an_entry_changed_behind_the_triggers(ledger: Ledger) -> None:
    """Even with the triggers removed by a DBA, a rewritten entry breaks the balance_after chain
    and the per-transaction zero sum, and reconcile reports it."""
    a, _b = _books(ledger)
    with ledger.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER tb_entry_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE tb_entry DISABLE TRIGGER tb_entry_append_only")
        conn.execute(
            sa.text("UPDATE tb_entry SET amount = amount + 1 WHERE account_id = :a AND amount = -70"),
            {"a": a},
        )
    problems = ledger.reconcile("rc").problems
    assert any("summing to 1" in p for p in problems), problems
    assert any("balance_after" in p for p in problems), problems
    assert any("does not mirror" in p for p in problems), problems
