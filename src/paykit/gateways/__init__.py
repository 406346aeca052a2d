"""Payment gateways: the ``PaymentGateway`` Protocol, its result types and implementations.

``FakeGateway`` is in memory and ships with the library for demos and tests;
``docs/gateways.md`` describes the Protocol, its rules and the fake's steering ids.
"""

from __future__ import annotations

from paykit.gateways.base import (
    STRIPE_REFUND_REASONS,
    GatewayCustomer,
    GatewayPayment,
    GatewayPaymentMethod,
    GatewayRefund,
    GatewayRefundStatus,
    GatewaySubscription,
    GatewaySubscriptionStatus,
    PaymentGateway,
    PaymentIntentStatus,
    subscription_from_stripe,
)
from paykit.gateways.fake import FakeGateway

__all__ = [
    "STRIPE_REFUND_REASONS",
    "FakeGateway",
    "GatewayCustomer",
    "GatewayPayment",
    "GatewayPaymentMethod",
    "GatewayRefund",
    "GatewayRefundStatus",
    "GatewaySubscription",
    "GatewaySubscriptionStatus",
    "PaymentGateway",
    "PaymentIntentStatus",
    "subscription_from_stripe",
]
