"""``sync_subscription``: a Subscription row upserted from the gateway's state.

Events arrive duplicated and out of order, so each row remembers the
``created`` time of the newest event applied to it (``stripe_event_created_at``):
an older event is skipped, an event of the same second is settled by asking
the gateway, and the write itself is a conditional UPDATE, so two parallel
deliveries cannot put an older state over a newer one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics.history import record_mrr_change
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import ValidationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.models import Price, Subscription, SubscriptionStatus, User
from paykit.money import from_minor_units
from paykit.services.subscriptions.items import items_differ, sync_items
from paykit.services.subscriptions.prices import import_price, user_by_customer
from paykit.services.subscriptions.rows import SyncedTable, changes, insert_synced, update_synced
from paykit.services.subscriptions.statements import (
    INSERT_SUBSCRIPTION,
    SUBSCRIPTION_AND_REFERENCES,
    SUBSCRIPTION_BY_STRIPE_ID,
)
from paykit.services.subscriptions.statuses import SUBSCRIPTION_STATUSES

__all__ = ["sync_subscription"]

_SYNCED_FIELDS = (
    "user_id",
    "product_id",
    "price_id",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "trial_start",
    "trial_end",
    "currency",
    "unit_amount",
    "quantity",
    "metadata_",
    # The subscription's own payment method (migration 0017): None clears it.
    "default_payment_method_id",
)

# Kept by paykit, not by the gateway (migration 0013): a new row starts empty.
_LOCAL_DEFAULTS = {
    "cancellation_reason": None,
    "cancellation_feedback": None,
    "cancellation_comment": None,
    "trial_end_behavior": None,
    "past_due_since": None,
    "payment_attempts": 0,
    "next_payment_attempt_at": None,
    "pending_price_id": None,
    "pending_quantity": None,
    "pending_change_at": None,
    "pending_proration": Decimal("0.00"),
}

SUBSCRIPTION_SYNC = SyncedTable.of(
    Subscription,
    INSERT_SUBSCRIPTION,
    _SYNCED_FIELDS,
    "stripe_subscription_id",
    defaults=_LOCAL_DEFAULTS,
)


def _read_subscription_input(
    subscription: GatewaySubscription | Mapping[str, Any] | Any,
) -> tuple[GatewaySubscription, datetime | None]:
    """The snapshot and its event time; anything but a snapshot is read as Stripe's."""
    if isinstance(subscription, GatewaySubscription):
        return subscription, None
    from paykit.stripe.events import read_subscription  # Stripe-shaped input only

    return read_subscription(subscription)


@dataclass(frozen=True, slots=True)
class _PriceRef:
    """The columns of a Price that a subscription's values need."""

    id: str
    product_id: str
    unit_amount: Decimal
    currency: str
    recurring: Any = None


@dataclass(frozen=True, slots=True)
class _References:
    """The user and price of a customer and gateway price, as read with the row."""

    stripe_customer_id: str
    stripe_price_id: str
    user_id: str
    price: _PriceRef | None


