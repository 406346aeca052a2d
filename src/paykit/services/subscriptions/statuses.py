"""The status maps: gateway subscription and invoice statuses → paykit's, and the invoice order."""

from __future__ import annotations

from collections.abc import Mapping

from paykit.gateways.base import GatewayInvoiceStatus, GatewaySubscriptionStatus
from paykit.models import InvoiceStatus, SubscriptionStatus

__all__ = ["INVOICE_RANK", "INVOICE_STATUSES", "SUBSCRIPTION_STATUSES"]

SUBSCRIPTION_STATUSES: Mapping[GatewaySubscriptionStatus, SubscriptionStatus] = {
    GatewaySubscriptionStatus.TRIALING: SubscriptionStatus.TRIALING,
    GatewaySubscriptionStatus.ACTIVE: SubscriptionStatus.ACTIVE,
    GatewaySubscriptionStatus.PAST_DUE: SubscriptionStatus.PAST_DUE,
    # The gateway spells it with one L (as Stripe does); the seed's enum with two.
    GatewaySubscriptionStatus.CANCELED: SubscriptionStatus.CANCELLED,
    GatewaySubscriptionStatus.UNPAID: SubscriptionStatus.UNPAID,
    GatewaySubscriptionStatus.INCOMPLETE: SubscriptionStatus.INCOMPLETE,
    GatewaySubscriptionStatus.INCOMPLETE_EXPIRED: SubscriptionStatus.INCOMPLETE_EXPIRED,
    GatewaySubscriptionStatus.PAUSED: SubscriptionStatus.PAUSED,
}
"""Gateway subscription statuses → paykit's (the keys compare equal to Stripe's words)."""

INVOICE_STATUSES: Mapping[GatewayInvoiceStatus, InvoiceStatus] = {
    GatewayInvoiceStatus.DRAFT: InvoiceStatus.DRAFT,
    GatewayInvoiceStatus.OPEN: InvoiceStatus.OPEN,
    GatewayInvoiceStatus.PAID: InvoiceStatus.PAID,
    GatewayInvoiceStatus.VOID: InvoiceStatus.VOID,
    GatewayInvoiceStatus.UNCOLLECTIBLE: InvoiceStatus.UNCOLLECTIBLE,
}
"""Gateway invoice statuses → paykit's."""

# An invoice only moves forward: draft → open → (uncollectible →) paid or void.
# Two events of one second are ordered by this rank.
INVOICE_RANK: Mapping[InvoiceStatus, int] = {
    InvoiceStatus.DRAFT: 0,
    InvoiceStatus.OPEN: 1,
    InvoiceStatus.UNCOLLECTIBLE: 2,
    InvoiceStatus.PAID: 3,
    InvoiceStatus.VOID: 3,
}
"""Invoice status → its place in the lifecycle (two events of one second are ordered by it)."""
