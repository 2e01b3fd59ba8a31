"""The time-bank statement in pages (issue 9, item 8): an account with thousands of lines
used to come back whole (549 KB in a second); now a cursor pages through it while the period's
totals, summed in the database, stay those of the whole period on every page."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.api.conftest import auth
from timebank import AccountKind

N_CREDITS = 230


def _fill(app, coop) -> tuple[int, int]:
    """Many visit credits, a gift out and a reversal on the volunteer's account; returns the
    account id and the number of its entries."""
    ledger = app.state.ledger
    coop_ref = str(coop.id)
    vol = ledger.open_account(coop_ref, AccountKind.VOLUNTEER, owner_ref=str(coop.members["volunteer"]["id"]))
    staff = ledger.open_account(coop_ref, AccountKind.STAFF, owner_ref=str(coop.members["staff"]["id"]))
    today = dt.date.today()
    first = None
    for i in range(N_CREDITS):
        txn = ledger.credit_visit(coop_ref, visit_id=f"bulk-{uuid.uuid4().hex[:6]}-{i}",
                                  volunteer_ref=str(coop.members["volunteer"]["id"]), minutes=30 + i % 7,
                                  service_date=today, recorded_by="test")
        first = first or txn
    ledger.gift(coop_ref, from_id=vol.id, to_id=staff.id, minutes=45, idempotency_key="g1",
                recorded_by="test")
    assert first is not None
    ledger.reverse(first.id, idempotency_key="r1", recorded_by="test")
    return vol.id, N_CREDITS + 2


def test_the_statement_comes_in_pages_whose_lines_add_up_to_the_whole_period(app, client, coop_a):
    account_id, n_lines = _fill(app, coop_a)
    h = coop_a.h("volunteer")
    whole = app.state.ledger.statement(account_id, dt.date.today() - dt.timedelta(days=90), dt.date.today())
    assert len(whole.lines) == n_lines
    pages, cursor = [], None
    while True:
        params = {"limit": 100} | ({"cursor": cursor} if cursor else {})
        r = client.get("/me/timebank", headers=h, params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages.append(body)
        assert len(body["lines"]) <= 100
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10
    assert [len(p["lines"]) for p in pages] == [100, 100, n_lines - 200]
    lines = [ln for p in pages for ln in p["lines"]]
    # each line once, in order
    assert [ln["entry_id"] for ln in lines] == [ln.entry_id for ln in whole.lines]
    # every page carries the whole period's totals, equal to what its lines add up to
    given = sum(ln["minutes"] for ln in lines if ln["kind"] in ("visit_credit", "reversal"))
    other_out = -sum(ln["minutes"] for ln in lines if ln["kind"] == "gift")
    for p in pages:
        assert p["line_count"] == n_lines and p["limit"] == 100
        assert p["given_minutes"] == given == whole.given_minutes
        assert p["other_out_minutes"] == other_out == 45
        assert p["opening_balance"] == 0
        assert p["closing_balance"] == lines[-1]["balance_after"] == p["balance"]


def test_a_bad_cursor_or_page_size_is_a_422_naming_the_parameter(app, client, coop_a):
    _fill(app, coop_a)
    h = coop_a.h("volunteer")
    r = client.get("/me/timebank", headers=h, params={"cursor": "not-a-cursor"})
    assert r.status_code == 422 and r.json()["detail"].startswith("cursor:")
    r = client.get("/me/timebank", headers=h, params={"limit": 0})
    assert r.status_code == 422 and "limit" in r.text
    r = client.get("/me/timebank", headers=h, params={"limit": 501})
    assert r.status_code == 422 and "limit" in r.text
    # a cursor belongs to its period: asking for another period with it is refused
    first = client.get("/me/timebank", headers=h, params={"limit": 10}).json()
    other = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    r = client.get("/me/timebank", headers=h, params={"cursor": first["next_cursor"], "start": other})
    assert r.status_code == 422 and "cursor" in r.json()["detail"]


def test_no_one_pages_through_another_members_statement(app, client, coop_a):
    """The cursor carries no account: it pages the caller's own statement only."""
    _fill(app, coop_a)
    first = client.get("/me/timebank", headers=coop_a.h("volunteer"), params={"limit": 5}).json()
    other = client.get("/me/timebank", headers=auth(coop_a.tokens["staff"]),
                       params={"cursor": first["next_cursor"]}).json()
    assert other["member_id"] == coop_a.members["staff"]["id"]
    assert all(ln["entry_id"] not in {x["entry_id"] for x in first["lines"]} for ln in other["lines"])
