"""Stripe's payment-side objects read into paykit's neutral gateway types.

PaymentIntents, refunds, payment methods, prices and products, as Stripe's
API answers them or an event carries them. Nothing here imports the stripe
SDK: webhooks and FakeGateway read the same shapes without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from paykit.gateways.base import (
    GatewayPayment,
    GatewayPaymentMethod,
    GatewayPrice,
    GatewayProduct,
    GatewayRecurring,
    GatewayRefund,
)
from paykit.stripe.statuses import REFUND_STATUSES

__all__ = [
    "CARD_DISPLAY_FIELDS",
    "card_display",
    "id_of",
    "payment_from_stripe",
    "payment_method_from_stripe",
    "price_from_stripe",
    "product_from_stripe",
    "refund_from_stripe",
    "timestamp",
]

CARD_DISPLAY_FIELDS: tuple[str, ...] = (
    "brand",
    "last4",
    "exp_month",
    "exp_year",
    "funding",
    "country",
)
"""The card fields paykit keeps: display data only, nothing that identifies the number."""


def id_of(value: Any) -> str | None:
    """An id from a field that may hold an id, an expanded object, or nothing."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return str(value["id"])
    return str(value)


def timestamp(value: Any) -> datetime | None:
    """A Unix timestamp as an aware UTC datetime (``None`` stays ``None``)."""
    if value is None:
        return None
    seconds = int(value)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError) as exc:  # beyond the platform's time_t or year 9999
        raise ValueError(f"timestamp {seconds} is out of range") from exc


def card_display(card: Any) -> dict[str, Any] | None:
    """The display fields of a Stripe card summary, or ``None`` when there is none."""
    if not isinstance(card, Mapping):
        return None
    return {key: card.get(key) for key in CARD_DISPLAY_FIELDS}


def payment_from_stripe(obj: Mapping[str, Any]) -> GatewayPayment:
    """A :class:`GatewayPayment` from a Stripe PaymentIntent (API answer or event payload)."""
    error = obj.get("last_payment_error") or {}
    status = str(obj["status"])
    decline_code = None
    if status == "requires_payment_method" and error:
        decline_code = error.get("decline_code") or error.get("code")
    return GatewayPayment(
        id=str(obj["id"]),
        status=status,  # type: ignore[arg-type]  # coerced by the dataclass
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]),
        customer_id=id_of(obj.get("customer")),
        payment_method_id=id_of(obj.get("payment_method")),
        client_secret=obj.get("client_secret"),
        decline_code=decline_code,
        metadata=dict(obj.get("metadata") or {}),
        created=timestamp(obj.get("created")),
    )


def refund_from_stripe(obj: Mapping[str, Any]) -> GatewayRefund:
    """A :class:`GatewayRefund` from a Stripe Refund (API answer or event payload)."""
    status = str(obj["status"])
    return GatewayRefund(
        id=str(obj["id"]),
        payment_id=str(id_of(obj.get("payment_intent")) or ""),
        amount_minor=int(obj["amount"]),
        currency=str(obj["currency"]),
        status=REFUND_STATUSES.get(status, status),  # type: ignore[arg-type]
        reason=obj.get("reason"),
        failure_reason=obj.get("failure_reason"),
    )


def payment_method_from_stripe(obj: Mapping[str, Any]) -> GatewayPaymentMethod:
    """A :class:`GatewayPaymentMethod` from a Stripe PaymentMethod; card display data only."""
    return GatewayPaymentMethod(
        id=str(obj["id"]),
        customer_id=id_of(obj.get("customer")),
        type=str(obj.get("type") or "card"),
        card=card_display(obj.get("card")),
    )


def price_from_stripe(obj: Mapping[str, Any]) -> GatewayPrice:
    """A :class:`GatewayPrice` from a Stripe Price; ``recurring`` only for a recurring one."""
    recurring = obj.get("recurring")
    unit_amount = obj.get("unit_amount")
    return GatewayPrice(
        id=str(obj["id"]),
        product_id=id_of(obj.get("product")),
        currency=str(obj["currency"]),
        unit_amount_minor=None if unit_amount is None else int(unit_amount),
        recurring=(
            None
            if not recurring
            else GatewayRecurring(
                interval=recurring.get("interval"),
                interval_count=int(recurring.get("interval_count") or 1),
                trial_period_days=recurring.get("trial_period_days"),
            )
        ),
        nickname=obj.get("nickname"),
        active=bool(obj.get("active", True)),
        raw=obj,
    )


def product_from_stripe(obj: Mapping[str, Any]) -> GatewayProduct:
    """A :class:`GatewayProduct` from a Stripe Product."""
    description = obj.get("description")
    return GatewayProduct(
        id=str(obj["id"]),
        name=str(obj.get("name") or ""),
        description=None if description is None else str(description),
        active=bool(obj.get("active", True)),
        raw=obj,
    )
