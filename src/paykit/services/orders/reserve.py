"""The counters that guard money: taking an order's stock and discount use, and
giving them back.

Locks are taken in one fixed order, customer, products by id, discount, by
conditional updates inside a savepoint, so a refusal rolls back to it (which on
PostgreSQL also releases the row locks taken since) and leaves the host's
transaction usable.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient

from paykit.errors import InvalidState
from paykit.models import Order, OrderStatus, PaymentStatus
from paykit.services import discounts
from paykit.services._sql import savepoint
from paykit.services.discounts import DiscountRef
from paykit.services.orders.inputs import out_of_stock
from paykit.services.orders.statements import (
    RETURN_STOCK,
    STOCK_BY_PRODUCT,
    TAKE_STOCK,
    TAKE_STOCK_AND_USE,
    TAKE_STOCK_AND_USE_WITH_ORDER,
)

__all__ = [
    "SAVEPOINT",
    "insert_and_reserve",
    "insert_rows",
    "release",
    "reserve",
    "reserve_or_undo",
]

SAVEPOINT = "paykit_reserve"
_FROM_ORDER = frozenset({"u_user_id", "u_order_id", "u_created_at", "u_discount_id"})


def insert_rows(session: Session, *rows: object, then: Any = None) -> Any:
    """INSERT new ORM objects with ``paykit.services.orders.insert_objects``; with
    ``then`` (a statement and its parameters), run it too, in the same statement
    where possible, and return its first row.

    Looked up on the package at call time: that name is the seam through which
    the fault-injection tests make the database fail after the gateway call.
    """
    from paykit.services import orders

    return orders.insert_objects(session, *rows, then=then)


def _use_params(
    session: Session,
    *,
    discount: DiscountRef | None,
    customer_id: str,
    order_id: str,
    amount_saved: Decimal,
    now: datetime,
) -> dict[str, Any] | None:
    """The per-customer checks (which lock the customer row first), then the
    parameters of the use to take; None without a discount."""
    if discount is None:
        return None
    discounts.check_customer_limits(session, discount, customer_id=customer_id, order_id=order_id)
    return discounts.use_params(
        discount, customer_id=customer_id, order_id=order_id, amount_saved=amount_saved, now=now
    )


def _in_one(session: Session, stock: Sequence[tuple[str, int]], discount: Any) -> bool:
    """Whether stock and use go in one statement (PostgreSQL, one product and a code)."""
    return (
        discount is not None
        and len(stock) == 1
        and session.connection().dialect.name == "postgresql"
    )


def _take_params(stock: Sequence[tuple[str, int]], params: dict[str, Any]) -> dict[str, Any]:
    ((product_id, quantity),) = stock
    return {**params, "product_id": product_id, "quantity": quantity}


def _check_taken(row: Any, stock: Sequence[tuple[str, int]], discount: DiscountRef) -> None:
    """Raise unless the one-statement take took the stock and the use."""
    ((product_id, quantity),) = stock
    if row.stock != 1:
        raise out_of_stock(product_id, quantity)
    if row.uses != 1:
        raise discounts.used_up(discount)


def reserve(
    session: Session,
    *,
    stock: Sequence[tuple[str, int]],
    discount: DiscountRef | None,
    customer_id: str,
    order_id: str,
    amount_saved: Decimal,
    now: datetime,
) -> None:
    """Take stock and a discount use, or raise; locks in the fixed order customer,
    products by id, discount. Runs inside the caller's savepoint."""
    params = _use_params(
        session,
        discount=discount,
        customer_id=customer_id,
        order_id=order_id,
        amount_saved=amount_saved,
        now=now,
    )
    connection = session.connection()
    if _in_one(session, stock, discount):
        assert discount is not None
        assert params is not None
        row = connection.execute(TAKE_STOCK_AND_USE, _take_params(stock, params)).one()
        _check_taken(row, stock, discount)
        return
    for product_id, quantity in sorted(stock):
        taken = connection.execute(
            TAKE_STOCK, {"product_id": product_id, "quantity": quantity, "now": now}
        ).rowcount
        if taken != 1:
            raise out_of_stock(product_id, quantity)
    if discount is not None:
        discounts.take_use(
            session,
            discount,
            customer_id=customer_id,
            order_id=order_id,
            amount_saved=amount_saved,
            now=now,
            params=params,
        )