def _subscription_values(
    session: Session,
    sub: GatewaySubscription,
    gateway: PaymentGateway | None,
    now: datetime,
    context: RequestContext | None,
    references: _References | None = None,
) -> tuple[dict[str, Any], Any]:
    """The row's values, and the price's ``recurring`` (for the MRR history)."""
    status = SUBSCRIPTION_STATUSES.get(sub.status)
    if status is None:
        raise ValidationError(f"unknown subscription status {sub.status!r}")
    price: _PriceRef | None = None
    if references is not None and references.stripe_customer_id == sub.customer_id:
        user_id = references.user_id
        if references.stripe_price_id == sub.price_id:
            price = references.price
    else:
        # One round trip for the common case (both known); the slow path explains what is missing.
        known = session.execute(
            sa.select(
                User.id,
                Price.id,
                Price.product_id,
                Price.unit_amount,
                Price.currency,
                Price.recurring,
            )
            .join(Price, Price.stripe_price_id == sub.price_id)
            .where(User.stripe_customer_id == sub.customer_id)
        ).first()
        if known is not None:
            user_id = known[0]
            price = _PriceRef(*known[1:])
        else:
            user_id = user_by_customer(session, sub.customer_id).id
    if price is None:
        imported = import_price(session, sub.price_id, gateway, now, context)
        price = _PriceRef(
            imported.id,
            imported.product_id,
            imported.unit_amount,
            imported.currency,
            imported.recurring,
        )
    currency = sub.currency or price.currency
    cancel_at = sub.cancel_at
    # Newer Stripe versions may express "cancel at period end" as cancel_at equal to
    # the period end; both mean the same thing to a host.
    pending_cancel = sub.cancel_at_period_end or (
        cancel_at is not None
        and cancel_at == sub.current_period_end
        and status is not SubscriptionStatus.CANCELLED
    )
    return {
        "user_id": user_id,
        "product_id": price.product_id,
        "price_id": price.id,
        "status": status,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "cancel_at_period_end": pending_cancel,
        "canceled_at": sub.canceled_at,
        "trial_start": sub.trial_start,
        "trial_end": sub.trial_end,
        "currency": currency.upper(),
        "unit_amount": (
            price.unit_amount
            if sub.unit_amount_minor is None
            else from_minor_units(int(sub.unit_amount_minor), currency)
        ),
        "quantity": sub.quantity,
        "metadata_": dict(sub.metadata),
        "default_payment_method_id": sub.default_payment_method_id,
    }, price.recurring


def _read_subscription(
    session: Session, sub: GatewaySubscription
) -> tuple[Subscription | None, _References | None]:
    found = session.execute(
        SUBSCRIPTION_AND_REFERENCES,
        {
            "stripe_customer_id": sub.customer_id,
            "stripe_price_id": sub.price_id,
            "stripe_subscription_id": sub.id,
        },
    ).first()
    if found is None:
        # No such customer: read the row alone; the values explain the customer.
        row = session.scalars(
            SUBSCRIPTION_BY_STRIPE_ID, {"stripe_subscription_id": sub.id}
        ).one_or_none()
        return row, None
    row, user_id, price_id, product_id, unit_amount, currency, recurring = found
    price = (
        None
        if price_id is None
        else _PriceRef(price_id, product_id, unit_amount, currency, recurring)
    )
    return row, _References(sub.customer_id, sub.price_id, user_id, price)


def _record(
    session: Session,
    subscription_id: str,
    values: dict[str, Any],
    recurring: Any,
    at: datetime,
    now: datetime,
    sub: GatewaySubscription,
) -> None:
    """The state the row takes, in the MRR history at its instant (docs/analytics.md).

    Its monthly amount is the sum over all the snapshot's items.
    """
    record_mrr_change(
        session,
        subscription_id=subscription_id,
        user_id=values["user_id"],
        price_id=values["price_id"],
        status=values["status"],
        currency=values["currency"],
        unit_amount=values["unit_amount"],
        quantity=values["quantity"],
        effective_at=at,
        now=now,
        recurring=recurring,
        items=sub.items,
        stripe_price_id=sub.price_id,
    )


def _record_late(
    session: Session, row: Subscription, sub: GatewaySubscription, at: datetime, now: datetime
) -> None:
    """An older state the row skips still belongs in the history at its own instant.

    Only from what is already known: an unknown price or status is not
    imported or refused for an event the row ignores anyway.
    """
    status = SUBSCRIPTION_STATUSES.get(sub.status)
    price = session.execute(
        sa.select(Price.id, Price.unit_amount, Price.currency, Price.recurring).where(
            Price.stripe_price_id == sub.price_id
        )
    ).first()
    if status is None or price is None:
        return
    currency = (sub.currency or price.currency).upper()
    unit_amount = (
        price.unit_amount
        if sub.unit_amount_minor is None
        else from_minor_units(int(sub.unit_amount_minor), currency)
    )
    record_mrr_change(
        session,
        subscription_id=row.id,
        user_id=row.user_id,
        price_id=price.id,
        status=status,
        currency=currency,
        unit_amount=unit_amount,
        quantity=sub.quantity,
        effective_at=at,
        now=now,
        replace=False,
        recurring=price.recurring,
        items=sub.items,
        stripe_price_id=sub.price_id,
    )


