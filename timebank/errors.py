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


class FederationNotFound(LedgerError):
    """A federation id does not exist."""


class NotAFederationMember(LedgerError):
    """The co-op is not (or no longer) a member of the federation."""


class FederationLimitExceeded(LimitExceeded):
    """A move would take a co-op's position with its federation beyond the limit the federation
    set; nothing was written. ``coop_id``: the co-op whose limit it is."""

    def __init__(
        self, message: str, *, coop_id: str, account_id: int, balance: int, new_balance: int, limit: int
    ) -> None:
        self.coop_id = coop_id
        super().__init__(
            message, account_id=account_id, balance=balance, new_balance=new_balance, limit=limit,
            which="floor" if new_balance < 0 else "cap",
        )


class PositionNotSettled(LedgerError):
    """A co-op may leave its federation only with its position settled to zero."""
