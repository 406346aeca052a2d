"""``StripeGateway`` (kept for existing imports): see :mod:`paykit.stripe.gateway`.

Importing this module imports the stripe SDK, as it always did;
``paykit.gateways.StripeGateway`` loads it on first use.
"""

from __future__ import annotations

from paykit.stripe.gateway import STRIPE_API_VERSION, StripeGateway
from paykit.stripe.objects import (
    payment_from_stripe,
    payment_method_from_stripe,
    refund_from_stripe,
)

__all__ = [
    "STRIPE_API_VERSION",
    "StripeGateway",
    "payment_from_stripe",
    "payment_method_from_stripe",
    "refund_from_stripe",
]
