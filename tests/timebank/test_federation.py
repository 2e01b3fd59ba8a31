"""Federations of co-ops (``timebank.federation``), on SQLite and PostgreSQL: a move between co-ops
posts in both ledgers through their clearing accounts, atomically, once per key, within the
federation's limits; reversals, leaving, settlements, statements and the reconcile check."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
import sqlalchemy as sa

from tests.timebank.helpers import DAY, funded_member
from timebank import (
    AlreadyReversed,
    FederationLimitExceeded,
    FederationNotFound,
    Federations,
    IdempotencyConflict,
    Ledger,
    LimitExceeded,
    Limits,
    NotAFederationMember,
    NotReversible,
    PositionNotSettled,
    ValidationError,
)
from timebank.models import account_t, entry_t, fed_move_t, txn_t

FED = "fed"
WIDE = (dt.date(2000, 1, 1), dt.date(2100, 1, 1))


@pytest.fixture
def fed(ledger: Ledger) -> Federations:
    f = Federations(ledger)
    f.create(FED, "Valleys federation", default_limit=600)
    for coop in ("a", "b", "c"):
        f.join(FED, coop)
    return f


def counts(ledger: Ledger) -> tuple[int, int, int]:
    with ledger.engine.connect() as conn:
        return tuple(
            int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())  # type: ignore[return-value]
            for t in (txn_t, entry_t, fed_move_t)
        )


def positions(fed: Federations) -> dict[str, int]:
    return {m.coop_id: m.position for m in fed.get(FED).members}


def test_help_across_coops_posts_in_both_ledgers_through_their_clearing_accounts(
    ledger: Ledger, fed: Federations
) -> None:
    """A client of b pays a volunteer of a: b's ledger debits the client and credits b's clearing
    account, a's debits a's clearing and credits the volunteer; each co-op and the clearing
    accounts sum to zero."""
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 300, kind="client")
    m = fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=90,
        idempotency_key="visit-7",
        recorded_by="coord-b",
        service_date=DAY,
    )
    assert (m.kind, m.from_coop_id, m.to_coop_id, m.minutes) == ("help", "b", "a", 90)
    assert (m.from_account_id, m.to_account_id) == (client.id, vol.id)
    t_b, t_a = ledger.transaction(m.from_transaction_id), ledger.transaction(m.to_transaction_id)
    clear = {x.coop_id: x.clearing_account_id for x in fed.get(FED).members}
    assert (t_b.coop_id, t_b.kind) == ("b", "exchange") and (t_a.coop_id, t_a.kind) == ("a", "exchange")
    assert {(g.account_id, g.minutes) for g in t_b.legs} == {(client.id, -90), (clear["b"], 90)}
    assert {(g.account_id, g.minutes) for g in t_a.legs} == {(clear["a"], -90), (vol.id, 90)}
    assert ledger.balance(vol.id) == 90 and ledger.balance(client.id) == 210
    assert positions(fed) == {"a": -90, "b": 90, "c": 0}
    assert ledger.coop_total("a") == ledger.coop_total("b") == 0
    # the volunteer's statement counts it as time given, the client's as time received
    assert ledger.statement(vol.id, *WIDE).given_minutes == 90
    assert ledger.statement(client.id, *WIDE).received_minutes == 90
    assert ledger.reconcile().ok


def test_a_retry_with_the_same_key_posts_nothing_more_and_returns_the_same_move(
    ledger: Ledger, fed: Federations
) -> None:
    giver = funded_member(ledger, "a", "gran", 200, kind="client")
    fam = ledger.open_account("c", "family", "grandson")
    args = dict(
        from_coop_id="a",
        from_id=giver.id,
        to_coop_id="c",
        to_id=fam.id,
        minutes=60,
        idempotency_key="gift-1",
        recorded_by="gran",
        service_date=DAY,
    )
    first = fed.gift(FED, **args)  # type: ignore[arg-type]
    before = counts(ledger)
    again = fed.gift(FED, **args)  # type: ignore[arg-type]
    assert again.replayed and not first.replayed
    assert (again.id, again.from_transaction_id, again.to_transaction_id) == (
        first.id,
        first.from_transaction_id,
        first.to_transaction_id,
    )
    assert counts(ledger) == before
    assert ledger.balance(fam.id) == 60
    with pytest.raises(IdempotencyConflict, match="gift-1"):
        fed.gift(FED, **{**args, "minutes": 61})  # type: ignore[arg-type]
    assert counts(ledger) == before


def test_a_move_beyond_the_limit_is_refused_with_the_reason_and_changes_nothing(
    ledger: Ledger, fed: Federations
) -> None:
    """Both sides are bounded: the paying co-op may not be owed more than its limit, the
    receiving co-op may not owe more than its own."""
    fed.set_limit(FED, "a", 100)
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 1000, kind="client")
    fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=100,
        idempotency_key="h1",
        recorded_by="t",
    )
    before, bal = counts(ledger), (ledger.balance(vol.id), ledger.balance(client.id))
    with pytest.raises(FederationLimitExceeded) as info:
        fed.help(
            FED,
            payer_coop_id="b",
            payer_id=client.id,
            volunteer_coop_id="a",
            volunteer_id=vol.id,
            minutes=1,
            idempotency_key="h2",
            recorded_by="t",
        )
    assert info.value.coop_id == "a" and info.value.limit == 100
    assert "co-op 'a'" in str(info.value) and "-100" in str(info.value) and "limit of 100" in str(info.value)
    assert counts(ledger) == before
    assert (ledger.balance(vol.id), ledger.balance(client.id)) == bal
    assert positions(fed) == {"a": -100, "b": 100, "c": 0}
    # b's side: its limit (600) bounds what it may be owed
    c_vol = ledger.open_account("c", "volunteer", "cv")
    with pytest.raises(FederationLimitExceeded, match="co-op 'b'"):
        fed.help(
            FED,
            payer_coop_id="b",
            payer_id=client.id,
            volunteer_coop_id="c",
            volunteer_id=c_vol.id,
            minutes=501,
            idempotency_key="h3",
            recorded_by="t",
        )
    assert counts(ledger) == before
    assert ledger.reconcile().ok


def test_a_member_limit_in_the_receiving_ledger_refuses_both_legs(ledger: Ledger, fed: Federations) -> None:
    """The paying co-op's leg is written first in the same database transaction: a refusal by the
    receiving co-op (the family member's cap) rolls it back too."""
    ledger.set_policy("c", limits={"family": Limits(0, 50)})
    giver = funded_member(ledger, "a", "gran", 200, kind="client")
    fam = ledger.open_account("c", "family", "grandson")
    before = counts(ledger)
    with pytest.raises(LimitExceeded):
        fed.gift(
            FED,
            from_coop_id="a",
            from_id=giver.id,
            to_coop_id="c",
            to_id=fam.id,
            minutes=60,
            idempotency_key="g",
            recorded_by="t",
        )
    assert counts(ledger) == before
    assert ledger.balance(giver.id) == 200 and positions(fed) == {"a": 0, "b": 0, "c": 0}


def test_a_reversal_undoes_both_legs_at_once_and_only_once(ledger: Ledger, fed: Federations) -> None:
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 300, kind="client")
    m = fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=45,
        idempotency_key="h",
        recorded_by="t",
    )
    r = fed.reverse(FED, m.id, idempotency_key="undo", recorded_by="coord")
    assert (r.kind, r.reverses_id, r.from_coop_id, r.to_coop_id, r.minutes) == (
        "reversal",
        m.id,
        "a",
        "b",
        45,
    )
    assert ledger.transaction(r.from_transaction_id).reverses_id == m.to_transaction_id
    assert ledger.transaction(r.to_transaction_id).reverses_id == m.from_transaction_id
    assert ledger.balance(vol.id) == 0 and ledger.balance(client.id) == 300
    assert positions(fed) == {"a": 0, "b": 0, "c": 0}
    assert fed.reverse(FED, m.id, idempotency_key="undo", recorded_by="coord").replayed
    with pytest.raises(AlreadyReversed):
        fed.reverse(FED, m.id, idempotency_key="undo-2", recorded_by="coord")
    with pytest.raises(NotReversible):
        fed.reverse(FED, r.id, idempotency_key="undo-3", recorded_by="coord")
    assert ledger.reconcile().ok


