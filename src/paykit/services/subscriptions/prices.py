"""Prices and customers a gateway snapshot refers to: found, or imported from the gateway."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paykit.context import RequestContext
from paykit.errors import NotFound
from paykit.gateways.base import GatewayPrice, PaymentGateway
from paykit.models import Price, PriceType, Product, ProductStatus, ProductType, User
from paykit.money import from_minor_units
from paykit.services._audit import record_audit


def money(minor: Any, currency: str) -> Decimal:
    return from_minor_units(int(minor or 0), currency)


def user_by_customer(session: Session, customer_id: str) -> User:
    user = session.scalar(sa.select(User).where(User.stripe_customer_id == customer_id))
    if user is None:
        # Usually a race: the host has not committed ensure_gateway_customer yet.
        # Failing lets the webhook be retried rather than dropping the subscription.
        raise NotFound(
            f"no user has stripe_customer_id {customer_id}",
            code="unknown_customer",
            details={"stripe_customer_id": customer_id},
        )
    return user


def _recurring_column(price: GatewayPrice) -> dict[str, Any] | None:
    if price.recurring is None:
        return None
    return {"interval": price.recurring.interval, "interval_count": price.recurring.interval_count}


def import_price(
    session: Session,
    stripe_price_id: str,
    gateway: PaymentGateway | None,
    now: datetime,
    context: RequestContext | None,
) -> Price:
    """The Price row for a gateway price, created (with its product) from the gateway if new."""
    price = session.scalar(sa.select(Price).where(Price.stripe_price_id == stripe_price_id))
    if price is not None:
        return price
    if gateway is None:
        raise NotFound(
            f"price {stripe_price_id} is not in the database; pass gateway= to import it",
            code="unknown_price",
            details={"stripe_price_id": stripe_price_id},
        )
    obj = gateway.retrieve_price(stripe_price_id)
    stripe_product_id = obj.product_id
    if stripe_product_id is None:
        raise NotFound(f"price {stripe_price_id} has no product", code="unknown_product")
    slug = f"stripe-{stripe_product_id}"
    product = session.scalar(sa.select(Product).where(Product.slug == slug))
    product_obj = None if product is not None else gateway.retrieve_product(stripe_product_id)
    currency = obj.currency
    unit_amount = money(obj.unit_amount_minor, currency)
    recurring = obj.recurring
    try:
        # A parallel delivery may import the same price: the unique slug and
        # stripe_price_id decide, and the loser reads the winner's rows.
        with session.begin_nested():
            if product is None:
                assert product_obj is not None
                product = Product(
                    name=product_obj.name or stripe_product_id,
                    description=product_obj.description or "",
                    slug=slug,
                    type=ProductType.SUBSCRIPTION if recurring else ProductType.ONE_TIME,
                    status=ProductStatus.PUBLISHED
                    if product_obj.active
                    else ProductStatus.ARCHIVED,
                    base_price=unit_amount,
                    currency=currency,
                    billing_interval=None if recurring is None else recurring.interval,
                    trial_days=0 if recurring is None else recurring.trial_period_days or 0,
                    metadata_={"stripe_product_id": stripe_product_id},
                    created_at=now,
                    updated_at=now,
                )
                session.add(product)
                session.flush()
            price = Price(
                product_id=product.id,
                stripe_price_id=stripe_price_id,
                nickname=obj.nickname,
                unit_amount=unit_amount,
                currency=currency,
                recurring=_recurring_column(obj),
                type=PriceType.RECURRING if recurring else PriceType.ONE_TIME,
                active=obj.active,
                created_at=now,
                updated_at=now,
            )
            session.add(price)
            session.flush()
    except IntegrityError:
        price = session.scalar(sa.select(Price).where(Price.stripe_price_id == stripe_price_id))
        if price is None:
            raise
        return price
    record_audit(
        session,
        action="price.imported",
        resource="prices",
        resource_id=price.id,
        now=now,
        new={"stripe_price_id": stripe_price_id, "product_id": price.product_id},
        context=context,
    )
    return price
