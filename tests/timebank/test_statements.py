"""Statements (given and received shown separately) and CSV exports for funders."""

from __future__ import annotations

import csv
import datetime as dt
import io

from tests.timebank.helpers import DAY, funded_member
from timebank import Ledger

TODAY = dt.datetime.now(dt.UTC).date()


def _activity(ledger: Ledger) -> tuple[int, int, int]:
    vol = ledger.open_account("st", "volunteer", "vol")
    client = funded_member(ledger, "st", "cli", 200, kind="client")
    fam = ledger.open_account("st", "family", "fam")
    ledger.credit_visit(
        "st", visit_id="v1", volunteer_ref="vol", minutes=90, service_date=DAY, recorded_by="job"
    )
    ledger.credit_visit(
        "st",
        visit_id="v2",
        volunteer_ref="vol",
        minutes=45,
        service_date=dt.date(2024, 6, 3),
        recorded_by="job",
    )
    ex = ledger.exchange(
        "st",
        payer_id=client.id,
        payee_id=vol.id,
        minutes=60,
        idempotency_key="e1",
        recorded_by="cli",
        service_date=DAY,
    )
    paid = ledger.exchange(
        "st",
        payer_id=vol.id,
        payee_id=client.id,
        minutes=30,
        idempotency_key="e2",
        recorded_by="vol",
        service_date=DAY,
    )
    ledger.reverse(paid.id, idempotency_key="undo-e2", recorded_by="admin")
    ledger.exchange(
        "st",
        payer_id=vol.id,
        payee_id=client.id,
        minutes=20,
        idempotency_key="e3",
        recorded_by="vol",
        service_date=DAY,
    )
    ledger.gift(
        "st",
        from_id=vol.id,
        to_id=fam.id,
        minutes=15,
        idempotency_key="g1",
        recorded_by="vol",
        service_date=DAY,
    )
    assert ex.id
    return vol.id, client.id, fam.id


def test_statement_shows_hours_given_and_received_separately(ledger: Ledger) -> None:
    """Given = earned by giving time (visit credits, exchange payments in); received = paid for
    help (exchange payments out); a reversal cancels what it reverses; gifts are 'other'."""
    vol, _client, _fam = _activity(ledger)
    s = ledger.statement(vol, TODAY, TODAY)
    assert s.opening_balance == 0
    assert s.given_minutes == 90 + 45 + 60
    assert s.received_minutes == 20  # 30 paid then reversed, 20 paid
    assert s.other_out_minutes == 15 and s.other_in_minutes == 0
    assert s.closing_balance == ledger.balance(vol) == 90 + 45 + 60 - 20 - 15
    assert s.minutes_in - s.minutes_out == s.closing_balance - s.opening_balance


def test_statement_lines_explain_the_balance_entry_by_entry(ledger: Ledger) -> None:
    """Each line's balance_after is the previous balance plus its minutes, and names its
    counterparties, so any balance can be explained."""
    vol, client, _fam = _activity(ledger)
    s = ledger.statement(vol, TODAY, TODAY)
    running = s.opening_balance
    for line in s.lines:
        running += line.minutes
        assert line.balance_after == running
        assert line.counterparties
    assert running == s.closing_balance
    assert [ln.kind for ln in s.lines].count("reversal") == 1
    assert any(client in ln.counterparties for ln in s.lines if ln.kind == "exchange")


def test_statement_period_is_by_posting_date(ledger: Ledger) -> None:
    """A period before any posting is empty; a period after carries the balance as opening."""
    vol, _c, _f = _activity(ledger)
    before = ledger.statement(vol, TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=1))
    assert before.lines == () and before.opening_balance == before.closing_balance == 0
    after = ledger.statement(vol, TODAY + dt.timedelta(days=1), TODAY + dt.timedelta(days=2))
    assert after.lines == () and after.opening_balance == after.closing_balance == ledger.balance(vol)


def test_statement_csv_export_round_trips(ledger: Ledger) -> None:
    """The CSV carries the summary and one row per entry with minutes in and out."""
    vol, _c, _f = _activity(ledger)
    rows = list(csv.reader(io.StringIO(ledger.statement_csv(vol, TODAY, TODAY))))
    summary = dict(zip(rows[2], rows[3], strict=True))
    assert summary["given_minutes"] == str(195) and summary["received_minutes"] == "20"
    assert summary["closing_hours"] == "2:40"
    header_at = rows.index([], 0) + 1
    entries = [dict(zip(rows[header_at], r, strict=True)) for r in rows[header_at + 1 :]]
    assert len(entries) == len(ledger.statement(vol, TODAY, TODAY).lines)
    assert sum(int(e["minutes_in"]) - int(e["minutes_out"]) for e in entries) == ledger.balance(vol)
    assert any(e["kind"] == "reversal of exchange" for e in entries)


def test_hours_per_kind_and_month_for_funders(ledger: Ledger) -> None:
    """Minutes moved per service month and kind; reversals reported separately with what they
    reverse, so net hours are visible."""
    _activity(ledger)
    rows = {(r.month, r.kind, r.reverses_kind): r for r in ledger.hours_by_kind_month("st")}
    assert rows[("2024-05", "visit_credit", None)].minutes == 90
    assert rows[("2024-06", "visit_credit", None)].minutes == 45
    assert rows[("2024-05", "exchange", None)].minutes == 60 + 30 + 20
    assert rows[("2024-05", "exchange", None)].transactions == 3
    assert rows[("2024-05", "reversal", "exchange")].minutes == 30
    assert rows[("2024-05", "gift", None)].minutes == 15
    text = ledger.hours_by_kind_month_csv("st", start=dt.date(2024, 6, 1), end=dt.date(2024, 6, 30))
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed == [
        {
            "month": "2024-06",
            "kind": "visit_credit",
            "reverses_kind": "",
            "transactions": "1",
            "minutes": "45",
            "hours": "0.75",
        }
    ]
