"""Small row builders for tests: valid defaults, any field overridable."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paykit import models as m

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def user(session: Session, **kw: Any) -> m.User:
    n = _n()
    row = m.User(email=kw.pop("email", f"user{n}@example.com"), name=f"User {n}", **kw)
    session.add(row)
    session.flush()
    return row


def category(session: Session, **kw: Any) -> m.ProductCategory:
    n = _n()
    row = m.ProductCategory(
        name=kw.pop("name", f"Category {n}"), slug=kw.pop("slug", f"category-{n}"), **kw
    )
    session.add(row)
    session.flush()
    return row


def product(session: Session, **kw: Any) -> m.Product:
    n = _n()
    row = m.Product(
        name=kw.pop("name", f"Product {n}"),
        description=kw.pop("description", "A product used in tests."),
        slug=kw.pop("slug", f"product-{n}"),
        type=kw.pop("type", m.ProductType.ONE_TIME),
        status=kw.pop("status", m.ProductStatus.PUBLISHED),
        base_price=kw.pop("base_price", Decimal("10.00")),
        **kw,
    )
    session.add(row)
    session.flush()
    return row


def price(session: Session, product_row: m.Product, **kw: Any) -> m.Price:
    n = _n()
    row = m.Price(
        product_id=product_row.id,
        stripe_price_id=kw.pop("stripe_price_id", f"price_test_{n}"),
        unit_amount=kw.pop("unit_amount", product_row.base_price),
        currency=kw.pop("currency", product_row.currency),
        type=kw.pop("type", m.PriceType.ONE_TIME),
        **kw,
    )
    session.add(row)
    session.flush()
    return row


#: The payment status an order of each status has in the lifecycle (docs/orders.md).
_PAYMENT_OF = {
    m.OrderStatus.PENDING: m.PaymentStatus.PENDING,
    m.OrderStatus.PROCESSING: m.PaymentStatus.PROCESSING,
    m.OrderStatus.COMPLETED: m.PaymentStatus.SUCCEEDED,
    m.OrderStatus.CANCELLED: m.PaymentStatus.CANCELLED,
    m.OrderStatus.REFUNDED: m.PaymentStatus.REFUNDED,
}
_STATUS_OF = {payment: status for status, payment in _PAYMENT_OF.items()}
_new_product = product  # ``order`` takes a ``product`` argument of its own


def _audit(session: Session, action: str, row: m.Order | m.Refund, at: datetime, **kw: Any) -> None:
    """The audit row the service that made ``row`` writes (``resource`` from ``action``)."""
    resource = action.split(".")[0]
    session.add(
        m.AuditLog(action=action, resource=resource, resource_id=row.id, created_at=at, **kw)
    )


def order(
    session: Session,
    user_row: m.User,
    *,
    product: m.Product | None = None,
    item: dict[str, Any] | None = None,
    **kw: Any,
) -> m.Order:
    """An order as the services would leave it, so ``paykit.check`` finds nothing.

    One item (of ``product``, or of a new product) for the whole subtotal, with
    ``item`` overriding its fields; the payment status, payment id and
    timestamps of its status; the ``order.created`` audit row. Amounts: give
    ``subtotal`` or ``total_amount`` (or both, with discount and tax that agree).
    A test that wants a broken order breaks it after this call.
    """
    n = _n()
    if "status" not in kw and "payment_status" in kw:
        kw["status"] = _STATUS_OF[m.PaymentStatus(kw["payment_status"])]
    status = m.OrderStatus(kw.pop("status", m.OrderStatus.PENDING))
    payment_status = m.PaymentStatus(kw.pop("payment_status", _PAYMENT_OF[status]))
    discount = kw.pop("discount_amount", Decimal("0.00"))
    tax = kw.pop("tax_amount", Decimal("0.00"))
    subtotal = kw.pop("subtotal", None)
    total = kw.pop("total_amount", None)
    if subtotal is None:
        subtotal = Decimal("10.00") if total is None else total + discount - tax
    if total is None:  # a test may pass an inexact value on purpose (test_constraints)
        total = subtotal if not (discount or tax) else subtotal - discount + tax
    at = kw.pop("created_at", None) or datetime.now(UTC)
    refunded = kw.pop("refunded_amount", total if status is m.OrderStatus.REFUNDED else None)
    paid = status in (m.OrderStatus.COMPLETED, m.OrderStatus.REFUNDED) or payment_status in (
        m.PaymentStatus.SUCCEEDED,
        m.PaymentStatus.REFUNDED,
    )
    if paid and total != 0:
        kw.setdefault("stripe_payment_intent_id", f"pi_test_factory_{n}")
    if status is m.OrderStatus.COMPLETED:
        kw.setdefault("completed_at", at)
    elif status is m.OrderStatus.CANCELLED:
        kw.setdefault("cancelled_at", at)
    row = m.Order(
        user_id=user_row.id,
        order_number=kw.pop("order_number", f"ORD-TEST-{n:06d}"),
        status=status,
        payment_status=payment_status,
        subtotal=subtotal,
        discount_amount=discount,
        tax_amount=tax,
        total_amount=total,
        billing_address=kw.pop("billing_address", {"country": "US"}),
        created_at=at,
        **kw,
    )
    session.add(row)
    session.flush()
    line_product = product or _new_product(session, base_price=subtotal)
    fields: dict[str, Any] = {"quantity": 1, "unit_price": subtotal, **(item or {})}
    fields.setdefault("total_price", fields["unit_price"] * fields["quantity"])
    fields.setdefault("price_id", price(session, line_product, unit_amount=fields["unit_price"]).id)
    session.add(m.OrderItem(order_id=row.id, product_id=line_product.id, **fields))
    _audit(
        session,
        "order.created",
        row,
        at,
        user_id=user_row.id,
        new_values={"total_amount": str(total)},
    )
    session.flush()
    if refunded:
        refund(session, row, refunded)
    return row


def refund(session: Session, order_row: m.Order, amount: Decimal, **kw: Any) -> m.Refund:
    """A refund of ``order_row`` as issue_refund leaves it: row, audit, the order's amounts.

    SUCCEEDED by default: added to the order's ``refunded_amount``, and a full
    refund makes the order (and its payment) REFUNDED.
    """
    n = _n()
    status = m.RefundStatus(kw.pop("status", m.RefundStatus.SUCCEEDED))
    at = kw.pop("created_at", None) or datetime.now(UTC)
    if status is m.RefundStatus.SUCCEEDED:
        kw.setdefault("processed_at", at)
    row = m.Refund(
        order_id=order_row.id,
        stripe_refund_id=kw.pop("stripe_refund_id", f"re_test_factory_{n}"),
        amount=amount,
        currency=order_row.currency,
        reason=kw.pop("reason", m.RefundReason.REQUESTED_BY_CUSTOMER),
        status=status,
        created_at=at,
        **kw,
    )
    session.add(row)
    session.flush()
    _audit(session, "refund.created", row, at, new_values={"amount": str(amount)})
    session.flush()
    if status is m.RefundStatus.SUCCEEDED:
        order_row.refunded_amount = (order_row.refunded_amount or Decimal(0)) + amount
        if order_row.refunded_amount == order_row.total_amount:
            order_row.status = m.OrderStatus.REFUNDED
            order_row.payment_status = m.PaymentStatus.REFUNDED
        session.flush()
    return row
