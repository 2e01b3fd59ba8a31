"""Numbers and names a person reads (issue 9, item 9): one gap definition shown as a
percentage ("unknown" without a proven bound), reasons that name the person rather than the
problem file's ``m25``, and time-bank errors without internal names (``legs.minutes``,
``api:gift:27:g-1``)."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest

from api.services.wording import gap_of, gap_text, humanize
from tests.api.conftest import FUTURE_MONDAY, wait_run
from timebank import AccountKind

INTERNAL_ID = re.compile(r"\b(?:m\d+|c\d+|t\d+-\d{8})\b")


@pytest.mark.parametrize("objective,bound,gap,text", [
    (100.0, 90.0, 0.1, "10.0%"),
    (100.0, 100.0, 0.0, "0.0%"),
    (7754.5, 0.0, None, "unknown (no bound proven)"),    # the demo printed "gap 7754.5%"
    (100.0, None, None, "unknown (no bound proven)"),
    (0.0, 0.0, 0.0, "0.0%"),
])
def test_the_gap_is_one_fraction_shown_as_a_percentage_or_unknown(objective, bound, gap, text):
    got = gap_of(objective, bound)
    assert (got is None) if gap is None else got == pytest.approx(gap)
    assert gap_text(got) == text


def test_a_runs_gap_follows_the_definition_and_reads_as_a_percentage(client, coop_a):
    """Before, the worker wrote the solver's own gap during the solve (96.65) and another at
    the end (1.0 with a bound of 0): the run's figure now always follows ``gap_of``."""
    h = coop_a.h("coordinator")
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded"
    expected = gap_of(run["objective"], run["best_bound"])
    assert run["gap"] == (pytest.approx(expected) if expected is not None else None)
    assert run["gap_text"] == gap_text(run["gap"])
    assert run["gap_text"].endswith("%") or run["gap_text"].startswith("unknown")


def test_unassigned_reasons_name_the_carer_not_the_problem_file_id(client, coop_a):
    """The only carer with the medication skill is on leave all week: the medication visits
    are unassigned, and the reason names her as the coordinator knows her."""
    h = coop_a.h("coordinator")
    staff = coop_a.members["staff"]
    r = client.post(f"/members/{staff['id']}/leave", headers=h, json={
        "kind": "leave", "start": f"{FUTURE_MONDAY.isoformat()}T00:00",
        "end": f"{FUTURE_MONDAY.isoformat()}T23:59"})
    assert r.status_code == 201, r.text
    r = client.post("/rotas", headers=h, json={"week_start": FUTURE_MONDAY.isoformat()})
    run = wait_run(client, coop_a.tokens["coordinator"], r.json()["run_id"])
    assert run["status"] == "succeeded"
    monday = FUTURE_MONDAY.strftime("%Y%m%d")
    med = [u for u in run["unassigned"] if u["key"].endswith(monday)
           and u["key"] == f"t{coop_a.templates[2]['id']}-{monday}"]
    assert med, run["unassigned"]
    text = " ".join(med[0]["reasons"])
    assert staff["full_name"] in text, text
    for u in run["unassigned"]:
        for reason in u["reasons"]:
            assert not INTERNAL_ID.search(reason), reason


def test_humanize_leaves_unknown_ids_and_ordinary_words_alone():
    names = {"m25": "Ann Jones", "c3": "Bryn Evans"}
    assert humanize("m25 is off; c3 excluded m26; 600 minutes", names) == \
        "Ann Jones is off; Bryn Evans excluded m26; 600 minutes"


def test_time_bank_errors_say_it_in_the_callers_terms(client, coop_a):
    """A gift beyond the balance said ``legs.minutes: account 41 (volunteer) ...``; a reused
    key showed the internal ``api:gift:<member>:<key>``. Both now speak of minutes and the
    Idempotency-Key the caller sent."""
    h = coop_a.h("volunteer") | {"Idempotency-Key": f"g-{uuid.uuid4().hex[:6]}"}
    to = coop_a.members["staff"]["id"]
    r = client.post("/timebank/gifts", headers=h, json={"to_member_id": to, "minutes": 600})
    assert r.status_code == 409, r.text
    detail = r.json()["detail"]
    assert detail.startswith("minutes: you have 0 minutes")
    assert "legs." not in detail and "account" not in detail
    # give the volunteer some minutes, then reuse a key for another gift
    ledger = client.app.state.ledger
    vol_ref = str(coop_a.members["volunteer"]["id"])
    ledger.open_account(str(coop_a.id), AccountKind.VOLUNTEER, owner_ref=vol_ref)
    ledger.credit_visit(str(coop_a.id), visit_id=f"w-{uuid.uuid4().hex[:6]}", volunteer_ref=vol_ref,
                        minutes=120, service_date=dt.date.today(), recorded_by="t")
    r = client.post("/timebank/gifts", headers=h, json={"to_member_id": to, "minutes": 30})
    assert r.status_code == 201, r.text
    r = client.post("/timebank/gifts", headers=h, json={"to_member_id": to, "minutes": 31})
    assert r.status_code == 409
    detail = r.json()["detail"]
    assert detail.startswith("Idempotency-Key: '" + h["Idempotency-Key"] + "'")
    assert "api:" not in detail and "idempotency_key" not in detail
