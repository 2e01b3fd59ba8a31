"""Exchanges, gifts and donations: idempotency keys, floors, caps, and co-op isolation."""

from __future__ import annotations

import pytest

from tests.timebank.helpers import DAY, funded_member
from timebank import (
    CrossCoopTransfer,
    IdempotencyConflict,
    InsufficientBalance,
    Ledger,
    LimitExceeded,
    Limits,
)


def test_exchange_gift_and_donation_move_minutes(ledger: Ledger) -> None:
    """Members pay each other, gift to family and donate to the pot; every co-op sums to zero."""
    a = funded_member(ledger, "x", "a", 300)
    b = ledger.open_account("x", "client", "b")
    fam = ledger.open_account("x", "family", "fam")
    ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="e1", recorded_by="a")
    ledger.gift("x", from_id=a.id, to_id=fam.id, minutes=30, idempotency_key="g1", recorded_by="a")
    ledger.donate("x", from_id=a.id, minutes=10, idempotency_key="d1", recorded_by="a")
    assert (ledger.balance(a.id), ledger.balance(b.id), ledger.balance(fam.id)) == (200, 60, 30)
    assert ledger.balance(ledger.pot("x").id) == -300 + 10
    assert ledger.coop_total("x") == 0


def test_same_key_same_request_returns_the_original(ledger: Ledger) -> None:
    """A client retry with the same key and body is answered with the original transaction."""
    a = funded_member(ledger, "x", "a", 300)
    b = ledger.open_account("x", "client", "b")
    t1 = ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="k", recorded_by="a")
    t2 = ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="k", recorded_by="a")
    assert t2.id == t1.id and t2.replayed
    assert ledger.balance(a.id) == 240


def test_same_key_different_request_is_refused(ledger: Ledger) -> None:
    """Reusing a key for another amount is a client bug: refused, nothing written."""
    a = funded_member(ledger, "x", "a", 300)
    b = ledger.open_account("x", "client", "b")
    ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="k", recorded_by="a")
    with pytest.raises(IdempotencyConflict, match="idempotency_key: 'k'"):
        ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=61, idempotency_key="k", recorded_by="a")
    with pytest.raises(IdempotencyConflict):
        ledger.gift("x", from_id=a.id, to_id=b.id, minutes=60, idempotency_key="k", recorded_by="a")
    assert ledger.balance(a.id) == 240


def test_spending_more_than_the_balance_is_refused_and_changes_nothing(ledger: Ledger) -> None:
    """Members may not go below 0 by default; the refusal names the account and the floor."""
    a = funded_member(ledger, "x", "a", 50)
    b = ledger.open_account("x", "client", "b")
    with pytest.raises(InsufficientBalance, match="below its floor of 0") as info:
        ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=51, idempotency_key="k", recorded_by="a")
    assert info.value.account_id == a.id and info.value.new_balance == -1
    assert (ledger.balance(a.id), ledger.balance(b.id)) == (50, 0)
    # the refused key was not consumed: the corrected request may use it
    ledger.exchange("x", payer_id=a.id, payee_id=b.id, minutes=50, idempotency_key="k", recorded_by="a")
    assert ledger.balance(a.id) == 0


def test_coop_may_allow_members_some_debt(ledger: Ledger) -> None:
    """With a floor of -120 a client can receive help before earning."""
    ledger.set_policy("x", limits={"client": Limits(floor=-120, cap=45_000)})
    c = ledger.open_account("x", "client", "c")
    v = ledger.open_account("x", "volunteer", "v")
    ledger.exchange("x", payer_id=c.id, payee_id=v.id, minutes=120, idempotency_key="k1", recorded_by="c")
    assert ledger.balance(c.id) == -120
    with pytest.raises(InsufficientBalance):
        ledger.exchange("x", payer_id=c.id, payee_id=v.id, minutes=1, idempotency_key="k2", recorded_by="c")


def test_cap_on_saved_hours_is_enforced(ledger: Ledger) -> None:
    """At most 750 hours saved by default; a credit past the cap is refused."""
    v = funded_member(ledger, "x", "v", 750 * 60)
    with pytest.raises(LimitExceeded, match="above its cap of 45000"):
        ledger.credit_visit(
            "x", visit_id="one-more", volunteer_ref="v", minutes=1, service_date=DAY, recorded_by="job"
        )
    assert ledger.balance(v.id) == 45_000


def test_pot_negative_floor_is_enforced(ledger: Ledger) -> None:
    """A co-op can bound how far its pot may go into debt."""
    ledger.set_policy("x", limits={"pot": Limits(floor=-100, cap=None)})
    funded_member(ledger, "x", "v", 100)
    with pytest.raises(InsufficientBalance, match="pot"):
        funded_member(ledger, "x", "w", 1)
    assert ledger.coop_total("x") == 0


def test_accounts_of_different_coops_never_trade(ledger: Ledger) -> None:
    """Several co-ops share one database, but minutes never cross between them."""
    a = funded_member(ledger, "coop-a", "a", 100)
    b = ledger.open_account("coop-b", "client", "b")
    with pytest.raises(CrossCoopTransfer, match="belongs to co-op 'coop-b'"):
        ledger.exchange(
            "coop-a", payer_id=a.id, payee_id=b.id, minutes=10, idempotency_key="k", recorded_by="a"
        )
    with pytest.raises(CrossCoopTransfer):
        ledger.exchange(
            "coop-b", payer_id=a.id, payee_id=b.id, minutes=10, idempotency_key="k", recorded_by="a"
        )
    assert ledger.balance(a.id) == 100 and ledger.balance(b.id) == 0
    assert ledger.coop_total("coop-a") == 0 and ledger.coop_total("coop-b") == 0


def test_same_idempotency_key_in_two_coops_is_independent(ledger: Ledger) -> None:
    """Keys are scoped per co-op, so two co-ops' clients cannot collide."""
    a = funded_member(ledger, "c1", "a", 100)
    b = funded_member(ledger, "c2", "a", 100)
    a2 = ledger.open_account("c1", "client", "z")
    b2 = ledger.open_account("c2", "client", "z")
    t1 = ledger.exchange("c1", payer_id=a.id, payee_id=a2.id, minutes=5, idempotency_key="k", recorded_by="u")
    t2 = ledger.exchange("c2", payer_id=b.id, payee_id=b2.id, minutes=7, idempotency_key="k", recorded_by="u")
    assert t1.id != t2.id and not t2.replayed
