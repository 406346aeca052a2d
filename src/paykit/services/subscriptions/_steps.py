"""The steps the lifecycle calls share once they reach the gateway.

* :func:`record_answer` -- ``cancel_subscription``, ``resume_subscription``,
  ``extend_trial``, ``end_trial`` and ``set_subscription_default_payment_method``
  each call the gateway first (no row lock held), then sync what it answered
  and audit it;
* :func:`current_state` -- the row synced with what the gateway holds now;
* :func:`cancel_now` -- the jobs that end a subscription (a trial without a
  payment method, a grace period over) cancel it at once, for a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.models import Subscription
from paykit.services.subscriptions._common import audit_subscription, cancel_at_gateway
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["cancel_now", "current_state", "record_answer", "with_status"]


def with_status(details: Mapping[str, object]) -> Callable[[Subscription], Mapping[str, object]]:
    """What :func:`record_answer` audits: ``details`` and the synced row's status."""
    return lambda synced: {**details, "status": synced.status.value}


def record_answer(
    session: Session,
    result: GatewaySubscription,
    action: str,
    describe: Callable[[Subscription], Mapping[str, object]],
    *,
    actor_id: str | None,
    now: datetime,
    clock: Clock | None,
    gateway: PaymentGateway,
    context: RequestContext | None,
) -> Subscription:
    """Sync ``result``, audit ``action`` with ``describe(synced)``, flush; the synced row.

    The audit row is by ``actor_id``, or by the subscription's owner without one.
    """
    synced = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    audit_subscription(
        session, synced, action, describe(synced), now=now, context=context, actor_id=actor_id
    )
    session.flush()
    return synced


def current_state(
    session: Session,
    row: Subscription,
    *,
    clock: Clock | None,
    gateway: PaymentGateway,
    context: RequestContext | None,
) -> Subscription:
    """``row`` synced with the gateway's current state of it (read there, not changed)."""
    result = gateway.retrieve_subscription(row.stripe_subscription_id)
    return sync_subscription(session, result, clock=clock, gateway=gateway, context=context)


def cancel_now(
    session: Session,
    row: Subscription,
    reason: str,
    *,
    key: str,
    clock: Clock | None,
    gateway: PaymentGateway,
    context: RequestContext | None,
) -> Subscription:
    """Cancel ``row`` at the gateway at once, sync it, and keep ``reason`` as its cancellation's.

    ``key`` names the occasion (a job run twice cancels once); one the gateway
    already ended is read back (:func:`cancel_at_gateway`).
    """
    result = cancel_at_gateway(gateway, row, at_period_end=False, key=key)
    synced = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    synced.cancellation_reason = reason
    return synced