def release(session: Session, order: Order, now: datetime) -> None:
    """Give back an order's stock and discount use. Call only after winning the
    conditional status change that makes this happen once."""
    connection = session.connection()
    for product_id, quantity in session.execute(STOCK_BY_PRODUCT, {"order_id": order.id}).all():
        connection.execute(
            RETURN_STOCK, {"r_product_id": product_id, "r_quantity": int(quantity), "r_now": now}
        )
    discounts.release_use(session, order_id=order.id, now=now)


def insert_and_reserve(session: Session, *, rows: Sequence[object], **kwargs: Any) -> None:
    """Insert the order's rows and take its counters inside one savepoint.

    On any failure the savepoint is rolled back, which also releases the row
    locks taken since (PostgreSQL releases a rolled-back subtransaction's
    locks) and leaves the host's transaction usable, so the caller can void the
    payment and record the refusal. The savepoint is not released on success:
    it costs a round trip and the host's commit ends it anyway.
    """
    try:
        with savepoint(session, SAVEPOINT):
            _insert_and_take(session, rows, **kwargs)
    except BaseException:
        for row in rows:
            if row in session:
                session.expunge(row)
            make_transient(row)  # so the caller may insert it again, as a refusal
        raise


def _insert_and_take(
    session: Session,
    rows: Sequence[object],
    *,
    stock: Sequence[tuple[str, int]],
    discount: DiscountRef | None,
    **kwargs: Any,
) -> None:
    """The rows, then the counters; on PostgreSQL, for one product and a code (the
    common checkout), rows, stock, use and its record in one statement: the
    inserts ride along with ``TAKE_STOCK_AND_USE`` as data-modifying CTEs."""
    if not _in_one(session, stock, discount):
        insert_rows(session, *rows)
        reserve(session, stock=stock, discount=discount, **kwargs)
        return
    params = _use_params(session, discount=discount, **kwargs)
    assert discount is not None
    assert params is not None
    order = rows[0]
    if not isinstance(order, Order) or (order.id, order.user_id, order.created_at) != (
        params["u_order_id"],
        params["u_user_id"],
        params["u_created_at"],
    ):
        # The usage row binds the order row's parameters (t0r0_...).
        raise TypeError("insert_and_reserve: the order's row must come first")
    take = {k: v for k, v in _take_params(stock, params).items() if k not in _FROM_ORDER}
    row = insert_rows(session, *rows, then=(TAKE_STOCK_AND_USE_WITH_ORDER, take))
    _check_taken(row, stock, discount)


def reserve_or_undo(
    session: Session, *, release_first: bool = False, lock_order: str | None = None, **kwargs: Any
) -> None:
    """:func:`reserve` inside a savepoint; on refusal, roll back to it, which also
    releases the row locks taken since.

    With ``lock_order`` (apply_discount) the order row is locked first -- the
    same order as cancel_order, which changes the order row before giving
    counters back -- and must still be PENDING and unpaid, so a use is never
    taken for an order that was cancelled meanwhile."""
    with savepoint(session, SAVEPOINT) as connection:
        if lock_order is not None:
            still_open = connection.execute(
                sa.select(Order.id)
                .where(
                    Order.id == lock_order,
                    Order.status == OrderStatus.PENDING,
                    Order.payment_status == PaymentStatus.PENDING,
                )
                .with_for_update()
            ).first()
            if still_open is None:
                raise InvalidState(
                    "the order changed meanwhile; discounts apply to pending, unpaid orders only",
                    details={"order_id": lock_order},
                )
        if release_first:  # apply_discount: the old code's use goes back in the same step
            discounts.release_use(session, order_id=kwargs["order_id"], now=kwargs["now"])
        reserve(session, **kwargs)
