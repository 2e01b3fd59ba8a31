"""The ``carerota`` command line: example -> solve -> check round trip, and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.problem import load_problem
from tests.conftest import objectives_equal

runner = CliRunner()


@pytest.fixture(scope="module")
def solved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A 5-client week written by ``example`` and solved by ``solve`` (5 s, one worker)."""
    d = tmp_path_factory.mktemp("cli")
    week, rota = d / "week.json", d / "rota.json"
    made = runner.invoke(app, ["example", "--clients", "5", "--seed", "2", "-o", str(week)])
    assert made.exit_code == 0, made.output
    result = runner.invoke(app, ["solve", str(week), "-o", str(rota), "--time-limit", "5",
                                 "--workers", "1", "--seed", "0"])
    assert result.exit_code == 0, result.output
    return week, rota, result.stdout


def test_example_writes_a_valid_problem_to_stdout() -> None:
    """``carerota example`` prints JSON that the loader accepts, sized by --clients."""
    result = runner.invoke(app, ["example", "--clients", "3", "--seed", "4"])
    assert result.exit_code == 0
    problem = load_problem(json.loads(result.stdout))
    assert len(problem.clients) == 3


def test_example_honours_week_start() -> None:
    """--week-start sets the horizon (a Monday stays as given)."""
    result = runner.invoke(app, ["example", "--clients", "2", "--week-start", "2027-01-04"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["horizon"] == {"start": "2027-01-04T00:00", "end": "2027-01-11T00:00"}


def test_example_rejects_a_bad_date() -> None:
    """A malformed --week-start is a usage error (exit 2), not a traceback."""
    result = runner.invoke(app, ["example", "--week-start", "4 Jan"])
    assert result.exit_code == 2
    assert "must be a date like 2026-11-30" in result.output


def test_solve_writes_a_rota_that_check_accepts(solved: tuple[Path, Path, str]) -> None:
    """Round trip: the rota file is valid and its objective is the checker's."""
    week, rota, _ = solved
    result = runner.invoke(app, ["check", str(week), str(rota)])
    assert result.exit_code == 0, result.stdout
    # the verdict is the last line, word for word ("invalid: ..." must not pass for it)
    assert result.stdout.splitlines()[-1] == "valid: the rota keeps every rule"
    assert "Objective (recomputed)" in result.stdout
    raw = json.loads(rota.read_text())
    from scheduler.checker import check
    from scheduler.rota import rota_from_dict

    problem = load_problem(week)
    report = check(problem, rota_from_dict(raw, problem))
    assert report.ok
    assert objectives_equal(raw["objective"], report.objective)


def test_solve_prints_the_summary_tables(solved: tuple[Path, Path, str]) -> None:
    """The summary shows coverage by priority, the rota's measures and where the rota went."""
    week, rota, stdout = solved
    problem = load_problem(week)
    raw = json.loads(rota.read_text())
    assert "Coverage by priority" in stdout
    essential = sum(1 for v in problem.visits if v.priority == "essential")
    assert f"{essential} " in stdout  # the essential total appears in its row
    assert "travel minutes" in stdout and "objective" in stdout and "gap" in stdout
    assert f"{len(raw['assignments'])}/{len(problem.visits)}" in stdout
    if raw["unassigned"]:
        assert "Unassigned visits" in stdout
        assert raw["unassigned"][0]["visit"] in stdout or len(raw["unassigned"]) > 20
    assert f"rota written to {rota}" in " ".join(stdout.split())


def test_check_of_a_broken_rota_exits_1_and_names_the_violation(solved: tuple[Path, Path, str],
                                                                tmp_path: Path) -> None:
    """Moving a visit an hour before its window opens is caught, named and exits 1."""
    week, rota, _ = solved
    raw = json.loads(rota.read_text())
    problem = load_problem(week)
    first = raw["assignments"][0]
    visit = problem.visit_by_id[first["visit"]]
    first["start"] = problem.iso(visit.earliest_start - 60)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(raw))
    result = runner.invoke(app, ["check", str(week), str(broken)])
    assert result.exit_code == 1
    out = " ".join(result.stdout.split())
    assert "start_windows" in out
    assert visit.id in out
    from scheduler.checker import check
    from scheduler.rota import rota_from_dict

    violations = check(problem, rota_from_dict(raw, problem)).violations
    assert violations
    assert result.stdout.splitlines()[-1] == f"invalid: {len(violations)} violation(s)"


def test_check_of_an_unreadable_rota_exits_2(solved: tuple[Path, Path, str], tmp_path: Path) -> None:
    """A rota file that is not JSON is unreadable input: exit 2, message on stderr."""
    week, _, _ = solved
    bad = tmp_path / "rota.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["check", str(week), str(bad)])
    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


def test_quiet_solve_prints_one_line(solved: tuple[Path, Path, str], tmp_path: Path) -> None:
    """--quiet gives a one-line result (for scripts) and still writes the rota."""
    week, _, _ = solved
    out = tmp_path / "quiet.json"
    result = runner.invoke(app, ["solve", str(week), "-o", str(out), "--time-limit", "1",
                                 "--workers", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    assert len(result.stdout.strip().splitlines()) == 1
    assert "essential" in result.stdout and "rota written to" in result.stdout
