"""The whole gateway surface at once, for the static check of paykit's own gateways."""

from __future__ import annotations

from typing import Protocol

from paykit.gateways.base import PaymentGateway
from paykit.gateways.billing import BillingMethodsGateway
from paykit.gateways.renewal_billing import RenewalBillingGateway
from paykit.gateways.subscription_billing import SubscriptionBillingGateway

__all__ = ["CompleteGateway"]


class CompleteGateway(
    PaymentGateway,
    BillingMethodsGateway,
    SubscriptionBillingGateway,
    RenewalBillingGateway,
    Protocol,
):
    """Every gateway Protocol: what ``StripeGateway`` and ``FakeGateway`` implement.

    runtime_checkable only checks that the names exist; returning a gateway as a
    ``CompleteGateway`` (under ``TYPE_CHECKING``) makes mypy check every signature.
    """
