"""``subscribe``: a user subscribed to a recurring price at the gateway, and the row stored.

A discount code is checked by the rules orders use (:mod:`paykit.services.discounts`):
the amount is the first period's, the product the plan's.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import DiscountError, ValidationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.gateways.renewal_billing import RenewalBillingGateway
from paykit.models import Price, Product, Subscription, User, new_id
from paykit.services import _idempotency, discounts
from paykit.services.config import get_config
from paykit.services.subscriptions._common import (
    audit_subscription,
    recurring_price,
    subscription,
)
from paykit.services.subscriptions.customers import active_user, ensure_gateway_customer
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["SCOPE_SUBSCRIBE", "subscribe"]

TrialEndBehavior = Literal["cancel", "pause", "create_invoice"]
"""What a trial without a payment method does when it ends (docs/subscriptions.md)."""

SCOPE_SUBSCRIBE = "subscribe"
"""The idempotency scope of :func:`subscribe`."""


@checked
def subscribe(
    session: Session,
    *,
    user_id: str,
    price_id: str,
    gateway: PaymentGateway,
    quantity: int = 1,
    trial_days: int | None = None,
    trial_end_behavior: TrialEndBehavior | None = None,
    discount_code: str | None = None,
    payment_method_id: str | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Subscribe a user to a recurring price (a paykit ``Price`` id) and store the result.

    ``trial_days`` defaults to the product's ``trial_days`` (0 means none).
    ``trial_end_behavior`` is what the trial does if it ends without a payment
    method (``cancel``, ``pause`` or ``create_invoice``; default:
    ``billing.trial_end_behavior``); a gateway that implements
    ``RenewalBillingGateway`` is told it too, so it acts at the trial's end itself.
    ``discount_code`` names a paykit Discount; the gateway receives the coupon
    whose id is that code (create it at Stripe with ``id=<code>``), and a use
    is counted (``DiscountError`` when used up). A declined first charge gives an
    INCOMPLETE subscription, not an error. The same ``idempotency_key`` gives
    the same subscription and one gateway subscription.
    """
    now = resolve_clock(clock).now()
    user = active_user(session, user_id)
    price = recurring_price(session, price_id)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationError("quantity must be a positive integer", details={"field": "quantity"})
    if idempotency_key is not None:
        request = {
            "user_id": user_id,
            "price_id": price_id,
            "quantity": quantity,
            "trial_days": trial_days,
            "trial_end_behavior": trial_end_behavior,
            "discount_code": discount_code,
            "payment_method_id": payment_method_id,
        }
        replayed = _claim(session, idempotency_key, request, user=user, now=now)
        if replayed is not None:
            return replayed
    product = session.get(Product, price.product_id)
    assert product is not None
    trial = trial_days if trial_days is not None else (product.trial_days or None)
    discount = (
        None
        if discount_code is None
        else _check_code(session, discount_code, user, price, quantity, now=now)
    )
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock, context=context)
    key = f"paykit:subscribe:{idempotency_key or new_id()}"
    result = gateway.create_subscription(
        customer_id=customer_id,
        price_id=price.stripe_price_id,
        quantity=quantity,
        trial_days=trial or None,
        # The Stripe coupon carries the discount's code as its id (docs/stripe.md).
        coupon=None if discount is None else discount.code,
        payment_method_id=payment_method_id,
        idempotency_key=key,
    )
    result = _tell_trial_end(session, gateway, result, trial_end_behavior, key)
    row = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    row.trial_end_behavior = trial_end_behavior
    if discount is not None:
        _take_use(session, discount, user, result, gateway=gateway, key=key, now=now)
    new = {
        "price_id": price.id,
        "quantity": quantity,
        "trial_days": trial,
        "discount_code": discount.code if discount else None,
        "status": row.status.value,
    }
    _record_created(session, row, new, user=user, key=idempotency_key, now=now, context=context)
    return row


def _tell_trial_end(
    session: Session,
    gateway: PaymentGateway,
    result: GatewaySubscription,
    behavior: str | None,
    key: str,
) -> GatewaySubscription:
    """Tell a gateway that can act on it what the trial does without a payment method."""
    if result.trial_end is None or not isinstance(gateway, RenewalBillingGateway):
        return result
    return gateway.set_trial_end_behavior(
        result.id,
        trial_end_behavior=behavior or get_config(session, "billing.trial_end_behavior"),
        idempotency_key=f"{key}:trial-end",
    )


def _claim(
    session: Session, key: str, request: dict[str, Any], *, user: User, now: datetime
) -> Subscription | None:
    """Claim the idempotency key; the subscription an earlier call with it created, if any."""
    record = _idempotency.claim(
        session,
        scope=SCOPE_SUBSCRIBE,
        key=key,
        fingerprint=_idempotency.request_hash(request),
        now=now,
        user_id=user.id,
    )
    if record is not None and record.resource_id is not None:
        return subscription(session, record.resource_id)
    return None


def _check_code(
    session: Session, code: str, user: User, price: Price, quantity: int, *, now: datetime
) -> discounts.DiscountRef:
    """Every rule of the code, as place_order checks it (services/discounts.py)."""
    return discounts.check_discount(
        session,
        code=code,
        customer_id=user.id,
        product_ids=[price.product_id],
        amount=price.unit_amount * quantity,
        currency=price.currency,
        now=now,
    )


def _take_use(
    session: Session,
    discount: discounts.DiscountRef,
    user: User,
    result: GatewaySubscription,
    *,
    gateway: PaymentGateway,
    key: str,
    now: datetime,
) -> None:
    """Count the code's use; if a parallel caller took the last one, undo the gateway's act."""
    try:
        # The guards that decide, as for an order: the customer's limits under
        # the customer row lock, then the use itself.
        discounts.check_customer_limits(session, discount, customer_id=user.id, order_id=None)
        discounts.take_use(
            session,
            discount,
            customer_id=user.id,
            order_id=None,
            amount_saved=Decimal("0.00"),
            now=now,
        )
    except DiscountError:
        # Lost to a parallel caller after the gateway acted: undo it there.
        gateway.cancel_subscription(result.id, at_period_end=False, idempotency_key=f"{key}:undo")
        raise


def _record_created(
    session: Session,
    row: Subscription,
    new: dict[str, Any],
    *,
    user: User,
    key: str | None,
    now: datetime,
    context: RequestContext | None,
) -> None:
    """Audit the new subscription and remember it under the idempotency key."""
    audit_subscription(
        session, row, "subscription.created", new, now=now, context=context, actor_id=user.id
    )
    if key is not None:
        _idempotency.record(session, scope=SCOPE_SUBSCRIBE, key=key, resource_id=row.id)
    session.flush()
