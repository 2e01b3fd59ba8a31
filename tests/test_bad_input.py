"""Bad problem files get a clear message naming the field and the reason, never a traceback.

Each file in ``tests/data/bad/`` breaks the spec example in one way. The loader must raise
``ProblemError`` with the expected message, and ``carerota solve`` must exit 2 with that
message on stderr (and nothing that looks like a Python traceback).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.cli import app
from scheduler.problem import ProblemError, load_problem

BAD = Path(__file__).parent / "data" / "bad"

# file name -> a message the loader must give (field: reason)
EXPECTED: dict[str, str] = {
    "unknown_client": "visits[0].client: unknown client 'p99'",
    "negative_window": "visits[1].latest_start: window shorter than zero",
    "availability_end_before_start": "carers[0].availability[0].end: availability ends before it starts",
    "pin_carer_lacks_skill": "pinned[0].carers[0]: carer 'bryn' lacks skill 'medication'",
    "duplicate_carer_id": "carers[1].id: duplicate carer id 'ann' (also carers[0])",
    "duplicate_visit_id": "visits[2].id: duplicate visit id 'eira-am' (also visits[1])",
    "unknown_top_level_key": "colour: unknown key",
    "unknown_nested_key": "visits[4].prority: unknown key",
    "unknown_role_key": "visits[0].roles[1].skill: unknown key",
    "invalid_json": "not valid JSON at line 124 column 4",
    "empty_file": "not valid JSON at line 1 column 1",
    "top_level_list": "file: must be an object, got a list",
    "not_utf8": "not UTF-8 text",
    "missing_required_field": "visits[0].duration_minutes: is required",
    "missing_horizon": "horizon: is required",
    "wrong_type_duration": "visits[0].duration_minutes: must be a whole number of minutes, got '45'",
    "nan_duration": "visits[0].duration_minutes: must be a whole number of minutes, got NaN",
    "wrong_type_carers": "carers: must be a list, got an object",
    "bad_time_format": "visits[0].earliest_start: is not a valid time (like '2026-11-30T08:00')",
    "time_with_offset": "horizon.start: must be local time without a UTC offset",
    "unknown_excluded_carer": "clients[1].excluded_carers[0]: unknown carer 'zed'",
    "unknown_preferred_carer": "clients[0].preferred_carers[1]: unknown carer 'zed'",
    "dependency_unknown_visit": "dependencies[0].then: unknown visit 'eira-tea'",
    "pin_wrong_number_of_carers": "pinned[0].carers: visit 'dai-am' has 2 role(s), the pin names 1 carer(s)",
    "pin_unknown_carer": "pinned[0].carers[0]: unknown carer 'zed'",
    "matrix_unknown_place": "travel.matrix.dai.efa: unknown place 'efa'",
    "bad_priority": "visits[3].priority: must be one of essential, important, optional, got 'urgent'",
    "zero_duration": "visits[3].duration_minutes: must be greater than zero, got 0",
    "bad_kind": "carers[2].kind: must be 'staff' or 'volunteer', got 'agency'",
}

CASES = sorted(EXPECTED)


def test_every_bad_file_has_an_expected_message_and_vice_versa() -> None:
    """A new bad file without an expectation (or a stale expectation) is caught."""
    assert {p.stem for p in BAD.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", CASES)
def test_the_loader_names_the_field_and_the_reason(name: str) -> None:
    """``load_problem`` raises ProblemError whose messages include the expected one."""
    with pytest.raises(ProblemError) as info:
        load_problem(BAD / f"{name}.json")
    errors = info.value.errors
    assert any(EXPECTED[name] in e for e in errors), errors
    assert all(": " in e for e in errors), "every message is 'field: reason'"


@pytest.mark.parametrize("name", CASES)
def test_carerota_solve_exits_2_with_the_message_on_stderr(name: str, tmp_path: Path) -> None:
    """The command line reports the same message on stderr and exits 2, without a traceback."""
    out = tmp_path / "rota.json"
    result = CliRunner().invoke(app, ["solve", str(BAD / f"{name}.json"), "-o", str(out),
                                      "--time-limit", "1", "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert EXPECTED[name] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists()


def test_a_missing_problem_file_is_reported_not_raised(tmp_path: Path) -> None:
    """A path that does not exist is bad input (exit 2), with the reason from the OS."""
    result = CliRunner().invoke(app, ["solve", str(tmp_path / "nope.json"), "-o", str(tmp_path / "r.json")])
    assert result.exit_code == 2
    assert "cannot read the file (No such file or directory)" in result.stderr


def test_check_reports_a_bad_problem_file_with_exit_2(tmp_path: Path) -> None:
    """``carerota check`` treats an invalid problem file as unreadable input too."""
    rota = tmp_path / "rota.json"
    rota.write_text('{"format": "carerota.rota/1", "assignments": [], "unassigned": []}')
    result = CliRunner().invoke(app, ["check", str(BAD / "unknown_client.json"), str(rota)])
    assert result.exit_code == 2
    assert "visits[0].client: unknown client 'p99'" in result.stderr
