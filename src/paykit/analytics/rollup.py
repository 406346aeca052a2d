"""The daily rollup: one day's figures written into ``analytics``, replacing what was there.

Metric names (docs/analytics.md, "The rollup"): money metrics carry their
currency, ``<name>:<CURRENCY>``; counts carry none. A re-run of a day deletes
the rows this module owns for that day and writes them again, in the caller's
transaction (``flush()``, never ``commit()``), so a day is replaced whole or not
at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics._checks import check_day, check_range, today
from paykit.analytics.definitions import MRR_QUANTUM, day_end
from paykit.analytics.metrics import DailyRevenue, new_customer_rows, revenue_rows
from paykit.analytics.recurring import daily_movements_statement, mrr_statement
from paykit.clock import Clock
from paykit.models import Analytics
from paykit.models import SubscriptionMrrHistory as H

__all__ = [
    "COUNT_METRICS",
    "MONEY_METRICS",
    "MRR_METRICS",
    "RollupResult",
    "backfill",
    "rollup",
]

#: Money metrics, written as ``<name>:<CURRENCY>`` for each currency seen that day.
MONEY_METRICS = (
    "gross_revenue",
    "refunds",
    "net_revenue",
    "discount_cost",
    "average_order_value",
)
#: MRR metrics, ``<name>:<CURRENCY>`` every day for each currency of the subscriptions'
#: history: MRR at the day's end, then the day's movements (``mrr_movements``).
MRR_METRICS = (
    "mrr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "mrr_reactivation",
)
#: Counts, one row a day (zero included); ``order_count``'s metadata splits it by currency.
COUNT_METRICS = ("order_count", "invoice_count", "new_customers")

#: Days computed per set of queries in a backfill.
CHUNK_DAYS = 31


@dataclass(frozen=True)
class RollupResult:
    """What a rollup wrote: the days it replaced and the number of rows."""

    start: date
    end: date
    rows: int


def _money_rows(day: date, figures: list[DailyRevenue]) -> Iterator[tuple[str, Decimal]]:
    for f in figures:
        yield f"gross_revenue:{f.currency}", f.gross
        yield f"refunds:{f.currency}", f.refunds
        yield f"net_revenue:{f.currency}", f.net
        yield f"discount_cost:{f.currency}", f.discounts
        aov = f.average_order_value
        if aov is not None:
            yield f"average_order_value:{f.currency}", aov


def _count_row(day: date, metric: str, by_currency: dict[str, int]) -> dict[str, Any]:
    """A count ``metric`` of the day: the total, and the count per currency in its metadata."""
    return {
        "date": day,
        "metric": metric,
        "value": Decimal(sum(by_currency.values())),
        "metadata_": {"by_currency": by_currency},
    }


def _day_rows(day: date, figures: list[DailyRevenue], new: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"date": day, "metric": metric, "value": value, "metadata_": {}}
        for metric, value in _money_rows(day, figures)
    ]
    orders = {f.currency: f.orders for f in figures if f.orders}
    rows.append(_count_row(day, "order_count", orders))
    invoices = {f.currency: f.invoices for f in figures if f.invoices}
    rows.append(_count_row(day, "invoice_count", invoices))
    rows.append({"date": day, "metric": "new_customers", "value": Decimal(new), "metadata_": {}})
    return rows


def _owned(first: date, last: date) -> sa.Delete:
    names = [Analytics.metric.in_(COUNT_METRICS)] + [
        Analytics.metric.startswith(f"{name}:", autoescape=True)
        for name in MONEY_METRICS + MRR_METRICS
    ]
    return sa.delete(Analytics).where(
        Analytics.date >= first, Analytics.date <= last, sa.or_(*names)
    )


def _day_value(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def mrr_rows(session: Session, first: date, last: date) -> list[dict[str, Any]]:
    """The :data:`MRR_METRICS` rows of ``[first, last]``: per currency, one grouped
    movements query and one MRR query; each day's end MRR is the previous day's
    plus its movements (the invariant makes that exactly ``mrr`` at the day's end)."""
    dialect = session.get_bind().dialect.name
    currencies = session.scalars(
        sa.select(H.currency).where(H.effective_at <= day_end(last)).distinct()
    ).all()
    zero = Decimal("0.0000")
    rows: list[dict[str, Any]] = []
    for currency in sorted(currencies):
        moved = {
            _day_value(day): [Decimal(v).quantize(MRR_QUANTUM) for v in values]
            for day, *values in session.execute(
                daily_movements_statement(first, last, currency, dialect)
            )
        }
        start = session.execute(mrr_statement(day_end(first - timedelta(days=1)), currency))
        level = Decimal(start.scalar_one()).quantize(MRR_QUANTUM)
        day = first
        while day <= last:
            new, expansion, contraction, churned, reactivation = moved.get(day, [zero] * 5)
            level += new + reactivation + expansion - contraction - churned
            values = (level, new, expansion, contraction, churned, reactivation)
            rows.extend(
                {"date": day, "metric": f"{name}:{currency}", "value": value, "metadata_": {}}
                for name, value in zip(MRR_METRICS, values, strict=True)
            )
            day += timedelta(days=1)
    return rows


#: The PostgreSQL advisory lock key that serializes rollups (any days): ``hashtext``
#: of this text, held until the caller's transaction ends.
LOCK_NAME = "paykit.analytics.rollup"


def write_days(session: Session, first: date, last: date) -> int:
    """Compute and replace the rollup of ``[first, last]`` (checked days); rows written.

    On PostgreSQL a transaction-scoped advisory lock makes concurrent rollups wait
    for each other instead of colliding on ``(date, metric)``.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtext(LOCK_NAME))))
    figures: dict[date, list[DailyRevenue]] = {}
    for row in revenue_rows(session, first, last):
        figures.setdefault(row.day, []).append(row)
    new = new_customer_rows(session, first, last)
    rows: list[dict[str, Any]] = []
    day = first
    while day <= last:
        rows.extend(_day_rows(day, figures.get(day, []), new.get(day, 0)))
        day += timedelta(days=1)
    rows.extend(mrr_rows(session, first, last))
    session.flush()
    session.execute(_owned(first, last), execution_options={"synchronize_session": False})
    if rows:
        session.execute(sa.insert(Analytics), rows)
    session.flush()
    return len(rows)


@checked
def rollup(session: Session, *, day: date, clock: Clock | None = None) -> RollupResult:
    """Write ``day``'s metrics into ``analytics``, replacing that day's rollup rows.

    ``day`` is a ``datetime.date`` (a UTC day) no later than the clock's today; a
    rollup of today is partial and is replaced by the next run. Rows other code
    wrote under other metric names are left alone. Flushes, never commits.
    """
    checked_day = check_day(day, "day", latest=today(clock))
    return RollupResult(checked_day, checked_day, write_days(session, checked_day, checked_day))


@checked
def backfill(
    session: Session,
    *,
    start: date,
    end: date,
    clock: Clock | None = None,
    progress: Callable[[date, date], None] | None = None,
) -> RollupResult:
    """:func:`rollup` for every day of ``[start, end]`` (both included), in chunks.

    Each chunk of up to 31 days is computed with one set of grouped queries;
    ``progress(chunk_start, chunk_end)`` is called after each. Flushes, never
    commits: a host that wants a commit per chunk calls it over smaller ranges
    (the CLI commits each chunk).
    """
    first, last = check_range(start, end, latest=today(clock))
    total = 0
    chunk = first
    while chunk <= last:
        chunk_end = min(chunk + timedelta(days=CHUNK_DAYS - 1), last)
        total += write_days(session, chunk, chunk_end)
        if progress is not None:
            progress(chunk, chunk_end)
        chunk = chunk_end + timedelta(days=1)
    return RollupResult(first, last, total)
