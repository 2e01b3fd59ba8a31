"""carerota time bank: an append-only double-entry ledger of volunteer minutes.

Public API: :class:`timebank.service.Ledger` (see ``timebank/README.md``).
"""

from timebank.db import create_engine, create_schema
from timebank.entries import Leg, ProposedTransaction, validate
from timebank.errors import (
    AccountNotFound,
    AlreadyReversed,
    CrossCoopTransfer,
    FederationLimitExceeded,
    FederationNotFound,
    IdempotencyConflict,
    InsufficientBalance,
    LedgerError,
    LimitExceeded,
    NotAFederationMember,
    NotReversible,
    PositionNotSettled,
    RetryExhausted,
    TransactionNotFound,
    ValidationError,
)
from timebank.federation import (
    FederalMovePublic,
    FederationPublic,
    Federations,
    MembershipPublic,
    MoveKind,
    SettlementLine,
    SettlementStatement,
)
from timebank.models import AccountKind, AccountPublic, CreditSource, LedgerTransactionPublic, TxnKind
from timebank.retry import is_retryable, run_with_retry
from timebank.service import DEFAULT_LIMITS, Ledger, Limits, Policy, ReconcileReport, open_account_in
from timebank.statements import KindMonthRow, PeriodTotals, Statement, StatementLine, StatementPage

__all__ = [
    "DEFAULT_LIMITS",
    "AccountKind",
    "AccountNotFound",
    "AccountPublic",
    "AlreadyReversed",
    "CreditSource",
    "CrossCoopTransfer",
    "FederalMovePublic",
    "FederationLimitExceeded",
    "FederationNotFound",
    "FederationPublic",
    "Federations",
    "IdempotencyConflict",
    "InsufficientBalance",
    "KindMonthRow",
    "Ledger",
    "LedgerError",
    "LedgerTransactionPublic",
    "Leg",
    "LimitExceeded",
    "Limits",
    "MembershipPublic",
    "MoveKind",
    "NotAFederationMember",
    "NotReversible",
    "PeriodTotals",
    "Policy",
    "PositionNotSettled",
    "ProposedTransaction",
    "ReconcileReport",
    "RetryExhausted",
    "SettlementLine",
    "SettlementStatement",
    "Statement",
    "StatementLine",
    "StatementPage",
    "TransactionNotFound",
    "TxnKind",
    "ValidationError",
    "create_engine",
    "create_schema",
    "is_retryable",
    "open_account_in",
    "run_with_retry",
    "validate",
]