@checked
def sync_subscription(
    session: Session,
    subscription: GatewaySubscription | Mapping[str, Any] | Any,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    event_created: datetime | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Upsert the Subscription row (by ``stripe_subscription_id``) from the gateway's state.

    ``subscription`` is a :class:`GatewaySubscription` (what every gateway
    returns), or a Stripe subscription object (a dict, a ``stripe.StripeObject``)
    or a whole event payload (``customer.subscription.*``), whose ``created``
    orders it (read by :mod:`paykit.stripe.events`); or pass ``event_created``
    yourself. The user is found by ``stripe_customer_id``
    (``NotFound`` code ``unknown_customer`` otherwise); a price not yet in the
    database is fetched through ``gateway`` and created with its product
    (``NotFound`` code ``unknown_price`` without a gateway).

    Ordering: an event older than the newest one applied changes nothing; one
    of the same second is settled by fetching the subscription from
    ``gateway`` (or, without one, applied as it is); an object without an
    event time is taken as current. Applying the same event again changes
    nothing. Every change writes an AuditLog row.
    """
    now = resolve_clock(clock).now()
    sub, created = _read_subscription_input(subscription)
    if event_created is not None:
        created = ensure_utc(event_created)
    row, references = _read_subscription(session, sub)
    stored = None if row is None else row.stripe_event_created_at
    values: dict[str, Any] | None = None
    if row is not None and created is not None and stored is not None:
        if created < stored:
            _record_late(session, row, sub, created, now)
            return row  # a late delivery of an older state
        if created == stored:
            values, recurring = _subscription_values(
                session, sub, gateway, now, context, references
            )
            if not changes(row, values, _SYNCED_FIELDS):
                # The same event again, or one that says the same of the row; its
                # items may still differ (an item added or changed besides the first).
                if items_differ(session, row, sub):
                    fresh = sub if gateway is None else gateway.retrieve_subscription(sub.id)
                    sync_items(session, row, fresh)
                return row
            if gateway is not None:
                # Two states stamped with one second: only the gateway knows which is last.
                sub = gateway.retrieve_subscription(sub.id)
                values = None
    if values is None:
        values, recurring = _subscription_values(session, sub, gateway, now, context, references)
    user_id = values["user_id"]
    if row is None:
        inserted = insert_synced(
            session,
            SUBSCRIPTION_SYNC,
            sub.id,
            values,
            created=created,
            now=now,
            actor_id=user_id,
            context=context,
        )
        if inserted is not None:
            _record(session, inserted.id, values, recurring, created or now, now, sub)
            sync_items(session, cast(Subscription, inserted), sub)
            return cast(Subscription, inserted)
        # A parallel delivery inserted it first: carry on as an update.
        row = session.scalars(SUBSCRIPTION_BY_STRIPE_ID, {"stripe_subscription_id": sub.id}).one()
    _record(session, row.id, values, recurring, created or now, now, sub)
    return _update(session, row, sub, values, created, now, context)


def _update(
    session: Session,
    row: Subscription,
    sub: GatewaySubscription,
    values: dict[str, Any],
    created: datetime | None,
    now: datetime,
    context: RequestContext | None,
) -> Subscription:
    """The guarded UPDATE of a known row, then what a renewal and the items need."""
    period_before = row.current_period_start
    synced = update_synced(
        session,
        SUBSCRIPTION_SYNC,
        row,
        values,
        created=created,
        guard=None if created is None else {"guard_created": created},
        now=now,
        actor_id=values["user_id"],
        context=context,
    )
    _renewed(session, synced, period_before)
    sync_items(session, synced, sub)
    return synced


def _renewed(session: Session, row: Subscription, period_before: datetime) -> None:
    # A new period began: its first invoice billed the prorations that waited for it.
    if row.current_period_start > period_before and row.pending_proration:
        row.pending_proration = Decimal("0.00")
        session.flush()
