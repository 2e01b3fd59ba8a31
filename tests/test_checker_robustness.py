"""The checker reports garbage rotas as violations and never raises."""

from __future__ import annotations

from scheduler.checker import check
from scheduler.rota import Assignment, Rota, Unassigned
from tests.rules.builders import build, carer, client, minute, visit


def _problem():
    return build([carer("ann", skills=["hoist"]), carer("bryn")], [client("dai")],
                 [visit("v1", "dai", roles=[{"skills": ["hoist"]}, {"skills": []}]),
                  visit("v2", "dai", "12:00")])


def test_unknown_visit_and_unknown_carer_are_violations_not_exceptions():
    """A rota from another week names visits and carers this problem does not know."""
    p = _problem()
    r = Rota("test", "feasible",
             [Assignment("v1", ("ann", "zed"), minute(p, "08:00")), Assignment("v99", ("ann",), 0)],
             [Unassigned("v2", ("x",)), Unassigned("v77", ("x",))])
    report = check(p, r)
    assert report.rules_broken == {"every_visit_once", "roles_and_skills"}
    text = "\n".join(str(v) for v in report.violations)
    assert "v99" in text and "v77" in text and "'zed'" in text


def test_wrong_number_of_carers_and_duplicates_are_reported():
    """Three carers on a two-role visit, a carer named twice, a visit listed twice."""
    p = _problem()
    r = Rota("test", "feasible",
             [Assignment("v1", ("ann", "ann", "bryn"), minute(p, "08:00")),
              Assignment("v2", ("bryn",), minute(p, "12:00")),
              Assignment("v2", (), minute(p, "12:00"))],
             [Unassigned("v2", ("x",))])
    report = check(p, r)
    assert {"roles_and_skills", "every_visit_once"} <= report.rules_broken
    once = [v for v in report.violations if v.rule == "every_visit_once"]
    assert len(once) == 1 and "3 times" in once[0].message


def test_empty_rota_misses_every_visit():
    """An empty rota is not an all-unassigned rota: each visit must be listed."""
    p = _problem()
    report = check(p, Rota("test", "unknown", [], []))
    assert [v.rule for v in report.violations] == ["every_visit_once", "every_visit_once"]
    # uncovered visits still cost their priority weight in the recomputed objective
    assert report.breakdown["unassigned_essential"] == 2_000_000


def test_non_numeric_claims_are_violations():
    """An objective or KPI that is not a number is reported, not crashed on."""
    p = _problem()
    r = Rota("test", "feasible", [], [Unassigned("v1", ("x",)), Unassigned("v2", ("x",))],
             objective="lots", kpis={"covered": "none", "visits": 2})  # type: ignore[arg-type]
    report = check(p, r)
    assert report.rules_broken == {"objective", "kpis"}


def test_unassigned_without_reason_is_a_warning():
    """The spec asks every unassigned visit to say why; the checker warns when one does not."""
    p = _problem()
    r = Rota("test", "feasible", [], [Unassigned("v1", ()), Unassigned("v2", ("no hoist",))])
    report = check(p, r)
    assert report.ok
    assert [w.rule for w in report.warnings] == ["unassigned_reasons"]
