"""What the lifecycle calls share: the subscription, a recurring price, an owned row, its audit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session

from paykit.context import RequestContext
from paykit.errors import GatewayError, NotFound, ValidationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway
from paykit.models import (
    PaymentMethod,
    Price,
    PriceType,
    Subscription,
    SubscriptionStatus,
    new_id,
)
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner
from paykit.services._audit import record_audit
from paykit.services._rows import load


def recurring_price(session: Session, price_id: str) -> Price:
    price = load(session, Price, price_id, "price")
    if not price.active or price.type is not PriceType.RECURRING:
        raise ValidationError(
            f"price {price_id} is not an active recurring price",
            code="price_not_recurring",
            details={"price_id": price_id},
        )
    return price


def subscription(session: Session, subscription_id: str) -> Subscription:
    return load(session, Subscription, subscription_id, "subscription", populate_existing=True)


def owned_subscription(
    session: Session, subscription_id: str, actor: Actor | None, actor_id: str | None
) -> tuple[Subscription, str | None]:
    """The subscription, if the actor may manage it (docs/security.md), and the acting id."""
    acting = acting_user_id(actor, actor_id)
    row = subscription(session, subscription_id)
    authorize_owner(
        session,
        acting,
        owner_id=row.user_id,
        action=Action.MANAGE_ANY_SUBSCRIPTION,
        missing=NotFound(
            f"subscription {subscription_id} not found",
            details={"subscription_id": subscription_id},
        ),
    )
    return row, acting


OPEN = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING, SubscriptionStatus.PAST_DUE)
"""The statuses in which a subscription's plan, seats or payment method may change."""


def next_plan(session: Session, row: Subscription) -> tuple[Price, int]:
    """The price and seats ``row`` bills from its next period.

    The change scheduled for the period's end (``pending_price_id``,
    ``pending_quantity``) where there is one, else its own.
    """
    price = row.price if row.pending_price_id is None else session.get(Price, row.pending_price_id)
    assert price is not None
    return price, row.pending_quantity or row.quantity


def require_open(row: Subscription, message: str) -> None:
    """``subscription_not_changeable`` with ``message`` unless ``row`` is :data:`OPEN`."""
    if row.status not in OPEN:
        raise ValidationError(
            message,
            code="subscription_not_changeable",
            details={"subscription_id": row.id, "status": row.status.value},
        )


def gateway_key(action: str, object_id: str, idempotency_key: str | None) -> str:
    """The key the gateway receives: the host's key scoped to the action and object.

    Without a host key each call is its own (a fresh id).
    """
    return f"paykit:{action}:{object_id}:{idempotency_key or new_id()}"


def missing_method(payment_method_id: str) -> NotFound:
    """The ``NotFound`` of a payment method that is missing or not the caller's to use."""
    return NotFound(
        f"payment method {payment_method_id} not found",
        details={"payment_method_id": payment_method_id},
    )


def owners_method(session: Session, payment_method_id: str, owner_id: str) -> PaymentMethod:
    """The saved method ``payment_method_id`` (a paykit id) if it is ``owner_id``'s.

    Another customer's method is as unknown as a missing one (:func:`missing_method`).
    """
    method = session.get(PaymentMethod, payment_method_id)
    if method is None or method.user_id != owner_id:
        raise missing_method(payment_method_id)
    return method


def cancel_at_gateway(
    gateway: PaymentGateway,
    row: Subscription,
    *,
    at_period_end: bool,
    key: str,
    only_if_canceled: bool = False,
) -> GatewaySubscription:
    """Cancel ``row`` at the gateway; one the gateway already ended is read back instead.

    The gateway refuses a second cancellation (a retry, the dashboard got there
    first) with ``subscription_unexpected_state``; its current state is then
    returned, unless ``only_if_canceled`` and that state is not ``canceled``
    (the refusal is then raised).
    """
    try:
        return gateway.cancel_subscription(
            row.stripe_subscription_id, at_period_end=at_period_end, idempotency_key=key
        )
    except GatewayError as exc:
        if exc.code != "subscription_unexpected_state":
            raise
        result = gateway.retrieve_subscription(row.stripe_subscription_id)
        if only_if_canceled and str(result.status) != "canceled":
            raise
        return result


def due_ids(
    session: Session,
    column: QueryableAttribute[Any],
    *conditions: sa.ColumnElement[bool],
    limit: int,
) -> Sequence[str]:
    """The ids of up to ``limit`` subscriptions meeting ``conditions``, earliest ``column`` first.

    What a periodic job works through: ties are ordered by id, so a batch
    cut by ``limit`` is the same on every run.
    """
    return session.scalars(
        sa.select(Subscription.id).where(*conditions).order_by(column, Subscription.id).limit(limit)
    ).all()


def invalid_argument(param: str, message: str, **details: object) -> ValidationError:
    """The refusal of the caller's ``param``: code ``invalid_argument``, naming it in details."""
    return ValidationError(message, code="invalid_argument", details={"param": param, **details})


def bounded(value: int, name: str, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else ``ValidationError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_argument(name, f"{name} must be a whole number from {low} to {high}")
    return value


def audit_subscription(
    session: Session,
    row: Subscription,
    action: str,
    new: Mapping[str, object],
    *,
    now: datetime,
    context: RequestContext | None,
    actor_id: str | None = None,
) -> None:
    """One audit row about ``row`` by ``actor_id``, or by its owner when there is none."""
    record_audit(
        session,
        action=action,
        resource="subscriptions",
        resource_id=row.id,
        now=now,
        actor_id=actor_id or row.user_id,
        new=new,
        context=context,
    )
