"""The ledger's error hierarchy: every refusal says which field and why, never a bare traceback."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error the time bank raises on purpose."""


class ValidationError(LedgerError):
    """The request is malformed; ``errors`` lists every problem found, not just the first."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("invalid ledger request: " + "; ".join(self.errors))


class AccountNotFound(LedgerError):
    """An account id or member reference does not exist (in that co-op)."""


class TransactionNotFound(LedgerError):
    """A transaction id does not exist."""


class CrossCoopTransfer(LedgerError):
    """A transaction tried to move minutes between accounts of different co-ops."""


class LimitExceeded(LedgerError):
    """A leg would take an account beyond its floor or cap; nothing was written."""

    def __init__(
        self, message: str, *, account_id: int, balance: int, new_balance: int, limit: int, which: str
    ) -> None:
        self.account_id = account_id
        self.balance = balance
        self.new_balance = new_balance
        self.limit = limit
        self.which = which  # "floor" or "cap"
        super().__init__(message)


class InsufficientBalance(LimitExceeded):
    """A debit would take an account below its floor (the common case of ``LimitExceeded``)."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was already used for a different request."""


class AlreadyReversed(LedgerError):
    """The transaction has already been reversed (a transaction can be reversed once)."""


class NotReversible(LedgerError):
    """The transaction cannot be reversed (it is itself a reversal)."""


class RetryExhausted(LedgerError):
    """The database stayed busy / kept failing serialization after every retry."""
