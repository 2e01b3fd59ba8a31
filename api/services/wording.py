"""Numbers and names a person reads: one definition of the optimality gap, problem-file ids
(``m25``, ``c3``, ``t7-20261201``) turned into the names they stand for, and the time bank's
internal field names and keys said in the caller's terms."""

from __future__ import annotations

import re
from typing import Any

from scheduler.rota import gap_of, gap_text  # the one definition, shared with the solver and the CLI

__all__ = ["gap_of", "gap_text", "humanize", "ledger_terms", "names_of"]


_KEY = re.compile(r"\b(?:m\d+|c\d+|t\d+-\d{8})\b")


def names_of(problem: dict[str, Any], id_map: dict[str, Any] | None = None) -> dict[str, str]:
    """Problem-file id -> what a coordinator calls it: a carer's or client's name, a visit's
    label and day."""
    names: dict[str, str] = {}
    for c in problem.get("carers", []):
        if c.get("name"):
            names[c["id"]] = str(c["name"])
    for c in problem.get("clients", []):
        if c.get("name"):
            names[c["id"]] = str(c["name"])
    visits = (id_map or {}).get("visits", {})
    for v in problem.get("visits", []):
        meta = visits.get(v["id"], {})
        label = meta.get("label") or v.get("label")
        if label:
            day = v.get("earliest_start", "")[:10]
            names[v["id"]] = f"'{label}' ({day})" if day else f"'{label}'"
    return names


def humanize(text: str, names: dict[str, str]) -> str:
    """``text`` with every known problem-file id replaced by its name."""
    return _KEY.sub(lambda m: names.get(m.group(0), m.group(0)), text)


_LEDGER_FIELDS = (("legs.minutes", "minutes"), ("legs.account_id", "to_member_id"),
                  ("idempotency_key", "Idempotency-Key"))
_SCOPED_KEY = re.compile(r"'api:(?:gift|exchange):\d+:(.*?)'")


def ledger_terms(message: str) -> str:
    """A time-bank message with the ledger's internal names said in the API's terms."""
    out = _SCOPED_KEY.sub(lambda m: f"'{m.group(1)}'", message)
    for internal, public in _LEDGER_FIELDS:
        out = out.replace(internal, public)
    return out
