"""The payment gateway seam: the ``PaymentGateway`` Protocol and its result types.

Services talk to a payment processor only through :class:`PaymentGateway`.
Everything crossing the seam is paykit's own small frozen dataclasses holding
integer minor units (cents; yen for JPY), never a vendor SDK object and never
a vendor's JSON, so a service cannot come to depend on one processor. The
mapping from Stripe's objects to these types lives in :mod:`paykit.stripe`.

Currency codes in the result types are upper-case ISO 4217 (``"USD"``), the
form paykit stores. Gateways accept any case on input. Each snapshot may
carry the gateway's own object in ``raw``, for logging and debugging; no
service reads it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    # Re-exported, and not in __all__: a star import must not load paykit.stripe.
    from paykit.stripe.billing import subscription_from_stripe as subscription_from_stripe

__all__ = [
    "ENDED_SUBSCRIPTION_STATUSES",
    "STRIPE_REFUND_REASONS",
    "GatewayCustomer",
    "GatewayInvoice",
    "GatewayInvoiceStatus",
    "GatewayPayment",
    "GatewayPaymentMethod",
    "GatewayPrice",
    "GatewayProduct",
    "GatewayRecurring",
    "GatewayRefund",
    "GatewayRefundStatus",
    "GatewaySubscription",
    "GatewaySubscriptionItem",
    "GatewaySubscriptionStatus",
    "PaymentGateway",
    "PaymentIntentStatus",
]


def __getattr__(name: str) -> Any:
    # Kept for imports from before paykit.stripe existed; loaded on first use so
    # that importing the seam never imports a vendor's mapping.
    if name == "subscription_from_stripe":
        from paykit.stripe.billing import subscription_from_stripe

        return subscription_from_stripe
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


STRIPE_REFUND_REASONS: frozenset[str] = frozenset(
    {"duplicate", "fraudulent", "requested_by_customer"}
)
"""The only refund reasons Stripe accepts; any other reason is a ``ValidationError``.

Map richer reasons (``subscription_canceled``, ``other``) to ``None`` and keep
them in the refund's ``metadata``.
"""


class PaymentIntentStatus(StrEnum):
    """The status of a payment; the values are Stripe's PaymentIntent statuses."""

    REQUIRES_PAYMENT_METHOD = "requires_payment_method"
    REQUIRES_CONFIRMATION = "requires_confirmation"
    REQUIRES_ACTION = "requires_action"
    PROCESSING = "processing"
    REQUIRES_CAPTURE = "requires_capture"
    CANCELED = "canceled"
    SUCCEEDED = "succeeded"


class GatewayRefundStatus(StrEnum):
    """The status of a refund at the gateway."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class GatewaySubscriptionStatus(StrEnum):
    """The status of a subscription at the gateway (spelled as Stripe spells it)."""

    INCOMPLETE = "incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELED = "canceled"
    UNPAID = "unpaid"
    PAUSED = "paused"


ENDED_SUBSCRIPTION_STATUSES: frozenset[GatewaySubscriptionStatus] = frozenset(
    {GatewaySubscriptionStatus.CANCELED, GatewaySubscriptionStatus.INCOMPLETE_EXPIRED}
)
"""Statuses a subscription never leaves: it can no longer be updated, cancelled or resumed."""


class GatewayInvoiceStatus(StrEnum):
    """The status of an invoice at the gateway; it only moves forward."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    # A private copy behind a read-only proxy: results are shared between
    # threads and replayed for idempotent retries, so nobody may mutate them.
    return MappingProxyType(dict(value or {}))


def _frozen_raw(value: Mapping[str, Any]) -> Mapping[str, Any]:
    # A deep copy, so the caller can neither see later changes to the
    # gateway's own record nor make any.
    return MappingProxyType(copy.deepcopy(dict(value)))


