"""Stripe SetupIntents, invoices with their lines, and Checkout Sessions read into neutral types.

Both API shapes of an invoice line are read: the price at ``price`` (older
versions) or ``pricing.price_details.price`` (newer), the proration flag at
``proration`` or under ``parent.<type>``. Nothing here imports the stripe SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paykit.errors import ValidationError
from paykit.gateways.billing import (
    CHECKOUT_MODES,
    GatewayCheckoutSession,
    GatewayInvoiceDetails,
    GatewayInvoiceLine,
    GatewaySetupIntent,
)
from paykit.stripe.billing import invoice_from_stripe
from paykit.stripe.objects import id_of, timestamp

__all__ = [
    "checkout_session_from_stripe",
    "invoice_details_from_stripe",
    "invoice_line_from_stripe",
    "require_mode",
    "require_price_for_mode",
    "setup_intent_from_stripe",
]


def setup_intent_from_stripe(obj: Mapping[str, Any]) -> GatewaySetupIntent:
    """A :class:`GatewaySetupIntent` from a Stripe SetupIntent (API answer or event payload)."""
    return GatewaySetupIntent(
        id=str(obj["id"]),
        customer_id=id_of(obj.get("customer")),
        status=str(obj.get("status")),
        client_secret=obj.get("client_secret"),
        payment_method_id=id_of(obj.get("payment_method")),
        raw=obj,
    )


def _line_price(line: Mapping[str, Any]) -> str | None:
    price = id_of(line.get("price"))
    if price is None:
        details = (line.get("pricing") or {}).get("price_details") or {}
        price = id_of(details.get("price"))
    return price


def _line_proration(line: Mapping[str, Any]) -> bool:
    if line.get("proration") is not None:
        return bool(line["proration"])
    parent = line.get("parent") or {}
    kind = parent.get("type")
    details = parent.get(kind) if isinstance(kind, str) else None
    return bool((details or {}).get("proration"))


def invoice_line_from_stripe(line: Mapping[str, Any], currency: str) -> GatewayInvoiceLine:
    """One Stripe invoice line item."""
    period = line.get("period") or {}
    quantity = line.get("quantity")
    return GatewayInvoiceLine(
        id=str(line["id"]),
        description=line.get("description"),
        price_id=_line_price(line),
        quantity=1 if quantity is None else int(quantity),
        amount_minor=int(line.get("amount") or 0),
        currency=str(line.get("currency") or currency),
        proration=_line_proration(line),
        period_start=timestamp(period.get("start")),
        period_end=timestamp(period.get("end")),
    )


def invoice_details_from_stripe(raw: Mapping[str, Any]) -> GatewayInvoiceDetails:
    """A Stripe invoice with its lines (the first page Stripe embeds), discount and links."""
    invoice = invoice_from_stripe(raw)
    lines = (raw.get("lines") or {}).get("data") or []
    discount = sum(int(d.get("amount") or 0) for d in raw.get("total_discount_amounts") or [])
    return GatewayInvoiceDetails(
        invoice=invoice,
        customer_id=id_of(raw.get("customer")),
        discount_minor=discount,
        hosted_invoice_url=raw.get("hosted_invoice_url"),
        invoice_pdf=raw.get("invoice_pdf"),
        lines=tuple(invoice_line_from_stripe(line, str(raw["currency"])) for line in lines),
    )


def checkout_session_from_stripe(obj: Mapping[str, Any]) -> GatewayCheckoutSession:
    """A :class:`GatewayCheckoutSession` from a Stripe Checkout Session."""
    return GatewayCheckoutSession(
        id=str(obj["id"]),
        url=obj.get("url"),
        status=str(obj.get("status")),
        mode=str(obj.get("mode")),
        customer_id=id_of(obj.get("customer")),
        client_reference_id=obj.get("client_reference_id"),
        subscription_id=id_of(obj.get("subscription")),
        setup_intent_id=id_of(obj.get("setup_intent")),
        metadata={str(k): str(v) for k, v in (obj.get("metadata") or {}).items()},
        raw=obj,
    )


def require_mode(mode: str) -> str:
    """``mode`` if paykit creates checkout sessions of that mode, else ``ValidationError``."""
    if mode not in CHECKOUT_MODES:
        raise ValidationError(
            f"mode must be one of {sorted(CHECKOUT_MODES)}", details={"param": "mode"}
        )
    return mode


def require_price_for_mode(mode: str, price_id: str | None) -> None:
    """A ``subscription`` checkout needs a ``price_id``; the other modes refuse one."""
    if (mode == "subscription") != (price_id is not None):
        raise ValidationError(
            "price_id is required for mode=subscription and refused otherwise",
            details={"param": "price_id"},
        )
