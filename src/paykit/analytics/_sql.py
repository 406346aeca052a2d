"""Set-based building blocks shared by the analytics modules: days, months, payments.

A day is a UTC calendar day, ``[00:00, 24:00)``. Grouping by day or month is
done in SQL, with one expression per dialect: PostgreSQL converts the
``timestamptz`` to UTC first; SQLite stores paykit's datetimes as fixed-width
UTC text, so the day is its first ten characters.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.models import Invoice, Order, Subscription
from paykit.models.enums import InvoiceStatus, OrderStatus

__all__ = ["as_date", "day_of", "midnight", "month_of", "payments"]

#: An order has been paid when it is COMPLETED, or REFUNDED after being paid.
PAID_ORDER = (
    Order.status.in_((OrderStatus.COMPLETED, OrderStatus.REFUNDED)),
    Order.completed_at.is_not(None),
)


def midnight(day: date) -> datetime:
    """The instant a UTC day starts."""
    return datetime.combine(day, time(0), tzinfo=UTC)


def day_of(session: Session, column: Any) -> Any:
    """The UTC day of a datetime column, as an SQL expression (a date or ISO text)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.substr(column, 1, 10)


def month_of(session: Session, column: Any) -> Any:
    """The UTC month of a datetime column as ``YYYY-MM`` text."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.substr(column, 1, 7)


def as_date(value: object) -> date:
    """A day read back from :func:`day_of` (a ``date`` on PostgreSQL, text on SQLite)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def payments(start: datetime | None, end: datetime | None) -> sa.Subquery:
    """Every payment a customer made in ``[start, end)``: paid orders and paid invoices.

    Columns: ``user_id``, ``at`` (when it was paid), ``currency``, ``amount``.
    """
    orders = sa.select(
        Order.user_id.label("user_id"),
        Order.completed_at.label("at"),
        Order.currency.label("currency"),
        Order.total_amount.label("amount"),
    ).where(*PAID_ORDER)
    invoices = (
        sa.select(
            Subscription.user_id.label("user_id"),
            Invoice.paid_at.label("at"),
            Invoice.currency.label("currency"),
            Invoice.amount_paid.label("amount"),
        )
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(Invoice.status == InvoiceStatus.PAID, Invoice.paid_at.is_not(None))
    )
    if start is not None:
        orders = orders.where(Order.completed_at >= start)
        invoices = invoices.where(Invoice.paid_at >= start)
    if end is not None:
        orders = orders.where(Order.completed_at < end)
        invoices = invoices.where(Invoice.paid_at < end)
    return sa.union_all(orders, invoices).subquery("payments")


def days(start: date, end: date) -> list[date]:
    """The days of ``[start, end]``, both included."""
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]
