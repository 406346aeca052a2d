"""Stripe's status words, mapped to paykit's neutral gateway statuses in one place.

Stripe answers with plain strings; everything past this module sees the
enums of :mod:`paykit.gateways.base`. An unknown status is refused, never
guessed: a new Stripe status must be added here on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from paykit.errors import GatewayError
from paykit.gateways.base import (
    ENDED_SUBSCRIPTION_STATUSES,
    GatewayInvoiceStatus,
    GatewayRefundStatus,
    GatewaySubscriptionStatus,
)
from paykit.models.enums import RefundReason

__all__ = [
    "ENDED_SUBSCRIPTION_STATUSES",
    "INVOICE_STATUSES",
    "REFUND_REASONS",
    "REFUND_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "refuse_if_ended",
    "subscription_state_error",
]

SUBSCRIPTION_STATUSES: Final[Mapping[str, GatewaySubscriptionStatus]] = {
    "incomplete": GatewaySubscriptionStatus.INCOMPLETE,
    "incomplete_expired": GatewaySubscriptionStatus.INCOMPLETE_EXPIRED,
    "trialing": GatewaySubscriptionStatus.TRIALING,
    "active": GatewaySubscriptionStatus.ACTIVE,
    "past_due": GatewaySubscriptionStatus.PAST_DUE,
    "canceled": GatewaySubscriptionStatus.CANCELED,
    "unpaid": GatewaySubscriptionStatus.UNPAID,
    "paused": GatewaySubscriptionStatus.PAUSED,
}
"""Stripe's subscription statuses (``past_due``, ``incomplete_expired``, ...)."""

INVOICE_STATUSES: Final[Mapping[str, GatewayInvoiceStatus]] = {
    "draft": GatewayInvoiceStatus.DRAFT,
    "open": GatewayInvoiceStatus.OPEN,
    "paid": GatewayInvoiceStatus.PAID,
    "void": GatewayInvoiceStatus.VOID,
    "uncollectible": GatewayInvoiceStatus.UNCOLLECTIBLE,
}
"""Stripe's invoice statuses (``draft``, ``open``, ``paid``, ``void``, ``uncollectible``)."""

REFUND_STATUSES: Final[Mapping[str, GatewayRefundStatus]] = {
    "pending": GatewayRefundStatus.PENDING,
    "succeeded": GatewayRefundStatus.SUCCEEDED,
    "failed": GatewayRefundStatus.FAILED,
    "canceled": GatewayRefundStatus.CANCELED,
    # The customer must act first (some payment methods): nothing has been
    # returned yet, so to paykit it is pending.
    "requires_action": GatewayRefundStatus.PENDING,
}
"""Stripe's refund statuses; ``requires_action`` reads as ``pending``."""

REFUND_REASONS: Final[Mapping[str, RefundReason]] = {
    "requested_by_customer": RefundReason.REQUESTED_BY_CUSTOMER,
    "duplicate": RefundReason.DUPLICATE,
    "fraudulent": RefundReason.FRAUDULENT,
}
"""Stripe's refund reasons → paykit's, for refunds made at Stripe (the dashboard)."""


def subscription_state_error(subscription_id: str, status: object, message: str) -> GatewayError:
    """The ``subscription_unexpected_state`` error both gateways raise for a refused change."""
    return GatewayError(
        message,
        code="subscription_unexpected_state",
        details={"subscription_id": subscription_id, "status": status},
    )


def refuse_if_ended(obj: Mapping[str, Any], verb: str) -> None:
    """Refuse to ``verb`` a Stripe-shaped subscription whose status has ended it."""
    # Checked by paykit because Stripe's own refusals of these carry no stable code.
    status = SUBSCRIPTION_STATUSES.get(str(obj.get("status")))
    if status is not None and status in ENDED_SUBSCRIPTION_STATUSES:
        raise subscription_state_error(
            obj["id"],
            obj["status"],
            f"Subscription {obj['id']} is {obj['status']} and cannot {verb}.",
        )
