"""Small helpers shared by the time bank tests."""

from __future__ import annotations

import datetime as dt

from timebank import AccountPublic, Ledger

DAY = dt.date(2024, 5, 1)


def funded_member(
    ledger: Ledger, coop: str, ref: str, minutes: int, kind: str = "volunteer"
) -> AccountPublic:
    """A member account holding ``minutes``, funded by a visit credit from the pot."""
    account = ledger.open_account(coop, kind, ref)
    if minutes:
        if kind in ("volunteer", "staff"):
            ledger.credit_visit(
                coop,
                visit_id=f"fund-{ref}",
                volunteer_ref=ref,
                minutes=minutes,
                service_date=DAY,
                recorded_by="test",
            )
        else:
            welcome = ledger.open_account(coop, "system", name="welcome")
            ledger.adjust(
                coop,
                legs=[(welcome.id, -minutes), (account.id, minutes)],
                idempotency_key=f"fund-{ref}",
                recorded_by="test",
                memo="welcome hours",
            )
    return ledger.account(account.id)
