"""What the lifecycle calls share: the subscription, a recurring price, an owned row, its audit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from paykit.context import RequestContext
from paykit.errors import NotFound, ValidationError
from paykit.models import Price, PriceType, Subscription
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


def bounded(value: int, name: str, low: int, high: int) -> int:
    """``value`` if ``low <= value <= high``, else ``ValidationError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationError(
            f"{name} must be a whole number from {low} to {high}",
            code="invalid_argument",
            details={"param": name},
        )
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
