"""One retry helper for SQLite busy and PostgreSQL serialization failure / deadlock."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from timebank import RetryExhausted, is_retryable, run_with_retry


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"pg error {sqlstate}")
        self.sqlstate = sqlstate


def _op(orig: Exception) -> OperationalError:
    return OperationalError("UPDATE ...", {}, orig)


def test_transient_failures_are_retryable_and_others_are_not() -> None:
    """Only failures after which the database rolled the whole transaction back are retried."""
    assert is_retryable(_op(_PgError("40001")))  # serialization_failure
    assert is_retryable(_op(_PgError("40P01")))  # deadlock_detected
    assert is_retryable(_op(Exception("database is locked")))
    assert not is_retryable(_op(_PgError("23505")))
    assert not is_retryable(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert not is_retryable(ValueError("database is locked"))


def test_run_with_retry_reruns_until_success() -> None:
    """A deadlock then a busy database, then success: the caller sees only the success."""
    failures = [_op(_PgError("40P01")), _op(Exception("database is locked"))]
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "done"

    assert run_with_retry(fn, sleep=lambda _s: None) == "done"
    assert len(calls) == 3


def test_run_with_retry_gives_up_with_a_clear_error() -> None:
    """A database that stays busy ends in RetryExhausted, chained to the last failure."""

    def fn() -> None:
        raise _op(Exception("database is locked"))

    with pytest.raises(RetryExhausted, match="gave up after 3 attempts") as info:
        run_with_retry(fn, attempts=3, sleep=lambda _s: None)
    assert isinstance(info.value.__cause__, OperationalError)


def test_run_with_retry_does_not_retry_other_errors() -> None:
    """A constraint violation is a real error: raised at once, not retried."""
    calls: list[int] = []

    def fn() -> None:
        calls.append(1)
        raise IntegrityError("INSERT", {}, Exception("UNIQUE"))

    with pytest.raises(IntegrityError):
        run_with_retry(fn, sleep=lambda _s: None)
    assert len(calls) == 1
