"""Corrections are reversal transactions pointing at the original; each can be reversed once."""

from __future__ import annotations

import pytest

from tests.timebank.helpers import DAY, funded_member
from timebank import AlreadyReversed, InsufficientBalance, Ledger, NotReversible, TransactionNotFound


def test_reversal_restores_both_balances(ledger: Ledger) -> None:
    """Reversing an exchange puts both accounts back exactly where they were."""
    a = funded_member(ledger, "r", "a", 200)
    b = funded_member(ledger, "r", "b", 50)
    t = ledger.exchange("r", payer_id=a.id, payee_id=b.id, minutes=80, idempotency_key="x", recorded_by="u")
    assert (ledger.balance(a.id), ledger.balance(b.id)) == (120, 130)
    rev = ledger.reverse(t.id, idempotency_key="undo-x", recorded_by="admin", memo="wrong member")
    assert (ledger.balance(a.id), ledger.balance(b.id)) == (200, 50)
    assert rev.reverses_id == t.id
    assert rev.kind == "reversal"
    assert sorted((leg.account_id, leg.minutes) for leg in rev.legs) == sorted(
        (leg.account_id, -leg.minutes) for leg in t.legs
    )
    assert ledger.reconcile("r").ok


def test_second_reversal_of_same_transaction_is_refused(ledger: Ledger) -> None:
    """A transaction can be reversed once; a second reversal (another key) is refused and
    changes nothing."""
    a = funded_member(ledger, "r", "a", 200)
    b = funded_member(ledger, "r", "b", 0, kind="client")
    t = ledger.exchange("r", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="x", recorded_by="u")
    first = ledger.reverse(t.id, idempotency_key="undo-1", recorded_by="admin")
    with pytest.raises(AlreadyReversed, match=f"already reversed by transaction {first.id}"):
        ledger.reverse(t.id, idempotency_key="undo-2", recorded_by="admin")
    assert (ledger.balance(a.id), ledger.balance(b.id)) == (200, 0)


def test_retrying_a_reversal_with_its_key_returns_the_original_reversal(ledger: Ledger) -> None:
    """A network retry of the same reversal is idempotent, not an AlreadyReversed error."""
    a = funded_member(ledger, "r", "a", 200)
    b = funded_member(ledger, "r", "b", 0, kind="client")
    t = ledger.exchange("r", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="x", recorded_by="u")
    first = ledger.reverse(t.id, idempotency_key="undo", recorded_by="admin")
    again = ledger.reverse(t.id, idempotency_key="undo", recorded_by="admin")
    assert again.id == first.id and again.replayed
    assert ledger.balance(a.id) == 200


def test_a_reversal_cannot_itself_be_reversed(ledger: Ledger) -> None:
    """Un-reversing is done by posting the original again, keeping the history readable."""
    a = funded_member(ledger, "r", "a", 200)
    b = funded_member(ledger, "r", "b", 0, kind="client")
    t = ledger.exchange("r", payer_id=a.id, payee_id=b.id, minutes=60, idempotency_key="x", recorded_by="u")
    rev = ledger.reverse(t.id, idempotency_key="undo", recorded_by="admin")
    with pytest.raises(NotReversible, match="itself a reversal"):
        ledger.reverse(rev.id, idempotency_key="undo-undo", recorded_by="admin")


def test_reversal_that_would_break_a_floor_is_refused(ledger: Ledger) -> None:
    """A visit credit the volunteer already spent cannot be reversed into a negative balance:
    the limits apply to reversals too, and nothing is written."""
    vol = ledger.open_account("r", "volunteer", "vol")
    client = ledger.open_account("r", "client", "cli")
    credit = ledger.credit_visit(
        "r", visit_id="v9", volunteer_ref="vol", minutes=60, service_date=DAY, recorded_by="job"
    )
    ledger.exchange(
        "r", payer_id=vol.id, payee_id=client.id, minutes=50, idempotency_key="spend", recorded_by="u"
    )
    with pytest.raises(InsufficientBalance, match="below its floor of 0"):
        ledger.reverse(credit.id, idempotency_key="undo", recorded_by="admin")
    assert ledger.balance(vol.id) == 10
    assert ledger.reconcile("r").ok


def test_reversing_an_unknown_transaction_names_it(ledger: Ledger) -> None:
    """A typo in a transaction id is a clear error, not a traceback."""
    with pytest.raises(TransactionNotFound, match="transaction_id: no transaction 9999"):
        ledger.reverse(9999, idempotency_key="k", recorded_by="admin")
