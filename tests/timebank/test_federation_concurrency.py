"""Concurrent moves between co-ops on SQLite (WAL, BEGIN IMMEDIATE) and PostgreSQL (row locks
on all four accounts of a move in id order): exact balances and positions, no deadlock, no lost
update, one move per key, and the limit holds under a race."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tests.timebank.helpers import funded_member
from tests.timebank.test_concurrency import run_together
from timebank import FederationLimitExceeded, Federations, Ledger
from timebank.models import fed_move_t

FED = "fed"
WORKERS = 8
MOVES_PER_WORKER = 150


def move_count(ledger: Ledger) -> int:
    with ledger.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(fed_move_t)).scalar_one())


def test_opposite_moves_between_two_coops_by_eight_workers_are_exact(ledger: Ledger) -> None:
    """8 workers move minutes between a member of a and a member of b, half each way: final
    balances and positions are exact, every move is one move, both co-ops and the clearing
    accounts sum to zero and the books reconcile."""
    fed = Federations(ledger)
    fed.create(FED, "F", default_limit=1_000_000)
    fed.join(FED, "a")
    fed.join(FED, "b")
    x = funded_member(ledger, "a", "x", 20_000)
    y = funded_member(ledger, "b", "y", 20_000)

    def worker(w: int) -> int:
        moved = 0
        for i in range(MOVES_PER_WORKER):
            minutes = 1 + (i + w) % 4
            if w % 2 == 0:
                fed.help(
                    FED,
                    payer_coop_id="a",
                    payer_id=x.id,
                    volunteer_coop_id="b",
                    volunteer_id=y.id,
                    minutes=minutes,
                    idempotency_key=f"w{w}-{i}",
                    recorded_by=f"w{w}",
                )
            else:
                fed.gift(
                    FED,
                    from_coop_id="b",
                    from_id=y.id,
                    to_coop_id="a",
                    to_id=x.id,
                    minutes=minutes,
                    idempotency_key=f"w{w}-{i}",
                    recorded_by=f"w{w}",
                )
            moved += minutes
        return moved

    results = run_together(WORKERS, worker)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    a_to_b = sum(r for w, r in enumerate(results) if w % 2 == 0)
    b_to_a = sum(r for w, r in enumerate(results) if w % 2 == 1)
    assert ledger.balance(x.id) == 20_000 - a_to_b + b_to_a == ledger.balance_from_entries(x.id)
    assert ledger.balance(y.id) == 20_000 - b_to_a + a_to_b == ledger.balance_from_entries(y.id)
    assert fed.position(FED, "a") == a_to_b - b_to_a == -fed.position(FED, "b")
    assert move_count(ledger) == WORKERS * MOVES_PER_WORKER
    assert ledger.coop_total("a") == ledger.coop_total("b") == 0
    report = ledger.reconcile()
    assert report.ok, report.problems[:5]


def test_racing_moves_stop_exactly_at_the_limit(ledger: Ledger) -> None:
    """8 workers each try to move 100 minutes from a to b with a limit of 300: exactly three
    succeed, the others are refused at the limit and write nothing."""
    fed = Federations(ledger)
    fed.create(FED, "F", default_limit=300)
    fed.join(FED, "a")
    fed.join(FED, "b")
    payers = [funded_member(ledger, "a", f"p{i}", 100) for i in range(WORKERS)]
    to = ledger.open_account("b", "volunteer", "v")
    results = run_together(
        WORKERS,
        lambda i: fed.help(
            FED,
            payer_coop_id="a",
            payer_id=payers[i].id,
            volunteer_coop_id="b",
            volunteer_id=to.id,
            minutes=100,
            idempotency_key=f"k{i}",
            recorded_by="t",
        ),
    )
    ok = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, FederationLimitExceeded)]
    assert len(ok) == 3 and len(refused) == WORKERS - 3, results
    assert fed.position(FED, "a") == 300 and ledger.balance(to.id) == 300
    assert sum(ledger.balance(p.id) for p in payers) == 100 * (WORKERS - 3)
    assert move_count(ledger) == 3
    assert ledger.reconcile().ok


def test_racing_retries_of_one_move_post_it_once(ledger: Ledger) -> None:
    fed = Federations(ledger)
    fed.create(FED, "F", default_limit=1000)
    fed.join(FED, "a")
    fed.join(FED, "b")
    payer = funded_member(ledger, "a", "p", 100)
    to = ledger.open_account("b", "family", "f")
    results = run_together(
        WORKERS,
        lambda _i: fed.gift(
            FED,
            from_coop_id="a",
            from_id=payer.id,
            to_coop_id="b",
            to_id=to.id,
            minutes=100,
            idempotency_key="same",
            recorded_by="t",
        ),
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert len({r.id for r in results}) == 1 and sum(not r.replayed for r in results) == 1
    assert ledger.balance(to.id) == 100 and move_count(ledger) == 1


def test_sqlite_moves_from_separate_engines_queue_on_the_database_lock(tmp_path: Path) -> None:
    """No shared Python lock (one engine per worker, as separate processes would have): SQLite's
    BEGIN IMMEDIATE + busy_timeout serialize the two-ledger moves; balances exact."""
    from tests.timebank.conftest import sqlite_ledger_at

    path = tmp_path / "shared.db"
    ledgers = [sqlite_ledger_at(path) for _ in range(4)]
    feds = [Federations(led) for led in ledgers]
    feds[0].create(FED, "F", default_limit=1_000_000)
    feds[0].join(FED, "a")
    feds[0].join(FED, "b")
    x = funded_member(ledgers[0], "a", "x", 5_000)
    y = funded_member(ledgers[0], "b", "y", 5_000)
    n = 60

    def worker(w: int) -> int:
        for i in range(n):
            if w % 2 == 0:
                feds[w].gift(
                    FED,
                    from_coop_id="a",
                    from_id=x.id,
                    to_coop_id="b",
                    to_id=y.id,
                    minutes=w + 1,
                    idempotency_key=f"e{w}-{i}",
                    recorded_by="t",
                )
            else:
                feds[w].gift(
                    FED,
                    from_coop_id="b",
                    from_id=y.id,
                    to_coop_id="a",
                    to_id=x.id,
                    minutes=w + 1,
                    idempotency_key=f"e{w}-{i}",
                    recorded_by="t",
                )
        return (w + 1) * n

    results = run_together(4, worker)
    assert not [r for r in results if isinstance(r, BaseException)], results
    a_to_b, b_to_a = results[0] + results[2], results[1] + results[3]
    assert ledgers[0].balance(x.id) == 5_000 - a_to_b + b_to_a
    assert ledgers[0].balance(y.id) == 5_000 - b_to_a + a_to_b
    assert feds[0].position(FED, "a") == a_to_b - b_to_a
    assert move_count(ledgers[0]) == 4 * n
    assert ledgers[0].reconcile().ok
    for led in ledgers:
        led.engine.dispose()
