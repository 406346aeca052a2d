"""Payment gateways: the ``PaymentGateway`` Protocol, its result types and implementations.

``FakeGateway`` is in memory and ships with the library for demos and tests;
``docs/gateways.md`` describes the Protocol, its rules and the fake's steering ids.
``StripeGateway`` lives in :mod:`paykit.stripe` and is loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paykit.gateways import base
from paykit.gateways.base import *  # noqa: F403  (the seam: the Protocol and its types)

if TYPE_CHECKING:
    from paykit.stripe.billing import subscription_from_stripe
    from paykit.stripe.gateway import StripeGateway
    from paykit.testing.fake import FakeGateway


def __getattr__(name: str) -> Any:
    # Loaded on first use, so `import paykit` never loads paykit.stripe nor the
    # stripe SDK (about 0.2 s) for hosts that do not use them.
    if name == "FakeGateway":
        # paykit.testing sits above the gateways: re-exported on first use.
        from paykit.testing.fake import FakeGateway

        return FakeGateway
    if name == "StripeGateway":
        from paykit.stripe.gateway import StripeGateway

        return StripeGateway
    if name == "subscription_from_stripe":
        from paykit.stripe.billing import subscription_from_stripe

        return subscription_from_stripe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FakeGateway", "StripeGateway", "subscription_from_stripe"]
__all__ += base.__all__
