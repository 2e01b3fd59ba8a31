"""Every rule of the spec has its checker function, its CP-SAT part and its evaluator.

The three are written independently on purpose (the checker from the spec, the model for
CP-SAT, the compiled evaluator for the local search), so nothing but a map can say that a
rule has all three. ``scheduler.rules.RULE_HOMES`` is that map; these tests hold it to the
spec text (``tests/data/spec/problem-format.md``, a byte copy of the contract) and to the
code: a rule the spec adds, a part renamed or deleted, or a checker function no rule owns,
fails here.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import scheduler.checker
from scheduler.rules import RULE_HOMES, RuleHome

SPEC = Path(__file__).resolve().parent / "data" / "spec" / "problem-format.md"
TESTS = Path(__file__).resolve().parent


def _resolve(place: str) -> object:
    module, _, attr = place.partition(":")
    obj: object = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _spec_rules() -> set[str]:
    text = SPEC.read_text(encoding="utf-8")
    valid = text.split('## What "valid rota" means', 1)[1].split("\n## ", 1)[0]
    numbered = {f"valid {n}" for n in re.findall(r"^(\d+)\. ", valid, flags=re.M)}
    weights_section = text.split("### weights", 1)[1].split("\n## ", 1)[0]
    weights = {f"weight {w}" for w in re.findall(r"^\| `([a-z_]+)` \|", weights_section, flags=re.M)}
    return numbered | weights


def test_the_spec_lists_the_rules_this_test_reads() -> None:
    """Guard the parser: if the spec's layout changed, the other tests would pass vacuously."""
    rules = _spec_rules()
    assert {f"valid {n}" for n in range(1, 9)} <= rules
    assert {"weight unassigned_essential", "weight travel", "weight cost"} <= rules


def test_every_rule_of_the_spec_has_a_home() -> None:
    claimed = {s for home in RULE_HOMES for s in home.spec}
    missing = sorted(_spec_rules() - claimed)
    assert not missing, f"rules of the spec with no entry in scheduler.rules.RULE_HOMES: {missing}"
    unknown = sorted(claimed - _spec_rules())
    assert not unknown, f"RULE_HOMES names rules the spec does not have: {unknown}"


@pytest.mark.parametrize("home", RULE_HOMES, ids=lambda h: h.key)
def test_each_rule_has_a_checker_a_cp_sat_part_and_an_evaluator_that_exist(home: RuleHome) -> None:
    for part in ("checker", "model", "evaluator"):
        places = getattr(home, part)
        assert places, f"{home.key}: no {part}"
        for place in places:
            assert callable(_resolve(place)), f"{home.key}: {part} {place} is not a function"
    assert all(p.startswith("scheduler.checker:check_") for p in home.checker), (
        f"{home.key}: the checker part must be a check_* function of scheduler.checker")
    assert any(p.startswith("scheduler.model.") for p in home.model), (
        f"{home.key}: no CP-SAT module of scheduler.model")
    assert any(p.startswith(("scheduler.search.", "scheduler.solve:")) for p in home.evaluator), (
        f"{home.key}: no part in the search's evaluator")
    for place in home.explain:
        assert callable(_resolve(place)), f"{home.key}: reasons {place} is not a function"
    for name in home.tests:
        assert (TESTS / name).is_file(), f"{home.key}: tests/{name} is missing"


def test_the_checker_stays_independent_of_the_model_and_the_search() -> None:
    """The checker is the referee: it must not import what it referees."""
    source = Path(scheduler.checker.__file__).read_text(encoding="utf-8")
    imports = re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, flags=re.M)
    refereed = ("scheduler.model", "scheduler.search", "scheduler.solve")
    assert not [m for m in imports if m.startswith(refereed)]


def test_every_checker_function_belongs_to_a_rule() -> None:
    owned = {p.split(":")[1] for home in RULE_HOMES for p in home.checker}
    checks = {name for name in scheduler.checker.__all__ if name.startswith("check_")}
    assert checks - owned == set(), f"checker functions no rule owns: {sorted(checks - owned)}"
