"""Bad input gets every problem at once, naming the field and the reason; never a traceback."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.timebank.helpers import DAY, funded_member
from timebank import Ledger, Leg, ProposedTransaction, ValidationError, validate


def test_validator_reports_every_problem_at_once() -> None:
    """Like beancount, one pass lists all problems so the API can show them together."""
    p = ProposedTransaction(
        coop_id="",
        kind="bonus",
        legs=(Leg(1, 30), Leg(1, 0), Leg(-2, 1.5)),  # type: ignore[arg-type]
        recorded_by=" ",
        idempotency_key="",
        service_date="2024-05-01",  # type: ignore[arg-type]
    )
    errors = validate(p)
    fields = {e.split(":")[0] for e in errors}
    assert {
        "coop_id",
        "kind",
        "recorded_by",
        "idempotency_key",
        "service_date",
        "legs[1].account_id",
        "legs[1].minutes",
        "legs[2].account_id",
        "legs[2].minutes",
    } <= fields, errors


def test_legs_must_sum_to_zero_and_be_at_least_two() -> None:
    """Hours never appear from nowhere: an unbalanced or one-legged transaction is invalid."""
    base = dict(coop_id="c", kind="adjustment", recorded_by="u", idempotency_key="k", service_date=DAY)
    assert any(
        "sum to zero" in e for e in validate(ProposedTransaction(legs=(Leg(1, 30), Leg(2, -20)), **base))
    )
    assert any("at least two legs" in e for e in validate(ProposedTransaction(legs=(Leg(1, 30),), **base)))
    assert validate(ProposedTransaction(legs=(Leg(1, 30), Leg(2, -20), Leg(3, -10)), **base)) == []


def test_minutes_must_be_integers_not_floats_or_bools() -> None:
    """Integer minutes everywhere: 1.5 minutes or True are refused, not rounded."""
    base = dict(coop_id="c", kind="adjustment", recorded_by="u", idempotency_key="k", service_date=DAY)
    errs = validate(ProposedTransaction(legs=(Leg(1, True), Leg(2, -1)), **base))  # type: ignore[arg-type]
    assert any(e.startswith("legs[0].minutes") for e in errs)


def test_bad_exchange_lists_all_field_problems(ledger: Ledger) -> None:
    """The service refuses with ValidationError naming each field, and writes nothing."""
    a = funded_member(ledger, "val", "a", 60)
    with pytest.raises(ValidationError) as info:
        ledger.exchange("val", payer_id=a.id, payee_id=a.id, minutes=-5, idempotency_key="", recorded_by="")
    fields = {e.split(":")[0] for e in info.value.errors}
    assert {"minutes", "idempotency_key", "recorded_by"} <= fields, info.value.errors
    assert ledger.balance(a.id) == 60


def test_client_keys_may_not_use_the_visit_credit_prefix(ledger: Ledger) -> None:
    """Visit credits derive their own keys; a client key cannot impersonate one."""
    a = funded_member(ledger, "val", "a", 60)
    b = ledger.open_account("val", "client", "b")
    with pytest.raises(ValidationError, match="reserved"):
        ledger.exchange(
            "val", payer_id=a.id, payee_id=b.id, minutes=5, idempotency_key="visit-credit:x", recorded_by="u"
        )


def test_adjustment_needs_a_memo(ledger: Ledger) -> None:
    """An adjustment must say why, so the balance stays explainable entry by entry."""
    a = ledger.open_account("val", "volunteer", "a")
    w = ledger.open_account("val", "system", name="welcome")
    with pytest.raises(ValidationError, match="memo"):
        ledger.adjust("val", legs=[(w.id, -10), (a.id, 10)], idempotency_key="k", recorded_by="u", memo="")


def test_open_account_validates_kind_and_owner(ledger: Ledger) -> None:
    """Members need an owner_ref, system accounts a name; unknown kinds are named."""
    with pytest.raises(ValidationError, match="owner_ref"):
        ledger.open_account("val", "volunteer")
    with pytest.raises(ValidationError, match="name"):
        ledger.open_account("val", "system")
    with pytest.raises(ValidationError, match="kind"):
        ledger.open_account("val", "robot", "x")
    v = ledger.open_account("val", "volunteer", "m1")
    assert ledger.open_account("val", "volunteer", "m1").id == v.id
    with pytest.raises(ValidationError, match="already has a volunteer account"):
        ledger.open_account("val", "client", "m1")


def test_statement_period_must_be_ordered(ledger: Ledger) -> None:
    """A reversed period is a clear error."""
    a = ledger.open_account("val", "volunteer", "a")
    with pytest.raises(ValidationError, match="start <= end"):
        ledger.statement(a.id, dt.date(2024, 2, 1), dt.date(2024, 1, 1))
