"""Webhook handlers for customers: ``payment_method.attached``/``detached``, ``customer.updated``.

These objects carry no version of their own, so an event older than one
already applied to the same object is ignored (ordered by the event's
``created``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paykit.models import PaymentMethod, User, WebhookEvent, WebhookEventStatus
from paykit.services._sql import affected
from paykit.services.billing._common import card_expires_at
from paykit.stripe.events import event_created, event_object
from paykit.stripe.handlers.context import HandlerContext
from paykit.stripe.objects import card_display

__all__ = ["customer_updated", "payment_method_attached", "payment_method_detached"]


def _newer_event_applied(session: Session, event: Mapping[str, Any], types: Sequence[str]) -> bool:
    """True if an event of ``types`` about the same object, created no earlier, was applied."""
    object_id = event_object(event).get("id")
    return (
        session.scalar(
            sa.select(WebhookEvent.id)
            .where(
                WebhookEvent.object_id == object_id,
                WebhookEvent.type.in_(list(types)),
                WebhookEvent.event_id != event["id"],
                WebhookEvent.status == WebhookEventStatus.PROCESSED.value,
                WebhookEvent.event_created_at >= event_created(event),
            )
            .limit(1)
        )
        is not None
    )


def _user_by_customer(session: Session, customer_id: str | None) -> User | None:
    if not customer_id:
        return None
    return session.scalar(sa.select(User).where(User.stripe_customer_id == customer_id))


def payment_method_attached(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    obj = event_object(event)
    customer = obj.get("customer")
    user = _user_by_customer(session, customer if isinstance(customer, str) else None)
    if user is None or _newer_event_applied(
        session, event, ["payment_method.attached", "payment_method.detached"]
    ):
        return WebhookEventStatus.IGNORED
    # Display data only; never anything that could identify the card number.
    display = card_display(obj.get("card"))
    now = ctx.clock.now()
    values = {
        "user_id": user.id,
        "type": str(obj.get("type") or "card"),
        "card": display,
        "billing_details": obj.get("billing_details"),
        "expires_at": card_expires_at(display),
        "updated_at": now,
    }
    stripe_id = str(obj["id"])
    existing = session.scalar(
        sa.select(PaymentMethod.id).where(PaymentMethod.stripe_payment_method_id == stripe_id)
    )
    if existing is None:
        try:
            with session.begin_nested():
                row = PaymentMethod(stripe_payment_method_id=stripe_id, created_at=now, **values)
                session.add(row)
                session.flush()
            existing = row.id
        except IntegrityError:
            existing = None
    if existing is None:
        affected(
            session,
            sa.update(PaymentMethod)
            .where(PaymentMethod.stripe_payment_method_id == stripe_id)
            .values(**values),
        )
    ctx.audit(
        session,
        "payment_method.attached",
        "payment_methods",
        stripe_id,
        actor_id=user.id,
        new={"stripe_payment_method_id": stripe_id, "card": display},
        now=now,
    )
    return WebhookEventStatus.PROCESSED


def payment_method_detached(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    obj = event_object(event)
    stripe_id = str(obj["id"])
    if _newer_event_applied(session, event, ["payment_method.attached", "payment_method.detached"]):
        return WebhookEventStatus.IGNORED
    row = session.scalar(
        sa.select(PaymentMethod).where(PaymentMethod.stripe_payment_method_id == stripe_id)
    )
    if row is None:
        # Processed anyway: a late "attached" must see that the method is gone.
        return WebhookEventStatus.PROCESSED
    user_id = row.user_id
    session.execute(sa.delete(PaymentMethod).where(PaymentMethod.id == row.id))
    ctx.audit(
        session,
        "payment_method.detached",
        "payment_methods",
        stripe_id,
        actor_id=user_id,
        old={"stripe_payment_method_id": stripe_id},
    )
    return WebhookEventStatus.PROCESSED


def customer_updated(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    obj = event_object(event)
    user = _user_by_customer(session, str(obj.get("id")))
    if user is None or _newer_event_applied(session, event, ["customer.updated"]):
        return WebhookEventStatus.IGNORED
    # paykit owns the user's profile; from Stripe it takes only the default method.
    default = (obj.get("invoice_settings") or {}).get("default_payment_method")
    if isinstance(default, Mapping):
        default = default.get("id")
    now = ctx.clock.now()
    target: Any = (
        sa.false() if default is None else PaymentMethod.stripe_payment_method_id == default
    )
    changed = affected(
        session,
        sa.update(PaymentMethod)
        .where(PaymentMethod.user_id == user.id, PaymentMethod.is_default.is_distinct_from(target))
        .values(is_default=target, updated_at=now),
    )
    if changed:
        ctx.audit(
            session,
            "payment_method.default_changed",
            "users",
            user.id,
            actor_id=user.id,
            new={"default_payment_method": default},
            now=now,
        )
    return WebhookEventStatus.PROCESSED
