"""What the web adapters answer with, as pydantic models (the OpenAPI schema shows them).

Each route module builds its answer through one of these (``model_validate``
from the row, then ``model_dump(mode="json")``), so the schema FastAPI
publishes is what the route sends. Money is a string next to its currency.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pydantic

from paykit.services.reads import Money

__all__ = [
    "CardOut",
    "DeletedOut",
    "DetachedOut",
    "DownloadLinkOut",
    "PaymentMethodListOut",
    "PaymentMethodViewOut",
    "PriceAdminOut",
    "SetupIntentOut",
    "SubscriptionViewOut",
]

_CARD_FIELDS = ("brand", "last4", "exp_month", "exp_year", "funding", "country")


class _Out(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, from_attributes=True)


class SubscriptionViewOut(_Out):
    """One of the actor's subscriptions, as the subscription routes answer."""

    id: str
    status: str
    product_id: str
    price_id: str
    quantity: int
    unit_amount: Money
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    trial_end: datetime | None
    cancel_at_period_end: bool
    canceled_at: datetime | None
    cancellation_feedback: str | None
    pending_price_id: str | None
    pending_quantity: int | None
    pending_change_at: datetime | None
    # The gateway's id of the subscription's own payment method (``pm_...``);
    # None: renewals charge the customer's default (docs/subscriptions.md).
    default_payment_method_id: str | None = None

    @pydantic.field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return getattr(value, "value", value)


class CardOut(_Out):
    """A card's display data (never its number)."""

    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None
    funding: str | None = None
    country: str | None = None


class PaymentMethodViewOut(_Out):
    """One of the actor's saved payment methods."""

    id: str
    type: str
    is_default: bool
    card: CardOut | None
    expires_at: datetime | None

    @pydantic.field_validator("card", mode="before")
    @classmethod
    def _card(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return None
        shown = {k: value[k] for k in _CARD_FIELDS if k in value}
        return shown or None


class PaymentMethodListOut(_Out):
    """The actor's saved payment methods, the default first."""

    items: list[PaymentMethodViewOut]


class SetupIntentOut(_Out):
    """A started card setup: the browser confirms ``client_secret`` with Stripe.js."""

    id: str
    status: str
    client_secret: str | None


class DetachedOut(_Out):
    """A payment method detached at the gateway and deleted."""

    id: str
    detached: bool


class DeletedOut(_Out):
    """A row deleted."""

    id: str
    deleted: bool


class DownloadLinkOut(_Out):
    """A signed download link for a paid digital item."""

    token: str
    order_item_id: str
    expires_at: datetime


class PriceAdminOut(_Out):
    """A price as the admin catalog routes answer (inactive ones too)."""

    id: str
    product_id: str
    stripe_price_id: str
    nickname: str | None
    unit_amount: Money
    currency: str
    type: str
    recurring: dict[str, Any] | None
    active: bool

    @pydantic.field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return getattr(value, "value", value)
