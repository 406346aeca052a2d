"""``StripeGateway``'s ``RenewalBillingGateway`` calls: a subscription's own payment
method and trial-end rule (``POST /v1/subscriptions/{id}``), its upcoming invoice
(``POST /v1/invoices/create_preview``)."""

from __future__ import annotations

import uuid
from typing import Any

from paykit.gateways._checks import check_key
from paykit.gateways.base import GatewaySubscription
from paykit.gateways.billing import GatewayInvoiceDetails
from paykit.gateways.renewal_billing import check_trial_end_behavior
from paykit.stripe.billing_methods import invoice_details_from_stripe
from paykit.stripe.subscription_billing_calls import SubscriptionBillingCalls

__all__ = ["RenewalBillingCalls"]


class RenewalBillingCalls(SubscriptionBillingCalls):
    """The subscription's ``default_payment_method`` and ``trial_settings``; invoice previews."""

    def _update(
        self, subscription_id: str, params: dict[str, Any], key: str
    ) -> GatewaySubscription:
        self._live_subscription(subscription_id, "update")
        return self._post_subscription(subscription_id, params, key)

    def set_subscription_default_payment_method(
        self, subscription_id: str, *, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription:
        """``default_payment_method`` on the subscription (an empty value clears it)."""
        check_key(idempotency_key)
        value = "" if payment_method_id is None else payment_method_id
        return self._update(subscription_id, {"default_payment_method": value}, idempotency_key)

    def set_trial_end_behavior(
        self, subscription_id: str, *, trial_end_behavior: str, idempotency_key: str
    ) -> GatewaySubscription:
        """``trial_settings.end_behavior.missing_payment_method``."""
        check_key(idempotency_key)
        check_trial_end_behavior(trial_end_behavior)
        settings = {"end_behavior": {"missing_payment_method": trial_end_behavior}}
        return self._update(subscription_id, {"trial_settings": settings}, idempotency_key)

    def upcoming_invoice(self, subscription_id: str) -> GatewayInvoiceDetails:
        """The preview of the subscription's next invoice; nothing is created at Stripe."""
        self._live_subscription(subscription_id, "preview")
        obj = self._api.post(
            "/v1/invoices/create_preview",
            {"subscription": subscription_id},
            # A preview creates nothing; the key only satisfies the client's rule.
            idempotency_key=f"paykit:preview:{uuid.uuid4().hex}",
        )
        return invoice_details_from_stripe(obj)
