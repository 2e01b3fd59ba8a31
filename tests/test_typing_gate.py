"""mypy gates the web service too (issue 10): ``api`` is one of the packages ``mypy`` (run with
no arguments, as ``.ci/run`` does) checks, and no override switches its errors off."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("scheduler", "timebank", "carerota", "api")


def _mypy_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]


def test_mypy_checks_the_api_with_the_core_packages() -> None:
    """``.venv/bin/mypy`` with no arguments checks what ``packages`` lists: the API must be there,
    or its type errors never fail the build."""
    assert set(CHECKED) <= set(_mypy_config()["packages"])


def test_no_mypy_override_silences_a_checked_package() -> None:
    """``ignore_errors`` on ``api.*`` made the API's ~150 errors invisible; no override may do
    that to any module of a checked package (migrations and routes included)."""
    silenced = []
    for override in _mypy_config().get("overrides", []):
        if not override.get("ignore_errors"):
            continue
        patterns = override["module"] if isinstance(override["module"], list) else [override["module"]]
        for package in CHECKED:
            for module in (package, f"{package}.services.rotas", f"{package}.migrations.versions.x"):
                if any(fnmatch.fnmatchcase(module, p) for p in patterns):
                    silenced.append((module, patterns))
    assert silenced == []
