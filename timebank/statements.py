"""Statements, funders' reports (CSV) and the reconciliation check.

Statement periods are by posting date (UTC), so a closed period's statement never changes; the
funders' report groups by service date (the month the hours were given).

Hours *given* are the minutes an account earned by giving time (visit credits and exchange
payments received); hours *received* are the minutes it paid for time received (exchange payments
made, and visit credits paid from a client's own account). Reversals count against the kind they
reverse. Gifts, donations and adjustments are shown as other minutes in / out.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from timebank.models import AccountPublic, TxnKind, account_t, entry_t, txn_t

TIME_KINDS = frozenset({TxnKind.VISIT_CREDIT.value, TxnKind.EXCHANGE.value})


@dataclass(frozen=True, slots=True)
class StatementLine:
    entry_id: int
    transaction_id: int
    posted_at: dt.datetime
    service_date: dt.date
    kind: str
    reverses_id: int | None
    reverses_kind: str | None
    memo: str
    reference: str | None
    recorded_by: str
    on_behalf_of: str | None
    minutes: int  # > 0 in, < 0 out
    balance_after: int
    counterparties: tuple[int, ...]  # the other accounts of the transaction


@dataclass(frozen=True, slots=True)
class Statement:
    account: AccountPublic
    start: dt.date
    end: dt.date
    opening_balance: int
    closing_balance: int
    minutes_in: int
    minutes_out: int
    given_minutes: int
    received_minutes: int
    other_in_minutes: int
    other_out_minutes: int
    lines: tuple[StatementLine, ...]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _period(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    from timebank.errors import ValidationError

    if not isinstance(start, dt.date) or not isinstance(end, dt.date) or end < start:
        raise ValidationError(
            [f"end: the period must be two dates with start <= end, got {start!r}..{end!r}"]
        )
    return _day_start(start), _day_start(end + dt.timedelta(days=1))


@dataclass(frozen=True, slots=True)
class PeriodTotals:
    """A statement's figures for its whole period, summed by the database (any page size)."""

    opening_balance: int
    closing_balance: int
    minutes_in: int
    minutes_out: int
    given_minutes: int
    received_minutes: int
    other_in_minutes: int
    other_out_minutes: int
    lines: int


def period_totals(conn: Connection, account_id: int, start: dt.date, end: dt.date) -> PeriodTotals:
    """Opening and closing balance and the minutes in, out, given, received and other of the
    period, each one SQL aggregate (no line is fetched)."""
    lo, hi = _period(start, end)
    aid = account_id
    opening = conn.execute(
        sa.select(entry_t.c.balance_after)
        .where(entry_t.c.account_id == aid, entry_t.c.posted_at < lo)
        .order_by(entry_t.c.posted_at.desc(), entry_t.c.id.desc())
        .limit(1)
    ).scalar()
    opening_balance = int(opening) if opening is not None else 0
    in_period = sa.and_(entry_t.c.account_id == aid, entry_t.c.posted_at >= lo, entry_t.c.posted_at < hi)
    closing = conn.execute(
        sa.select(entry_t.c.balance_after).where(in_period).order_by(entry_t.c.id.desc()).limit(1)
    ).scalar()
    orig = txn_t.alias("orig")
    amount = entry_t.c.amount
    is_reversal = txn_t.c.kind == TxnKind.REVERSAL.value
    # a reversal counts against the kind it reverses
    effective = sa.case((is_reversal, sa.func.coalesce(orig.c.kind, "")), else_=txn_t.c.kind)
    is_time = effective.in_(sorted(TIME_KINDS))

    def total(condition: Any) -> Any:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, amount), else_=0)), 0)

    # hours given: credits of time kinds, less reversals that debit them; received: the mirror
    gives = sa.or_(sa.and_(~is_reversal, amount > 0), sa.and_(is_reversal, amount < 0))
    receives = sa.or_(sa.and_(~is_reversal, amount < 0), sa.and_(is_reversal, amount > 0))
    row = conn.execute(
        sa.select(
            total(amount > 0).label("m_in"),
            total(amount < 0).label("m_out"),
            total(sa.and_(is_time, gives)).label("given"),
            total(sa.and_(is_time, receives)).label("received"),
            total(sa.and_(~is_time, amount > 0)).label("other_in"),
            total(sa.and_(~is_time, amount < 0)).label("other_out"),
            sa.func.count(entry_t.c.id).label("n"),
        )
        .select_from(
            entry_t.join(txn_t, txn_t.c.id == entry_t.c.transaction_id).outerjoin(
                orig, orig.c.id == txn_t.c.reverses_id
            )
        )
        .where(in_period)
    ).one()
    return PeriodTotals(
        opening_balance=opening_balance,
        closing_balance=int(closing) if closing is not None else opening_balance,
        minutes_in=int(row.m_in),
        minutes_out=-int(row.m_out),
        given_minutes=int(row.given),
        received_minutes=-int(row.received),
        other_in_minutes=int(row.other_in),
        other_out_minutes=-int(row.other_out),
        lines=int(row.n),
    )


