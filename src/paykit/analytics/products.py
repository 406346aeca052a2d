"""Revenue by product and by category over a range of UTC days, set-based in SQL.

An order line's revenue is its ``total_price`` (unit price times quantity) in a paid
order (docs/analytics.md, "Revenue by product and category"): before the
order's discount and tax, which belong to the order, not to a line. A product
in several categories counts in each of them; a product in none is in no
category row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics._checks import check_range, today
from paykit.analytics._sql import PAID_ORDER, midnight
from paykit.clock import Clock
from paykit.models import Order, OrderItem, Product, ProductCategory
from paykit.models.catalog import product_category_links
from paykit.money import quantize

__all__ = ["ProductRevenue", "revenue_by_category", "revenue_by_product"]


@dataclass(frozen=True)
class ProductRevenue:
    """One product's (or category's) revenue in one currency over a range."""

    id: str
    name: str
    currency: str
    revenue: Decimal
    quantity: int
    orders: int


def _rows(session: Session, statement: sa.Select[Any]) -> list[ProductRevenue]:
    return [
        ProductRevenue(
            id=str(key),
            name=str(name),
            currency=str(currency),
            revenue=quantize(Decimal(str(amount)), str(currency)),
            quantity=int(quantity),
            orders=int(orders),
        )
        for key, name, currency, amount, quantity, orders in map(tuple, session.execute(statement))
    ]


def _lines(first: date, last: date) -> sa.Select[Any]:
    lo, hi = midnight(first), midnight(last + timedelta(days=1))
    statement = (
        sa.select(
            OrderItem.product_id,
            Order.currency,
            OrderItem.total_price,
            OrderItem.quantity,
            Order.id,
        )
        .join(Order, Order.id == OrderItem.order_id)
        .where(*PAID_ORDER, Order.completed_at >= lo, Order.completed_at < hi)
    )
    return cast("sa.Select[Any]", statement)


def _revenue(
    session: Session,
    key: Any,
    name: Any,
    first: date,
    last: date,
    joined: Callable[[sa.Select[Any], sa.Subquery], sa.Select[Any]],
) -> list[ProductRevenue]:
    """Revenue per ``key`` (shown with its ``name``) and currency, highest first.

    ``joined`` joins the range's order lines to ``key``'s table.
    """
    lines = _lines(first, last).subquery("lines")
    statement = sa.select(
        key,
        name,
        lines.c.currency,
        sa.func.sum(lines.c.total_price),
        sa.func.sum(lines.c.quantity),
        sa.func.count(sa.distinct(lines.c.id)),
    )
    return _rows(
        session,
        joined(statement, lines)
        .group_by(key, name, lines.c.currency)
        .order_by(sa.func.sum(lines.c.total_price).desc(), key, lines.c.currency),
    )


def product_rows(session: Session, first: date, last: date) -> list[ProductRevenue]:
    """:func:`revenue_by_product` without the argument checks."""
    return _revenue(
        session,
        Product.id,
        Product.name,
        first,
        last,
        lambda statement, lines: statement.join(lines, lines.c.product_id == Product.id),
    )


def category_rows(session: Session, first: date, last: date) -> list[ProductRevenue]:
    """:func:`revenue_by_category` without the argument checks."""
    links = product_category_links
    return _revenue(
        session,
        ProductCategory.id,
        ProductCategory.name,
        first,
        last,
        lambda statement, lines: statement.join(
            links, links.c.category_id == ProductCategory.id
        ).join(lines, lines.c.product_id == links.c.product_id),
    )


@checked
def revenue_by_product(
    session: Session, *, start: date, end: date, clock: Clock | None = None
) -> list[ProductRevenue]:
    """Each product's revenue per currency over ``[start, end]``, highest first.

    Read-only. Lines of paid orders completed in the range, before order-level
    discount and tax.
    """
    first, last = check_range(start, end, latest=today(clock))
    return product_rows(session, first, last)


@checked
def revenue_by_category(
    session: Session, *, start: date, end: date, clock: Clock | None = None
) -> list[ProductRevenue]:
    """Each category's revenue per currency over ``[start, end]``, highest first.

    Read-only. A product in several categories counts in each.
    """
    first, last = check_range(start, end, latest=today(clock))
    return category_rows(session, first, last)
