"""The billing half of the gateway seam: saved cards, invoices, hosted checkout.

:class:`BillingMethodsGateway` is what paykit's payment-method, invoice and
checkout services need beyond :class:`~paykit.gateways.PaymentGateway`;
FakeGateway and StripeGateway implement both. The result types follow the
seam's rules (``paykit.gateways.base``): integer minor units, upper-case
currencies, frozen, and the gateway's own object in ``raw`` for debugging.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from paykit.gateways.base import GatewayInvoice, GatewayPaymentMethod

__all__ = [
    "CHECKOUT_MODES",
    "BillingMethodsGateway",
    "GatewayCheckoutSession",
    "GatewayInvoiceDetails",
    "GatewayInvoiceLine",
    "GatewaySetupIntent",
]

CHECKOUT_MODES: frozenset[str] = frozenset({"subscription", "setup"})
"""The hosted checkout modes paykit creates: start a subscription, or save a card."""


def _raw(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(copy.deepcopy(dict(value)))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySetupIntent:
    """A setup flow that saves a card for later (Stripe's SetupIntent).

    ``client_secret`` goes to the browser (Stripe.js ``confirmCardSetup``);
    ``payment_method_id`` is set once the customer confirmed. ``status`` is
    Stripe's: ``requires_payment_method``, ``requires_action``,
    ``processing``, ``succeeded`` or ``canceled``.
    """

    id: str
    customer_id: str | None
    status: str
    client_secret: str | None
    payment_method_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw", _raw(self.raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayInvoiceLine:
    """One line of an invoice; ``amount_minor`` is negative for a proration credit."""

    id: str
    description: str | None
    price_id: str | None
    quantity: int
    amount_minor: int
    currency: str
    proration: bool = False
    period_start: datetime | None = None
    period_end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", self.currency.upper())


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayInvoiceDetails:
    """An invoice with what a customer sees on it: lines, discount, hosted page and PDF.

    ``invoice`` holds the totals and status paykit syncs into ``invoices``;
    ``customer_id`` is the gateway customer billed.
    """

    invoice: GatewayInvoice
    customer_id: str | None
    discount_minor: int = 0
    hosted_invoice_url: str | None = None
    invoice_pdf: str | None = None
    lines: tuple[GatewayInvoiceLine, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lines", tuple(self.lines))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayCheckoutSession:
    """A hosted checkout page (Stripe Checkout): send the customer to ``url``.

    ``status`` is ``open``, ``complete`` or ``expired``; ``subscription_id``
    and ``setup_intent_id`` are set once completed, by mode.
    """

    id: str
    url: str | None
    status: str
    mode: str
    customer_id: str | None
    client_reference_id: str | None = None
    subscription_id: str | None = None
    setup_intent_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))
        object.__setattr__(self, "raw", _raw(self.raw))


@runtime_checkable
class BillingMethodsGateway(Protocol):
    """Saved cards, invoices and hosted checkout, with the rules of ``PaymentGateway``.

    Every call that changes something takes ``idempotency_key`` with Stripe's
    semantics; an unknown id is ``NotFound``; a call the object's state
    forbids is a ``GatewayError`` (``invoice_unexpected_state``,
    ``setup_intent_unexpected_state``, ``payment_method_unexpected_state``);
    a declined card is ``PaymentDeclined``. Checked by the contract suite
    (``paykit.testing.contract.billing``).
    """

    def create_setup_intent(self, *, customer_id: str, idempotency_key: str) -> GatewaySetupIntent:
        """Start saving a card for ``customer_id`` (off-session use later)."""
        ...

    def confirm_setup_intent(
        self, setup_intent_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewaySetupIntent:
        """Confirm server-side with a payment method (the browser usually does this)."""
        ...

    def retrieve_setup_intent(self, setup_intent_id: str) -> GatewaySetupIntent:
        """The setup intent as the gateway has it now."""
        ...

    def retrieve_payment_method(self, payment_method_id: str) -> GatewayPaymentMethod:
        """A payment method, with its card summary (brand, last four, expiry)."""
        ...

    def list_payment_methods(self, customer_id: str) -> list[GatewayPaymentMethod]:
        """The customer's attached payment methods (cards), newest first."""
        ...

    def set_default_payment_method(
        self, customer_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Make an attached method the customer's default for invoices and subscriptions."""
        ...

    def retrieve_invoice(self, invoice_id: str) -> GatewayInvoiceDetails:
        """An invoice with its lines."""
        ...

    def pay_invoice(
        self, invoice_id: str, *, payment_method_id: str | None = None, idempotency_key: str
    ) -> GatewayInvoiceDetails:
        """Pay an open invoice now, with ``payment_method_id`` or the customer's default."""
        ...

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> GatewayInvoiceDetails:
        """Void an open invoice: it is then owed by nobody and cannot be paid."""
        ...

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
        """A hosted checkout page for ``customer_id``; ``mode`` is one of :data:`CHECKOUT_MODES`."""
        ...

    def retrieve_checkout_session(self, session_id: str) -> GatewayCheckoutSession:
        """The checkout session as the gateway has it now."""
        ...
