"""``change_subscription`` (now, prorated, or at the period's end) and
``apply_scheduled_changes``, the job that carries out end-of-period changes.

The gateway acts first (no row lock held), then its answer is synced and the
prorations waiting for the next invoice are kept on the row
(``pending_proration``). A change at the period's end calls no gateway: it is
stored (``pending_price_id``, ``pending_quantity``) and made by
:func:`apply_scheduled_changes` once the period is over.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ConfigurationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.gateways.subscription_billing import SubscriptionBillingGateway
from paykit.models import Price, Subscription, SubscriptionItem
from paykit.security.policy import Actor
from paykit.services import _idempotency
from paykit.services.subscriptions._common import (
    OPEN,
    audit_subscription,
    bounded,
    due_ids,
    gateway_key,
    invalid_argument,
    next_plan,
    owned_subscription,
    subscription,
)
from paykit.services.subscriptions.proration import ProrationBehavior, plan_request
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["SCOPE_CHANGE", "apply_scheduled_changes", "change_subscription"]

SCOPE_CHANGE = "subscription-change"
"""The idempotency scope of :func:`change_subscription`."""


def _gateway_change(
    gateway: PaymentGateway,
    row: Subscription,
    stripe_price_id: str | None,
    quantity: int | None,
    *,
    proration: str,
    at: datetime,
    key: str,
    item: SubscriptionItem | None = None,
) -> GatewaySubscription:
    """Tell the gateway the proration paykit previewed, when it can be told (its Protocol)."""
    if isinstance(gateway, SubscriptionBillingGateway):
        named = {} if item is None else {"item_id": item.stripe_subscription_item_id}
        return gateway.change_subscription_items(
            row.stripe_subscription_id,
            price_id=stripe_price_id,
            quantity=quantity,
            proration_behavior=proration,
            proration_date=at,
            idempotency_key=key,
            **named,
        )
    if item is not None:
        raise ConfigurationError(
            f"{type(gateway).__name__} cannot change a named item "
            "(it does not implement SubscriptionBillingGateway)",
            code="configuration_error",
        )
    return gateway.update_subscription(
        row.stripe_subscription_id, price_id=stripe_price_id, quantity=quantity, idempotency_key=key
    )


def _schedule(row: Subscription, price: Price, seats: int) -> None:
    """Keep an end-of-period change for :func:`apply_scheduled_changes`."""
    row.pending_price_id = price.id
    row.pending_quantity = seats
    row.pending_change_at = row.current_period_end


def _replayed(
    session: Session, row: Subscription, key: str, request: dict[str, object], now: datetime
) -> bool:
    """Claim the key; True if an earlier call with it already made this change."""
    earlier = _idempotency.claim(
        session,
        scope=SCOPE_CHANGE,
        key=key,
        fingerprint=_idempotency.request_hash(request),
        now=now,
        user_id=row.user_id,
    )
    return earlier is not None


@checked
def change_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    price_id: str | None = None,
    quantity: int | None = None,
    proration: ProrationBehavior = "create_prorations",
    at_period_end: bool = False,
    item: str | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Switch an item to another recurring price (a paykit ``Price`` id) and/or seat count.

    ``proration`` and ``at_period_end`` bill it as :func:`preview_subscription_change`
    shows (docs/subscriptions.md); the same ``idempotency_key`` makes one
    change and one gateway call. ``item`` names the item (its paykit price id
    or the gateway's item id); without it the subscription must have one
    (``subscription_item_ambiguous``). ``actor`` (or ``actor_id``) must own the
    subscription or hold ``subscription.manage_any``; without one the host acts
    on its own authority (docs/security.md).
    """
    now = resolve_clock(clock).now()
    row, actor_id = owned_subscription(session, subscription_id, actor, actor_id)
    target, new_price, seats, plan = plan_request(
        session, row, item, price_id, quantity, proration, at_period_end, now
    )
    details: dict[str, object] = {
        "item": None if target is None else target.price_id,
        "subscription_id": row.id,
        "price_id": new_price.id,
        "quantity": seats,
        "proration": proration,
        "at_period_end": at_period_end,
    }
    if idempotency_key is not None and _replayed(session, row, idempotency_key, details, now):
        return subscription(session, row.id)
    if at_period_end:
        _schedule(row, new_price, seats)
        action = "subscription.change_scheduled"
    else:
        result = _gateway_change(
            gateway,
            row,
            None if price_id is None else new_price.stripe_price_id,
            quantity,
            proration=proration,
            at=plan.effective_at,
            key=gateway_key("subscription-change", row.id, idempotency_key),
            item=target,
        )
        row = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
        row.pending_proration = plan.pending_proration_after
        details.update(
            amount_due_now=str(plan.amount_due_now),
            pending_proration=str(plan.pending_proration_after),
            status=row.status.value,
        )
        action = "subscription.changed"
    audit_subscription(session, row, action, details, actor_id=actor_id, now=now, context=context)
    if idempotency_key is not None:
        _idempotency.record(session, scope=SCOPE_CHANGE, key=idempotency_key, resource_id=row.id)
    session.flush()
    return row


def _check_ahead(ahead: object) -> None:
    if not isinstance(ahead, timedelta) or not timedelta(0) <= ahead <= timedelta(days=1):
        raise invalid_argument("ahead", "ahead must be a timedelta from 0 to 1 day")


@checked
def apply_scheduled_changes(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    limit: int = 100,
    ahead: timedelta = timedelta(0),
    context: RequestContext | None = None,
) -> list[Subscription]:
    """Make the end-of-period changes whose period is over; the subscriptions changed.

    Run it from a periodic job (every few minutes). Each change reaches the
    gateway with a key derived from the subscription and its period, so a job
    that runs twice, or two jobs in parallel, change the plan once.

    ``ahead`` (at most a day) also makes those whose period ends within it: a
    gateway that invoices at the period's end (Stripe, FakeGateway) bills the
    old plan if the change comes later (docs/subscriptions.md).
    """
    now = resolve_clock(clock).now()
    bounded(limit, "limit", 1, 10_000)
    _check_ahead(ahead)
    due = due_ids(
        session,
        Subscription.pending_change_at,
        sa.or_(
            Subscription.pending_price_id.is_not(None),
            Subscription.pending_quantity.is_not(None),
        ),
        Subscription.pending_change_at <= now + ahead,
        Subscription.status.in_(OPEN),
        limit=limit,
    )
    changed = []
    for sub_id in due:
        row = subscription(session, sub_id)
        price, seats = next_plan(session, row)
        assert row.pending_change_at is not None
        period = int(row.pending_change_at.timestamp())
        result = _gateway_change(
            gateway,
            row,
            price.stripe_price_id,
            seats,
            proration="none",
            at=now,
            key=f"paykit:scheduled-change:{row.id}:{period}",
        )
        new = {"price_id": price.id, "quantity": seats}
        synced = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
        synced.pending_price_id = None
        synced.pending_quantity = None
        synced.pending_change_at = None
        audit_subscription(
            session,
            synced,
            "subscription.scheduled_change_applied",
            new,
            actor_id=None,
            now=now,
            context=context,
        )
        changed.append(synced)
    session.flush()
    return changed
