"""The step a host's call on one subscription ends with, once the gateway has answered.

``cancel_subscription``, ``resume_subscription``, ``extend_trial``, ``end_trial``
and ``set_subscription_default_payment_method`` each call the gateway first (no
row lock held), then :func:`record_answer` syncs what it answered and audits it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.context import RequestContext
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.models import Subscription
from paykit.services.subscriptions._common import audit_subscription
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["record_answer", "with_status"]


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
