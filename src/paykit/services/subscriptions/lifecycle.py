"""Changing a subscription at the gateway: ``change_subscription``, ``cancel_subscription``,
``resume_subscription``. The gateway acts first (no row lock held), then its answer is synced.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, ValidationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.models import Subscription, new_id
from paykit.security.policy import Actor
from paykit.services._audit import record_audit
from paykit.services.subscriptions._common import owned_subscription, recurring_price
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["cancel_subscription", "change_subscription", "resume_subscription"]


def _gateway_key(action: str, row: Subscription, idempotency_key: str | None) -> str:
    return f"paykit:{action}:{row.id}:{idempotency_key or new_id()}"


def _after_change(
    session: Session,
    row: Subscription,
    result: GatewaySubscription,
    *,
    action: str,
    actor_id: str | None,
    details: Mapping[str, Any],
    clock: Clock | None,
    gateway: PaymentGateway,
    context: RequestContext | None,
) -> Subscription:
    now = resolve_clock(clock).now()
    synced = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    record_audit(
        session,
        action=action,
        resource="subscriptions",
        resource_id=row.id,
        now=now,
        actor_id=actor_id or row.user_id,
        new={**details, "status": synced.status.value},
        context=context,
    )
    session.flush()
    return synced


@checked
def change_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    price_id: str | None = None,
    quantity: int | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Switch a subscription to another recurring price (a paykit ``Price`` id) and/or quantity.

    Proration follows the gateway's default (Stripe: prorate on the next invoice).

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    if price_id is None and quantity is None:
        raise ValidationError("give price_id, quantity or both")
    new_price = None if price_id is None else recurring_price(session, price_id)
    result = gateway.update_subscription(
        row.stripe_subscription_id,
        price_id=None if new_price is None else new_price.stripe_price_id,
        quantity=quantity,
        idempotency_key=_gateway_key("subscription-change", row, idempotency_key),
    )
    return _after_change(
        session,
        row,
        result,
        action="subscription.changed",
        actor_id=actor_id,
        details={"price_id": price_id, "quantity": quantity},
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def cancel_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    at_period_end: bool = True,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Cancel at the end of the current period (default) or at once.

    Cancelling one that the gateway already has as canceled (a retry after a
    timeout, a cancellation in the dashboard) syncs it and returns it.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    try:
        result = gateway.cancel_subscription(
            row.stripe_subscription_id,
            at_period_end=at_period_end,
            idempotency_key=_gateway_key("subscription-cancel", row, idempotency_key),
        )
    except GatewayError as exc:
        if exc.code != "subscription_unexpected_state":
            raise
        result = gateway.retrieve_subscription(row.stripe_subscription_id)
        if str(result.status) != "canceled":
            raise
    return _after_change(
        session,
        row,
        result,
        action="subscription.cancelled" if not at_period_end else "subscription.cancel_scheduled",
        actor_id=actor_id,
        details={"at_period_end": at_period_end},
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def resume_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Undo a pending end-of-period cancellation, or resume a paused subscription.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    result = gateway.resume_subscription(
        row.stripe_subscription_id,
        idempotency_key=_gateway_key("subscription-resume", row, idempotency_key),
    )
    return _after_change(
        session,
        row,
        result,
        action="subscription.resumed",
        actor_id=actor_id,
        details={},
        clock=clock,
        gateway=gateway,
        context=context,
    )
