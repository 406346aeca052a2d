"""Revenue and customer figures per UTC day and currency, computed set-based in SQL.

Definitions (docs/analytics.md, "Revenue and customers"):

- **gross revenue**: paid orders (``COMPLETED``, or ``REFUNDED`` after payment) by
  ``completed_at``, plus paid invoices by ``paid_at``;
- **refunds**: ``SUCCEEDED`` refunds by ``processed_at`` (a refund counts on the day
  it is made, not on the day of the order it returns);
- **net revenue**: gross - refunds (negative on a day with more refunds than sales);
- **order count** and **average order value** (orders only, invoices excluded),
  **discount cost** (``discount_amount`` of the paid orders);
- **new customers**: customers whose first payment ever falls on that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics._checks import check_range, today
from paykit.analytics._sql import PAID_ORDER, as_date, day_of, midnight, payments
from paykit.clock import Clock
from paykit.models import Invoice, Order, Refund, Subscription
from paykit.models.enums import InvoiceStatus, RefundStatus
from paykit.money import quantize

__all__ = ["DailyRevenue", "new_customers", "revenue"]

_ZERO = Decimal("0")


@dataclass(frozen=True)
class DailyRevenue:
    """One currency's revenue on one UTC day (amounts quantized to the currency)."""

    day: date
    currency: str
    gross: Decimal
    refunds: Decimal
    net: Decimal
    orders: int
    invoices: int
    order_revenue: Decimal
    discounts: Decimal

    @property
    def average_order_value(self) -> Decimal | None:
        """Paid orders' revenue ÷ their count; ``None`` on a day without orders."""
        if not self.orders:
            return None
        return quantize(self.order_revenue / self.orders, self.currency)


def _grouped(
    session: Session, statement: sa.Select[Any]
) -> dict[tuple[date, str], tuple[Any, ...]]:
    grouped: dict[tuple[date, str], tuple[Any, ...]] = {}
    for row in session.execute(statement):
        values = tuple(row)
        grouped[(as_date(values[0]), str(values[1]))] = values[2:]
    return grouped


def revenue_rows(session: Session, first: date, last: date) -> list[DailyRevenue]:
    """:func:`revenue` without the argument checks (for :mod:`paykit.analytics.rollup`)."""
    lo, hi = midnight(first), midnight(last + timedelta(days=1))
    o_day = day_of(session, Order.completed_at)
    orders = _grouped(
        session,
        sa.select(
            o_day,
            Order.currency,
            sa.func.sum(Order.total_amount),
            sa.func.count(),
            sa.func.sum(Order.discount_amount),
        )
        .where(*PAID_ORDER, Order.completed_at >= lo, Order.completed_at < hi)
        .group_by(o_day, Order.currency),
    )
    i_day = day_of(session, Invoice.paid_at)
    invoices = _grouped(
        session,
        sa.select(i_day, Invoice.currency, sa.func.sum(Invoice.amount_paid), sa.func.count())
        .where(Invoice.status == InvoiceStatus.PAID, Invoice.paid_at >= lo, Invoice.paid_at < hi)
        .group_by(i_day, Invoice.currency),
    )
    r_day = day_of(session, Refund.processed_at)
    refunds = _grouped(
        session,
        sa.select(r_day, Refund.currency, sa.func.sum(Refund.amount))
        .where(
            Refund.status == RefundStatus.SUCCEEDED,
            Refund.processed_at >= lo,
            Refund.processed_at < hi,
        )
        .group_by(r_day, Refund.currency),
    )
    rows = []
    for key in sorted(orders.keys() | invoices.keys() | refunds.keys()):
        day, currency = key
        o_sum, o_count, o_disc = orders.get(key, (_ZERO, 0, _ZERO))
        i_sum, i_count = invoices.get(key, (_ZERO, 0))
        (r_sum,) = refunds.get(key, (_ZERO,))
        gross = quantize(Decimal(str(o_sum)) + Decimal(str(i_sum)), currency)
        back = quantize(Decimal(str(r_sum)), currency)
        rows.append(
            DailyRevenue(
                day=day,
                currency=currency,
                gross=gross,
                refunds=back,
                net=gross - back,
                orders=int(str(o_count)),
                invoices=int(str(i_count)),
                order_revenue=quantize(Decimal(str(o_sum)), currency),
                discounts=quantize(Decimal(str(o_disc)), currency),
            )
        )
    return rows


@checked
def revenue(
    session: Session, *, start: date, end: date, clock: Clock | None = None
) -> list[DailyRevenue]:
    """Revenue per UTC day and currency over ``[start, end]`` (both days included).

    Read-only (it runs on a replica). Days and currencies without any payment or
    refund are left out. ``start``/``end`` are ``datetime.date`` values no later
    than the clock's today (``invalid_argument``, ``day_in_future``,
    ``invalid_range``).
    """
    first, last = check_range(start, end, latest=today(clock))
    return revenue_rows(session, first, last)


def new_customer_rows(session: Session, first: date, last: date) -> dict[date, int]:
    """:func:`new_customers` without the argument checks."""
    lo, hi = midnight(first), midnight(last + timedelta(days=1))
    paid = payments(lo, hi)
    earlier_order = sa.exists().where(
        Order.user_id == paid.c.user_id, *PAID_ORDER, Order.completed_at < lo
    )
    earlier_invoice = sa.exists().where(
        Subscription.user_id == paid.c.user_id,
        Invoice.subscription_id == Subscription.id,
        Invoice.status == InvoiceStatus.PAID,
        Invoice.paid_at < lo,
    )
    firsts = (
        sa.select(paid.c.user_id, sa.func.min(paid.c.at).label("first"))
        .where(~earlier_order, ~earlier_invoice)
        .group_by(paid.c.user_id)
        .subquery("firsts")
    )
    day = day_of(session, firsts.c.first)
    counts = session.execute(
        sa.select(day, sa.func.count()).select_from(firsts).group_by(day)
    ).all()
    return {as_date(d): int(n) for d, n in counts}


@checked
def new_customers(
    session: Session, *, start: date, end: date, clock: Clock | None = None
) -> dict[date, int]:
    """New customers per UTC day over ``[start, end]``: their first payment ever is that day.

    A payment is a paid order or a paid invoice. Read-only; days without a new
    customer are left out.
    """
    first, last = check_range(start, end, latest=today(clock))
    return new_customer_rows(session, first, last)
