"""``RenewalBillingGateway``: how a subscription renews -- who pays, and what the next invoice is.

Optional, like :class:`~paykit.gateways.subscription_billing.SubscriptionBillingGateway`:
both of paykit's gateways implement it (FakeGateway, StripeGateway), and the
services that need it raise ``ConfigurationError`` for a gateway that does not.
The contract checks are in ``paykit.testing.contract.renewal_billing``.
"""

from __future__ import annotations

from typing import Final, Protocol, runtime_checkable

from paykit.gateways._checks import check_choice
from paykit.gateways.base import GatewaySubscription
from paykit.gateways.billing import GatewayInvoiceDetails

__all__ = ["TRIAL_END_BEHAVIORS", "RenewalBillingGateway", "check_trial_end_behavior"]

TRIAL_END_BEHAVIORS: Final = ("cancel", "pause", "create_invoice")
"""What a trial that ends without a payment method does (Stripe's
``trial_settings.end_behavior.missing_payment_method``)."""


def check_trial_end_behavior(value: object) -> str:
    """``value`` if it is one of :data:`TRIAL_END_BEHAVIORS`, else ``ValidationError``."""
    return check_choice(value, "trial_end_behavior", TRIAL_END_BEHAVIORS)


@runtime_checkable
class RenewalBillingGateway(Protocol):
    """A subscription's own payment method, its trial-end rule and its upcoming invoice."""

    def set_subscription_default_payment_method(
        self, subscription_id: str, *, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription:
        """The method renewals of this subscription charge first (``None``: the customer's).

        Stripe's ``default_payment_method`` on the subscription. The method must
        be attached to the subscription's customer (``GatewayError`` code
        ``payment_method_unexpected_state`` otherwise); an unknown one raises
        ``NotFound``; an ended subscription ``GatewayError`` code
        ``subscription_unexpected_state``.
        """
        ...

    def set_trial_end_behavior(
        self, subscription_id: str, *, trial_end_behavior: str, idempotency_key: str
    ) -> GatewaySubscription:
        """What the trial does if it ends without a payment method: one of
        :data:`TRIAL_END_BEHAVIORS` (a bad value raises ``ValidationError``
        before any request)."""
        ...

    def upcoming_invoice(self, subscription_id: str) -> GatewayInvoiceDetails:
        """The invoice the subscription's next renewal would issue, as it stands now.

        Stripe's invoice preview (``POST /v1/invoices/create_preview``): the
        lines of the next period, the prorations pending from changes, the
        discount and the customer's credit; nothing is created. Its
        ``invoice.due_date`` is when the payment will be attempted (the current
        period's end). An ended subscription raises ``GatewayError`` code
        ``subscription_unexpected_state``.
        """
        ...
