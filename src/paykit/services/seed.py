"""The seed data of the schema's section 4.2, created idempotently."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.models import (
    Price,
    PriceType,
    Product,
    ProductCategory,
    ProductStatus,
    ProductType,
    User,
    UserRole,
)
from paykit.security.passwords import (
    DEFAULT_BCRYPT_ROUNDS,
    check_password_policy,
    hash_password,
)

__all__ = ["ADMIN_EMAIL", "SeedResult", "seed"]

ADMIN_EMAIL = "admin@example.com"


@dataclass(frozen=True, slots=True)
class SeedResult:
    """What :func:`seed` did. ``admin_password`` is set only when it generated one."""

    admin: User
    category: ProductCategory
    product: Product
    created: tuple[str, ...]
    admin_password: str | None = None


@checked
def seed(
    session: Session,
    *,
    admin_password: str | None = None,
    clock: Clock | None = None,
) -> SeedResult:
    """Create the admin user, the "Digital Products" category and the "Premium Subscription"
    product linked to it, unless they already exist. Running it twice creates nothing new.

    The admin password is ``admin_password`` or, when None, generated with
    ``secrets`` and returned once in :attr:`SeedResult.admin_password`. A given
    password must pass the password policy that registration applies
    (``ValidationError``, code ``invalid_password``), even when the admin
    already exists, so a bad setting is never silently ignored. An
    existing admin's password is never changed. The product gets a monthly
    recurring price so it can be ordered and subscribed to; its
    ``stripe_price_id`` is a local placeholder until it is synced with Stripe.
    """
    if admin_password is not None:
        check_password_policy(admin_password)
    now = resolve_clock(clock).now()
    created: list[str] = []
    generated: str | None = None

    admin = session.scalar(sa.select(User).where(User.email == ADMIN_EMAIL))
    if admin is None:
        if admin_password is None:
            generated = admin_password = secrets.token_urlsafe(18)
        admin = User(
            email=ADMIN_EMAIL,
            password=hash_password(admin_password, rounds=DEFAULT_BCRYPT_ROUNDS),
            name="System Administrator",
            role=UserRole.ADMIN,
            email_verified=True,
            email_verified_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(admin)
        created.append("user:admin@example.com")

    category = session.scalar(
        sa.select(ProductCategory).where(ProductCategory.slug == "digital-products")
    )
    if category is None:
        category = ProductCategory(
            name="Digital Products",
            slug="digital-products",
            description="Digital downloads and services",
            created_at=now,
            updated_at=now,
        )
        session.add(category)
        created.append("category:digital-products")

    product = session.scalar(sa.select(Product).where(Product.slug == "premium-subscription"))
    if product is None:
        product = _premium_product(session, now)
        created.append("product:premium-subscription")
    if category not in product.categories:
        product.categories.append(category)
        created.append("link:premium-subscription->digital-products")
    session.flush()
    return SeedResult(
        admin=admin,
        category=category,
        product=product,
        created=tuple(created),
        admin_password=generated,
    )


def _premium_product(session: Session, now: datetime) -> Product:
    """The "Premium Subscription" product with its monthly recurring price."""
    product = Product(
        name="Premium Subscription",
        description="Access to all premium features",
        slug="premium-subscription",
        type=ProductType.SUBSCRIPTION,
        status=ProductStatus.PUBLISHED,
        base_price=Decimal("29.99"),
        billing_interval="month",
        trial_days=14,
        published_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(product)
    session.add(
        Price(
            product=product,
            stripe_price_id="price_seed_premium_monthly",
            nickname="Premium monthly",
            unit_amount=Decimal("29.99"),
            currency="USD",
            recurring={"interval": "month", "interval_count": 1},
            type=PriceType.RECURRING,
            created_at=now,
            updated_at=now,
        )
    )
    return product
