"""Lookups the lifecycle calls share: the subscription, a recurring price, an owned row."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paykit.errors import NotFound, ValidationError
from paykit.models import Price, PriceType, Subscription
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner


def recurring_price(session: Session, price_id: str) -> Price:
    price = session.get(Price, price_id)
    if price is None:
        raise NotFound(f"price {price_id} not found", details={"price_id": price_id})
    if not price.active or price.type is not PriceType.RECURRING:
        raise ValidationError(
            f"price {price_id} is not an active recurring price",
            code="price_not_recurring",
            details={"price_id": price_id},
        )
    return price


def subscription(session: Session, subscription_id: str) -> Subscription:
    row = session.get(Subscription, subscription_id, populate_existing=True)
    if row is None:
        raise NotFound(
            f"subscription {subscription_id} not found",
            details={"subscription_id": subscription_id},
        )
    return row


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
