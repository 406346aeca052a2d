"""The seed's section 3.2 example queries as functions.

1. Dashboard revenue: the sum of COMPLETED orders' totals in a time range
   (:func:`revenue`, :func:`monthly_revenue`), per currency.
2. The product catalog page: :func:`paykit.list_products` (keyset, not
   ``skip``/``take``).
3. A user with their TRIALING and ACTIVE subscriptions, each with product and
   price, and their default payment method: :func:`user_subscriptions`.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from paykit._arguments import checked
from paykit.errors import ValidationError
from paykit.models import (
    Order,
    OrderStatus,
    PaymentMethod,
    Subscription,
    SubscriptionStatus,
    User,
)
from paykit.models.types import ExactDecimal
from paykit.security.policy import Action, Actor, authorize, authorize_owner
from paykit.services._rows import not_found
from paykit.services.catalog.out import (
    PaymentMethodOut,
    ProductSummaryOut,
    RevenueOut,
    SubscriptionOut,
    UserSubscriptionsOut,
)
from paykit.services.catalog.products import _price_out

__all__ = ["monthly_revenue", "revenue", "user_subscriptions"]

_LIVE = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE)
_CARD_FIELDS = ("brand", "last4", "exp_month", "exp_year", "funding", "country")


@checked
def revenue(session: Session, *, actor: Actor, start: datetime, end: datetime) -> list[RevenueOut]:
    """Revenue per currency: COMPLETED orders created in ``[start, end)`` (aware datetimes).

    Staff only (the roles that read every order). Currencies are never added
    together; the list is sorted by currency. Served by the index
    ``idx_orders_status_created_at``.
    """
    authorize(session, actor, Action.READ_ANY_ORDER)
    if start > end:
        raise ValidationError("start is after end", code="invalid_range", details={"field": "end"})
    total = sa.type_coerce(sa.func.sum(Order.total_amount), ExactDecimal(10, 2))
    rows = session.execute(
        sa.select(Order.currency, total, sa.func.count())
        .where(
            Order.status == OrderStatus.COMPLETED,
            Order.created_at >= start,
            Order.created_at < end,
        )
        .group_by(Order.currency)
        .order_by(Order.currency)
    ).all()
    return [
        RevenueOut(currency=currency, total=amount, order_count=int(count))
        for currency, amount, count in rows
    ]


@checked
def monthly_revenue(session: Session, *, actor: Actor, year: int, month: int) -> list[RevenueOut]:
    """:func:`revenue` for one calendar month in UTC (the seed's dashboard query)."""
    if not 1 <= month <= 12 or not 1 <= year <= 9998:
        raise ValidationError(
            "year must be 1..9998 and month 1..12",
            code="invalid_range",
            details={"field": "month"},
        )
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return revenue(session, actor=actor, start=start, end=end)


def _card(card: object) -> dict[str, object] | None:
    if not isinstance(card, dict):
        return None
    return {k: card[k] for k in _CARD_FIELDS if k in card}


@checked
def user_subscriptions(session: Session, *, actor: Actor, user_id: str) -> UserSubscriptionsOut:
    """A user with their TRIALING and ACTIVE subscriptions (product and price included)
    and their default payment method (card display data only).

    A customer reads only their own (another user is ``NotFound``); staff
    read anyone's. An inactive or unknown actor is ``PermissionDenied``.
    """
    missing = not_found("user", user_id)
    authorize_owner(
        session,
        actor.user_id,
        owner_id=user_id,
        action=Action.MANAGE_ANY_SUBSCRIPTION,
        missing=missing,
    )
    user = session.get(User, user_id)
    if user is None:
        raise missing
    subscriptions = session.scalars(
        sa.select(Subscription)
        .where(Subscription.user_id == user_id, Subscription.status.in_(_LIVE))
        .options(selectinload(Subscription.product), selectinload(Subscription.price))
        .order_by(Subscription.created_at, Subscription.id)
    ).all()
    method = session.scalars(
        sa.select(PaymentMethod)
        .where(PaymentMethod.user_id == user_id, PaymentMethod.is_default.is_(True))
        .order_by(PaymentMethod.updated_at.desc(), PaymentMethod.id)
        .limit(1)
    ).first()
    return UserSubscriptionsOut(
        user_id=user.id,
        email=user.email,
        name=user.name,
        subscriptions=[
            SubscriptionOut(
                id=s.id,
                status=s.status.value,
                current_period_start=s.current_period_start,
                current_period_end=s.current_period_end,
                cancel_at_period_end=s.cancel_at_period_end,
                trial_end=s.trial_end,
                quantity=s.quantity,
                unit_amount=s.unit_amount,
                currency=s.currency,
                product=ProductSummaryOut(
                    id=s.product.id,
                    name=s.product.name,
                    slug=s.product.slug,
                    type=s.product.type.value,
                ),
                price=_price_out(s.price),
                default_payment_method_id=s.default_payment_method_id,
            )
            for s in subscriptions
        ],
        default_payment_method=(
            PaymentMethodOut(
                id=method.id,
                type=method.type,
                card=_card(method.card),
                is_default=method.is_default,
            )
            if method is not None
            else None
        ),
    )
