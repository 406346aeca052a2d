"""Paying for a placed order: :func:`pay_order`. See docs/orders.md, "The flow".

``place_order`` takes the stock and the discount use and creates an
*unconfirmed* gateway payment; the host commits; then ``pay_order`` confirms
the payment. So the reservation is committed before any money moves, and no
row lock is held across the confirmation: this call reads the order without a
lock, calls the gateway, and only then changes the order with a conditional
update.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, InvalidState, PaykitError, PaymentDeclined
from paykit.gateways.base import GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import Order, OrderStatus, new_id
from paykit.models.orders import OPEN_ORDER, PAID_PAYMENT
from paykit.money import to_minor_units
from paykit.schemas.base import check_text
from paykit.services._audit import Audit
from paykit.services._sql import savepoint
from paykit.services.orders.lifecycle import apply_payment, get_order
from paykit.services.orders.results import OrderResult, PaymentInfo

__all__ = ["pay_order"]

_SAVEPOINT = "paykit_pay"
_UPDATABLE = (
    PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentIntentStatus.REQUIRES_CONFIRMATION,
    PaymentIntentStatus.REQUIRES_ACTION,
)
_SETTLED = (
    PaymentIntentStatus.SUCCEEDED,
    PaymentIntentStatus.CANCELED,
    PaymentIntentStatus.PROCESSING,
)


@checked
def pay_order(
    session: Session,
    *,
    order_id: str,
    gateway: PaymentGateway,
    payment_method_id: str | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> OrderResult:
    """Charge a PENDING order's payment with ``payment_method_id`` (or the method given
    to ``place_order``) and apply the outcome. Call it after the host committed the
    ``place_order`` transaction.

    * success: COMPLETED / SUCCEEDED, digital access granted;
    * 3-D Secure: stays PENDING; ``result.payment.client_secret`` lets the
      browser finish, and the ``payment_intent.succeeded`` webhook completes it;
    * a decline raises ``PaymentDeclined`` (``details["order_id"]``) and leaves
      the order PENDING with its reservation: the payment is retryable, so the
      customer may try another card (call again with it) until the order is
      cancelled or its hold time runs out.

    Calling it again for a paid order returns it (``result.replayed``). The
    gateway key is derived from the order and ``idempotency_key`` (default: the
    payment method), so a host that rolls back and retries cannot charge twice.
    If the order cannot be updated after a successful charge, the charge is
    not lost: the error is ``payment_not_recorded``, the order is still PENDING
    with that payment, and the webhook, ``sync_order_payment`` or ``reconcile``
    completes it.
    """
    if payment_method_id is not None:
        check_text(payment_method_id, "payment_method_id", max_length=255)
    if idempotency_key is not None:
        check_text(idempotency_key, "idempotency_key", max_length=255)
    order = get_order(session, check_text(order_id, "order_id", max_length=64))
    if order.payment_status in PAID_PAYMENT:
        info = PaymentInfo(order.stripe_payment_intent_id, "succeeded")
        return OrderResult(order, info, replayed=True)
    payment_id = _payable(order)
    key = f"paykit:pay:{order.id}:{idempotency_key or payment_method_id or 'attached'}"
    now = resolve_clock(clock).now()
    _match_amount(gateway, order, payment_id, key)
    try:
        payment = gateway.confirm_payment(
            payment_id, payment_method_id=payment_method_id, idempotency_key=key
        )
    except PaymentDeclined as exc:
        raise _declined(session, order, payment_id, exc, now, context) from exc
    except GatewayError:
        # Not confirmable: it succeeded, was cancelled or is processing already
        # (another attempt won). The gateway's state is the truth to apply.
        payment = gateway.retrieve_payment(payment_id)
        if payment.status not in _SETTLED:
            raise
    return OrderResult(
        _record(session, order, payment, clock, context), PaymentInfo.from_gateway(payment)
    )


def _payable(order: Order) -> str:
    """The payment of an order that can be paid, or ``InvalidState``."""
    if order.status is OrderStatus.CANCELLED:
        raise InvalidState(
            f"order {order.order_number} is cancelled; it cannot be paid",
            code="order_cancelled",
            details={"order_id": order.id},
        )
    if order.status not in OPEN_ORDER:
        raise InvalidState(
            f"order {order.order_number} is {order.status.value}; it cannot be paid",
            details={"order_id": order.id},
        )
    if order.stripe_payment_intent_id is None:  # only free orders have none, and they are completed
        raise InvalidState(
            f"order {order.order_number} has no payment", details={"order_id": order.id}
        )
    return order.stripe_payment_intent_id


def _declined(
    session: Session,
    order: Order,
    payment_id: str,
    exc: PaymentDeclined,
    now: datetime,
    context: RequestContext | None,
) -> PaymentDeclined:
    """Audit a declined attempt; the error to raise names the order."""
    Audit(session, now, order.user_id, context).record(
        "order.payment_declined",
        "orders",
        order.id,
        new={"payment_id": payment_id, "decline_code": exc.decline_code},
    )
    return PaymentDeclined(
        exc.message,
        decline_code=exc.decline_code,
        details={**exc.details, "order_id": order.id},
    )


def _match_amount(gateway: PaymentGateway, order: Order, payment_id: str, key: str) -> None:
    """Charge exactly the order's total: an ``apply_discount`` whose transaction was
    rolled back may have left the payment at another amount."""
    wanted = to_minor_units(order.total_amount, order.currency)
    current = gateway.retrieve_payment(payment_id)
    if current.amount_minor != wanted and current.status in _UPDATABLE:
        # A key of its own each time (an absolute amount is idempotent anyway): a
        # replayed answer could be stale.
        gateway.update_payment_amount(
            payment_id, amount_minor=wanted, idempotency_key=f"{key}:amount:{wanted}:{new_id()}"
        )


def _record(
    session: Session,
    order: Order,
    payment: GatewayPayment,
    clock: Clock | None,
    context: RequestContext | None,
) -> Order:
    """Apply the payment inside a savepoint, so a failure after a successful charge
    leaves the host's transaction usable and the order PENDING with its payment."""
    try:
        with savepoint(session, _SAVEPOINT):
            return apply_payment(
                session, order=order, payment=payment, clock=clock, context=context
            )
    except PaykitError as exc:
        if payment.status is not PaymentIntentStatus.SUCCEEDED:
            raise
        raise _not_recorded(order, payment, exc) from exc
    except sa.exc.SQLAlchemyError as exc:
        raise _not_recorded(order, payment, exc) from exc


def _not_recorded(order: Order, payment: GatewayPayment, exc: Exception) -> PaykitError:
    code = exc.code if isinstance(exc, PaykitError) else type(exc).__name__
    return PaykitError(
        f"the payment {payment.id} succeeded but order {order.id} could not be updated "
        f"({code}); the webhook, sync_order_payment or reconcile will complete it",
        code="payment_not_recorded",
        details={"order_id": order.id, "payment_id": payment.id, "cause": code},
    )
