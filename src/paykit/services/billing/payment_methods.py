"""Saved payment methods: set up a card for later, list, make default, detach, expiring cards.

Rows are keyed by paykit's own id (``PaymentMethod.id``); the gateway's id
stays inside. Each call checks ownership before it touches the gateway
(docs/billing.md): the customer, or staff with ``billing.manage_any``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, ValidationError
from paykit.gateways.base import GatewayPaymentMethod, PaymentGateway
from paykit.gateways.billing import GatewaySetupIntent
from paykit.models import PaymentMethod, User
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import record_audit
from paykit.services._sql import affected
from paykit.services.billing._common import (
    billing_gateway,
    card_expires_at,
    gateway_customer,
    gateway_key,
    missing_method,
    owned_user,
    require_owner,
)
from paykit.services.subscriptions.customers import ensure_gateway_customer

__all__ = [
    "detach_payment_method",
    "list_expiring_payment_methods",
    "list_payment_methods",
    "set_default_payment_method",
    "start_payment_method_setup",
    "store_payment_method",
]

_DISPLAY = ("brand", "last4", "exp_month", "exp_year", "funding", "country")


def _owned_method(
    session: Session, payment_method_id: str, actor: Actor | None
) -> tuple[PaymentMethod, str | None]:
    row = session.get(PaymentMethod, payment_method_id, populate_existing=True)
    if row is None:
        raise missing_method(payment_method_id)
    acting = require_owner(
        session, actor, owner_id=row.user_id, missing=missing_method(payment_method_id)
    )
    return row, acting


@checked
def start_payment_method_setup(
    session: Session,
    *,
    user_id: str,
    gateway: PaymentGateway,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> GatewaySetupIntent:
    """Start saving a card: a SetupIntent whose ``client_secret`` the browser confirms.

    Creates the user's gateway customer if needed. The card is stored when the
    ``setup_intent.succeeded`` webhook arrives (or :func:`store_payment_method`).
    """
    billing = billing_gateway(gateway)
    user, _ = owned_user(session, user_id, actor)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock, context=context)
    return billing.create_setup_intent(
        customer_id=customer_id,
        idempotency_key=gateway_key("setup-intent", user.id, idempotency_key),
    )


@checked
def list_payment_methods(
    session: Session, *, user_id: str, actor: Actor | None = None
) -> list[PaymentMethod]:
    """The user's saved payment methods: the default first, then newest first."""
    owned_user(session, user_id, actor)
    return list(
        session.scalars(
            sa.select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id)
            .order_by(
                PaymentMethod.is_default.desc(),
                PaymentMethod.created_at.desc(),
                PaymentMethod.id.desc(),
            )
        )
    )