def test_clearing_accounts_move_only_through_federal_moves(ledger: Ledger, fed: Federations) -> None:
    """No ordinary ledger call can change a position: not an adjustment, not a reversal of one
    leg, not a policy limit, not opening a clearing account by hand."""
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 300, kind="client")
    m = fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=45,
        idempotency_key="h",
        recorded_by="t",
    )
    clear_a = fed.membership(FED, "a").clearing_account_id
    with pytest.raises(ValidationError, match="clearing account"):
        ledger.reverse(m.to_transaction_id, idempotency_key="one-leg", recorded_by="t")
    with pytest.raises(ValidationError, match="clearing account"):
        ledger.adjust(
            "a", legs=[(clear_a, 45), (vol.id, -45)], idempotency_key="x", recorded_by="t", memo="m"
        )
    with pytest.raises(ValidationError, match="clearing"):
        ledger.open_account("a", "clearing", name="mine")
    with pytest.raises(ValidationError, match="clearing"):
        ledger.set_policy("a", limits={"clearing": Limits(None, None)})
    with pytest.raises(ValidationError, match="reserved"):
        ledger.exchange(
            "a",
            payer_id=vol.id,
            payee_id=ledger.pot("a").id,
            minutes=1,
            idempotency_key="federation:fed:h",
            recorded_by="t",
        )
    assert positions(fed) == {"a": -45, "b": 45, "c": 0}


