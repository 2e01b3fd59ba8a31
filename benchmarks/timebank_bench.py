"""Time bank benchmark: transfer throughput and read times on an account with 100,000 entries.

    python -m benchmarks.timebank_bench [--db sqlite|postgres|both] [--transfers 500] [--entries 100000]

Writes use the ledger's durable defaults (SQLite WAL with synchronous=FULL, PostgreSQL with the
server's synchronous_commit). PostgreSQL runs in a throwaway schema of CAREROTA_TEST_PG_URL.
The 100,000-entry history is bulk-loaded (the same rows the service would write, with correct
balance_after chains) and then proved by ``Ledger.reconcile`` before anything is timed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from timebank import Ledger, Limits
from timebank.models import account_t, entry_t, txn_t

PG_URL = os.environ.get("CAREROTA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
COOP = "bench"


@contextmanager
def sqlite_ledger() -> Iterator[Ledger]:
    with tempfile.TemporaryDirectory(prefix="tb-bench-") as d:
        ledger = Ledger.from_url(f"sqlite:///{Path(d) / 'bench.db'}")
        ledger.create_schema()
        try:
            yield ledger
        finally:
            ledger.engine.dispose()


@contextmanager
def pg_ledger() -> Iterator[Ledger]:
    schema = "timebank_bench_" + uuid.uuid4().hex[:10]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    ledger = Ledger.from_url(PG_URL, connect_args={"options": f"-csearch_path={schema}"}, pool_size=8)
    try:
        ledger.create_schema()
        yield ledger
    finally:
        ledger.engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def transfers_per_second(ledger: Ledger, n: int, threads: int, tag: str) -> float:
    a = ledger.open_account(COOP, "volunteer", f"{tag}-a")
    b = ledger.open_account(COOP, "volunteer", f"{tag}-b")
    for acc in (a, b):
        ledger.credit_visit(
            COOP,
            visit_id=f"{tag}-fund",
            volunteer_ref=acc.owner_ref or "",
            minutes=40_000,
            service_date=dt.date.today(),
            recorded_by="bench",
        )
    per_thread = n // threads

    def work(w: int) -> None:
        payer, payee = (a.id, b.id) if w % 2 == 0 else (b.id, a.id)
        for i in range(per_thread):
            ledger.exchange(
                COOP,
                payer_id=payer,
                payee_id=payee,
                minutes=1,
                idempotency_key=f"{tag}-{w}-{i}",
                recorded_by="bench",
            )

    start = time.perf_counter()
    workers = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return per_thread * threads / (time.perf_counter() - start)


def seed_history(ledger: Ledger, entries: int, days: int = 1000) -> int:
    """Bulk-load ``entries`` transactions touching one volunteer account; returns its id."""
    ledger.set_policy(COOP, limits={"volunteer": Limits(0, None), "client": Limits(None, None)})
    hub = ledger.open_account(COOP, "volunteer", "hub")
    pot = ledger.pot(COOP)
    others = [ledger.open_account(COOP, "client", f"client{i}") for i in range(50)]
    with ledger.engine.connect() as conn:
        next_txn = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(txn_t.c.id), 0))).scalar_one()) + 1
        next_entry = (
            int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(entry_t.c.id), 0))).scalar_one()) + 1
        )
        bal = {a.id: ledger.balance(a.id) for a in [hub, pot, *others]}
    now = dt.datetime.now(dt.UTC)
    first = now - dt.timedelta(days=days)
    step = (now - first) / entries
    txns: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    for i in range(entries):
        posted = first + step * i
        if i % 2 == 0:  # a visit credit from the pot
            kind, legs, ref = "visit_credit", [(pot.id, -30), (hub.id, 30)], f"bench-visit-{i}"
        else:  # the volunteer pays a client for help
            kind, legs, ref = "exchange", [(hub.id, -20), (others[i % 50].id, 20)], None
        tid = next_txn + i
        txns.append(
            {
                "id": tid,
                "coop_id": COOP,
                "kind": kind,
                "recorded_by": "bench",
                "on_behalf_of": None,
                "service_date": posted.date(),
                "memo": "",
                "reference": ref,
                "reverses_id": None,
                "posted_at": posted,
                "idempotency_key": f"bench-{i}",
                "request_hash": "0" * 64,
            }
        )
        for account_id, minutes in legs:
            bal[account_id] += minutes
            rows.append(
                {
                    "id": next_entry,
                    "transaction_id": tid,
                    "account_id": account_id,
                    "amount": minutes,
                    "coop_id": COOP,
                    "balance_after": bal[account_id],
                    "posted_at": posted,
                }
            )
            next_entry += 1
    chunk = 10_000
    with ledger.engine.begin() as conn:
        for k in range(0, len(txns), chunk):
            conn.execute(txn_t.insert(), txns[k : k + chunk])
        for k in range(0, len(rows), chunk):
            conn.execute(entry_t.insert(), rows[k : k + chunk])
        conn.execute(
            account_t.update()
            .where(account_t.c.id == sa.bindparam("b_id"))
            .values(balance=sa.bindparam("b_bal"), last_posted_at=now),
            [{"b_id": i, "b_bal": v} for i, v in bal.items()],
        )
        if conn.dialect.name == "postgresql":
            for table in ("tb_transaction", "tb_entry"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            conn.exec_driver_sql("ANALYZE tb_entry")
            conn.exec_driver_sql("ANALYZE tb_transaction")
        else:
            conn.exec_driver_sql("ANALYZE")
    return hub.id


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def run(db: str, transfers: int, entries: int) -> dict[str, str]:
    ctx = sqlite_ledger() if db == "sqlite" else pg_ledger()
    out: dict[str, str] = {}
    with ctx as ledger:
        out["transfers/s (1 writer)"] = f"{transfers_per_second(ledger, transfers, 1, 'single'):.0f}"
        out["transfers/s (4 writers, same 2 accounts)"] = (
            f"{transfers_per_second(ledger, transfers, 4, 'four'):.0f}"
        )
        t = time.perf_counter()
        hub = seed_history(ledger, entries)
        out["bulk load (s)"] = f"{time.perf_counter() - t:.1f}"
        t = time.perf_counter()
        report = ledger.reconcile(COOP)
        out["reconcile whole co-op (ms)"] = f"{(time.perf_counter() - t) * 1000:.0f}"
        if not report.ok:
            raise SystemExit(f"bulk-loaded history does not reconcile: {report.problems[:5]}")
        n_entries = len(ledger.entries(hub, limit=entries + 10))
        assert n_entries >= entries // 2 + entries // 2, n_entries
        out["entries on the account"] = str(n_entries)
        today = dt.datetime.now(dt.UTC).date()
        out["balance (ms)"] = f"{median_ms(lambda: ledger.balance(hub), 200):.2f}"
        out["balance as sum of entries (ms)"] = (
            f"{median_ms(lambda: ledger.balance_from_entries(hub), 20):.2f}"
        )
        for days in (1, 7, 31):
            start = today - dt.timedelta(days=days - 1)
            lines = len(ledger.statement(hub, start, today).lines)
            ms = median_ms(lambda start=start: ledger.statement(hub, start, today), 10)
            out[f"statement, {days} day(s) (ms / lines)"] = f"{ms:.1f} / {lines}"
        out["statement CSV 31 d (ms)"] = (
            f"{median_ms(lambda: ledger.statement_csv(hub, today - dt.timedelta(days=30), today), 5):.1f}"
        )
        other = ledger.open_account(COOP, "client", "late")
        keys = iter(range(10**6))

        def late_transfer() -> object:
            return ledger.exchange(
                COOP,
                payer_id=hub,
                payee_id=other.id,
                minutes=1,
                idempotency_key=f"late-{next(keys)}",
                recorded_by="bench",
            )

        out["transfer on the 100k-entry account (ms)"] = f"{median_ms(late_transfer, 50):.2f}"
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--transfers", type=int, default=1000)
    parser.add_argument("--entries", type=int, default=100_000)
    args = parser.parse_args(argv)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    results = {db: run(db, args.transfers, args.entries) for db in dbs}
    metrics = list(next(iter(results.values())).keys())
    print(f"| metric | {' | '.join(dbs)} |")
    print(f"|---|{'---|' * len(dbs)}")
    for m in metrics:
        print(f"| {m} | {' | '.join(results[db].get(m, '') for db in dbs)} |")
    print(f"\ncpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} at the end of the run")


if __name__ == "__main__":
    main()
