"""Payment gateways: the ``PaymentGateway`` Protocol, its result types and implementations.

``FakeGateway`` is in memory and ships with the library for demos and tests;
``docs/gateways.md`` describes the Protocol, its rules and the fake's steering ids.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from paykit.gateways.stripe import StripeGateway


def __getattr__(name: str) -> Any:
    # StripeGateway is imported on first use, so `import paykit` never loads the
    # stripe SDK (about 0.2 s) for hosts that do not use it.
    if name == "StripeGateway":
        from paykit.gateways.stripe import StripeGateway

        return StripeGateway
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    "StripeGateway",
    "subscription_from_stripe",
]
