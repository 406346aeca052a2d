"""The catalog's pydantic output models: what a web adapter returns as JSON.

Money is a ``Decimal`` in Python and a string in JSON (``"29.99"``), always
next to its currency; never a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic

from paykit.services.reads import Money
from paykit.services.reviews import RatingSummary

__all__ = [
    "CategoryNode",
    "CategoryRef",
    "LowStockOut",
    "PaymentMethodOut",
    "PriceOut",
    "ProductOut",
    "ProductSummaryOut",
    "ProductView",
    "RevenueOut",
    "SubscriptionOut",
    "UserSubscriptionsOut",
]


class _Out(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True)


class PriceOut(_Out):
    """An active price of a product (``recurring`` is Stripe's recurring object, if any)."""

    id: str
    nickname: str | None
    unit_amount: Money
    currency: str
    type: str
    recurring: dict[str, Any] | None


class ProductOut(_Out):
    """A product as a catalog page shows it: its active prices and visible review count."""

    id: str
    name: str
    slug: str
    short_description: str | None
    type: str
    status: str
    base_price: Money
    currency: str
    featured: bool
    tags: list[str]
    images: list[Any]
    billing_interval: str | None
    trial_days: int | None
    created_at: datetime
    published_at: datetime | None
    prices: list[PriceOut]
    review_count: int


class CategoryRef(_Out):
    """One category on a path from the root."""

    id: str
    name: str
    slug: str


class ProductView(ProductOut):
    """One product in full: description, category paths (root first) and rating summary."""

    description: str
    meta_title: str | None
    meta_description: str | None
    category_paths: list[list[CategoryRef]]
    rating: RatingSummary


class CategoryNode(_Out):
    """A category in the tree, with its published products (its descendants' included)."""

    id: str
    name: str
    slug: str
    description: str | None
    parent_id: str | None
    sort_order: int
    product_count: int
    children: list[CategoryNode]


class LowStockOut(_Out):
    """A product whose tracked stock is at or below its threshold."""

    id: str
    name: str
    slug: str
    status: str
    stock_quantity: int
    low_stock_threshold: int | None


class RevenueOut(_Out):
    """Revenue of one currency: the sum of COMPLETED orders' totals and their count."""

    currency: str
    total: Money
    order_count: int


class ProductSummaryOut(_Out):
    """The product a subscription is for."""

    id: str
    name: str
    slug: str
    type: str


class SubscriptionOut(_Out):
    """An active or trialing subscription with its product and price.

    ``default_payment_method_id`` is the gateway's id of the subscription's own
    payment method (``pm_...``, a ``PaymentMethod``'s ``stripe_payment_method_id``),
    or ``None`` when renewals charge the customer's default.
    """

    id: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    trial_end: datetime | None
    quantity: int
    unit_amount: Money
    currency: str
    product: ProductSummaryOut
    price: PriceOut
    default_payment_method_id: str | None = None


class PaymentMethodOut(_Out):
    """A saved payment method, with Stripe's display data only (brand, last 4, expiry)."""

    id: str
    type: str
    card: dict[str, Any] | None
    is_default: bool


class UserSubscriptionsOut(_Out):
    """The seed's third example query: a user, live subscriptions, default payment method."""

    user_id: str
    email: str
    name: str | None
    subscriptions: list[SubscriptionOut]
    default_payment_method: PaymentMethodOut | None


CategoryNode.model_rebuild()