def statement_lines(
    conn: Connection,
    account_id: int,
    start: dt.date,
    end: dt.date,
    *,
    after_entry_id: int = 0,
    limit: int | None = None,
) -> list[StatementLine]:
    """The period's lines in entry order, from the first entry after ``after_entry_id``
    (a page's cursor), at most ``limit`` of them (None: all)."""
    lo, hi = _period(start, end)
    aid = account_id
    orig = txn_t.alias("orig")
    in_period = sa.and_(entry_t.c.account_id == aid, entry_t.c.posted_at >= lo, entry_t.c.posted_at < hi,
                        entry_t.c.id > after_entry_id)
    q = (
        sa.select(
            entry_t.c.id,
            entry_t.c.transaction_id,
            entry_t.c.posted_at,
            entry_t.c.amount,
            entry_t.c.balance_after,
            txn_t.c.service_date,
            txn_t.c.kind,
            txn_t.c.reverses_id,
            txn_t.c.memo,
            txn_t.c.reference,
            txn_t.c.recorded_by,
            txn_t.c.on_behalf_of,
            orig.c.kind.label("reverses_kind"),
        )
        .select_from(
            entry_t.join(txn_t, txn_t.c.id == entry_t.c.transaction_id).outerjoin(
                orig, orig.c.id == txn_t.c.reverses_id
            )
        )
        .where(in_period)
        .order_by(entry_t.c.id)
    )
    if limit is not None:
        q = q.limit(limit)
    rows = conn.execute(q).all()
    others: dict[int, list[int]] = defaultdict(list)
    if rows:
        txns = sorted({r.transaction_id for r in rows})
        for o in conn.execute(
            sa.select(entry_t.c.transaction_id, entry_t.c.account_id)
            .where(entry_t.c.transaction_id.in_(txns), entry_t.c.account_id != aid)
            .order_by(entry_t.c.id)
        ):
            others[o.transaction_id].append(o.account_id)
    return [
        StatementLine(
            entry_id=r.id,
            transaction_id=r.transaction_id,
            posted_at=_aware(r.posted_at),
            service_date=r.service_date,
            kind=r.kind,
            reverses_id=r.reverses_id,
            reverses_kind=r.reverses_kind,
            memo=r.memo,
            reference=r.reference,
            recorded_by=r.recorded_by,
            on_behalf_of=r.on_behalf_of,
            minutes=int(r.amount),
            balance_after=int(r.balance_after),
            counterparties=tuple(others.get(r.transaction_id, ())),
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class StatementPage:
    """One page of a statement: the whole period's totals, up to ``limit`` lines, and the
    entry id to continue after (``None`` on the last page)."""

    account: AccountPublic
    start: dt.date
    end: dt.date
    totals: PeriodTotals
    lines: tuple[StatementLine, ...]
    next_after: int | None


def build_statement_page(
    conn: Connection, account: AccountPublic, start: dt.date, end: dt.date, *, after_entry_id: int, limit: int
) -> StatementPage:
    from timebank.errors import ValidationError

    if limit < 1:
        raise ValidationError([f"limit: must be at least 1, got {limit}"])
    if after_entry_id < 0:
        raise ValidationError([f"after_entry_id: must not be negative, got {after_entry_id}"])
    totals = period_totals(conn, account.id, start, end)
    lines = statement_lines(conn, account.id, start, end, after_entry_id=after_entry_id, limit=limit + 1)
    more = len(lines) > limit
    lines = lines[:limit]
    return StatementPage(account=account, start=start, end=end, totals=totals, lines=tuple(lines),
                         next_after=lines[-1].entry_id if more else None)


def build_statement(conn: Connection, account: AccountPublic, start: dt.date, end: dt.date) -> Statement:
    totals = period_totals(conn, account.id, start, end)
    lines = statement_lines(conn, account.id, start, end)
    return Statement(
        account=account,
        start=start,
        end=end,
        opening_balance=totals.opening_balance,
        closing_balance=totals.closing_balance,
        minutes_in=totals.minutes_in,
        minutes_out=totals.minutes_out,
        given_minutes=totals.given_minutes,
        received_minutes=totals.received_minutes,
        other_in_minutes=totals.other_in_minutes,
        other_out_minutes=totals.other_out_minutes,
        lines=tuple(lines),
    )


def _hours(minutes: int) -> str:
    sign = "-" if minutes < 0 else ""
    h, m = divmod(abs(minutes), 60)
    return f"{sign}{h}:{m:02d}"


STATEMENT_COLUMNS = [
    "entry_id",
    "transaction_id",
    "posted_at",
    "service_date",
    "kind",
    "reverses_id",
    "memo",
    "reference",
    "recorded_by",
    "on_behalf_of",
    "counterparties",
    "minutes_in",
    "minutes_out",
    "balance_after_minutes",
    "balance_after_hours",
]


def statement_to_csv(s: Statement) -> str:
    """CSV: a summary block, then one row per entry (minutes in and out in separate columns)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    a = s.account
    w.writerow(["account_id", "coop_id", "kind", "owner_ref", "name", "period_start", "period_end"])
    w.writerow([a.id, a.coop_id, a.kind, a.owner_ref or "", a.name, s.start.isoformat(), s.end.isoformat()])
    w.writerow(
        [
            "opening_minutes",
            "given_minutes",
            "received_minutes",
            "other_in_minutes",
            "other_out_minutes",
            "closing_minutes",
            "given_hours",
            "received_hours",
            "closing_hours",
        ]
    )
    w.writerow(
        [
            s.opening_balance,
            s.given_minutes,
            s.received_minutes,
            s.other_in_minutes,
            s.other_out_minutes,
            s.closing_balance,
            _hours(s.given_minutes),
            _hours(s.received_minutes),
            _hours(s.closing_balance),
        ]
    )
    w.writerow([])
    w.writerow(STATEMENT_COLUMNS)
    for ln in s.lines:
        kind = f"reversal of {ln.reverses_kind}" if ln.reverses_kind else ln.kind
        w.writerow(
            [
                ln.entry_id,
                ln.transaction_id,
                ln.posted_at.isoformat(),
                ln.service_date.isoformat(),
                kind,
                ln.reverses_id or "",
                ln.memo,
                ln.reference or "",
                ln.recorded_by,
                ln.on_behalf_of or "",
                ";".join(map(str, ln.counterparties)),
                max(ln.minutes, 0),
                max(-ln.minutes, 0),
                ln.balance_after,
                _hours(ln.balance_after),
            ]
        )
    return buf.getvalue()


@dataclass(frozen=True, slots=True)
class KindMonthRow:
    month: str  # YYYY-MM of the service date
    kind: str
    reverses_kind: str | None
    transactions: int
    minutes: int  # minutes moved (sum of the credit legs)


def hours_by_kind_month(
    conn: Connection, coop_id: str, start: dt.date | None, end: dt.date | None
) -> list[KindMonthRow]:
    orig = txn_t.alias("orig")
    q = (
        sa.select(
            txn_t.c.service_date,
            txn_t.c.kind,
            orig.c.kind.label("reverses_kind"),
            sa.func.count(sa.distinct(txn_t.c.id)).label("n"),
            sa.func.sum(entry_t.c.amount).label("minutes"),
        )
        .select_from(
            txn_t.join(
                entry_t, sa.and_(entry_t.c.transaction_id == txn_t.c.id, entry_t.c.amount > 0)
            ).outerjoin(orig, orig.c.id == txn_t.c.reverses_id)
        )
        .where(txn_t.c.coop_id == coop_id)
        .group_by(txn_t.c.service_date, txn_t.c.kind, orig.c.kind)
    )
    if start is not None:
        q = q.where(txn_t.c.service_date >= start)
    if end is not None:
        q = q.where(txn_t.c.service_date <= end)
    acc: dict[tuple[str, str, str | None], list[int]] = defaultdict(lambda: [0, 0])
    for r in conn.execute(q):
        day = (
            r.service_date
            if isinstance(r.service_date, dt.date)
            else dt.date.fromisoformat(str(r.service_date))
        )
        slot = acc[(f"{day.year:04d}-{day.month:02d}", r.kind, r.reverses_kind)]
        slot[0] += int(r.n)
        slot[1] += int(r.minutes)
    return [
        KindMonthRow(month=k[0], kind=k[1], reverses_kind=k[2], transactions=v[0], minutes=v[1])
        for k, v in sorted(acc.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
    ]


def kind_month_to_csv(rows: list[KindMonthRow]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["month", "kind", "reverses_kind", "transactions", "minutes", "hours"])
    for r in rows:
        w.writerow(
            [r.month, r.kind, r.reverses_kind or "", r.transactions, r.minutes, f"{r.minutes / 60:.2f}"]
        )
    return buf.getvalue()


def reconcile(
    conn: Connection, coop_id: str | None
) -> tuple[list[str], tuple[int, int, int], dict[str, int]]:
    problems: list[str] = []

    def scoped(q: Any, table: Any) -> Any:
        return q.where(table.c.coop_id == coop_id) if coop_id is not None else q

    # 1. running balance == sum of entries == last balance_after
    sums = (
        sa.select(
            entry_t.c.account_id,
            sa.func.sum(entry_t.c.amount).label("total"),
            sa.func.max(entry_t.c.id).label("last_id"),
        )
        .group_by(entry_t.c.account_id)
        .subquery()
    )
    last = entry_t.alias("last")
    q = sa.select(
        account_t.c.id, account_t.c.coop_id, account_t.c.balance, sums.c.total, last.c.balance_after
    ).select_from(
        account_t.outerjoin(sums, sums.c.account_id == account_t.c.id).outerjoin(
            last, last.c.id == sums.c.last_id
        )
    )
    n_accounts = 0
    totals: dict[str, int] = defaultdict(int)
    for r in conn.execute(scoped(q, account_t)):
        n_accounts += 1
        total = int(r.total or 0)
        totals[r.coop_id] += int(r.balance)
        if int(r.balance) != total:
            problems.append(f"account {r.id}: running balance {r.balance} != sum of entries {total}")
        if r.balance_after is not None and int(r.balance_after) != total:
            problems.append(f"account {r.id}: last balance_after {r.balance_after} != sum of entries {total}")
    for coop, total in sorted(totals.items()):
        if total != 0:
            problems.append(f"co-op {coop}: balances sum to {total}, not zero")

    # 2. every balance_after equals the running sum of the account's entries in id order
    running = sa.func.sum(entry_t.c.amount).over(partition_by=entry_t.c.account_id, order_by=entry_t.c.id)
    chain = scoped(
        sa.select(entry_t.c.id, entry_t.c.account_id, entry_t.c.balance_after, running.label("running")),
        entry_t,
    ).subquery()
    n_entries = 0
    for r in conn.execute(sa.select(chain).where(chain.c.balance_after != chain.c.running).limit(20)):
        problems.append(
            f"entry {r.id} (account {r.account_id}): balance_after {r.balance_after} "
            f"!= running sum {r.running}"
        )
    n_entries = int(
        conn.execute(scoped(sa.select(sa.func.count()).select_from(entry_t), entry_t)).scalar() or 0
    )

    # 3. every transaction: >= 2 legs, non-zero legs summing to zero, all in the transaction's co-op
    legs = (
        sa.select(
            txn_t.c.id,
            sa.func.count(entry_t.c.id).label("n"),
            sa.func.coalesce(sa.func.sum(entry_t.c.amount), 0).label("total"),
            sa.func.sum(sa.case((entry_t.c.amount == 0, 1), else_=0)).label("zeros"),
            sa.func.sum(sa.case((account_t.c.coop_id != txn_t.c.coop_id, 1), else_=0)).label("foreign"),
        )
        .select_from(
            txn_t.outerjoin(entry_t, entry_t.c.transaction_id == txn_t.c.id).outerjoin(
                account_t, account_t.c.id == entry_t.c.account_id
            )
        )
        .group_by(txn_t.c.id)
    )
    legs = scoped(legs, txn_t).subquery()
    bad = sa.select(legs).where(sa.or_(legs.c.n < 2, legs.c.total != 0, legs.c.zeros > 0, legs.c.foreign > 0))
    for r in conn.execute(bad.limit(20)):
        problems.append(
            f"transaction {r.id}: {r.n} legs summing to {r.total}, {r.zeros} zero legs, "
            f"{r.foreign} legs in another co-op"
        )
    n_txns = int(conn.execute(scoped(sa.select(sa.func.count()).select_from(txn_t), txn_t)).scalar() or 0)

    # 4. every reversal mirrors its original leg for leg
    rev = txn_t.alias("rev")
    e_rev = entry_t.alias("e_rev")
    e_orig = entry_t.alias("e_orig")
    mirror = (
        sa.select(rev.c.id, rev.c.reverses_id)
        .select_from(
            rev.join(e_rev, e_rev.c.transaction_id == rev.c.id).outerjoin(
                e_orig,
                sa.and_(
                    e_orig.c.transaction_id == rev.c.reverses_id, e_orig.c.account_id == e_rev.c.account_id
                ),
            )
        )
        .where(rev.c.reverses_id.is_not(None))
        .where(sa.or_(e_orig.c.id.is_(None), e_orig.c.amount != -e_rev.c.amount))
    )
    if coop_id is not None:
        mirror = mirror.where(rev.c.coop_id == coop_id)
    for r in conn.execute(mirror.limit(20)):
        problems.append(f"transaction {r.id}: does not mirror transaction {r.reverses_id} it reverses")
    return problems, (n_accounts, n_txns, n_entries), dict(totals)
