"""``SubscriptionBillingGateway``: the subscription billing calls beyond ``PaymentGateway``.

A gateway that also implements this Protocol lets paykit pass how a change is
prorated (Stripe's ``proration_behavior`` and ``proration_date``) and move a
trial's end. Both of paykit's gateways implement it (FakeGateway, StripeGateway);
the services check ``isinstance(gateway, SubscriptionBillingGateway)`` and fall
back to ``PaymentGateway.update_subscription`` (the gateway's default
proration) for a host's own gateway that does not. The contract checks are in
``paykit.testing.contract.subscription_billing``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Protocol, runtime_checkable

from paykit.gateways._checks import check_choice
from paykit.gateways.base import GatewaySubscription

__all__ = ["PRORATION_BEHAVIORS", "SubscriptionBillingGateway", "check_proration_behavior"]

PRORATION_BEHAVIORS: Final = ("create_prorations", "always_invoice", "none")
"""Stripe's ``proration_behavior`` values."""


def check_proration_behavior(value: object) -> str:
    """``value`` if it is one of :data:`PRORATION_BEHAVIORS`, else ``ValidationError``."""
    return check_choice(value, "proration_behavior", PRORATION_BEHAVIORS)


@runtime_checkable
class SubscriptionBillingGateway(Protocol):
    """Prorated item changes and trial moves (rules as :class:`PaymentGateway`'s)."""

    def change_subscription_items(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        proration_behavior: str,
        proration_date: datetime | None = None,
        idempotency_key: str,
        item_id: str | None = None,
    ) -> GatewaySubscription:
        """Change an item's price and/or quantity, prorated as asked.

        ``item_id`` names the item (the gateway's id, ``si_...``); ``None`` is
        the first item (paykit's services refuse ``None`` for a subscription
        with several). An id that is not one of the subscription's items
        raises ``NotFound``.

        ``proration_date`` is the moment the prorations are computed for
        (default: now). An ended subscription raises ``GatewayError`` with code
        ``subscription_unexpected_state``; a bad ``proration_behavior`` raises
        ``ValidationError`` before any request.
        """
        ...

    def set_trial_end(
        self,
        subscription_id: str,
        *,
        trial_end: datetime | None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Move a trialing subscription's trial end (``None``: end the trial now).

        The new end must be in the future. A subscription that is not
        trialing raises ``GatewayError`` with code ``subscription_unexpected_state``.
        """
        ...
