"""``FakeGateway``: Customers and payment methods, and Stripe's test card ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from paykit.gateways._checks import (
    check_email,
    check_metadata,
)
from paykit.gateways.base import (
    GatewayCustomer,
    GatewayPaymentMethod,
)
from paykit.testing._webhooks import stripe_object
from paykit.testing.fake.ledger import FakeLedger

_NETWORK_ERROR_METHOD: Final = "pm_fake_network_error"
_TIMEOUT_METHOD: Final = "pm_fake_timeout"

# Stripe's test payment method ids that decline, with the decline code Stripe gives.
_DECLINES: Final[Mapping[str, str]] = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedLostCard": "lost_card",
    "pm_card_chargeDeclinedStolenCard": "stolen_card",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeDeclinedIncorrectCvc": "incorrect_cvc",
    "pm_card_chargeDeclinedProcessingError": "processing_error",
    "pm_card_chargeDeclinedFraudulent": "fraudulent",
    "pm_card_chargeDeclinedVelocityLimitExceeded": "card_velocity_exceeded",
}
_NEEDS_ACTION: Final = frozenset(
    {
        "pm_card_authenticationRequired",
        "pm_card_threeDSecure2Required",
        "pm_card_threeDSecureRequired",
    }
)
# (brand, last4, funding) of the cards behind Stripe's test ids; others look like Visa 4242.
_CARDS: Final[Mapping[str, tuple[str, str, str]]] = {
    "pm_card_visa": ("visa", "4242", "credit"),
    "pm_card_visa_debit": ("visa", "5556", "debit"),
    "pm_card_mastercard": ("mastercard", "4444", "credit"),
    "pm_card_amex": ("amex", "8431", "credit"),
    "pm_card_discover": ("discover", "1117", "credit"),
    "pm_card_chargeDeclined": ("visa", "0002", "credit"),
    "pm_card_chargeDeclinedInsufficientFunds": ("visa", "9995", "credit"),
    "pm_card_authenticationRequired": ("visa", "3184", "credit"),
}


def _is_test_token(method_id: str) -> bool:
    return method_id.startswith("pm_card_") or method_id in (_NETWORK_ERROR_METHOD, _TIMEOUT_METHOD)


class FakeCards(FakeLedger):
    """Customers and payment methods, and Stripe's test card ids."""

    def create_customer(
        self,
        *,
        email: str,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCustomer:
        """Create a customer (``cus_fake_...``)."""
        self._begin(
            "create_customer",
            email=email,
            name=name,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        check_email(email)
        params = {"email": email, "name": name, "metadata": check_metadata(metadata)}

        def action() -> GatewayCustomer:
            customer = GatewayCustomer(id=self._next_id("cus"), email=email, name=name)
            self._customers[customer.id] = customer
            return customer

        return self._idempotent("create_customer", idempotency_key, params, action)

    def attach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Attach to a customer, who then has it as their default payment method.

        A test token (``pm_card_visa``, ``pm_fake_timeout``, ...) becomes a new
        ``pm_fake_...`` method that behaves like the token; use the returned id.
        """

        def action() -> GatewayPaymentMethod:
            self._customer(customer_id)
            existing = self._methods.get(payment_method_id)
            if existing is not None:
                if existing.customer_id == customer_id:
                    return existing
                raise self._payment_method_state(
                    f"PaymentMethod {payment_method_id} is attached to another customer "
                    "or was detached, and cannot be attached again.",
                    payment_method_id=payment_method_id,
                )
            if not _is_test_token(payment_method_id):
                raise self._not_found("payment_method", payment_method_id)
            method = self._saved_card(payment_method_id, customer_id)
            self._default_method[customer_id] = method.id
            self._emit_method("payment_method.attached", method)
            return method

        return self._once(
            "attach_payment_method",
            action,
            payment_method_id=payment_method_id,
            customer_id=customer_id,
            idempotency_key=idempotency_key,
        )

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Detach from its customer; the method can then no longer be used or re-attached."""

        def action() -> GatewayPaymentMethod:
            method = self._methods.get(payment_method_id)
            if method is None and not _is_test_token(payment_method_id):
                raise self._not_found("payment_method", payment_method_id)
            if method is None or method.customer_id is None:
                raise self._payment_method_state(
                    f"PaymentMethod {payment_method_id} is not attached to a customer.",
                    payment_method_id=payment_method_id,
                )
            if self._default_method.get(method.customer_id) == payment_method_id:
                del self._default_method[method.customer_id]
            detached = replace(method, customer_id=None)
            self._methods[payment_method_id] = detached
            self._emit_method("payment_method.detached", detached)
            return detached

        return self._once(
            "detach_payment_method",
            action,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    def _usable_method(self, method_id: str, customer_id: str | None) -> str:
        """The test token whose behaviour ``method_id`` has, if it may pay for ``customer_id``."""
        method = self._methods.get(method_id)
        if method is not None:
            if method.customer_id is None:
                raise self._payment_method_state(
                    f"PaymentMethod {method_id} was detached and may not be used again.",
                    payment_method_id=method_id,
                )
            if method.customer_id != customer_id:
                raise self._payment_method_state(
                    f"PaymentMethod {method_id} belongs to another customer.",
                    payment_method_id=method_id,
                    customer_id=customer_id,
                )
            return self._method_source[method_id]
        if _is_test_token(method_id):
            return method_id
        raise self._not_found("payment_method", method_id)

    def _saved_card(self, token: str, customer_id: str) -> GatewayPaymentMethod:
        """A new saved card for ``customer_id`` from a test token (its brand, last4, funding)."""
        brand, last4, funding = _CARDS.get(token, _CARDS["pm_card_visa"])
        method = GatewayPaymentMethod(
            id=self._next_id("pm"),
            customer_id=customer_id,
            type="card",
            card={
                "brand": brand,
                "last4": last4,
                "funding": funding,
                "exp_month": 12,
                "exp_year": self._now().year + 5,
                "country": "US",
            },
        )
        self._methods[method.id] = method
        self._method_source[method.id] = token
        return method

    def _emit_method(self, event_type: str, method: GatewayPaymentMethod) -> None:
        obj = stripe_object("payment_method", id=method.id, customer=method.customer_id)
        obj["type"] = method.type
        obj["card"] = dict(method.card) if method.card is not None else None
        obj["metadata"] = {}
        self._emit(event_type, obj)