@checked
def set_default_payment_method(
    session: Session,
    *,
    payment_method_id: str,
    gateway: PaymentGateway,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> PaymentMethod:
    """Make a saved method the default for the customer's invoices and subscriptions."""
    billing = billing_gateway(gateway)
    row, acting = _owned_method(session, payment_method_id, actor)
    user = session.get(User, row.user_id)
    assert user is not None
    billing.set_default_payment_method(
        gateway_customer(user),
        payment_method_id=row.stripe_payment_method_id,
        idempotency_key=gateway_key("pm-default", row.id, idempotency_key),
    )
    now = resolve_clock(clock).now()
    target: Any = PaymentMethod.id == row.id
    affected(
        session,
        sa.update(PaymentMethod)
        .where(
            PaymentMethod.user_id == row.user_id, PaymentMethod.is_default.is_distinct_from(target)
        )
        .values(is_default=target, updated_at=now),
    )
    record_audit(
        session,
        action="payment_method.default_changed",
        resource="payment_methods",
        resource_id=row.id,
        now=now,
        actor_id=acting or row.user_id,
        new={"default_payment_method": row.stripe_payment_method_id},
        context=context,
    )
    session.refresh(row)
    return row


@checked
def detach_payment_method(
    session: Session,
    *,
    payment_method_id: str,
    gateway: PaymentGateway,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> None:
    """Detach a saved method at the gateway and delete its row.

    A method the gateway already has as detached (a retry, the dashboard) is
    deleted here too.
    """
    billing = billing_gateway(gateway)
    row, acting = _owned_method(session, payment_method_id, actor)
    stripe_id = row.stripe_payment_method_id
    try:
        gateway.detach_payment_method(
            stripe_id, idempotency_key=gateway_key("pm-detach", row.id, idempotency_key)
        )
    except GatewayError as exc:
        if exc.code != "payment_method_unexpected_state":
            raise
        if billing.retrieve_payment_method(stripe_id).customer_id is not None:
            raise
    session.execute(sa.delete(PaymentMethod).where(PaymentMethod.id == row.id))
    record_audit(
        session,
        action="payment_method.detached",
        resource="payment_methods",
        resource_id=stripe_id,
        now=resolve_clock(clock).now(),
        actor_id=acting or row.user_id,
        old={"stripe_payment_method_id": stripe_id},
        context=context,
    )
    session.expunge(row)


@checked
def list_expiring_payment_methods(
    session: Session,
    *,
    within_days: int = 30,
    user_id: str | None = None,
    include_expired: bool = False,
    actor: Actor | None = None,
    clock: Clock | None = None,
    limit: int = 1000,
) -> list[PaymentMethod]:
    """Cards whose expiry falls within ``within_days`` from now, soonest first.

    For one user (``user_id``: that customer or staff) or, without it, every
    customer (staff with ``billing.manage_any``, or the host without an actor):
    the list a reminder job e-mails. ``include_expired`` adds cards already
    expired.
    """
    if (
        isinstance(within_days, bool)
        or not isinstance(within_days, int)
        or not 0 <= within_days <= 3660
    ):
        raise ValidationError("within_days must be 0 to 3660", details={"param": "within_days"})
    if user_id is not None:
        owned_user(session, user_id, actor)
    elif actor is not None:
        authorize(session, actor, Action.MANAGE_ANY_BILLING)
    now = resolve_clock(clock).now()
    query = sa.select(PaymentMethod).where(
        PaymentMethod.expires_at.is_not(None),
        PaymentMethod.expires_at <= now + timedelta(days=within_days),
    )
    if not include_expired:
        query = query.where(PaymentMethod.expires_at > now)
    if user_id is not None:
        query = query.where(PaymentMethod.user_id == user_id)
    order = (PaymentMethod.expires_at, PaymentMethod.id)
    return list(session.scalars(query.order_by(*order).limit(limit)))


def store_payment_method(
    session: Session,
    method: GatewayPaymentMethod,
    *,
    user_id: str,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> PaymentMethod:
    """Insert or update the row of a gateway payment method of ``user_id`` (webhooks use it).

    Keeps display data only (brand, last four, expiry, funding, country) and
    the expiry as ``expires_at``.
    """
    now = resolve_clock(clock).now()
    card = dict(method.card) if method.card is not None else None
    display = None if card is None else {key: card.get(key) for key in _DISPLAY}
    values = {
        "user_id": user_id,
        "type": method.type,
        "card": display,
        "expires_at": card_expires_at(card),
        "updated_at": now,
    }
    query = sa.select(PaymentMethod).where(PaymentMethod.stripe_payment_method_id == method.id)
    row = session.scalar(query)
    if row is None:
        try:
            with session.begin_nested():
                row = PaymentMethod(stripe_payment_method_id=method.id, created_at=now, **values)
                session.add(row)
                session.flush()
        except IntegrityError:
            row = None
    if row is None or row.user_id != user_id or row.card != display:
        affected(
            session,
            sa.update(PaymentMethod)
            .where(PaymentMethod.stripe_payment_method_id == method.id)
            .values(**values),
        )
        row = session.scalars(query.execution_options(populate_existing=True)).one()
    record_audit(
        session,
        action="payment_method.saved",
        resource="payment_methods",
        resource_id=method.id,
        now=now,
        actor_id=user_id,
        new={"stripe_payment_method_id": method.id, "card": display},
        context=context,
    )
    return row
