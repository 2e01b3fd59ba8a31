"""Opening a member's account inside the caller's transaction, and re-kinding it when the
member's role changes (the API opens accounts with the member's own write, never in a read)."""

from __future__ import annotations

import datetime as dt

import pytest

from timebank import AccountKind, AccountNotFound, Ledger, ValidationError, open_account_in


def test_an_account_opened_in_the_callers_transaction_is_undone_by_its_rollback(ledger: Ledger) -> None:
    """The API creates a member and the account in one transaction: if the member's write is
    rolled back, no account is left behind; once committed, the account is there."""
    with ledger.engine.connect() as conn, conn.begin() as txn:
        opened = open_account_in(conn, "tx", AccountKind.VOLUNTEER, "m1")
        assert opened.kind == "volunteer"
        txn.rollback()
    with pytest.raises(AccountNotFound):
        ledger.member_account("tx", "m1")
    with ledger.engine.begin() as conn:
        opened = open_account_in(conn, "tx", AccountKind.VOLUNTEER, "m1")
    assert ledger.member_account("tx", "m1").id == opened.id


def test_rekind_gives_a_members_account_the_new_kind_and_keeps_its_balance(ledger: Ledger) -> None:
    """A volunteer who becomes staff keeps the hours they gave; without ``rekind`` the ledger
    still refuses a second kind for the same member (no silent change)."""
    vol = ledger.open_account("rk", AccountKind.VOLUNTEER, "m7")
    ledger.credit_visit("rk", visit_id="v1", volunteer_ref="m7", minutes=90,
                        service_date=dt.date(2026, 11, 30), recorded_by="test")
    with pytest.raises(ValidationError, match="already has a volunteer account"):
        ledger.open_account("rk", AccountKind.STAFF, "m7")
    staff = ledger.open_account("rk", AccountKind.STAFF, "m7", rekind=True)
    assert (staff.id, staff.kind) == (vol.id, "staff")
    assert ledger.balance(staff.id) == 90 == ledger.balance_from_entries(staff.id)
    assert ledger.reconcile("rk").ok
