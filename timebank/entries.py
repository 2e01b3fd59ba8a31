"""Immutable value objects for a proposed transaction and a validator that reports every problem.

Like beancount, validation never stops at the first problem: :func:`validate` returns the full list
so a caller (the API) can show them all at once. :func:`check` raises :class:`ValidationError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field

from timebank.errors import ValidationError
from timebank.models import TxnKind

MAX_LEG_MINUTES = 1_000_000_000  # far beyond any real transfer; keeps sums inside BIGINT
MAX_KEY_LENGTH = 300
MAX_MEMO_LENGTH = 1000
MAX_REF_LENGTH = 100
MAX_REFERENCE_LENGTH = 200
RESERVED_KEY_PREFIX = "visit-credit:"  # idempotency keys the ledger derives itself
FEDERATION_KEY_PREFIX = "federation:"  # the legs of a federal move (timebank.federation)
RESERVED_KEY_PREFIXES = (RESERVED_KEY_PREFIX, FEDERATION_KEY_PREFIX)


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of a transaction: ``minutes`` > 0 credits ``account_id``, < 0 debits it."""

    account_id: int
    minutes: int


@dataclass(frozen=True, slots=True)
class ProposedTransaction:
    """A transaction as requested, before it is checked against balances and limits."""

    coop_id: str
    kind: TxnKind | str
    legs: tuple[Leg, ...]
    recorded_by: str
    idempotency_key: str
    service_date: dt.date
    on_behalf_of: str | None = None
    memo: str = ""
    reference: str | None = None
    reverses_id: int | None = None
    extra_fingerprint: tuple[str, ...] = field(default=())

    def fingerprint(self) -> str:
        """A stable hash of the request (everything but the idempotency key; legs in any order)."""
        payload = {
            "coop_id": self.coop_id,
            "kind": str(self.kind),
            "legs": sorted([leg.account_id, leg.minutes] for leg in self.legs),
            "recorded_by": self.recorded_by,
            "on_behalf_of": self.on_behalf_of,
            "service_date": self.service_date.isoformat() if isinstance(self.service_date, dt.date) else None,
            "memo": self.memo,
            "reference": self.reference,
            "reverses_id": self.reverses_id,
            "extra": list(self.extra_fingerprint),
        }
        blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_text(errors: list[str], name: str, value: object, *, required: bool, max_length: int) -> None:
    if value is None:
        if required:
            errors.append(f"{name}: is required")
        return
    if not isinstance(value, str):
        errors.append(f"{name}: must be a string, got {type(value).__name__}")
    elif required and not value.strip():
        errors.append(f"{name}: must not be empty")
    elif len(value) > max_length:
        errors.append(f"{name}: longer than {max_length} characters ({len(value)})")


def validate_minutes(errors: list[str], name: str, minutes: object, *, positive: bool) -> None:
    """Append a problem with ``minutes`` (an integer number of minutes) to ``errors``."""
    if not _is_int(minutes):
        errors.append(f"{name}: must be an integer number of minutes, got {minutes!r}")
        return
    assert isinstance(minutes, int)
    if positive and minutes <= 0:
        errors.append(f"{name}: must be a positive number of minutes, got {minutes}")
    elif minutes == 0:
        errors.append(f"{name}: must not be zero")
    elif abs(minutes) > MAX_LEG_MINUTES:
        errors.append(f"{name}: {minutes} is beyond the {MAX_LEG_MINUTES} minute limit per leg")


def validate(p: ProposedTransaction, *, allow_reserved_key: bool = False) -> list[str]:
    """Every problem with ``p`` as a list of ``"field: reason"`` strings (empty when valid)."""
    errors: list[str] = []
    _check_text(errors, "coop_id", p.coop_id, required=True, max_length=MAX_REF_LENGTH)
    kinds = {k.value for k in TxnKind}
    if str(p.kind) not in kinds:
        errors.append(f"kind: {p.kind!r} is not one of {sorted(kinds)}")
    _check_text(errors, "recorded_by", p.recorded_by, required=True, max_length=MAX_REF_LENGTH)
    _check_text(errors, "on_behalf_of", p.on_behalf_of, required=False, max_length=MAX_REF_LENGTH)
    _check_text(errors, "memo", p.memo, required=False, max_length=MAX_MEMO_LENGTH)
    _check_text(errors, "reference", p.reference, required=False, max_length=MAX_REFERENCE_LENGTH)
    _check_text(errors, "idempotency_key", p.idempotency_key, required=True, max_length=MAX_KEY_LENGTH)
    if not allow_reserved_key and isinstance(p.idempotency_key, str):
        if p.idempotency_key.startswith(RESERVED_KEY_PREFIX):
            errors.append(
                f"idempotency_key: the prefix {RESERVED_KEY_PREFIX!r} is reserved for visit credits"
            )
        elif p.idempotency_key.startswith(FEDERATION_KEY_PREFIX):
            errors.append(f"idempotency_key: the prefix {FEDERATION_KEY_PREFIX!r} is reserved for "
                          "moves between the co-ops of a federation")
    if not isinstance(p.service_date, dt.date) or isinstance(p.service_date, dt.datetime):
        errors.append(f"service_date: must be a date, got {p.service_date!r}")

    if not isinstance(p.legs, tuple | list):
        errors.append("legs: must be a sequence of legs")
    else:
        if len(p.legs) < 2:
            errors.append(f"legs: a transaction needs at least two legs, got {len(p.legs)}")
        seen: dict[int, int] = {}
        total = 0
        all_ints = True
        for i, leg in enumerate(p.legs):
            if not isinstance(leg, Leg):
                errors.append(f"legs[{i}]: must be a Leg, got {type(leg).__name__}")
                all_ints = False
                continue
            if not _is_int(leg.account_id) or leg.account_id <= 0:
                errors.append(f"legs[{i}].account_id: must be a positive integer id, got {leg.account_id!r}")
            elif leg.account_id in seen:
                errors.append(
                    f"legs[{i}].account_id: account {leg.account_id} "
                    f"already appears in legs[{seen[leg.account_id]}]"
                )
            else:
                seen[leg.account_id] = i
            before = len(errors)
            validate_minutes(errors, f"legs[{i}].minutes", leg.minutes, positive=False)
            if len(errors) == before:
                total += leg.minutes
            else:
                all_ints = False
        if all_ints and total != 0:
            errors.append(f"legs: minutes must sum to zero, they sum to {total}")

    if str(p.kind) == TxnKind.REVERSAL.value:
        if p.reverses_id is None:
            errors.append("reverses_id: a reversal must name the transaction it reverses")
    elif p.reverses_id is not None:
        errors.append(f"reverses_id: only a reversal may point at another transaction (kind is {p.kind!r})")
    if str(p.kind) == TxnKind.VISIT_CREDIT.value and not p.reference:
        errors.append("reference: a visit credit must carry the visit id")
    return errors


def check(p: ProposedTransaction, *, allow_reserved_key: bool = False) -> None:
    """Raise :class:`ValidationError` listing every problem with ``p``."""
    errors = validate(p, allow_reserved_key=allow_reserved_key)
    if errors:
        raise ValidationError(errors)