def test_leaving_is_refused_until_a_settlement_brings_the_position_to_zero(
    ledger: Ledger, fed: Federations
) -> None:
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 300, kind="client")
    m = fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=120,
        idempotency_key="h",
        recorded_by="t",
    )
    with pytest.raises(PositionNotSettled, match=r"\+120 minutes"):
        fed.leave(FED, "b")
    assert fed.membership(FED, "b").active
    # a owes (position -120): its pot settles with b's pot
    s = fed.settle(
        FED, from_coop_id="a", to_coop_id="b", minutes=120, idempotency_key="settle", recorded_by="officer"
    )
    assert s.kind == "settlement" and ledger.transaction(s.from_transaction_id).kind == "settlement"
    assert positions(fed) == {"a": 0, "b": 0, "c": 0}
    assert ledger.balance(ledger.pot("a").id) == -120 and ledger.balance(ledger.pot("b").id) == 120
    left = fed.leave(FED, "b")
    assert not left.active and left.position == 0
    assert fed.federations_of("b") == [] and fed.federations_of("a") == [FED]
    with pytest.raises(NotAFederationMember, match="no longer"):
        fed.help(
            FED,
            payer_coop_id="b",
            payer_id=client.id,
            volunteer_coop_id="a",
            volunteer_id=vol.id,
            minutes=1,
            idempotency_key="h2",
            recorded_by="t",
        )
    with pytest.raises(NotAFederationMember):
        fed.reverse(FED, m.id, idempotency_key="r", recorded_by="t")
    with pytest.raises(NotAFederationMember):
        fed.leave(FED, "b")
    back = fed.join(FED, "b")
    assert back.active and back.clearing_account_id == left.clearing_account_id
    assert ledger.reconcile().ok


