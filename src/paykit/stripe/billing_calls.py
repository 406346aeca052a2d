"""The :class:`~paykit.gateways.billing.BillingMethodsGateway` calls of ``StripeGateway``.

SetupIntents (``/v1/setup_intents``), saved cards (``/v1/payment_methods``,
the customer's ``invoice_settings.default_payment_method``), invoices
(``/v1/invoices/{id}/pay``, ``/void``) and Checkout Sessions
(``/v1/checkout/sessions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paykit.errors import GatewayError
from paykit.gateways._checks import check_count, check_key, check_metadata
from paykit.gateways.base import GatewayPaymentMethod
from paykit.gateways.billing import (
    GatewayCheckoutSession,
    GatewayInvoiceDetails,
    GatewaySetupIntent,
)
from paykit.stripe.billing_methods import (
    checkout_session_from_stripe,
    invoice_details_from_stripe,
    require_mode,
    require_price_for_mode,
    setup_intent_from_stripe,
)
from paykit.stripe.client import StripeApi
from paykit.stripe.objects import payment_method_from_stripe

__all__ = ["BillingCalls"]


class BillingCalls:
    """SetupIntents, saved cards, invoices and hosted checkout over Stripe's API."""

    _api: StripeApi

    def create_setup_intent(self, *, customer_id: str, idempotency_key: str) -> GatewaySetupIntent:
        """A SetupIntent for off-session use; hand ``client_secret`` to Stripe.js."""
        check_key(idempotency_key)
        obj = self._api.post(
            "/v1/setup_intents",
            {"customer": customer_id, "usage": "off_session", "payment_method_types": ["card"]},
            idempotency_key=idempotency_key,
        )
        return setup_intent_from_stripe(obj)

    def confirm_setup_intent(
        self, setup_intent_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewaySetupIntent:
        """Confirm server-side with ``payment_method_id``."""
        check_key(idempotency_key)
        obj = self._api.post_to(
            "setup_intents",
            setup_intent_id,
            {"payment_method": payment_method_id},
            idempotency_key=idempotency_key,
            action="/confirm",
        )
        return setup_intent_from_stripe(obj)

    def retrieve_setup_intent(self, setup_intent_id: str) -> GatewaySetupIntent:
        """The SetupIntent as Stripe has it now."""
        obj = self._api.get(f"/v1/setup_intents/{setup_intent_id}", object_id=setup_intent_id)
        return setup_intent_from_stripe(obj)

    def retrieve_payment_method(self, payment_method_id: str) -> GatewayPaymentMethod:
        """The payment method with its card summary."""
        obj = self._api.get(f"/v1/payment_methods/{payment_method_id}", object_id=payment_method_id)
        return payment_method_from_stripe(obj)

    def list_payment_methods(self, customer_id: str) -> list[GatewayPaymentMethod]:
        """The customer's cards, newest first (every page)."""
        methods: list[GatewayPaymentMethod] = []
        params: dict[str, Any] = {"type": "card", "limit": 100}
        while True:
            page = self._api.get(
                f"/v1/customers/{customer_id}/payment_methods", params, object_id=customer_id
            )
            data = page.get("data") or []
            methods.extend(payment_method_from_stripe(obj) for obj in data)
            if not page.get("has_more") or not data:
                return methods
            params["starting_after"] = data[-1]["id"]

    def set_default_payment_method(
        self, customer_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Set the customer's ``invoice_settings.default_payment_method``."""
        check_key(idempotency_key)
        method = self.retrieve_payment_method(payment_method_id)
        if method.customer_id != customer_id:
            raise GatewayError(
                f"PaymentMethod {payment_method_id} is not attached to customer {customer_id}.",
                code="payment_method_unexpected_state",
                details={"payment_method_id": payment_method_id},
            )
        self._set_customer_default(customer_id, payment_method_id, idempotency_key)
        return method

    def _set_customer_default(self, customer_id: str, payment_method_id: str, key: str) -> None:
        """The customer's ``invoice_settings.default_payment_method``, under ``key``."""
        self._api.post_to(
            "customers",
            customer_id,
            {"invoice_settings": {"default_payment_method": payment_method_id}},
            idempotency_key=key,
        )

    def retrieve_invoice(self, invoice_id: str) -> GatewayInvoiceDetails:
        """The invoice with its lines."""
        obj = self._api.get(f"/v1/invoices/{invoice_id}", object_id=invoice_id)
        return invoice_details_from_stripe(obj)

    def pay_invoice(
        self, invoice_id: str, *, payment_method_id: str | None = None, idempotency_key: str
    ) -> GatewayInvoiceDetails:
        """Pay an open invoice now (``off_session``)."""
        check_key(idempotency_key)
        params: dict[str, Any] = {"off_session": True}
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
        obj = self._api.post_to(
            "invoices", invoice_id, params, idempotency_key=idempotency_key, action="/pay"
        )
        return invoice_details_from_stripe(obj)

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> GatewayInvoiceDetails:
        """Void an open invoice."""
        check_key(idempotency_key)
        obj = self._api.post_to(
            "invoices", invoice_id, {}, idempotency_key=idempotency_key, action="/void"
        )
        return invoice_details_from_stripe(obj)

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        mode: str,
        success_url: str,
        cancel_url: str,
        price_id: str | None = None,
        quantity: int = 1,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCheckoutSession:
        """A hosted Checkout Session; send the customer to its ``url``."""
        check_key(idempotency_key)
        require_mode(mode)
        check_count(quantity, "quantity")
        require_price_for_mode(mode, price_id)
        params: dict[str, Any] = {
            "customer": customer_id,
            "mode": mode,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "metadata": dict(check_metadata(metadata) or {}),
        }
        if price_id is not None:
            params["line_items"] = [{"price": price_id, "quantity": quantity}]
        else:
            params["currency"] = "usd"
            params["payment_method_types"] = ["card"]
        if client_reference_id is not None:
            params["client_reference_id"] = client_reference_id
        obj = self._api.post("/v1/checkout/sessions", params, idempotency_key=idempotency_key)
        return checkout_session_from_stripe(obj)

    def retrieve_checkout_session(self, session_id: str) -> GatewayCheckoutSession:
        """The Checkout Session as Stripe has it now."""
        obj = self._api.get(f"/v1/checkout/sessions/{session_id}", object_id=session_id)
        return checkout_session_from_stripe(obj)
