"""Concurrent writers on SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL (row locks in id order).

Each worker thread calls the ledger through its own pooled connection, so the database's own
locking is what is being tested, not a Python lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from tests.timebank.helpers import DAY, funded_member
from timebank import IdempotencyConflict, InsufficientBalance, Ledger, LedgerError
from timebank.models import txn_t

WORKERS = 8
TRANSFERS_PER_WORKER = 500


def run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run ``fn(i)`` for i in range(n) on n threads released at the same instant.

    Returns each call's result or the exception it raised.
    """
    barrier = threading.Barrier(n)

    def call(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:  # collected and asserted on by the caller
            return exc

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(call, range(n)))


def count_transactions(ledger: Ledger, coop: str) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(txn_t.c.coop_id == coop)).scalar_one())


def test_opposite_transfers_by_eight_workers_lose_no_update(ledger: Ledger) -> None:
    """8 workers x 500 transfers in opposite directions between the same two accounts: the final
    balances are exact and every transfer is one transaction (no lost update, no deadlock)."""
    coop = "conc"
    a = funded_member(ledger, coop, "a", 10_000)
    b = funded_member(ledger, coop, "b", 10_000)
    before = count_transactions(ledger, coop)

    def worker(w: int) -> int:
        payer, payee = (a.id, b.id) if w % 2 == 0 else (b.id, a.id)
        moved = 0
        for i in range(TRANSFERS_PER_WORKER):
            minutes = 1 + (i + w) % 3
            ledger.exchange(
                coop,
                payer_id=payer,
                payee_id=payee,
                minutes=minutes,
                idempotency_key=f"w{w}-{i}",
                recorded_by=f"worker{w}",
            )
            moved += minutes
        return moved

    results = run_together(WORKERS, worker)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    a_to_b = sum(r for w, r in enumerate(results) if w % 2 == 0)
    b_to_a = sum(r for w, r in enumerate(results) if w % 2 == 1)
    assert ledger.balance(a.id) == 10_000 - a_to_b + b_to_a
    assert ledger.balance(b.id) == 10_000 - b_to_a + a_to_b
    assert ledger.balance_from_entries(a.id) == ledger.balance(a.id)
    assert count_transactions(ledger, coop) - before == WORKERS * TRANSFERS_PER_WORKER
    assert ledger.coop_total(coop) == 0
    report = ledger.reconcile(coop)
    assert report.ok, report.problems


def test_concurrent_spends_of_a_whole_balance_exactly_one_succeeds(ledger: Ledger) -> None:
    """N requests each spending the whole balance at once: exactly one wins, the others are refused
    with InsufficientBalance and write nothing."""
    coop = "spend"
    n = 8
    payer = funded_member(ledger, coop, "payer", 120)
    payees = [ledger.open_account(coop, "client", f"payee{i}") for i in range(n)]

    def spend(i: int) -> Any:
        return ledger.exchange(
            coop,
            payer_id=payer.id,
            payee_id=payees[i].id,
            minutes=120,
            idempotency_key=f"spend-{i}",
            recorded_by="t",
        )

    results = run_together(n, spend)
    wins = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, InsufficientBalance)]
    assert len(wins) == 1, results
    assert len(refused) == n - 1, results
    assert ledger.balance(payer.id) == 0
    assert sum(ledger.balance(p.id) for p in payees) == 120
    assert ledger.reconcile(coop).ok


def test_concurrent_identical_requests_with_one_key_make_one_transaction(ledger: Ledger) -> None:
    """K identical requests racing with one idempotency key: one transaction, all callers get it."""
    coop = "idem"
    k = 8
    payer = funded_member(ledger, coop, "payer", 600)
    payee = ledger.open_account(coop, "client", "payee")
    before = count_transactions(ledger, coop)

    results = run_together(
        k,
        lambda _i: ledger.exchange(
            coop,
            payer_id=payer.id,
            payee_id=payee.id,
            minutes=45,
            idempotency_key="same-key",
            recorded_by="t",
        ),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results}) == 1
    assert sum(1 for r in results if not r.replayed) == 1
    assert count_transactions(ledger, coop) - before == 1
    assert ledger.balance(payer.id) == 600 - 45
    assert ledger.balance(payee.id) == 45


