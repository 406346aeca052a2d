"""The order history page as one prebuilt statement: reader check, orders, items, refunds.

``list_orders`` sends one statement per page on PostgreSQL: the reader's
stored role (active, not deleted) joined with the keyset page of orders, each
order carrying its items and refunds as JSON arrays (money as text, so no
amount passes through a float). SQLite gets the same reader-and-page
statement and reads the children with two more (it is in-process, a round
trip costs nothing). The statements are built once per shape (which filters
are present) and dialect, so SQLAlchemy compiles each once and a call only
binds values; rows are read as tuples, never as ORM objects.
"""

from __future__ import annotations

import functools
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from paykit.models import Order, OrderItem, Refund, User, UserStatus
from paykit.models.types import as_utc

__all__ = ["CHILD_ITEMS", "CHILD_REFUNDS", "page_statement", "parse_items", "parse_refunds"]


def _text(column: Any) -> sa.ColumnElement[str]:
    # An enum column read as its stored text: the value the output model holds.
    return sa.type_coerce(column, sa.Text())


def _money(column: Any) -> Any:
    # PostgreSQL's NUMERIC(10, 2) comes from psycopg as a Decimal with two
    # places already: read it as plain Numeric, skipping the per-value quantize
    # of ExactDecimal (SQLite keeps ExactDecimal: it stores minor units).
    return sa.type_coerce(column, sa.Numeric(10, 2, asdecimal=True)).label(column.key)


ORDER_COLUMNS = (
    Order.id,
    Order.order_number,
    Order.user_id,
    _text(Order.status).label("status"),
    Order.currency,
    Order.subtotal,
    Order.discount_amount,
    Order.tax_amount,
    Order.total_amount,
    _text(Order.payment_status).label("payment_status"),
    Order.payment_method,
    Order.stripe_payment_intent_id,
    Order.refunded_amount,
    Order.notes,
    Order.internal_notes,
    Order.created_at,
    Order.completed_at,
    Order.cancelled_at,
)

_MONEY_KEYS = frozenset(
    {"subtotal", "discount_amount", "tax_amount", "total_amount", "refunded_amount"}
)

#: An order's items, in ``OrderItemOut`` field order (PostgreSQL JSON and SQLite rows).
_ITEM_FIELDS = (
    OrderItem.id,
    OrderItem.product_id,
    OrderItem.price_id,
    OrderItem.quantity,
    OrderItem.unit_price,
    OrderItem.total_price,
    OrderItem.download_count,
    OrderItem.access_expires_at,
)
_REFUND_FIELDS = (
    Refund.id,
    Refund.amount,
    Refund.currency,
    _text(Refund.reason),
    _text(Refund.status),
    Refund.created_at,
    Refund.processed_at,
)


def _is_money(column: Any) -> bool:
    kind = column.type
    return isinstance(kind, sa.Numeric) or isinstance(getattr(kind, "impl", None), sa.Numeric)


def _json_children(fields: tuple[Any, ...], key: Any, order: tuple[Any, ...]) -> Any:
    """``coalesce(json_agg(json_build_array(...) ORDER BY ...), '[]')`` of one order's rows."""
    # Money as text: a JSON number would reach Python as a float.
    values = [sa.cast(f, sa.Text()) if _is_money(f) else f for f in fields]
    aggregated = sa.func.json_agg(
        postgresql.aggregate_order_by(sa.func.json_build_array(*values), *order)
    )
    return (
        sa.select(sa.func.coalesce(aggregated, sa.literal_column("'[]'::json")))
        .where(key == Order.id)
        .correlate(Order)
        .scalar_subquery()
    )


@functools.lru_cache(maxsize=128)
def page_statement(
    dialect: str,
    customer: bool,
    status: bool,
    start: bool,
    end: bool,
    after: bool,
    order: bool = False,
) -> sa.Select[Any]:
    """The reader-and-page statement for one shape of filter (bind parameters by name).

    Rows: the reader's stored ``role`` (none at all when the reader is not an
    active user), then the page's order columns (NULL when the page is empty),
    then on PostgreSQL ``items`` and ``refunds`` as JSON arrays. ``order``:
    the one order ``order_id`` (``get_order``).
    """
    columns: list[Any] = list(ORDER_COLUMNS)
    if dialect == "postgresql":
        columns = [_money(c) if getattr(c, "key", None) in _MONEY_KEYS else c for c in columns]
        columns.append(
            _json_children(_ITEM_FIELDS, OrderItem.order_id, (OrderItem.id,)).label("items")
        )
        columns.append(
            _json_children(_REFUND_FIELDS, Refund.order_id, (Refund.created_at, Refund.id)).label(
                "refunds"
            )
        )
    query = sa.select(*columns)
    if order:
        query = query.where(Order.id == sa.bindparam("order_id", type_=sa.Text()))
    if customer:
        query = query.where(Order.user_id == sa.bindparam("customer_id"))
    if status:
        query = query.where(Order.status == sa.bindparam("status"))
    if start:
        query = query.where(Order.created_at >= sa.bindparam("created_from"))
    if end:
        query = query.where(Order.created_at < sa.bindparam("created_to"))
    if after:
        # One row-value comparison: PostgreSQL walks ix_orders_created_at_id from
        # the position (an index condition), so page 1,000 costs what page 1 does.
        query = query.where(
            sa.tuple_(Order.created_at, Order.id)
            < sa.tuple_(
                sa.bindparam("after_at", type_=Order.created_at.type),
                sa.bindparam("after_id", type_=sa.Text()),
            )
        )
    page = (
        query.order_by(Order.created_at.desc(), Order.id.desc())
        .limit(sa.bindparam("size", type_=sa.Integer()))
        .subquery("page")
    )
    reader = (
        sa.select(_text(User.role).label("reader_role"))
        .where(
            User.id == sa.bindparam("reader_id"),
            User.status == UserStatus.ACTIVE,
            User.deleted_at.is_(None),
        )
        .subquery("reader")
    )
    return (
        sa.select(reader.c.reader_role, *page.c)
        .select_from(reader.outerjoin(page, sa.true()))
        .order_by(page.c.created_at.desc(), page.c.id.desc())
    )


#: SQLite: the page's items and refunds, two statements for all the page's orders.
CHILD_ITEMS = (
    sa.select(OrderItem.order_id, *_ITEM_FIELDS)
    .where(OrderItem.order_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(OrderItem.id)
)
CHILD_REFUNDS = (
    sa.select(Refund.order_id, *_REFUND_FIELDS)
    .where(Refund.order_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(Refund.created_at, Refund.id)
)


def _when(value: str | None) -> datetime | None:
    return as_utc(datetime.fromisoformat(value)) if value is not None else None


def parse_items(raw: list[list[Any]]) -> list[dict[str, Any]]:
    """The JSON arrays of one order's items as ``OrderItemOut`` fields."""
    return [
        {
            "id": i[0],
            "product_id": i[1],
            "price_id": i[2],
            "quantity": i[3],
            "unit_price": Decimal(i[4]),
            "total_price": Decimal(i[5]),
            "download_count": i[6],
            "access_expires_at": _when(i[7]),
        }
        for i in raw
    ]


def parse_refunds(raw: list[list[Any]]) -> list[dict[str, Any]]:
    """The JSON arrays of one order's refunds as ``RefundOut`` fields."""
    return [
        {
            "id": r[0],
            "amount": Decimal(r[1]),
            "currency": r[2],
            "reason": r[3],
            "status": r[4],
            "created_at": as_utc(datetime.fromisoformat(r[5])),
            "processed_at": _when(r[6]),
        }
        for r in raw
    ]