def test_a_limit_below_the_current_position_is_refused(ledger: Ledger, fed: Federations) -> None:
    vol = ledger.open_account("a", "volunteer", "vol")
    client = funded_member(ledger, "b", "cli", 300, kind="client")
    fed.help(
        FED,
        payer_coop_id="b",
        payer_id=client.id,
        volunteer_coop_id="a",
        volunteer_id=vol.id,
        minutes=200,
        idempotency_key="h",
        recorded_by="t",
    )
    with pytest.raises(ValidationError, match="at least 200"):
        fed.set_limit(FED, "a", 199)
    assert fed.set_limit(FED, "a", 200).limit == 200
    with pytest.raises(ValidationError, match="limit"):
        fed.set_limit(FED, "a", -1)


def test_every_bad_field_of_a_move_is_reported_at_once(ledger: Ledger, fed: Federations) -> None:
    with pytest.raises(ValidationError) as info:
        fed.move(
            FED,
            kind="loan",
            from_coop_id="",
            from_account_id=0,
            to_coop_id="b",
            to_account_id=-3,
            minutes=0,
            idempotency_key="",
            recorded_by="",
        )
    fields = {e.split(":")[0] for e in info.value.errors}
    assert fields >= {
        "kind",
        "from_coop_id",
        "from_account_id",
        "to_account_id",
        "minutes",
        "idempotency_key",
        "recorded_by",
    }
    with pytest.raises(ValidationError, match="within one co-op"):
        fed.move(
            FED,
            kind="gift",
            from_coop_id="a",
            from_account_id=1,
            to_coop_id="a",
            to_account_id=2,
            minutes=5,
            idempotency_key="k",
            recorded_by="t",
        )
    with pytest.raises(FederationNotFound):
        fed.move(
            "nope",
            kind="gift",
            from_coop_id="a",
            from_account_id=1,
            to_coop_id="b",
            to_account_id=2,
            minutes=5,
            idempotency_key="k",
            recorded_by="t",
        )
    outsider = ledger.open_account("zz", "volunteer", "o")
    a_vol = funded_member(ledger, "a", "v", 100)
    with pytest.raises(NotAFederationMember, match="'zz' is not a member"):
        fed.gift(
            FED,
            from_coop_id="a",
            from_id=a_vol.id,
            to_coop_id="zz",
            to_id=outsider.id,
            minutes=5,
            idempotency_key="k",
            recorded_by="t",
        )


def test_the_settlement_statement_nets_each_other_coop_and_adds_up_to_the_position(
    ledger: Ledger, fed: Federations
) -> None:
    a_vol = funded_member(ledger, "a", "av", 500)
    b_cli = funded_member(ledger, "b", "bc", 500, kind="client")
    c_fam = ledger.open_account("c", "family", "cf")
    fed.help(
        FED,
        payer_coop_id="b",
        payer_id=b_cli.id,
        volunteer_coop_id="a",
        volunteer_id=a_vol.id,
        minutes=100,
        idempotency_key="1",
        recorded_by="t",
    )
    undone = fed.help(
        FED,
        payer_coop_id="b",
        payer_id=b_cli.id,
        volunteer_coop_id="a",
        volunteer_id=a_vol.id,
        minutes=30,
        idempotency_key="2",
        recorded_by="t",
    )
    fed.reverse(FED, undone.id, idempotency_key="3", recorded_by="t")
    fed.gift(
        FED,
        from_coop_id="a",
        from_id=a_vol.id,
        to_coop_id="c",
        to_id=c_fam.id,
        minutes=25,
        idempotency_key="4",
        recorded_by="t",
    )
    fed.gift(
        FED,
        from_coop_id="b",
        from_id=b_cli.id,
        to_coop_id="a",
        to_id=a_vol.id,
        minutes=10,
        idempotency_key="5",
        recorded_by="t",
    )
    s = fed.settlement(FED, "a", *WIDE)
    by = {ln.counterparty_coop_id: ln for ln in s.lines}
    assert set(by) == {"b", "c"}
    assert (by["b"].help_given_minutes, by["b"].help_received_minutes, by["b"].gifts_in_minutes) == (
        100,
        0,
        10,
    )
    assert by["b"].net_minutes_in == 110 and by["b"].moves == 4
    assert (by["c"].gifts_out_minutes, by["c"].net_minutes_in) == (25, -25)
    assert s.totals.net_minutes_in == 85
    assert s.opening_position == 0 and s.closing_position == -85 == fed.position(FED, "a")
    # b's statement is the mirror image of a's line for b
    sb = {ln.counterparty_coop_id: ln for ln in fed.settlement(FED, "b", *WIDE).lines}
    assert sb["a"].help_received_minutes == 100 and sb["a"].net_minutes_in == -110
    rows = list(csv.reader(io.StringIO(fed.settlement_csv(FED, "a", *WIDE, names={"b": "Co-op B"}))))
    assert rows[1][:2] == [FED, "a"] and rows[1][4:] == ["0", "-85"]
    header = rows[3]
    table = {r[0]: dict(zip(header, r, strict=True)) for r in rows[4:]}
    assert table["b"]["counterparty"] == "Co-op B" and table["b"]["net_minutes_in"] == "110"
    assert table["total"]["net_hours_in"] == "1:25"
    # a period before any move is empty, its positions zero
    early = fed.settlement(FED, "a", dt.date(2000, 1, 1), dt.date(2000, 1, 31))
    assert early.lines == () and early.closing_position == 0


