"""Model-based test: random sequences of ledger operations against a plain in-memory model.

Hypothesis drives visit credits, exchanges, gifts, donations, reversals, idempotent retries and
operations that must be refused (limits, idempotency conflicts, cross-co-op, bad input, double
reversals). After every step the database must agree with the model: balances, every co-op
summing to zero, no account beyond its limits, and no past entry changed.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from tests.timebank.conftest import sqlite_ledger_at
from timebank import (
    AlreadyReversed,
    CrossCoopTransfer,
    IdempotencyConflict,
    InsufficientBalance,
    LedgerError,
    LimitExceeded,
    Limits,
    NotReversible,
    ValidationError,
)
from timebank.models import account_t, entry_t

COOP = "sm"
OTHER = "sm-other"
DAY = dt.date(2024, 5, 1)
LIMITS = {
    "volunteer": (0, 600),
    "client": (-120, 600),  # this co-op lets clients run a small debt
    "family": (0, 300),
    "pot": (-2000, None),
}
VOLS = ["v0", "v1", "v2"]
MEMBERS = ["v0", "v1", "v2", "c0", "c1", "f0"]
minutes_st = st.integers(min_value=1, max_value=400)
keys_st = st.integers(min_value=0, max_value=12).map(lambda n: f"k{n}")


class LedgerMachine(RuleBasedStateMachine):
    txns = Bundle("txns")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="tb-sm-")
        self.ledger = sqlite_ledger_at(Path(self.dir) / "ledger.db")
        self.ledger.set_policy(COOP, limits={k: Limits(f, c) for k, (f, c) in LIMITS.items()})
        kinds = {"v": "volunteer", "c": "client", "f": "family"}
        self.acct: dict[str, int] = {}
        self.kind: dict[int, str] = {}
        for ref in MEMBERS:
            a = self.ledger.open_account(COOP, kinds[ref[0]], ref)
            self.acct[ref] = a.id
            self.kind[a.id] = a.kind
        pot = self.ledger.pot(COOP)
        self.acct["pot"] = pot.id
        self.kind[pot.id] = "pot"
        outsider = self.ledger.open_account(OTHER, "volunteer", "outsider")
        self.outsider = outsider.id
        self.balance: dict[int, int] = {i: 0 for i in self.kind}
        self.balance[self.outsider] = 0
        self.keys: dict[str, tuple[Any, int]] = {}  # idempotency key -> (request, transaction id)
        self.visits: dict[tuple[int, str], tuple[int, int]] = {}  # (visit, vol) -> (minutes, txn id)
        self.legs: dict[int, list[tuple[int, int]]] = {}
        self.is_reversal: set[int] = set()
        self.reversed_by: dict[int, int] = {}
        self.seen_entries: list[tuple[Any, ...]] = []

    def teardown(self) -> None:
        self.ledger.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------- model helpers

    def _limit_error(self, legs: list[tuple[int, int]]) -> type[LedgerError] | None:
        for account_id, minutes in legs:  # same order as the service checks them
            floor, cap = LIMITS[self.kind[account_id]]
            new = self.balance[account_id] + minutes
            if minutes < 0 and floor is not None and new < floor:
                return InsufficientBalance
            if minutes > 0 and cap is not None and new > cap:
                return LimitExceeded
        return None

    def _apply(self, txn_id: int, legs: list[tuple[int, int]]) -> None:
        for account_id, minutes in legs:
            self.balance[account_id] += minutes
        self.legs[txn_id] = legs

    def _expect(self, expected: type[LedgerError] | None, call: Any) -> Any:
        if expected is None:
            return call()
        try:
            call()
        except LedgerError as exc:
            assert type(exc) is expected, f"expected {expected.__name__}, got {type(exc).__name__}: {exc}"
            return None
        raise AssertionError(f"expected {expected.__name__}, the ledger accepted the request")

    def _keyed(self, key: str, request: Any, legs: list[tuple[int, int]], call: Any) -> int | None:
        """Post a keyed request and check replay / conflict / limits against the model."""
        if key in self.keys:
            old_request, old_id = self.keys[key]
            if old_request == request:
                t = call()
                assert t.id == old_id and t.replayed
                return None
            self._expect(IdempotencyConflict, call)
            return None
        error = self._limit_error(legs)
        t = self._expect(error, call)
        if t is None:
            return None
        assert not t.replayed
        assert sorted((leg.account_id, leg.minutes) for leg in t.legs) == sorted(legs)
        self.keys[key] = (request, t.id)
        self._apply(t.id, legs)
        return int(t.id)

    # ---------------------------------------------------------------- rules

    @rule(target=txns, vol=st.sampled_from(VOLS), visit=st.integers(0, 8), minutes=minutes_st)
    def credit_visit(self, vol: str, visit: int, minutes: int) -> Any:
        def call() -> Any:
            return self.ledger.credit_visit(
                COOP,
                visit_id=f"visit{visit}",
                volunteer_ref=vol,
                minutes=minutes,
                service_date=DAY,
                recorded_by="job",
            )

        pot, vol_id = self.acct["pot"], self.acct[vol]
        if (visit, vol) in self.visits:
            old_minutes, old_id = self.visits[(visit, vol)]
            if old_minutes == minutes:
                t = call()
                assert t.id == old_id and t.replayed
            else:
                self._expect(IdempotencyConflict, call)
            return old_id
        legs = [(pot, -minutes), (vol_id, minutes)]
        t = self._expect(self._limit_error(legs), call)
        if t is None:
            return -1
        self.visits[(visit, vol)] = (minutes, t.id)
        self._apply(t.id, legs)
        return t.id

    @rule(
        target=txns,
        kind=st.sampled_from(["exchange", "gift"]),
        payer=st.sampled_from(MEMBERS),
        payee=st.sampled_from(MEMBERS),
        minutes=minutes_st,
        key=keys_st,
    )
    def exchange_or_gift(self, kind: str, payer: str, payee: str, minutes: int, key: str) -> Any:
        a, b = self.acct[payer], self.acct[payee]
        if a == b:
            with_err = self.ledger.exchange if kind == "exchange" else None
            try:
                if with_err is not None:
                    with_err(
                        COOP, payer_id=a, payee_id=b, minutes=minutes, idempotency_key=key, recorded_by="u"
                    )
                else:
                    self.ledger.gift(
                        COOP, from_id=a, to_id=b, minutes=minutes, idempotency_key=key, recorded_by="u"
                    )
            except ValidationError as exc:
                assert any("same account" in e for e in exc.errors)
                return -1
            raise AssertionError("a transfer to the same account was accepted")

        def call() -> Any:
            if kind == "exchange":
                return self.ledger.exchange(
                    COOP,
                    payer_id=a,
                    payee_id=b,
                    minutes=minutes,
                    idempotency_key=key,
                    recorded_by="u",
                    service_date=DAY,
                )
            return self.ledger.gift(
                COOP,
                from_id=a,
                to_id=b,
                minutes=minutes,
                idempotency_key=key,
                recorded_by="u",
                service_date=DAY,
            )

        txn = self._keyed(key, (kind, a, b, minutes), [(a, -minutes), (b, minutes)], call)
        return txn if txn is not None else -1

    @rule(target=txns, donor=st.sampled_from(MEMBERS), minutes=minutes_st, key=keys_st)
    def donate(self, donor: str, minutes: int, key: str) -> Any:
        a, pot = self.acct[donor], self.acct["pot"]

        def call() -> Any:
            return self.ledger.donate(
                COOP, from_id=a, minutes=minutes, idempotency_key=key, recorded_by="u", service_date=DAY
            )

        txn = self._keyed(key, ("donation", a, pot, minutes), [(a, -minutes), (pot, minutes)], call)
        return txn if txn is not None else -1

    @rule(txn=txns, key=keys_st)
    def reverse(self, txn: int, key: str) -> None:
        if txn < 0:
            return

        def call() -> Any:
            return self.ledger.reverse(txn, idempotency_key=key, recorded_by="admin")

        if txn in self.is_reversal:
            self._expect(NotReversible, call)
            return
        legs = [(acc, -m) for acc, m in self.legs[txn]]
        if key in self.keys:
            self._keyed(key, ("reversal", txn), legs, call)
            return
        if txn in self.reversed_by:
            self._expect(AlreadyReversed, call)
            return
        new_id = self._keyed(key, ("reversal", txn), legs, call)
        if new_id is not None:
            self.is_reversal.add(new_id)
            self.reversed_by[txn] = new_id

    @rule(member=st.sampled_from(MEMBERS), minutes=minutes_st)
    def cross_coop_transfer_is_refused(self, member: str, minutes: int) -> None:
        self._expect(
            CrossCoopTransfer,
            lambda: self.ledger.exchange(
                COOP,
                payer_id=self.acct[member],
                payee_id=self.outsider,
                minutes=minutes,
                idempotency_key=f"cross-{len(self.seen_entries)}-{minutes}",
                recorded_by="u",
            ),
        )

    @rule(minutes=st.sampled_from([0, -5, 1.5, True, "60"]), payer=st.sampled_from(MEMBERS))
    def bad_input_is_refused_with_every_problem(self, minutes: Any, payer: str) -> None:
        try:
            self.ledger.exchange(
                COOP,
                payer_id=self.acct[payer],
                payee_id=self.acct["c0"],
                minutes=minutes,
                idempotency_key="",
                recorded_by="u",
            )
        except ValidationError as exc:
            assert any(e.startswith("minutes:") for e in exc.errors), exc.errors
            assert any(e.startswith("idempotency_key:") for e in exc.errors), exc.errors
        else:
            raise AssertionError("an invalid exchange was accepted")

    # ---------------------------------------------------------------- invariants

    @invariant()
    def balances_equal_the_model(self) -> None:
        with self.ledger.engine.connect() as conn:
            db = {r.id: r.balance for r in conn.execute(sa.select(account_t.c.id, account_t.c.balance))}
        assert db == self.balance

    @invariant()
    def every_coop_sums_to_zero(self) -> None:
        assert self.ledger.coop_total(COOP) == 0
        assert self.ledger.coop_total(OTHER) == 0

    @invariant()
    def no_account_is_beyond_its_limits(self) -> None:
        for account_id, bal in self.balance.items():
            if account_id == self.outsider:
                continue
            floor, cap = LIMITS[self.kind[account_id]]
            assert floor is None or bal >= floor
            assert cap is None or bal <= cap

    @invariant()
    def past_entries_are_unchanged_and_the_books_reconcile(self) -> None:
        with self.ledger.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.select(entry_t).order_by(entry_t.c.id))]
        assert rows[: len(self.seen_entries)] == self.seen_entries
        self.seen_entries = rows
        report = self.ledger.reconcile()
        assert report.ok, report.problems


LedgerMachine.TestCase.settings = settings(
    max_examples=20,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerStateMachine = LedgerMachine.TestCase
TestLedgerStateMachine.__doc__ = "The ledger agrees with a plain in-memory model after every step."
