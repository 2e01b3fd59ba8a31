"""The core packages stand on their own: the engine and the ledger import nothing from the
web service, so either can be used (and tested) without it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["scheduler", "timebank"])
def test_core_package_imports_nothing_from_the_service(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if re.match(r"\s*(from\s+api(\.|\s)|import\s+api(\.|\s|$))", line):
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_the_installed_command_has_the_engine_and_the_service_commands() -> None:
    from carerota.cli import app

    names = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    groups = {g.name for g in app.registered_groups}
    assert {"solve", "check", "example", "serve", "demo"} <= names
    assert "timebank" in groups