def test_concurrent_different_requests_with_one_key_make_one_transaction(ledger: Ledger) -> None:
    """Racing requests that share a key but differ: one is written, every other is refused with
    IdempotencyConflict (or replays the winner when it happens to be identical)."""
    coop = "idem2"
    payer = funded_member(ledger, coop, "payer", 600)
    payees = [ledger.open_account(coop, "client", f"p{i}") for i in range(4)]
    before = count_transactions(ledger, coop)

    results = run_together(
        4,
        lambda i: ledger.exchange(
            coop, payer_id=payer.id, payee_id=payees[i].id, minutes=10, idempotency_key="k", recorded_by="t"
        ),
    )
    written = [r for r in results if not isinstance(r, BaseException)]
    assert len(written) == 1, results
    assert all(isinstance(r, IdempotencyConflict) for r in results if isinstance(r, BaseException))
    assert count_transactions(ledger, coop) - before == 1
    assert ledger.balance(payer.id) == 590


def test_duplicate_visit_completion_jobs_credit_once(ledger: Ledger) -> None:
    """The scheduler's visit completion may run twice at once (retry, duplicate job): one credit."""
    coop = "visits"
    vol = ledger.open_account(coop, "volunteer", "vol")
    results = run_together(
        6,
        lambda i: ledger.credit_visit(
            coop,
            visit_id="visit-1",
            volunteer_ref="vol",
            minutes=75,
            service_date=DAY,
            recorded_by=f"job{i}",
        ),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results}) == 1
    assert ledger.balance(vol.id) == 75
    assert ledger.coop_total(coop) == 0


def test_concurrent_reversals_of_one_transaction_reverse_it_once(ledger: Ledger) -> None:
    """Racing reversals with different keys: one succeeds, the others get AlreadyReversed."""
    from timebank import AlreadyReversed

    coop = "rev"
    a = funded_member(ledger, coop, "a", 300)
    b = ledger.open_account(coop, "client", "b")
    t = ledger.exchange(coop, payer_id=a.id, payee_id=b.id, minutes=100, idempotency_key="x", recorded_by="t")
    results = run_together(6, lambda i: ledger.reverse(t.id, idempotency_key=f"r{i}", recorded_by="t"))
    ok = [r for r in results if not isinstance(r, LedgerError)]
    assert len(ok) == 1, results
    assert all(isinstance(r, AlreadyReversed) for r in results if isinstance(r, LedgerError))
    assert ledger.balance(a.id) == 300
    assert ledger.balance(b.id) == 0


def test_sqlite_writers_on_separate_engines_queue_on_the_database_lock(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Writers that share no Python lock (one engine each, as separate processes would) are
    serialized by SQLite itself: BEGIN IMMEDIATE + busy_timeout, no lost update, no 'locked' error."""
    from tests.timebank.conftest import sqlite_ledger_at

    path = tmp_path / "shared.db"
    ledgers = [sqlite_ledger_at(path) for _ in range(4)]
    a = funded_member(ledgers[0], "eng", "a", 5_000)
    b = funded_member(ledgers[0], "eng", "b", 5_000)
    n = 150

    def worker(w: int) -> int:
        led = ledgers[w]
        payer, payee = (a.id, b.id) if w % 2 == 0 else (b.id, a.id)
        for i in range(n):
            led.exchange(
                "eng",
                payer_id=payer,
                payee_id=payee,
                minutes=w + 1,
                idempotency_key=f"e{w}-{i}",
                recorded_by="t",
            )
        return (w + 1) * n

    results = run_together(4, worker)
    assert not [r for r in results if isinstance(r, BaseException)], results
    a_to_b = results[0] + results[2]
    b_to_a = results[1] + results[3]
    assert ledgers[0].balance(a.id) == 5_000 - a_to_b + b_to_a
    assert ledgers[0].balance(b.id) == 5_000 - b_to_a + a_to_b
    assert count_transactions(ledgers[0], "eng") == 2 + 4 * n
    assert ledgers[0].reconcile("eng").ok
    for led in ledgers:
        led.engine.dispose()


def test_racing_retries_of_a_whole_balance_spend_all_get_the_original(ledger: Ledger) -> None:
    """Retries that waited for the lock while the original spent the balance must be answered
    with the original (replayed), not with a misleading InsufficientBalance."""
    coop = "retry-spend"
    payer = funded_member(ledger, coop, "payer", 90)
    payee = ledger.open_account(coop, "client", "payee")
    results = run_together(
        6,
        lambda _i: ledger.exchange(
            coop, payer_id=payer.id, payee_id=payee.id, minutes=90, idempotency_key="pay-all", recorded_by="t"
        ),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results}) == 1
    assert ledger.balance(payer.id) == 0 and ledger.balance(payee.id) == 90
