"""Visit credits: 1 minute given = 1 minute of credit, from the pot or the client by policy,
idempotent per (visit, volunteer)."""

from __future__ import annotations

import pytest

from tests.timebank.helpers import DAY, funded_member
from timebank import AccountNotFound, IdempotencyConflict, Ledger, ValidationError


def test_visit_credit_moves_minutes_from_the_pot_by_default(ledger: Ledger) -> None:
    """Default policy: the community pot pays; the pot may go negative (no floor by default)."""
    vol = ledger.open_account("vc", "volunteer", "vol")
    t = ledger.credit_visit(
        "vc", visit_id="visit-7", volunteer_ref="vol", minutes=95, service_date=DAY, recorded_by="scheduler"
    )
    pot = ledger.pot("vc")
    assert ledger.balance(vol.id) == 95
    assert ledger.balance(pot.id) == -95
    assert t.kind == "visit_credit" and t.reference == "visit-7" and t.service_date == DAY
    assert ledger.coop_total("vc") == 0


def test_visit_credit_from_client_account_when_policy_says_so(ledger: Ledger) -> None:
    """A co-op can have the client's own account pay for the visit."""
    ledger.set_policy("vc", visit_credit_source="client")
    vol = ledger.open_account("vc", "volunteer", "vol")
    client = funded_member(ledger, "vc", "cli", 120, kind="client")
    ledger.credit_visit(
        "vc",
        visit_id="v1",
        volunteer_ref="vol",
        client_ref="cli",
        minutes=45,
        service_date=DAY,
        recorded_by="scheduler",
    )
    assert ledger.balance(client.id) == 75
    assert ledger.balance(vol.id) == 45
    with pytest.raises(ValidationError, match="client_ref"):
        ledger.credit_visit(
            "vc", visit_id="v2", volunteer_ref="vol", minutes=45, service_date=DAY, recorded_by="scheduler"
        )


def test_rerunning_a_visit_credit_never_credits_twice(ledger: Ledger) -> None:
    """A re-run by another job (different recorded_by) returns the original, marked replayed."""
    vol = ledger.open_account("vc", "volunteer", "vol")
    first = ledger.credit_visit(
        "vc", visit_id="v1", volunteer_ref="vol", minutes=60, service_date=DAY, recorded_by="job-a"
    )
    again = ledger.credit_visit(
        "vc",
        visit_id="v1",
        volunteer_ref="vol",
        minutes=60,
        service_date=DAY,
        recorded_by="job-b",
        memo="retry",
    )
    assert again.id == first.id and again.replayed and not first.replayed
    assert ledger.balance(vol.id) == 60


def test_rerun_with_different_minutes_is_refused(ledger: Ledger) -> None:
    """Changing a credited visit's minutes is a correction, not a silent change."""
    vol = ledger.open_account("vc", "volunteer", "vol")
    ledger.credit_visit(
        "vc", visit_id="v1", volunteer_ref="vol", minutes=60, service_date=DAY, recorded_by="job"
    )
    with pytest.raises(IdempotencyConflict, match="already credited"):
        ledger.credit_visit(
            "vc", visit_id="v1", volunteer_ref="vol", minutes=90, service_date=DAY, recorded_by="job"
        )
    assert ledger.balance(vol.id) == 60


def test_double_up_visit_credits_each_volunteer(ledger: Ledger) -> None:
    """Idempotency is per (visit, volunteer): both carers of a double-up get their time."""
    a = ledger.open_account("vc", "volunteer", "a")
    b = ledger.open_account("vc", "staff", "b")  # a staff member who volunteers
    for ref in ("a", "b"):
        ledger.credit_visit(
            "vc", visit_id="double", volunteer_ref=ref, minutes=30, service_date=DAY, recorded_by="job"
        )
    assert (ledger.balance(a.id), ledger.balance(b.id)) == (30, 30)


def test_visit_credit_for_unknown_volunteer_names_the_field(ledger: Ledger) -> None:
    """The scheduler gets a clear error, not a traceback, for a member without an account."""
    with pytest.raises(AccountNotFound, match="volunteer_ref: member 'ghost'"):
        ledger.credit_visit(
            "vc", visit_id="v1", volunteer_ref="ghost", minutes=30, service_date=DAY, recorded_by="job"
        )


def test_clients_cannot_be_credited_as_volunteers(ledger: Ledger) -> None:
    """Only volunteer or staff accounts earn visit credit."""
    ledger.open_account("vc", "client", "cli")
    with pytest.raises(ValidationError, match="not a volunteer"):
        ledger.credit_visit(
            "vc", visit_id="v1", volunteer_ref="cli", minutes=30, service_date=DAY, recorded_by="job"
        )
