"""Everything in paykit that knows Stripe, behind one door.

=====================  ====================================================
module                 what it holds
=====================  ====================================================
``gateway``            ``StripeGateway`` (imports the stripe SDK)
``async_gateway``      ``AsyncStripeGateway``: its requests awaited on the
                       event loop (the SDK's async client) under ``paykit.aio``
``subscription_calls`` its subscription methods
``client``             requests through ``stripe.StripeClient`` (SDK)
``errors``             Stripe's exceptions → paykit's error tree (SDK)
``objects``            PaymentIntent, Refund, PaymentMethod, Price, Product
                       → neutral gateway types
``billing``            Subscription, Invoice → neutral gateway types
``statuses``           Stripe's status and reason words → paykit's
``events``             events and objects as hosts hand them to services
``signature``          ``Stripe-Signature`` verification
``inbox``              the ``paykit_webhook_events`` table
``webhooks``           ``handle_webhook``, ``process_event``, ``replay_failed``
``handlers``           what each event type does
=====================  ====================================================

Nothing here is imported by ``import paykit`` or by the services: the names
below load their module on first use, and only ``gateway``, ``async_gateway``,
``client`` and ``errors`` import the stripe SDK. The services work on the neutral types of
:mod:`paykit.gateways.base`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from paykit.stripe.async_gateway import AsyncStripeGateway
    from paykit.stripe.billing import invoice_from_stripe, subscription_from_stripe
    from paykit.stripe.gateway import STRIPE_API_VERSION, StripeGateway
    from paykit.stripe.handlers import HANDLED_EVENT_TYPES
    from paykit.stripe.objects import (
        payment_from_stripe,
        payment_method_from_stripe,
        price_from_stripe,
        product_from_stripe,
        refund_from_stripe,
    )
    from paykit.stripe.signature import DEFAULT_TOLERANCE, verify_event
    from paykit.stripe.webhooks import (
        WebhookResponse,
        handle_webhook,
        process_event,
        replay_failed,
    )

_LAZY = {
    "AsyncStripeGateway": "paykit.stripe.async_gateway",
    "DEFAULT_TOLERANCE": "paykit.stripe.signature",
    "HANDLED_EVENT_TYPES": "paykit.stripe.handlers",
    "STRIPE_API_VERSION": "paykit.stripe.gateway",
    "StripeGateway": "paykit.stripe.gateway",
    "WebhookResponse": "paykit.stripe.webhooks",
    "handle_webhook": "paykit.stripe.webhooks",
    "invoice_from_stripe": "paykit.stripe.billing",
    "payment_from_stripe": "paykit.stripe.objects",
    "payment_method_from_stripe": "paykit.stripe.objects",
    "price_from_stripe": "paykit.stripe.objects",
    "process_event": "paykit.stripe.webhooks",
    "product_from_stripe": "paykit.stripe.objects",
    "refund_from_stripe": "paykit.stripe.objects",
    "replay_failed": "paykit.stripe.webhooks",
    "subscription_from_stripe": "paykit.stripe.billing",
    "verify_event": "paykit.stripe.signature",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "DEFAULT_TOLERANCE",
    "HANDLED_EVENT_TYPES",
    "STRIPE_API_VERSION",
    "AsyncStripeGateway",
    "StripeGateway",
    "WebhookResponse",
    "handle_webhook",
    "invoice_from_stripe",
    "payment_from_stripe",
    "payment_method_from_stripe",
    "price_from_stripe",
    "process_event",
    "product_from_stripe",
    "refund_from_stripe",
    "replay_failed",
    "subscription_from_stripe",
    "verify_event",
]
