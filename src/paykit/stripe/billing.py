"""Stripe subscriptions and invoices read into paykit's neutral gateway types.

Both shapes changed in API version 2025-03-31 (the current period moved onto
the subscription item; an invoice's subscription moved under ``parent``);
both the older and the newer shape are read, so events stored before an
upgrade can still be replayed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from paykit.errors import ValidationError
from paykit.gateways.base import GatewayInvoice, GatewaySubscription, GatewaySubscriptionItem
from paykit.stripe.objects import id_of, timestamp
from paykit.stripe.statuses import INVOICE_STATUSES, SUBSCRIPTION_STATUSES

__all__ = [
    "invoice_from_stripe",
    "invoice_subscription_id",
    "subscription_from_stripe",
]

_SUBSCRIPTION_LINE: Final = frozenset({"subscription_item_details", "subscription"})
_ONE_OFF_LINE: Final = frozenset({"invoice_item_details", "invoiceitem"})


def _item(item: Mapping[str, Any]) -> GatewaySubscriptionItem:
    price = item.get("price") or {}
    return GatewaySubscriptionItem(
        id=id_of(item.get("id")),
        price_id=str(price["id"]),
        product_id=id_of(price.get("product")),
        quantity=int(item.get("quantity") or 1),
        unit_amount_minor=price.get("unit_amount"),
    )


def subscription_from_stripe(obj: Mapping[str, Any]) -> GatewaySubscription:
    """Read a Stripe-shaped subscription object (API response or webhook payload).

    The current period is read from the first item, where Stripe has kept it
    since API version 2025-03-31, and from the top level for older payloads.
    Only single-item subscriptions are modelled: the price fields are the
    first item's, and every item is in ``items``.
    """
    data = (obj.get("items") or {}).get("data") or []
    if not data:
        raise ValidationError(
            f"subscription {obj.get('id')!r} has no items", code="invalid_argument"
        )
    items = tuple(_item(item) for item in data)
    first = data[0]
    status = SUBSCRIPTION_STATUSES.get(str(obj["status"]))
    if status is None:
        raise ValidationError(
            f"unknown subscription status {obj['status']!r}", code="invalid_argument"
        )
    period_start = timestamp(first.get("current_period_start", obj.get("current_period_start")))
    period_end = timestamp(first.get("current_period_end", obj.get("current_period_end")))
    if period_start is None or period_end is None:
        raise ValidationError(
            f"subscription {obj.get('id')!r} has no current period", code="invalid_argument"
        )
    price = first.get("price") or {}
    return GatewaySubscription(
        id=str(obj["id"]),
        customer_id=str(id_of(obj["customer"])),
        status=status,
        price_id=items[0].price_id,
        product_id=items[0].product_id,
        quantity=items[0].quantity,
        unit_amount_minor=items[0].unit_amount_minor,
        currency=str(obj.get("currency") or price.get("currency") or ""),
        current_period_start=period_start,
        current_period_end=period_end,
        cancel_at_period_end=bool(obj.get("cancel_at_period_end")),
        canceled_at=timestamp(obj.get("canceled_at")),
        trial_start=timestamp(obj.get("trial_start")),
        trial_end=timestamp(obj.get("trial_end")),
        cancel_at=timestamp(obj.get("cancel_at")),
        metadata=dict(obj.get("metadata") or {}),
        items=items,
        default_payment_method_id=id_of(obj.get("default_payment_method")),
        raw=obj,
    )


def invoice_subscription_id(raw: Mapping[str, Any]) -> str | None:
    """The id of the subscription an invoice bills, or ``None`` for a one-off invoice."""
    # Before API 2025-03-31 the id was at the top; since then it is under parent.
    direct = id_of(raw.get("subscription"))
    if direct:
        return direct
    parent = raw.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return id_of(details.get("subscription"))


def _line_rank(line: Mapping[str, Any]) -> int:
    """0: a subscription line; 1: a subscription proration; 2: a line of unknown kind;
    3: a one-off item, whose period is when it was added, not a service period (used
    only when no other line has one).

    The kind is ``parent.type`` since API 2025-03-31, ``type`` before.
    """
    parent = line.get("parent")
    parent = parent if isinstance(parent, Mapping) else {}
    kind = parent.get("type") or line.get("type")
    if kind in _ONE_OFF_LINE:
        return 3
    if kind not in _SUBSCRIPTION_LINE:
        return 2
    details = parent.get("subscription_item_details")
    details = details if isinstance(details, Mapping) else {}
    return 1 if details.get("proration") or line.get("proration") else 0


def _invoice_period(raw: Mapping[str, Any]) -> tuple[datetime, datetime]:
    # The subscription line's period is the service period billed; the
    # invoice's own period_start/end is the window its items were added in.
    best: tuple[int, datetime, datetime] | None = None
    for line in (raw.get("lines") or {}).get("data") or []:
        rank = _line_rank(line)
        period = line.get("period") or {}
        if best is not None and best[0] <= rank:
            continue
        start, end = timestamp(period.get("start")), timestamp(period.get("end"))
        if start is not None and end is not None:
            best = (rank, start, end)
    if best is not None:
        return best[1], best[2]
    start, end = timestamp(raw.get("period_start")), timestamp(raw.get("period_end"))
    if start is None or end is None:
        raise ValidationError(f"invoice {raw.get('id')} has no period")
    return start, end


def invoice_from_stripe(raw: Mapping[str, Any]) -> GatewayInvoice:
    """Read a Stripe invoice (API response or webhook payload) into a :class:`GatewayInvoice`.

    The tax is ``tax`` (older versions) or the sum of ``total_taxes``; the
    period is the service period of the subscription line (see ``_line_rank``).
    """
    status = INVOICE_STATUSES.get(str(raw.get("status")))
    if status is None:
        raise ValidationError(f"unknown invoice status {raw.get('status')!r}")
    tax = raw.get("tax")
    if tax is None:
        tax = sum(int(t.get("amount") or 0) for t in raw.get("total_taxes") or [])
    start, end = _invoice_period(raw)
    transitions = raw.get("status_transitions") or {}
    number = raw.get("number")
    return GatewayInvoice(
        id=str(raw["id"]),
        subscription_id=invoice_subscription_id(raw),
        status=status,
        currency=str(raw["currency"]),
        number=None if not number else str(number),
        subtotal_minor=int(raw.get("subtotal") or 0),
        tax_minor=int(tax or 0),
        total_minor=int(raw.get("total") or 0),
        amount_paid_minor=int(raw.get("amount_paid") or 0),
        amount_due_minor=int(raw.get("amount_due") or 0),
        period_start=start,
        period_end=end,
        due_date=timestamp(raw.get("due_date")),
        paid_at=timestamp(transitions.get("paid_at")),
        raw=raw,
    )
