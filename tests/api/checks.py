"""Every rota the API stores is checked again here, independently of the worker."""

from __future__ import annotations

from scheduler.checker import check
from scheduler.problem import problem_from_dict
from scheduler.rota import rota_from_dict
from tests.conftest import objectives_equal


def assert_rota_checked(client, coop, rota_id: int):
    h = coop.h("coordinator")
    problem_raw = client.get(f"/rotas/{rota_id}/problem", headers=h).json()
    rota_raw = client.get(f"/rotas/{rota_id}/file", headers=h).json()
    problem = problem_from_dict(problem_raw)
    rota = rota_from_dict(rota_raw, problem)
    report = check(problem, rota)
    assert report.ok, "\n".join(str(v) for v in report.violations)
    assert rota.objective is not None
    assert objectives_equal(rota.objective, report.objective), (rota.objective, report.objective)
    return problem, rota, report
