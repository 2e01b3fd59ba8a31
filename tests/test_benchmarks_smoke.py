"""The benchmark pipeline end to end on tiny inputs: what CI's smoke run relies on."""

from __future__ import annotations

import json

import pytest

from benchmarks.mankowska import resolve_instances, solve_instance
from benchmarks.worker import timeline_metrics
from tests.test_benchmarks_mankowska import TINY


def test_time_to_first_best_and_within_one_percent_come_from_the_timeline():
    """The scaling table's times are read off the progress timeline; an off-by-one here lies."""
    tl = [[0.5, 0.4, 1000.0, 0.0], [1.0, 0.9, 150.0, 90.0], [2.0, 1.9, 100.9, 95.0], [5.0, 4.9, 100.0, 99.0]]
    m = timeline_metrics(tl, 100.0)
    assert m == {"t_first": 0.5, "t_best": 5.0, "t_within_1pct": 2.0}
    assert timeline_metrics([], 100.0)["t_first"] is None


@pytest.mark.slow
def test_any_instance_file_in_the_published_format_is_solved_and_verified(tmp_path):
    """`--file PATH` must work for a file that is not bundled; the row's objective is the verifier's."""
    path = tmp_path / "tiny_instance.txt"
    path.write_text(TINY, encoding="utf-8")
    ((label, resolved),) = resolve_instances(None, [str(path)])
    assert label == "tiny_instance" and resolved == path
    row, timeline = solve_instance(label, path, tmp_path / "out", time_limit=5, workers=1,
                                   log=lambda *_: None)
    assert row["verified"], row
    # the hand-made solution in test_benchmarks_mankowska costs 31.090832 / 3: the solver does no worse
    assert row["objective"] <= 31.090832 / 3 + 0.01
    sol = json.loads((tmp_path / "out" / "solutions" / "tiny_instance.json").read_text())
    assert len(sol["routes"]) == 2 and abs(sol["objective"] - row["objective"]) < 0.01
    assert timeline["timeline"], "the progress callback should have reported at least one solution"


@pytest.mark.slow
def test_smoke_command_passes():
    """`python -m benchmarks smoke` is CI's benchmark check: it must pass on a healthy checkout."""
    from benchmarks.__main__ import smoke

    assert smoke() == 0