def _settle(result: Any, **values: Any) -> None:
    """Set fields of a frozen result in ``__post_init__``: the one way each result
    type coerces what a gateway passed (Stripe's plain strings for a status, any
    case for a currency, mutable mappings)."""
    for name, value in values.items():
        object.__setattr__(result, name, value)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayCustomer:
    """A customer record at the gateway."""

    id: str
    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayPayment:
    """A payment with PaymentIntent semantics, in integer minor units.

    ``decline_code`` is set after a declined confirmation (the payment is then
    back in ``requires_payment_method``) and cleared when a later confirmation
    succeeds. ``client_secret`` is what a browser needs to finish
    ``requires_action`` (3-D Secure). ``created`` is when the gateway created
    it (whole seconds, UTC); reconciliation lists payments by it.
    """

    id: str
    status: PaymentIntentStatus
    amount_minor: int
    currency: str
    customer_id: str | None = None
    payment_method_id: str | None = None
    client_secret: str | None = None
    decline_code: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    created: datetime | None = None

    def __post_init__(self) -> None:
        # Coerce here so a gateway may pass Stripe's plain strings, and an
        # unknown status fails loudly instead of leaking into the database.
        _settle(
            self,
            status=PaymentIntentStatus(self.status),
            currency=self.currency.upper(),
            metadata=_frozen_mapping(self.metadata),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayRefund:
    """A refund of (part of) a succeeded payment, in integer minor units.

    ``reason`` is one of :data:`STRIPE_REFUND_REASONS` or ``None``;
    ``failure_reason`` is set when ``status`` is ``failed``.
    """

    id: str
    payment_id: str
    amount_minor: int
    currency: str
    status: GatewayRefundStatus
    reason: str | None = None
    failure_reason: str | None = None

    def __post_init__(self) -> None:
        _settle(self, status=GatewayRefundStatus(self.status), currency=self.currency.upper())


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayPaymentMethod:
    """A payment method; ``customer_id`` is ``None`` once detached.

    ``card`` holds Stripe's card summary (``brand``, ``last4``, ``exp_month``,
    ``exp_year``, ``funding``, ``country``) for ``type == "card"``.
    """

    id: str
    customer_id: str | None
    type: str
    card: Mapping[str, Any] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.card is not None:
            _settle(self, card=_frozen_mapping(self.card))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySubscriptionItem:
    """One item (a price times a quantity) of a subscription."""

    id: str | None
    price_id: str
    product_id: str | None
    quantity: int
    unit_amount_minor: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewaySubscription:
    """The fields of a subscription that paykit stores.

    Times are aware UTC datetimes. The price fields are those of the first
    item, the only one paykit models (``items`` holds them all);
    ``unit_amount_minor`` is the price's unit amount; ``currency`` is upper
    case. ``cancel_at`` is a scheduled cancellation time, if any.
    ``default_payment_method_id`` is the subscription's own payment method
    (renewals charge it before the customer's default), if it has one. ``raw`` is
    the gateway's own object (Stripe-shaped for StripeGateway and FakeGateway),
    not read by any service. Build one from a Stripe object with
    :func:`paykit.stripe.subscription_from_stripe`.
    """

    id: str
    customer_id: str
    status: GatewaySubscriptionStatus
    price_id: str
    product_id: str | None
    quantity: int
    unit_amount_minor: int | None
    currency: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    canceled_at: datetime | None = None
    trial_start: datetime | None = None
    trial_end: datetime | None = None
    cancel_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    items: tuple[GatewaySubscriptionItem, ...] = ()
    default_payment_method_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        _settle(
            self,
            status=GatewaySubscriptionStatus(self.status),
            currency=self.currency.upper(),
            metadata=_frozen_mapping(self.metadata),
            items=tuple(self.items),
            raw=_frozen_raw(self.raw),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayInvoice:
    """A subscription invoice, in integer minor units.

    ``subscription_id`` is ``None`` for an invoice that bills no subscription
    (paykit stores only subscription invoices). ``number`` is ``None`` until
    the invoice is finalized. ``period_start``/``period_end`` is the service
    period billed. ``raw`` is the gateway's own object, not read by services.
    """

    id: str
    subscription_id: str | None
    status: GatewayInvoiceStatus
    currency: str
    number: str | None
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    amount_paid_minor: int
    amount_due_minor: int
    period_start: datetime
    period_end: datetime
    due_date: datetime | None = None
    paid_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        _settle(
            self,
            status=GatewayInvoiceStatus(self.status),
            currency=self.currency.upper(),
            raw=_frozen_raw(self.raw),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayRecurring:
    """How often a recurring price bills, and its default trial."""

    interval: str | None
    interval_count: int = 1
    trial_period_days: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayPrice:
    """A price at the gateway; ``recurring`` is ``None`` for a one-time price."""

    id: str
    product_id: str | None
    currency: str
    unit_amount_minor: int | None
    recurring: GatewayRecurring | None = None
    nickname: str | None = None
    active: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        _settle(self, currency=self.currency.upper(), raw=_frozen_raw(self.raw))


@dataclass(frozen=True, slots=True, kw_only=True)
class GatewayProduct:
    """A product at the gateway."""

    id: str
    name: str
    description: str | None = None
    active: bool = True
    raw: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    def __post_init__(self) -> None:
        _settle(self, raw=_frozen_raw(self.raw))


@runtime_checkable
class PaymentGateway(Protocol):
    """What paykit's services need from a payment processor.

    Implementations: :class:`~paykit.gateways.FakeGateway` (in memory, for
    tests and demos) and ``StripeGateway``. A host may write its own; see
    ``docs/gateways.md``.

    Rules every implementation follows (checked by the contract suite in
    ``tests/contract/gateway_contract.py``):

    * Amounts are integer minor units; no decimals cross this seam.
    * Every call that creates or changes something takes ``idempotency_key``,
      with Stripe's semantics: one namespace per gateway account; the same key
      with the same parameters returns the first result (or re-raises the first
      error) without acting twice; the same key with different parameters or
      on a different operation raises ``IdempotencyConflict``.
    * A card decline during confirmation raises ``PaymentDeclined`` with
      ``decline_code`` and ``details["payment_id"]``; the payment stays
      retrievable in ``requires_payment_method``. ``requires_action`` is *not*
      an error: the payment is returned in that status.
    * A transport failure raises ``GatewayUnavailable`` (``retryable``). Code
      ``gateway_unavailable`` means the request did not take effect; code
      ``gateway_timeout`` means the outcome is unknown. Either way, retry with
      the *same* idempotency key.
    * An unknown id raises ``NotFound``; an operation the object's state
      forbids raises ``GatewayError`` (code ``payment_intent_unexpected_state``,
      ``payment_method_unexpected_state``, ``subscription_unexpected_state``,
      ``charge_already_refunded``, ``refund_exceeds_payment``, ...); bad
      arguments (non-positive amount, malformed currency, an unknown refund
      reason, an empty idempotency key) raise ``ValidationError`` before any
      request is made; so does a non-zero amount below the currency's minimum
      charge (code ``amount_too_small``, as Stripe answers).
    """

    def create_customer(
        self,
        *,
        email: str,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCustomer:
        """Create a customer."""
        ...

    def create_payment(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str | None,
        payment_method_id: str | None = None,
        confirm: bool = False,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayPayment:
        """Create a payment; with ``confirm=True`` also try to charge ``payment_method_id``."""
        ...

    def confirm_payment(
        self,
        payment_id: str,
        *,
        payment_method_id: str | None = None,
        idempotency_key: str,
    ) -> GatewayPayment:
        """Try to charge the payment, with ``payment_method_id`` or the one it already has."""
        ...

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> GatewayPayment:
        """Cancel a payment that has not succeeded."""
        ...

    def retrieve_payment(self, payment_id: str) -> GatewayPayment:
        """The payment as the gateway has it now."""
        ...

    def list_payments(
        self, *, created_from: datetime | None = None, created_to: datetime | None = None
    ) -> Iterator[GatewayPayment]:
        """Every payment created in ``[created_from, created_to)``, newest first.

        Reconciliation uses it to find payments that carry paykit's metadata
        but have no order (a host that crashed or rolled back after a charge).
        """
        ...

    def update_payment_amount(
        self, payment_id: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayPayment:
        """Change the amount of a payment that has not succeeded or been canceled."""
        ...

    def create_refund(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund ``amount_minor`` of a succeeded payment; refunds never sum above its amount."""
        ...

    def retrieve_refund(self, refund_id: str) -> GatewayRefund:
        """The refund as the gateway has it now (a ``pending`` one may have settled)."""
        ...

    def attach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Attach a payment method to a customer; use the *returned* id from then on.

        As with Stripe, attaching a test token such as ``pm_card_visa`` creates
        a new payment method with its own id.
        """
        ...

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Detach a payment method from its customer; it cannot be used again."""
        ...

    def retrieve_price(self, price_id: str) -> GatewayPrice:
        """A price, to import it into the catalogue when a subscription refers to it."""
        ...

    def retrieve_product(self, product_id: str) -> GatewayProduct:
        """A product, imported with the first of its prices."""
        ...

    def retrieve_subscription(self, subscription_id: str) -> GatewaySubscription:
        """The subscription as the gateway has it now."""
        ...

    def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        quantity: int = 1,
        trial_days: int | None = None,
        coupon: str | None = None,
        payment_method_id: str | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Subscribe a customer to a recurring price.

        The first period is charged to ``payment_method_id`` or, if ``None``,
        the customer's default payment method. A declined first charge gives an
        ``incomplete`` subscription, not an error; no payment method at all
        (and no trial) raises ``GatewayError`` with code ``missing_payment_method``.
        """
        ...

    def update_subscription(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        cancel_at_period_end: bool | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Change the price, quantity or end-of-period cancellation; ``None`` keeps a field."""
        ...

    def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> GatewaySubscription:
        """Cancel now, or at the end of the current period."""
        ...

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> GatewaySubscription:
        """Undo a pending end-of-period cancellation, or resume a paused subscription."""
        ...
