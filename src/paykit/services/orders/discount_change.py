"""``apply_discount``: put a code on a PENDING order, re-pricing it and moving its
payment's amount with it (see docs/orders.md)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, InvalidState
from paykit.gateways.base import PaymentGateway
from paykit.models import (
    AuditLog,
    DiscountUsage,
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    Product,
    new_id,
)
from paykit.money import to_minor_units
from paykit.pricing import LineInput, PricedOrder, price_order
from paykit.schemas.base import check_text
from paykit.services import discounts
from paykit.services._audit import record_audit
from paykit.services._sql import affected
from paykit.services.discounts import DiscountRef
from paykit.services.orders.inputs import check_storable
from paykit.services.orders.lifecycle import get_order, grant_access, require_gateway
from paykit.services.orders.reserve import reserve_or_undo

__all__ = ["apply_discount"]


@checked
def apply_discount(
    session: Session,
    *,
    order_id: str,
    code: str,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Apply discount ``code`` to a PENDING, unpaid order: re-price it, update the gateway
    payment's amount, and replace an earlier code (whose use is given back).

    ``gateway`` is required when the order has a payment (``gateway_required``):
    the order's total and the payment's amount never differ. The payment's
    amount is changed first, with a gateway key that is new for every change,
    then the order row is locked and re-checked (still PENDING: a cancellation
    that won the race refuses this call, and the amount is put back). A code
    that brings the total to 0.00 completes the order as a free order: its
    payment is cancelled at the gateway. Applying the code the order already
    has changes nothing. Refusals are the pricing engine's ``DiscountError`` codes.
    """
    now = resolve_clock(clock).now()
    order = get_order(session, check_text(order_id, "order_id", max_length=64))
    _check_discountable(order, gateway)
    discount = discounts.load(session, check_text(code, "code", max_length=64).strip())
    current = session.scalar(
        sa.select(DiscountUsage.discount_id).where(DiscountUsage.order_id == order.id)
    )
    if current == discount.id:
        return order
    priced = _reprice(session, order, discount, now)
    check_storable(priced)
    old = {"discount_amount": order.discount_amount, "total_amount": order.total_amount}
    change = _AmountChange(session, order, gateway, priced.total)
    change.apply()
    try:
        reserve_or_undo(
            session,
            release_first=current is not None,
            lock_order=order.id,
            stock=(),
            discount=discount,
            customer_id=order.user_id,
            order_id=order.id,
            amount_saved=priced.discount,
            now=now,
        )
    except BaseException:
        change.undo()
        raise
    _store_discount(session, order, priced, now)
    record_audit(
        session,
        action="order.discount_applied",
        resource="orders",
        resource_id=order.id,
        now=now,
        actor_id=order.user_id,
        old=old,
        new={
            "discount_code": discount.code,
            "discount_amount": priced.discount,
            "total_amount": priced.total,
            "status": order.status.value,
        },
        context=context,
    )
    session.flush()
    return order


def _check_discountable(order: Order, gateway: PaymentGateway | None) -> None:
    if order.status is not OrderStatus.PENDING or order.payment_status is not PaymentStatus.PENDING:
        raise InvalidState(
            f"order {order.order_number} is {order.status.value}/{order.payment_status.value}; "
            "discounts apply to pending, unpaid orders only",
            details={"order_id": order.id},
        )
    if order.stripe_payment_intent_id is not None:
        require_gateway(
            gateway,
            order,
            "apply_discount needs the gateway: the order has a payment whose amount must follow",
        )


def _reprice(session: Session, order: Order, discount: DiscountRef, now: datetime) -> PricedOrder:
    items = session.scalars(
        sa.select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    ).all()
    products = {
        p.id: p
        for p in session.scalars(
            sa.select(Product).where(Product.id.in_({i.product_id for i in items}))
        )
    }
    lines = [
        LineInput(
            key=item.id,
            product_id=item.product_id,
            price_id=item.price_id,
            unit_price=item.unit_price,
            quantity=item.quantity,
            currency=order.currency,
            tax_rate=products[item.product_id].tax_rate,
        )
        for item in items
    ]
    return price_order(
        lines,
        discount=discount.rule,
        usage=discounts.usage(session, discount, order.user_id, exclude_order=order.id),
        now=now,
    )


class _AmountChange:
    """The gateway side of an amount change, and its undo.

    Every amount update gets a key of its own (the order, the number of changes
    it has committed, the amount, and a fresh id): setting an absolute amount
    is idempotent by nature, while a replayed answer could describe a state the
    payment has left since (a change whose transaction was rolled back, a
    re-sync by ``pay_order``). The amount the gateway answers is checked.
    """

    def __init__(
        self, session: Session, order: Order, gateway: PaymentGateway | None, total: Decimal
    ) -> None:
        self.order = order
        self.gateway = gateway
        self.old_total = order.total_amount
        self.new_total = total
        self.free = total == 0
        self.payment_id = order.stripe_payment_intent_id
        changes = session.scalar(
            sa.select(sa.func.count()).where(
                AuditLog.resource_id == order.id, AuditLog.action == "order.discount_applied"
            )
        )
        self.key = f"paykit:amount:{order.id}:{changes or 0}"
        self.touched = False

    def apply(self) -> None:
        """Move the payment to the new total (a free order's payment is cancelled)."""
        if self.gateway is None or self.payment_id is None or self.new_total == self.old_total:
            return
        self.touched = True
        if self.free:
            # A free order needs no payment: cancel it, so it can never be charged.
            self.gateway.cancel_payment(self.payment_id, idempotency_key=f"{self.key}:free")
            return
        self._set(self.new_total, self.key)

    def undo(self) -> None:
        """Put the payment's amount back after a refusal."""
        if not self.touched or self.gateway is None or self.payment_id is None:
            return
        if self.free:
            return  # a cancelled payment cannot come back; the order stays PENDING without one
        self._set(self.old_total, f"{self.key}:undo")

    def _set(self, total: Decimal, key: str) -> None:
        assert self.gateway is not None
        assert self.payment_id is not None
        wanted = to_minor_units(total, self.order.currency)
        payment = self.gateway.update_payment_amount(
            self.payment_id, amount_minor=wanted, idempotency_key=f"{key}:{wanted}:{new_id()}"
        )
        if payment.amount_minor != wanted:
            raise GatewayError(
                f"the gateway kept {payment.amount_minor} for payment {self.payment_id}, "
                f"not {wanted}",
                code="gateway_amount_mismatch",
                details={"order_id": self.order.id, "payment_id": self.payment_id},
            )


def _store_discount(session: Session, order: Order, priced: PricedOrder, now: datetime) -> None:
    values: dict[str, Any] = {
        "discount_amount": priced.discount,
        "tax_amount": priced.tax,
        "total_amount": priced.total,
        "updated_at": now,
    }
    if priced.total == 0:
        values.update(
            status=OrderStatus.COMPLETED,
            payment_status=PaymentStatus.SUCCEEDED,
            completed_at=now,
            payment_method=None,  # the (cancelled) payment's id stays, for the record
        )
    # The order row is locked (see reserve_or_undo): this cannot miss.
    affected(session, sa.update(Order).where(Order.id == order.id).values(**values))
    if priced.total == 0:
        grant_access(session, order.id, now)
    session.flush()
    session.refresh(order)
