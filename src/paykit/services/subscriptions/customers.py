"""``ensure_gateway_customer``: the user's gateway customer, created once."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import InvalidState, NotFound
from paykit.gateways.base import PaymentGateway
from paykit.models import User, UserStatus
from paykit.services._audit import Audit
from paykit.services._sql import affected

__all__ = ["active_user", "ensure_gateway_customer"]


@checked
def ensure_gateway_customer(
    session: Session,
    user: User,
    gateway: PaymentGateway,
    *,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> str:
    """The user's gateway customer id, creating the customer (and storing it) if needed.

    The gateway key is derived from the user id, so parallel or retried calls
    create one customer; the id is stored with a conditional UPDATE, so the
    first writer wins and everyone returns its id.
    """
    if user.stripe_customer_id:
        return user.stripe_customer_id
    now = resolve_clock(clock).now()
    customer = gateway.create_customer(
        email=user.email,
        name=user.name,
        metadata={"paykit_user_id": user.id},
        idempotency_key=f"paykit:customer:{user.id}",
    )
    stored = affected(
        session,
        sa.update(User)
        .where(User.id == user.id, User.stripe_customer_id.is_(None))
        .values(stripe_customer_id=customer.id, updated_at=now),
    )
    session.refresh(user)
    if stored:
        Audit(session, now, user.id, context).record(
            "user.gateway_customer_created",
            "users",
            user.id,
            new={"stripe_customer_id": customer.id},
        )
    assert user.stripe_customer_id is not None
    return user.stripe_customer_id


def active_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", details={"user_id": user_id})
    if user.status is not UserStatus.ACTIVE or user.deleted_at is not None:
        raise InvalidState(
            f"user {user_id} is not active",
            code="customer_not_active",
            details={"user_id": user_id},
        )
    return user
