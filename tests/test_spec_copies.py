"""The copies of the spec (its text and example files) in ``tests/data/spec`` are the contract's own.

The tests read the copies so that they run from any checkout; when the shared contract
(``../shared/spec``) is beside this checkout, each copy must equal its original byte for
byte, or the tests would be checking an example the contract no longer publishes; the spec
text may only be extended (compatibly), never changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

COPIES = Path(__file__).resolve().parent / "data" / "spec"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "spec"
COPIED = sorted(p.name for p in COPIES.iterdir() if p.is_file())

needs_shared = pytest.mark.skipif(not SHARED.is_dir(),
                                  reason=f"the shared spec is not beside this checkout ({SHARED} is missing)")


@needs_shared
@pytest.mark.parametrize("name", [n for n in COPIED if n.startswith("example-")])
def test_spec_copy_equals_the_shared_original_byte_for_byte(name: str) -> None:
    """A copy that drifted from the contract would make the example tests check the wrong file."""
    original = SHARED / name
    assert original.is_file(), f"tests/data/spec/{name} has no original in {SHARED}"
    assert (COPIES / name).read_bytes() == original.read_bytes(), (
        f"tests/data/spec/{name} differs from {original}")


@needs_shared
def test_our_spec_text_only_extends_the_shared_contract() -> None:
    """The spec may be extended compatibly (a valid v1 file stays valid): our copy keeps every
    line of the shared contract, in order, and only adds lines (``skills_valid_until``)."""
    ours = (COPIES / "problem-format.md").read_text(encoding="utf-8").splitlines()
    theirs = (SHARED / "problem-format.md").read_text(encoding="utf-8").splitlines()
    it = iter(ours)
    missing = [line for line in theirs if not any(line == mine for mine in it)]
    assert not missing, f"lines of the shared spec changed or dropped in tests/data/spec: {missing[:3]}"


@needs_shared
def test_every_example_file_of_the_shared_spec_is_copied() -> None:
    """An example the contract adds should be copied (and then tested) too."""
    assert COPIED, f"no copies in {COPIES}"
    examples = [n for n in COPIED if n.startswith("example-")]
    assert sorted(p.name for p in SHARED.glob("example-*.json")) == examples
