"""One retry helper for both databases: SQLite busy/locked and PostgreSQL serialization/deadlock.

A write transaction that fails for one of these reasons was rolled back by the database, so running
it again from the start is safe. Anything else is re-raised at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from timebank.errors import RetryExhausted

T = TypeVar("T")

PG_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
SQLITE_RETRYABLE_MESSAGES = ("database is locked", "database is busy", "database table is locked")


def is_retryable(exc: BaseException) -> bool:
    """True for a transient concurrency failure the whole transaction can safely be re-run after."""
    if not isinstance(exc, DBAPIError):
        return False
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate in PG_RETRYABLE_SQLSTATES:
        return True
    message = str(orig).lower()
    return any(m in message for m in SQLITE_RETRYABLE_MESSAGES)


def run_with_retry(
    fn: Callable[[], T],
    *,
    attempts: int = 12,
    base_delay: float = 0.005,
    max_delay: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` until it succeeds, retrying transient failures with jittered exponential backoff.

    ``fn`` must run one whole database transaction (so a retry starts from a clean state).
    Raises :class:`RetryExhausted` (chained to the last failure) after ``attempts`` tries.
    """
    if attempts < 1:
        raise ValueError(f"attempts: must be at least 1, got {attempts}")
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            return fn()
        except DBAPIError as exc:
            if not is_retryable(exc):
                raise
            last = exc
            delay = min(max_delay, base_delay * (2**attempt))
            sleep(delay * (0.5 + random.random()))
    raise RetryExhausted(f"gave up after {attempts} attempts: {last}") from last