def test_reconcile_reports_a_clearing_account_changed_behind_the_federations_back(
    ledger: Ledger, fed: Federations
) -> None:
    """The check can fail: a transaction written straight into the tables that moves a's position
    without a federal move is reported (the clearing accounts no longer sum to zero, and the
    entry belongs to no move)."""
    assert ledger.reconcile().ok
    clear_a = fed.membership(FED, "a").clearing_account_id
    pot = ledger.pot("a").id
    now = dt.datetime.now(dt.UTC)
    with ledger.engine.begin() as conn:
        tid = conn.execute(
            txn_t.insert().values(
                coop_id="a",
                kind="adjustment",
                recorded_by="intruder",
                service_date=DAY,
                memo="",
                posted_at=now,
                idempotency_key="raw",
                request_hash="x",
            )
        ).inserted_primary_key[0]  # type: ignore[index]
        for acct, amount in ((clear_a, 10), (pot, -10)):
            conn.execute(
                entry_t.insert().values(
                    transaction_id=tid,
                    account_id=acct,
                    amount=amount,
                    coop_id="a",
                    balance_after=amount,
                    posted_at=now,
                )
            )
            conn.execute(account_t.update().where(account_t.c.id == acct).values(balance=amount))
    problems = ledger.reconcile().problems
    assert any("clearing accounts sum to 10" in p for p in problems), problems
    assert any(f"transaction {tid} is no federal move" in p for p in problems), problems


@pytest.mark.parametrize(
    "sql", ["UPDATE tb_federal_move SET minutes = minutes + 1", "DELETE FROM tb_federal_move"]
)
def test_federal_moves_are_append_only_in_the_database(ledger: Ledger, fed: Federations, sql: str) -> None:
    """A move is history like its ledger transactions: the triggers refuse UPDATE and DELETE."""
    from sqlalchemy.exc import DBAPIError

    giver = funded_member(ledger, "a", "g", 50)
    fed.gift(
        FED,
        from_coop_id="a",
        from_id=giver.id,
        to_coop_id="b",
        to_id=ledger.pot("b").id,
        minutes=5,
        idempotency_key="k",
        recorded_by="t",
    )
    with pytest.raises(DBAPIError, match="append-only"), ledger.engine.begin() as conn:
        conn.exec_driver_sql(sql)
    assert fed.moves(FED)[0].minutes == 5
