"""Hosted checkout: a gateway checkout page for a subscription or for saving a card.

The page is the gateway's (Stripe Checkout); paykit creates it for the
customer's gateway customer and applies ``checkout.session.completed``
(:func:`complete_checkout`): the subscription is synced, or the saved card stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.errors import ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.gateways.billing import CHECKOUT_MODES, GatewayCheckoutSession
from paykit.models import PaymentMethod, Subscription, User
from paykit.security.policy import Actor
from paykit.services.billing._common import billing_gateway, gateway_key, owned_user
from paykit.services.billing.payment_methods import store_payment_method
from paykit.services.subscriptions import ensure_gateway_customer, sync_subscription
from paykit.services.subscriptions._common import recurring_price

__all__ = ["complete_checkout", "create_checkout_session", "save_setup_intent_method"]

_MAX_URL = 2048


def _url(value: str, name: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) > _MAX_URL:
        raise ValidationError(f"{name} must be an http(s) URL", details={"param": name})
    return value


@checked
def create_checkout_session(
    session: Session,
    *,
    user_id: str,
    mode: str,
    success_url: str,
    cancel_url: str,
    gateway: PaymentGateway,
    price_id: str | None = None,
    quantity: int = 1,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> GatewayCheckoutSession:
    """A hosted checkout page: ``mode="subscription"`` (a paykit recurring ``price_id``) or
    ``mode="setup"`` (save a card). Send the customer to the result's ``url``.

    ``success_url`` may carry Stripe's ``{CHECKOUT_SESSION_ID}`` placeholder.
    """
    billing = billing_gateway(gateway)
    if mode not in CHECKOUT_MODES:
        raise ValidationError(
            f"mode must be one of {sorted(CHECKOUT_MODES)}", details={"param": "mode"}
        )
    _url(success_url, "success_url")
    _url(cancel_url, "cancel_url")
    if (mode == "subscription") != (price_id is not None):
        raise ValidationError(
            "price_id is required for mode=subscription and refused otherwise",
            details={"param": "price_id"},
        )
    user, _ = owned_user(session, user_id, actor)
    stripe_price = None if price_id is None else recurring_price(session, price_id).stripe_price_id
    if price_id is not None and not stripe_price:
        raise ValidationError(
            f"price {price_id} has no gateway price", details={"param": "price_id"}
        )
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock, context=context)
    result = billing.create_checkout_session(
        customer_id=customer_id,
        mode=mode,
        success_url=success_url,
        cancel_url=cancel_url,
        price_id=stripe_price,
        quantity=quantity,
        client_reference_id=user.id,
        metadata={"paykit_user_id": user.id},
        idempotency_key=gateway_key("checkout", user.id, idempotency_key),
    )
    return result


def complete_checkout(
    session: Session,
    checkout: GatewayCheckoutSession,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Subscription | PaymentMethod | None:
    """Apply a completed checkout session: sync its subscription or store its saved card.

    Reads the gateway's current objects, so a replayed or late event applies
    today's state (a card detached since is not stored again). ``None`` for a
    session that is not complete or created nothing paykit keeps.
    """
    billing = billing_gateway(gateway)
    if checkout.status != "complete" or not checkout.customer_id:
        return None
    if checkout.mode == "subscription" and checkout.subscription_id:
        sub = gateway.retrieve_subscription(checkout.subscription_id)
        return sync_subscription(session, sub, clock=clock, gateway=gateway, context=context)
    if checkout.mode == "setup" and checkout.setup_intent_id:
        intent = billing.retrieve_setup_intent(checkout.setup_intent_id)
        return save_setup_intent_method(
            session, intent.payment_method_id, gateway=gateway, clock=clock, context=context
        )
    return None


def save_setup_intent_method(
    session: Session,
    payment_method_id: str | None,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> PaymentMethod | None:
    """Store the card a succeeded SetupIntent saved, as the gateway has it now.

    ``None`` when there is none, it has been detached since (a late event), or
    its customer is no user of this application.
    """
    if not payment_method_id:
        return None
    method = billing_gateway(gateway).retrieve_payment_method(payment_method_id)
    if method.customer_id is None:
        return None
    user = session.scalar(sa.select(User).where(User.stripe_customer_id == method.customer_id))
    if user is None:
        return None  # not a customer of this application
    return store_payment_method(session, method, user_id=user.id, clock=clock, context=context)
