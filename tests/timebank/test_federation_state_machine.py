"""Model-based test of a federation of three co-ops against a plain in-memory model.

Hypothesis drives visit credits and welcome hours inside each co-op, cross-co-op help and gifts,
settlements between pots, reversals of moves, idempotent retries and reused keys, new limits, a
co-op leaving (refused while its position is not zero) and joining again, and requests that must
be refused (at the federation's limit, at a member's floor or cap, a co-op that left, ordinary
transactions touching a clearing account). After every step: each co-op sums to zero, the
clearing accounts sum to zero, every balance equals the model and its entries, no position is
beyond its limit, no past entry changed, and the books (clearing invariants included) reconcile.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from tests.timebank.conftest import sqlite_ledger_at
from timebank import (
    AlreadyReversed,
    FederationLimitExceeded,
    Federations,
    IdempotencyConflict,
    InsufficientBalance,
    LedgerError,
    LimitExceeded,
    Limits,
    NotAFederationMember,
    NotReversible,
    PositionNotSettled,
    ValidationError,
)
from timebank.models import account_t, entry_t, fed_move_t

FED = "fed"
COOPS = ["a", "b", "c"]
DAY = dt.date(2024, 5, 1)
DEFAULT_LIMIT = 300
MEMBER_LIMITS = {"volunteer": (0, 900), "client": (0, 900), "family": (0, 400)}
REFS = {"v": "volunteer", "c": "client", "f": "family"}
coop_st = st.sampled_from(COOPS)
ref_st = st.sampled_from(sorted(REFS))
minutes_st = st.integers(min_value=1, max_value=200)
keys_st = st.integers(min_value=0, max_value=20).map(lambda n: f"k{n}")


def limits_of(kind: str) -> tuple[int | None, int | None]:
    return MEMBER_LIMITS.get(kind, (None, None))


class FederationMachine(RuleBasedStateMachine):
    moves = Bundle("moves")

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.mkdtemp(prefix="tb-fed-sm-")
        self.ledger = sqlite_ledger_at(Path(self.dir) / "ledger.db")
        self.fed = Federations(self.ledger)
        self.fed.create(FED, "Federation", default_limit=DEFAULT_LIMIT)
        self.acct: dict[tuple[str, str], int] = {}  # (coop, ref) -> account id
        self.kind: dict[int, str] = {}
        self.balance: dict[int, int] = {}
        self.clearing: dict[str, int] = {}
        self.limit: dict[str, int] = {}
        self.active: dict[str, bool] = {}
        for coop in COOPS:
            self.ledger.set_policy(coop, limits={k: Limits(f, c) for k, (f, c) in MEMBER_LIMITS.items()})
            for ref, kind in REFS.items():
                a = self.ledger.open_account(coop, kind, ref)
                self._track(coop, ref, a.id, kind)
            self._track(coop, "pot", self.ledger.pot(coop).id, "pot")
            welcome = self.ledger.open_account(coop, "system", name="welcome")
            self._track(coop, "welcome", welcome.id, "system")
            m = self.fed.join(FED, coop)
            self._track(coop, "clearing", m.clearing_account_id, "clearing")
            self.clearing[coop] = m.clearing_account_id
            self.limit[coop] = DEFAULT_LIMIT
            self.active[coop] = True
        self.keys: dict[str, tuple[Any, int]] = {}  # idempotency key -> (request, move id)
        self.move_legs: dict[int, list[tuple[int, int]]] = {}  # move id -> legs in both ledgers
        self.move_coops: dict[int, tuple[str, str]] = {}
        self.is_reversal: set[int] = set()
        self.reversed_by: dict[int, int] = {}
        self.visits = 0
        self.seen_entries: list[tuple[Any, ...]] = []

    def _track(self, coop: str, ref: str, account_id: int, kind: str) -> None:
        self.acct[(coop, ref)] = account_id
        self.kind[account_id] = kind
        self.balance[account_id] = 0

    def teardown(self) -> None:
        self.ledger.engine.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------- model helpers

    def _expect(self, expected: type[LedgerError], call: Any) -> None:
        event(f"refused: {expected.__name__}")
        try:
            call()
        except LedgerError as exc:
            assert type(exc) is expected, f"expected {expected.__name__}, got {type(exc).__name__}: {exc}"
            return
        raise AssertionError(f"expected {expected.__name__}, the federation accepted the request")

    def _member_limit_error(self, legs: list[tuple[int, int]]) -> type[LedgerError] | None:
        for account_id, minutes in legs:
            floor, cap = limits_of(self.kind[account_id])
            new = self.balance[account_id] + minutes
            if minutes < 0 and floor is not None and new < floor:
                return InsufficientBalance
            if minutes > 0 and cap is not None and new > cap:
                return LimitExceeded
        return None

    def _move_error(
        self,
        from_coop: str,
        to_coop: str,
        legs_out: list[tuple[int, int]],
        legs_in: list[tuple[int, int]],
        minutes: int,
    ) -> type[LedgerError] | None:
        """What the federation must answer for a move of ``minutes`` from ``from_coop`` to ``to_coop``."""
        if not (self.active[from_coop] and self.active[to_coop]):
            return NotAFederationMember
        for coop, delta in ((from_coop, minutes), (to_coop, -minutes)):
            if abs(self.balance[self.clearing[coop]] + delta) > self.limit[coop]:
                return FederationLimitExceeded
        return self._member_limit_error(legs_out) or self._member_limit_error(legs_in)

    def _keyed(
        self,
        key: str,
        request: Any,
        expected: type[LedgerError] | None,
        call: Any,
        legs: list[tuple[int, int]],
        coops: tuple[str, str],
    ) -> int | None:
        moves_before = self._move_count()
        if key in self.keys:
            old_request, old_id = self.keys[key]
            if old_request == request:
                m = call()
                assert m.id == old_id and m.replayed
            else:
                self._expect(IdempotencyConflict, call)
            assert self._move_count() == moves_before
            return None
        if expected is not None:
            self._expect(expected, call)
            assert self._move_count() == moves_before, "a refused move wrote something"
            return None
        m = call()
        event(f"posted: {m.kind}")
        assert not m.replayed
        self.keys[key] = (request, m.id)
        for account_id, minutes in legs:
            self.balance[account_id] += minutes
        self.move_legs[m.id] = legs
        self.move_coops[m.id] = coops
        return int(m.id)

    def _move_count(self) -> int:
        with self.ledger.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(fed_move_t)).scalar_one())

    # ---------------------------------------------------------------- rules inside one co-op

    @initialize(minutes=st.integers(min_value=0, max_value=400))
    def everyone_starts_with_welcome_hours(self, minutes: int) -> None:
        for coop in COOPS:
            for ref in ("c", "f", "v"):
                self.welcome_hours(coop, ref, minutes)

    @rule(coop=coop_st, minutes=minutes_st)
    def credit_a_visit(self, coop: str, minutes: int) -> None:
        vol, pot = self.acct[(coop, "v")], self.acct[(coop, "pot")]
        self.visits += 1

        def call():
            return self.ledger.credit_visit(
                coop,
                visit_id=f"visit{self.visits}",
                volunteer_ref="v",
                minutes=minutes,
                service_date=DAY,
                recorded_by="sm",
            )

        if self.balance[vol] + minutes > MEMBER_LIMITS["volunteer"][1]:
            self._expect(LimitExceeded, call)
            return
        call()
        self.balance[vol] += minutes
        self.balance[pot] -= minutes

    @rule(coop=coop_st, ref=ref_st, minutes=minutes_st)
    def welcome_hours(self, coop: str, ref: str, minutes: int) -> None:
        if minutes == 0:
            return
        to, welcome = self.acct[(coop, ref)], self.acct[(coop, "welcome")]
        self.visits += 1

        def call():
            return self.ledger.adjust(
                coop,
                legs=[(welcome, -minutes), (to, minutes)],
                idempotency_key=f"welcome{self.visits}",
                recorded_by="sm",
                memo="welcome hours",
            )

        if self.balance[to] + minutes > limits_of(self.kind[to])[1]:  # type: ignore[operator]
            self._expect(LimitExceeded, call)
            return
        call()
        self.balance[to] += minutes
        self.balance[welcome] -= minutes

    @rule(coop=coop_st, minutes=minutes_st)
    def an_ordinary_transaction_never_touches_a_clearing_account(self, coop: str, minutes: int) -> None:
        self.visits += 1
        self._expect(
            ValidationError,
            lambda: self.ledger.adjust(
                coop,
                legs=[(self.clearing[coop], -minutes), (self.acct[(coop, "pot")], minutes)],
                idempotency_key=f"sneak{self.visits}",
                recorded_by="sm",
                memo="try to move a position",
            ),
        )

    # ---------------------------------------------------------------- moves between co-ops

    @rule(target=moves, payer_coop=coop_st, vol_coop=coop_st, payer=ref_st, minutes=minutes_st, key=keys_st)
    def help_across_coops(self, payer_coop: str, vol_coop: str, payer: str, minutes: int, key: str) -> Any:
        """A member of ``payer_coop`` pays the volunteer of ``vol_coop`` for help."""
        frm, to = self.acct[(payer_coop, payer)], self.acct[(vol_coop, "v")]

        def call():
            return self.fed.help(
                FED,
                payer_coop_id=payer_coop,
                payer_id=frm,
                volunteer_coop_id=vol_coop,
                volunteer_id=to,
                minutes=minutes,
                idempotency_key=key,
                recorded_by="sm",
                service_date=DAY,
            )

        if payer_coop == vol_coop:
            self._expect(ValidationError, call)
            return -1
        return self._cross("help", payer_coop, frm, vol_coop, to, minutes, key, call)

    @rule(
        target=moves,
        from_coop=coop_st,
        to_coop=coop_st,
        giver=ref_st,
        receiver=ref_st,
        minutes=minutes_st,
        key=keys_st,
    )
    def gift_across_coops(
        self, from_coop: str, to_coop: str, giver: str, receiver: str, minutes: int, key: str
    ) -> Any:
        if from_coop == to_coop:
            return -1
        frm, to = self.acct[(from_coop, giver)], self.acct[(to_coop, receiver)]

        def call():
            return self.fed.gift(
                FED,
                from_coop_id=from_coop,
                from_id=frm,
                to_coop_id=to_coop,
                to_id=to,
                minutes=minutes,
                idempotency_key=key,
                recorded_by="sm",
                service_date=DAY,
            )

        return self._cross("gift", from_coop, frm, to_coop, to, minutes, key, call)

    @rule(target=moves, from_coop=coop_st, to_coop=coop_st, minutes=minutes_st, key=keys_st)
    def settle_between_pots(self, from_coop: str, to_coop: str, minutes: int, key: str) -> Any:
        if from_coop == to_coop:
            return -1
        frm, to = self.acct[(from_coop, "pot")], self.acct[(to_coop, "pot")]

        def call():
            return self.fed.settle(
                FED,
                from_coop_id=from_coop,
                to_coop_id=to_coop,
                minutes=minutes,
                idempotency_key=key,
                recorded_by="sm",
                service_date=DAY,
            )

        return self._cross("settlement", from_coop, frm, to_coop, to, minutes, key, call)

    def _cross(
        self, kind: str, from_coop: str, frm: int, to_coop: str, to: int, minutes: int, key: str, call: Any
    ) -> Any:
        out_legs = [(frm, -minutes), (self.clearing[from_coop], minutes)]
        in_legs = [(self.clearing[to_coop], -minutes), (to, minutes)]
        expected = self._move_error(from_coop, to_coop, out_legs, in_legs, minutes)
        request = (kind, from_coop, frm, to_coop, to, minutes)
        move_id = self._keyed(key, request, expected, call, out_legs + in_legs, (from_coop, to_coop))
        return move_id if move_id is not None else -1

    @rule(target=moves, move=moves, key=keys_st)
    def reverse_a_move(self, move: int, key: str) -> Any:
        def call():
            return self.fed.reverse(
                FED,
                move if move > 0 else 10**6,
                idempotency_key=key,
                recorded_by="sm",
            )

        if move <= 0:
            return -1
        from_coop, to_coop = self.move_coops[move]
        legs = [(a, -m) for a, m in self.move_legs[move]]
        expected: type[LedgerError] | None
        if move in self.is_reversal:
            expected = NotReversible
        elif move in self.reversed_by:
            expected = AlreadyReversed
        else:
            # minutes go back from to_coop to from_coop: the to_coop leg first, as the service does
            n = len(legs) // 2
            expected = self._move_error(to_coop, from_coop, legs[n:], legs[:n], self._minutes(move))
        request = ("reverse", move)
        if key in self.keys or expected is not None:
            self._keyed(key, request, expected, call, legs, (to_coop, from_coop))
            return -1
        rev = self._keyed(key, request, None, call, legs, (to_coop, from_coop))
        assert rev is not None
        self.is_reversal.add(rev)
        self.reversed_by[move] = rev
        # the reversal's legs as a move of its own: out of to_coop, into from_coop
        n = len(legs) // 2
        self.move_legs[rev] = legs[n:] + legs[:n]
        return rev

    def _minutes(self, move: int) -> int:
        return max(m for _a, m in self.move_legs[move])

    @rule(retry=st.data())
    def retry_an_earlier_request_with_its_key(self, retry: st.DataObject) -> None:
        """The same key and request: the original move, nothing posted again."""
        if not self.keys:
            return
        key = retry.draw(st.sampled_from(sorted(self.keys)))
        request, move_id = self.keys[key]
        before = self._move_count()
        if request[0] == "reverse":
            m = self.fed.reverse(FED, request[1], idempotency_key=key, recorded_by="sm")
        else:
            kind, from_coop, frm, to_coop, to, minutes = request
            m = self.fed.move(
                FED,
                kind=kind,
                from_coop_id=from_coop,
                from_account_id=frm,
                to_coop_id=to_coop,
                to_account_id=to,
                minutes=minutes,
                idempotency_key=key,
                recorded_by="sm",
                service_date=DAY,
                memo="settlement between co-ops" if kind == "settlement" else "",
            )
        assert m.id == move_id and m.replayed
        assert self._move_count() == before

    # ---------------------------------------------------------------- membership

    @rule(coop=coop_st, limit=st.integers(min_value=0, max_value=900))
    def set_a_limit(self, coop: str, limit: int) -> None:
        call = lambda: self.fed.set_limit(FED, coop, limit)  # noqa: E731
        if not self.active[coop]:
            self._expect(NotAFederationMember, call)
        elif abs(self.balance[self.clearing[coop]]) > limit:
            self._expect(ValidationError, call)
        else:
            assert call().limit == limit
            self.limit[coop] = limit

    @rule(coop=coop_st)
    def leave(self, coop: str) -> None:
        call = lambda: self.fed.leave(FED, coop)  # noqa: E731
        if not self.active[coop]:
            self._expect(NotAFederationMember, call)
        elif self.balance[self.clearing[coop]] != 0:
            self._expect(PositionNotSettled, call)
        else:
            assert not call().active
            self.active[coop] = False

    @rule(coop=coop_st)
    def join_again(self, coop: str) -> None:
        m = self.fed.join(FED, coop)
        assert m.active and m.clearing_account_id == self.clearing[coop]
        if not self.active[coop]:
            self.limit[coop] = DEFAULT_LIMIT
        self.active[coop] = True

    # ---------------------------------------------------------------- invariants

    @invariant()
    def each_coop_sums_to_zero(self) -> None:
        for coop in COOPS:
            assert self.ledger.coop_total(coop) == 0

    @invariant()
    def the_clearing_accounts_sum_to_zero(self) -> None:
        positions = {m.coop_id: m.position for m in self.fed.get(FED).members}
        assert sum(positions.values()) == 0
        assert positions == {c: self.balance[self.clearing[c]] for c in COOPS}

    @invariant()
    def every_balance_equals_the_model_and_its_entries(self) -> None:
        with self.ledger.engine.connect() as conn:
            db = {r.id: r.balance for r in conn.execute(sa.select(account_t.c.id, account_t.c.balance))}
            sums = {
                r.account_id: int(r.total)
                for r in conn.execute(
                    sa.select(entry_t.c.account_id, sa.func.sum(entry_t.c.amount).label("total")).group_by(
                        entry_t.c.account_id
                    )
                )
            }
        assert db == self.balance
        assert all(balance == sums.get(account_id, 0) for account_id, balance in db.items())

    @invariant()
    def no_position_is_beyond_its_limit(self) -> None:
        for m in self.fed.get(FED).members:
            assert abs(m.position) <= m.limit
            assert m.limit == self.limit[m.coop_id]
            assert m.active == self.active[m.coop_id]
            if not m.active:
                assert m.position == 0

    @invariant()
    def past_entries_are_unchanged_and_the_books_reconcile(self) -> None:
        with self.ledger.engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.select(entry_t).order_by(entry_t.c.id))]
        assert rows[: len(self.seen_entries)] == self.seen_entries
        self.seen_entries = rows
        report = self.ledger.reconcile()
        assert report.ok, report.problems


FederationMachine.TestCase.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestFederationStateMachine = FederationMachine.TestCase
TestFederationStateMachine.__doc__ = (
    "Three co-ops in one federation agree with a plain model after every step."
)
