"""``FakeGateway``: an in-memory payment gateway that behaves like Stripe.

Shipped in the library (not only in paykit's tests) so that the demo, the CLI
and host applications' own test suites can run the full payment flow without
a network. Scenarios are steered the way they are against Stripe's test mode:
by the payment method id (``pm_card_visa``, ``pm_card_chargeDeclined``, ...),
plus two ids of its own for transport failures. ``docs/gateways.md`` has the
full table.
"""

from __future__ import annotations

import calendar
import copy
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.errors import (
    GatewayCurrencyMismatch,
    GatewayError,
    GatewayInvalidRequest,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaykitError,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways._checks import (
    check_amount,
    check_count,
    check_currency,
    check_key,
    check_metadata,
    check_minimum,
)
from paykit.gateways.base import (
    STRIPE_REFUND_REASONS,
    GatewayCustomer,
    GatewayPayment,
    GatewayPaymentMethod,
    GatewayPrice,
    GatewayProduct,
    GatewayRefund,
    GatewayRefundStatus,
    GatewaySubscription,
    GatewaySubscriptionStatus,
    PaymentIntentStatus,
)

if TYPE_CHECKING:
    from paykit.gateways.base import PaymentGateway

__all__ = ["FakeGateway"]

_T = TypeVar("_T")

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

_CONFIRMABLE: Final = frozenset(
    {
        PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
        PaymentIntentStatus.REQUIRES_CONFIRMATION,
        PaymentIntentStatus.REQUIRES_ACTION,
    }
)
_CANCELABLE: Final = _CONFIRMABLE | {PaymentIntentStatus.REQUIRES_CAPTURE}
_AMOUNT_UPDATABLE: Final = _CONFIRMABLE
_RENEWING: Final = frozenset({"trialing", "active", "past_due"})
_ENDED: Final = frozenset({"canceled", "incomplete_expired"})
_INTERVALS: Final = frozenset({"day", "week", "month", "year"})
# Stripe expires an incomplete subscription whose first payment never succeeds.
_INCOMPLETE_TTL: Final = timedelta(hours=23)
_NAMESPACE: Final = re.compile(r"[A-Za-z0-9]{1,32}")
_MAX_LATENCY: Final = 60.0
# Stripe's largest amount for most currencies: eight digits of minor units.


class _AmbiguousTimeout(Exception):
    """The charge happened, but the caller must be told the request timed out."""

    def __init__(self, result: object) -> None:
        super().__init__("ambiguous timeout")
        self.result = result


@dataclass(slots=True)
class _IdempotencyRecord:
    operation: str
    params: dict[str, Any]
    result: object
    error: PaykitError | None


@dataclass(slots=True)
class _Subscription:
    raw: dict[str, Any]
    anchor: datetime
    interval: str
    interval_count: int
    # -1 while in the trial; n >= 0 is the n-th period after the anchor.
    period_index: int


# --------------------------------------------------------------------- validation


def _clone_error(error: PaykitError) -> PaykitError:
    # A replayed error is a fresh exception: re-raising one instance from
    # several threads would tangle their tracebacks.
    clone = copy.copy(error)
    clone.details = dict(error.details)
    clone.__traceback__ = None
    return clone


# --------------------------------------------------------------------- time


def _ts(value: datetime) -> int:
    return int(value.timestamp())


def _add_months(value: datetime, months: int) -> datetime:
    total = value.month - 1 + months
    year, month = value.year + total // 12, total % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def _shift(anchor: datetime, interval: str, steps: int) -> datetime:
    # Always computed from the anchor, never from the previous period end, so
    # a 31st-of-the-month anchor comes back to the 31st after a short month.
    if interval == "day":
        return anchor + timedelta(days=steps)
    if interval == "week":
        return anchor + timedelta(weeks=steps)
    if interval == "month":
        return _add_months(anchor, steps)
    return _add_months(anchor, 12 * steps)


class FakeGateway:
    """An in-memory :class:`~paykit.gateways.PaymentGateway` with Stripe's semantics.

    Ids numbered per instance (``pi_<namespace>_000001``, ...): ``namespace``
    defaults to ``fake`` plus random hex, unique per instance, so two fakes can
    write into one database; pass ``namespace="fake"`` for the deterministic
    ``pi_fake_000001``, ``cus_fake_000001``, ... a test can assert on. One
    idempotency-key namespace as at Stripe, and thread safety: every call runs
    under one lock, while the optional ``latency`` (seconds) is slept before
    taking it, so parallel callers overlap their waits as they would over a
    network. ``clock`` drives timestamps and subscription periods.

    Test-side inspection: :attr:`payments`, :attr:`charges` (succeeded
    payments), :attr:`refunds`, :attr:`calls`, :attr:`customers`,
    :attr:`payment_methods`, :attr:`subscriptions`. Test-side steering:
    :meth:`fail_next_refund`, :meth:`hold_next_refund`, :meth:`settle_refund`,
    :meth:`authenticate`, :meth:`set_subscription_status`, and the catalogue
    helpers :meth:`add_product`, :meth:`add_price`, :meth:`add_coupon`.
    """

    @checked
    def __init__(
        self, *, clock: Clock | None = None, latency: float = 0.0, namespace: str | None = None
    ) -> None:
        if (
            isinstance(latency, bool)
            or not isinstance(latency, int | float)
            or not 0 <= latency <= _MAX_LATENCY
        ):
            raise ValidationError(f"latency must be 0 to {_MAX_LATENCY} seconds")
        if namespace is None:
            # Two fakes writing into one database need distinct ids (pi_<namespace>_000001),
            # also across processes: a counter would not do.
            namespace = f"fake{secrets.token_hex(5)}"
        elif not isinstance(namespace, str) or not _NAMESPACE.fullmatch(namespace):
            raise ValidationError("namespace must be 1 to 32 ASCII letters and digits")
        self._namespace = namespace
        self._clock = resolve_clock(clock)
        self._latency = float(latency)
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._idempotency: dict[str, _IdempotencyRecord] = {}
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._customers: dict[str, GatewayCustomer] = {}
        self._default_method: dict[str, str] = {}
        self._payments: dict[str, GatewayPayment] = {}
        self._charge_ids: list[str] = []
        self._refunds: dict[str, GatewayRefund] = {}
        self._refund_plan: deque[tuple[GatewayRefundStatus, str | None]] = deque()
        self._methods: dict[str, GatewayPaymentMethod] = {}
        self._method_source: dict[str, str] = {}
        self._products: dict[str, dict[str, Any]] = {}
        self._prices: dict[str, dict[str, Any]] = {}
        self._coupons: dict[str, dict[str, Any]] = {}
        self._subscriptions: dict[str, _Subscription] = {}

    def __repr__(self) -> str:
        with self._lock:
            return (
                f"FakeGateway(payments={len(self._payments)}, charges={len(self._charge_ids)}, "
                f"refunds={len(self._refunds)}, latency={self._latency})"
            )

    # ----------------------------------------------------------------- inspection

    @property
    def payments(self) -> dict[str, GatewayPayment]:
        """Every payment by id, as it is now (a snapshot)."""
        with self._lock:
            return dict(self._payments)

    @property
    def charges(self) -> list[GatewayPayment]:
        """Payments that succeeded, in the order they were charged (a snapshot)."""
        with self._lock:
            return [self._payments[payment_id] for payment_id in self._charge_ids]

    @property
    def refunds(self) -> list[GatewayRefund]:
        """Every refund created, in order, as it is now (a snapshot)."""
        with self._lock:
            return list(self._refunds.values())

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """Every gateway call as ``(method name, keyword arguments)``, in order.

        Includes calls that failed or were replayed; test helpers are not recorded.
        """
        with self._lock:
            return [(name, dict(kwargs)) for name, kwargs in self._calls]

    @property
    def customers(self) -> dict[str, GatewayCustomer]:
        """Every customer by id (a snapshot)."""
        with self._lock:
            return dict(self._customers)

    @property
    def payment_methods(self) -> dict[str, GatewayPaymentMethod]:
        """Every payment method created by attaching, by id (a snapshot)."""
        with self._lock:
            return dict(self._methods)

    @property
    def subscriptions(self) -> dict[str, GatewaySubscription]:
        """Every subscription by id, brought up to the clock's now (a snapshot)."""
        with self._lock:
            return {sub_id: self._subscription_view(sub_id) for sub_id in self._subscriptions}

    def amount_refunded(self, payment_id: str) -> int:
        """Minor units refunded or pending refund on a payment (failed refunds excluded)."""
        with self._lock:
            self._payment(payment_id)
            return self._refunded(payment_id)

    # ----------------------------------------------------------------- steering

    def fail_next_refund(self, failure_reason: str = "declined") -> None:
        """Make the next refund come back ``failed`` with ``failure_reason``.

        Calls queue up: two calls fail the next two refunds. A failed refund does
        not count against the payment's refundable amount.
        """
        with self._lock:
            self._refund_plan.append((GatewayRefundStatus.FAILED, failure_reason))

    def hold_next_refund(self) -> None:
        """Make the next refund come back ``pending``; finish it with :meth:`settle_refund`."""
        with self._lock:
            self._refund_plan.append((GatewayRefundStatus.PENDING, None))

    def settle_refund(
        self, refund_id: str, *, succeeded: bool = True, failure_reason: str = "declined"
    ) -> GatewayRefund:
        """Move a ``pending`` refund to ``succeeded``, or to ``failed`` with ``failure_reason``."""
        with self._lock:
            refund = self._refund(refund_id)
            if refund.status is not GatewayRefundStatus.PENDING:
                raise GatewayError(
                    f"Refund {refund_id} is {refund.status}, not pending.",
                    code="refund_unexpected_state",
                    details={"refund_id": refund_id, "status": str(refund.status)},
                )
            if succeeded:
                settled = replace(refund, status=GatewayRefundStatus.SUCCEEDED)
            else:
                settled = replace(
                    refund, status=GatewayRefundStatus.FAILED, failure_reason=failure_reason
                )
            self._refunds[refund_id] = settled
            return settled

    def authenticate(self, payment_id: str, *, succeed: bool = True) -> GatewayPayment:
        """Finish (or fail) the customer's 3-D Secure step of a ``requires_action`` payment.

        Success charges the payment; failure puts it back in
        ``requires_payment_method`` with ``decline_code`` set to Stripe's
        ``payment_intent_authentication_failure``.
        """
        with self._lock:
            payment = self._payment(payment_id)
            if payment.status is not PaymentIntentStatus.REQUIRES_ACTION:
                raise self._unexpected_payment_state(payment, "authenticate")
            if succeed:
                done = replace(payment, status=PaymentIntentStatus.SUCCEEDED, decline_code=None)
                self._charge_ids.append(payment_id)
            else:
                done = replace(
                    payment,
                    status=PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
                    payment_method_id=None,
                    decline_code="payment_intent_authentication_failure",
                )
            self._payments[payment_id] = done
            return done

    def set_subscription_status(
        self, subscription_id: str, status: GatewaySubscriptionStatus | str
    ) -> GatewaySubscription:
        """Force a subscription's status, e.g. ``past_due`` or ``paused``, to test sync code.

        Renewals in the fake always succeed; this is how a test simulates dunning.
        """
        new_status = GatewaySubscriptionStatus(status)
        with self._lock:
            sub = self._subscription(subscription_id)
            sub.raw["status"] = str(new_status)
            if new_status is GatewaySubscriptionStatus.CANCELED:
                now = _ts(self._now())
                sub.raw["canceled_at"] = sub.raw["canceled_at"] or now
                sub.raw["ended_at"] = now
            return self._subscription_view(subscription_id)

    def add_product(
        self, *, name: str, product_id: str | None = None, description: str | None = None
    ) -> str:
        """Add a product to the catalogue; returns its id (``prod_fake_...`` unless given)."""
        with self._lock:
            return self._add_product(name=name, product_id=product_id, description=description)

    def add_price(
        self,
        *,
        unit_amount: int,
        currency: str = "usd",
        interval: str | None = "month",
        interval_count: int = 1,
        product_id: str | None = None,
        price_id: str | None = None,
        nickname: str | None = None,
    ) -> str:
        """Add a price (recurring unless ``interval`` is ``None``); returns its id.

        Without ``product_id`` a product is created for it.
        """
        check_amount(unit_amount, "unit_amount", minimum=0)
        lower_currency = check_currency(currency).lower()
        if interval is not None and interval not in _INTERVALS:
            raise ValidationError(f"interval must be one of {sorted(_INTERVALS)} or None")
        check_count(interval_count, "interval_count")
        with self._lock:
            if product_id is None:
                product_id = self._add_product(name=nickname or "Fake product")
            product = self._product(product_id)
            new_id = price_id or self._next_id("price")
            if new_id in self._prices:
                raise ValidationError(f"price {new_id} already exists")
            recurring = (
                None
                if interval is None
                else {
                    "interval": interval,
                    "interval_count": interval_count,
                    "meter": None,
                    "usage_type": "licensed",
                    "trial_period_days": None,
                }
            )
            self._prices[new_id] = {
                "id": new_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": _ts(self._now()),
                "currency": lower_currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": nickname,
                "product": product_id,
                "recurring": recurring,
                "tax_behavior": "unspecified",
                "type": "one_time" if recurring is None else "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
            if product["default_price"] is None:
                product["default_price"] = new_id
            return new_id

    def add_coupon(
        self,
        *,
        coupon_id: str | None = None,
        percent_off: float | None = None,
        amount_off: int | None = None,
        currency: str | None = None,
        duration: str = "once",
        duration_in_months: int | None = None,
    ) -> str:
        """Add a coupon (exactly one of ``percent_off`` / ``amount_off``); returns its id."""
        if (percent_off is None) == (amount_off is None):
            raise ValidationError("give exactly one of percent_off and amount_off")
        if amount_off is not None:
            check_amount(amount_off, "amount_off")
            if currency is None:
                raise ValidationError("amount_off needs a currency")
        if duration not in {"once", "repeating", "forever"}:
            raise ValidationError("duration must be once, repeating or forever")
        with self._lock:
            new_id = coupon_id or self._next_id("coupon")
            self._coupons[new_id] = {
                "id": new_id,
                "object": "coupon",
                "amount_off": amount_off,
                "created": _ts(self._now()),
                "currency": None if currency is None else check_currency(currency).lower(),
                "duration": duration,
                "duration_in_months": duration_in_months,
                "livemode": False,
                "max_redemptions": None,
                "metadata": {},
                "name": None,
                "percent_off": percent_off,
                "redeem_by": None,
                "times_redeemed": 0,
                "valid": True,
            }
            return new_id

    # ----------------------------------------------------------------- customers

    def create_customer(
        self,
        *,
        email: str,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCustomer:
        """Create a customer (``cus_fake_...``)."""
        self._enter(
            "create_customer",
            email=email,
            name=name,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        if not isinstance(email, str) or "@" not in email:
            raise ValidationError("email must be an email address", details={"param": "email"})
        params = {"email": email, "name": name, "metadata": check_metadata(metadata)}

        def action() -> GatewayCustomer:
            customer = GatewayCustomer(id=self._next_id("cus"), email=email, name=name)
            self._customers[customer.id] = customer
            return customer

        return self._idempotent("create_customer", idempotency_key, params, action)

    # ----------------------------------------------------------------- payments

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
        """Create a payment (``pi_fake_...``); with ``confirm=True`` charge it now.

        A declining card raises ``PaymentDeclined`` (the payment exists, in
        ``requires_payment_method``); see :meth:`confirm_payment`.
        """
        self._enter(
            "create_payment",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            confirm=confirm,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        check_amount(amount_minor)
        norm_currency = check_currency(currency)
        check_minimum(amount_minor, norm_currency)
        norm_metadata = check_metadata(metadata)
        params = {
            "amount_minor": amount_minor,
            "currency": norm_currency,
            "customer_id": customer_id,
            "payment_method_id": payment_method_id,
            "confirm": bool(confirm),
            "metadata": norm_metadata,
        }
        if confirm and payment_method_id is None:
            raise ValidationError(
                "confirm=True needs a payment_method_id",
                code="parameter_missing",
                details={"param": "payment_method_id"},
            )

        def action() -> GatewayPayment:
            if customer_id is not None:
                self._customer(customer_id)
            source = None
            if payment_method_id is not None:
                source = self._usable_method(payment_method_id, customer_id)
                if confirm and source == _NETWORK_ERROR_METHOD:
                    # Checked before the payment exists: the request never arrived.
                    raise self._network_error("create_payment")
            payment = GatewayPayment(
                id=self._next_id("pi"),
                status=(
                    PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
                    if payment_method_id is None
                    else PaymentIntentStatus.REQUIRES_CONFIRMATION
                ),
                amount_minor=amount_minor,
                currency=norm_currency,
                customer_id=customer_id,
                payment_method_id=payment_method_id,
                metadata=norm_metadata,
                created=self._now(),
            )
            payment = replace(payment, client_secret=f"{payment.id}_secret_fake")
            self._payments[payment.id] = payment
            if confirm and payment_method_id is not None and source is not None:
                return self._confirm(payment, payment_method_id, source)
            return payment

        return self._idempotent("create_payment", idempotency_key, params, action)

    def confirm_payment(
        self,
        payment_id: str,
        *,
        payment_method_id: str | None = None,
        idempotency_key: str,
    ) -> GatewayPayment:
        """Charge the payment with ``payment_method_id`` or the one it already has.

        Returns it ``succeeded`` or ``requires_action``. A decline raises
        ``PaymentDeclined`` (``decline_code``, ``details["payment_id"]``) and
        leaves the payment in ``requires_payment_method`` with ``decline_code``.
        """
        self._enter(
            "confirm_payment",
            payment_id=payment_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        params = {"payment_id": payment_id, "payment_method_id": payment_method_id}

        def action() -> GatewayPayment:
            payment = self._payment(payment_id)
            if payment.status not in _CONFIRMABLE:
                raise self._unexpected_payment_state(payment, "confirm")
            method_id = payment_method_id or payment.payment_method_id
            if method_id is None:
                raise GatewayError(
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                    code="payment_intent_unexpected_state",
                    details={"payment_id": payment_id, "status": str(payment.status)},
                )
            source = self._usable_method(method_id, payment.customer_id)
            return self._confirm(payment, method_id, source)

        return self._idempotent("confirm_payment", idempotency_key, params, action)

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> GatewayPayment:
        """Cancel a payment that has not succeeded; a succeeded one raises ``GatewayError``."""
        self._enter("cancel_payment", payment_id=payment_id, idempotency_key=idempotency_key)
        check_key(idempotency_key)

        def action() -> GatewayPayment:
            payment = self._payment(payment_id)
            if payment.status not in _CANCELABLE:
                raise self._unexpected_payment_state(payment, "cancel")
            canceled = replace(payment, status=PaymentIntentStatus.CANCELED)
            self._payments[payment_id] = canceled
            return canceled

        return self._idempotent(
            "cancel_payment", idempotency_key, {"payment_id": payment_id}, action
        )

    def retrieve_payment(self, payment_id: str) -> GatewayPayment:
        """The payment as it is now."""
        self._enter("retrieve_payment", payment_id=payment_id)
        with self._lock:
            return self._payment(payment_id)

    def list_payments(
        self, *, created_from: datetime | None = None, created_to: datetime | None = None
    ) -> Iterator[GatewayPayment]:
        """Payments created in ``[created_from, created_to)``, newest first (a snapshot)."""
        self._enter("list_payments", created_from=created_from, created_to=created_to)
        with self._lock:
            found = [
                payment
                for payment in self._payments.values()
                if payment.created is not None
                and (created_from is None or payment.created >= ensure_utc(created_from))
                and (created_to is None or payment.created < ensure_utc(created_to))
            ]
        found.sort(key=lambda payment: (payment.created, payment.id), reverse=True)
        return iter(found)

    def update_payment_amount(
        self, payment_id: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayPayment:
        """Change the amount before the payment succeeds.

        Refused (``GatewayError``) once it has succeeded or been canceled. A
        payment waiting for 3-D Secure goes back to ``requires_confirmation``,
        because the customer authenticated a different amount.
        """
        self._enter(
            "update_payment_amount",
            payment_id=payment_id,
            amount_minor=amount_minor,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        check_amount(amount_minor)
        params = {"payment_id": payment_id, "amount_minor": amount_minor}

        def action() -> GatewayPayment:
            payment = self._payment(payment_id)
            check_minimum(amount_minor, payment.currency)
            if payment.status not in _AMOUNT_UPDATABLE:
                raise self._unexpected_payment_state(payment, "update")
            status = payment.status
            if status is PaymentIntentStatus.REQUIRES_ACTION:
                status = PaymentIntentStatus.REQUIRES_CONFIRMATION
            updated = replace(payment, amount_minor=amount_minor, status=status)
            self._payments[payment_id] = updated
            return updated

        return self._idempotent("update_payment_amount", idempotency_key, params, action)

    # ----------------------------------------------------------------- refunds

    def create_refund(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund part or all of a succeeded payment (``re_fake_...``).

        Comes back ``succeeded`` unless steered by :meth:`fail_next_refund` or
        :meth:`hold_next_refund`. Refunding more than is left raises
        ``GatewayError`` (``charge_already_refunded`` when nothing is left,
        ``refund_exceeds_payment`` otherwise).
        """
        self._enter(
            "create_refund",
            payment_id=payment_id,
            amount_minor=amount_minor,
            reason=reason,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        check_amount(amount_minor)
        if reason is not None and reason not in STRIPE_REFUND_REASONS:
            raise ValidationError(
                f"reason must be one of {sorted(STRIPE_REFUND_REASONS)} or None",
                details={"param": "reason", "value": reason},
            )
        params = {
            "payment_id": payment_id,
            "amount_minor": amount_minor,
            "reason": reason,
            "metadata": check_metadata(metadata),
        }

        def action() -> GatewayRefund:
            payment = self._payment(payment_id)
            if payment.status is not PaymentIntentStatus.SUCCEEDED:
                raise GatewayError(
                    f"PaymentIntent {payment_id} does not have a successful charge to refund.",
                    code="payment_intent_unexpected_state",
                    details={"payment_id": payment_id, "status": str(payment.status)},
                )
            refundable = payment.amount_minor - self._refunded(payment_id)
            if refundable <= 0:
                raise GatewayError(
                    f"Charge for PaymentIntent {payment_id} has already been refunded.",
                    code="charge_already_refunded",
                    details={"payment_id": payment_id, "refundable_minor": 0},
                )
            if amount_minor > refundable:
                raise GatewayError(
                    f"Refund amount ({amount_minor}) is greater than unrefunded amount "
                    f"on charge ({refundable}).",
                    code="refund_exceeds_payment",
                    details={
                        "payment_id": payment_id,
                        "amount_minor": amount_minor,
                        "refundable_minor": refundable,
                    },
                )
            status, failure_reason = GatewayRefundStatus.SUCCEEDED, None
            if self._refund_plan:
                status, failure_reason = self._refund_plan.popleft()
            refund = GatewayRefund(
                id=self._next_id("re"),
                payment_id=payment_id,
                amount_minor=amount_minor,
                currency=payment.currency,
                status=status,
                reason=reason,
                failure_reason=failure_reason,
            )
            self._refunds[refund.id] = refund
            return refund

        return self._idempotent("create_refund", idempotency_key, params, action)

    def retrieve_refund(self, refund_id: str) -> GatewayRefund:
        """The refund as it is now."""
        self._enter("retrieve_refund", refund_id=refund_id)
        with self._lock:
            return self._refund(refund_id)

    # ----------------------------------------------------------------- payment methods

    def attach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Attach to a customer, who then has it as their default payment method.

        A test token (``pm_card_visa``, ``pm_fake_timeout``, ...) becomes a new
        ``pm_fake_...`` method that behaves like the token; use the returned id.
        """
        self._enter(
            "attach_payment_method",
            payment_method_id=payment_method_id,
            customer_id=customer_id,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        params = {"payment_method_id": payment_method_id, "customer_id": customer_id}

        def action() -> GatewayPaymentMethod:
            self._customer(customer_id)
            existing = self._methods.get(payment_method_id)
            if existing is not None:
                if existing.customer_id == customer_id:
                    return existing
                raise GatewayError(
                    f"PaymentMethod {payment_method_id} is attached to another customer "
                    "or was detached, and cannot be attached again.",
                    code="payment_method_unexpected_state",
                    details={"payment_method_id": payment_method_id},
                )
            if not _is_test_token(payment_method_id):
                raise self._not_found("payment_method", payment_method_id)
            brand, last4, funding = _CARDS.get(payment_method_id, _CARDS["pm_card_visa"])
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
            self._method_source[method.id] = payment_method_id
            self._default_method[customer_id] = method.id
            return method

        return self._idempotent("attach_payment_method", idempotency_key, params, action)

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Detach from its customer; the method can then no longer be used or re-attached."""
        self._enter(
            "detach_payment_method",
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)

        def action() -> GatewayPaymentMethod:
            method = self._methods.get(payment_method_id)
            if method is None and not _is_test_token(payment_method_id):
                raise self._not_found("payment_method", payment_method_id)
            if method is None or method.customer_id is None:
                raise GatewayError(
                    f"PaymentMethod {payment_method_id} is not attached to a customer.",
                    code="payment_method_unexpected_state",
                    details={"payment_method_id": payment_method_id},
                )
            if self._default_method.get(method.customer_id) == payment_method_id:
                del self._default_method[method.customer_id]
            detached = replace(method, customer_id=None)
            self._methods[payment_method_id] = detached
            return detached

        return self._idempotent(
            "detach_payment_method",
            idempotency_key,
            {"payment_method_id": payment_method_id},
            action,
        )

    # ----------------------------------------------------------------- catalogue

    def retrieve_price(self, price_id: str) -> GatewayPrice:
        """The price; its Stripe-shaped record (a copy) is in ``raw``."""
        from paykit.stripe.objects import price_from_stripe

        self._enter("retrieve_price", price_id=price_id)
        with self._lock:
            return price_from_stripe(copy.deepcopy(self._price(price_id)))

    def retrieve_product(self, product_id: str) -> GatewayProduct:
        """The product; its Stripe-shaped record (a copy) is in ``raw``."""
        from paykit.stripe.objects import product_from_stripe

        self._enter("retrieve_product", product_id=product_id)
        with self._lock:
            return product_from_stripe(copy.deepcopy(self._product(product_id)))

    # ----------------------------------------------------------------- subscriptions

    def retrieve_subscription(self, subscription_id: str) -> GatewaySubscription:
        """The subscription, brought up to the clock's now.

        Periods that ended have renewed (renewals always succeed in the fake),
        a trial that ended is ``active``, a pending end-of-period cancellation
        has taken effect, an ``incomplete`` one older than 23 hours has expired.
        """
        self._enter("retrieve_subscription", subscription_id=subscription_id)
        with self._lock:
            return self._subscription_view(subscription_id)

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
        """Subscribe a customer (``sub_fake_...``); see ``PaymentGateway.create_subscription``.

        Without ``payment_method_id`` the customer's most recently attached
        method is charged. A card that declines or needs 3-D Secure gives an
        ``incomplete`` subscription. The first charge is not a ``charges`` entry.
        """
        self._enter(
            "create_subscription",
            customer_id=customer_id,
            price_id=price_id,
            quantity=quantity,
            trial_days=trial_days,
            coupon=coupon,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        check_count(quantity, "quantity")
        if trial_days is not None:
            check_count(trial_days, "trial_days")
        params = {
            "customer_id": customer_id,
            "price_id": price_id,
            "quantity": quantity,
            "trial_days": trial_days,
            "coupon": coupon,
            "payment_method_id": payment_method_id,
        }

        def action() -> GatewaySubscription:
            self._customer(customer_id)
            price = self._recurring_price(price_id)
            coupon_obj = self._coupon(coupon) if coupon is not None else None
            method_id = payment_method_id or self._default_method.get(customer_id)
            source = None
            if method_id is not None:
                source = self._usable_method(method_id, customer_id)
            now = self._now()
            recurring = price["recurring"]
            if trial_days is not None:
                status = "trialing"
                anchor = now + timedelta(days=trial_days)
                index = -1
            else:
                if source is None:
                    raise GatewayError(
                        f"Customer {customer_id} has no attached payment source or default "
                        "payment method.",
                        code="missing_payment_method",
                        details={"customer_id": customer_id},
                    )
                paid = source not in _DECLINES and source not in _NEEDS_ACTION
                status = "active" if paid else "incomplete"
                anchor, index = now, 0
            sub_id = self._next_id("sub")
            raw: dict[str, Any] = {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": _ts(anchor),
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "collection_method": "charge_automatically",
                "created": _ts(now),
                "currency": price["currency"],
                "customer": customer_id,
                "default_payment_method": method_id,
                "discounts": [],
                "ended_at": None,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": self._next_id("si"),
                            "object": "subscription_item",
                            "created": _ts(now),
                            "metadata": {},
                            "price": copy.deepcopy(price),
                            "quantity": quantity,
                            "subscription": sub_id,
                        }
                    ],
                    "has_more": False,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": {},
                "pause_collection": None,
                "start_date": _ts(now),
                "status": status,
                "trial_end": _ts(anchor) if trial_days is not None else None,
                "trial_start": _ts(now) if trial_days is not None else None,
            }
            if coupon_obj is not None:
                coupon_obj["times_redeemed"] += 1
                raw["discounts"] = [
                    {
                        "id": self._next_id("di"),
                        "object": "discount",
                        "customer": customer_id,
                        "end": None,
                        "source": {"coupon": coupon_obj["id"], "type": "coupon"},
                        "start": _ts(now),
                        "subscription": sub_id,
                    }
                ]
            sub = _Subscription(
                raw=raw,
                anchor=anchor,
                interval=recurring["interval"],
                interval_count=recurring["interval_count"],
                period_index=index,
            )
            self._set_period(sub)
            self._subscriptions[sub_id] = sub
            return self._subscription_view(sub_id)

        return self._idempotent("create_subscription", idempotency_key, params, action)

    def update_subscription(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        cancel_at_period_end: bool | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Change price, quantity or end-of-period cancellation; ``None`` keeps a field.

        A price with a different interval restarts the billing period now, as
        at Stripe (unless the subscription is still in its trial).
        """
        self._enter(
            "update_subscription",
            subscription_id=subscription_id,
            price_id=price_id,
            quantity=quantity,
            cancel_at_period_end=cancel_at_period_end,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        if quantity is not None:
            check_count(quantity, "quantity")
        params = {
            "subscription_id": subscription_id,
            "price_id": price_id,
            "quantity": quantity,
            "cancel_at_period_end": cancel_at_period_end,
        }

        def action() -> GatewaySubscription:
            sub = self._subscription(subscription_id)
            self._refuse_if_ended(sub, "update")
            item = sub.raw["items"]["data"][0]
            if price_id is not None and price_id != item["price"]["id"]:
                price = self._recurring_price(price_id)
                if price["currency"] != sub.raw["currency"]:
                    raise GatewayCurrencyMismatch(
                        "The price's currency differs from the subscription's.",
                        details={"subscription_id": subscription_id, "price_id": price_id},
                    )
                item["price"] = copy.deepcopy(price)
                recurring = price["recurring"]
                interval = (recurring["interval"], recurring["interval_count"])
                if interval != (sub.interval, sub.interval_count):
                    sub.interval, sub.interval_count = interval
                    if sub.raw["status"] != "trialing":
                        sub.anchor, sub.period_index = self._now(), 0
                        sub.raw["billing_cycle_anchor"] = _ts(sub.anchor)
                        self._set_period(sub)
            if quantity is not None:
                item["quantity"] = quantity
            if cancel_at_period_end is not None:
                self._set_cancel_at_period_end(sub, cancel_at_period_end)
            return self._subscription_view(subscription_id)

        return self._idempotent("update_subscription", idempotency_key, params, action)

    def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> GatewaySubscription:
        """Cancel now (``canceled``), or flag ``cancel_at_period_end`` and keep it running."""
        self._enter(
            "cancel_subscription",
            subscription_id=subscription_id,
            at_period_end=at_period_end,
            idempotency_key=idempotency_key,
        )
        check_key(idempotency_key)
        params = {"subscription_id": subscription_id, "at_period_end": bool(at_period_end)}

        def action() -> GatewaySubscription:
            sub = self._subscription(subscription_id)
            self._refuse_if_ended(sub, "cancel")
            if at_period_end:
                self._set_cancel_at_period_end(sub, True)
            else:
                now = _ts(self._now())
                sub.raw.update(
                    status="canceled",
                    canceled_at=now,
                    ended_at=now,
                    cancel_at=None,
                    cancel_at_period_end=False,
                )
            return self._subscription_view(subscription_id)

        return self._idempotent("cancel_subscription", idempotency_key, params, action)

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> GatewaySubscription:
        """Undo ``cancel_at_period_end``, or resume a ``paused`` one with a period starting now.

        Anything else (active without a pending cancellation, canceled) raises
        ``GatewayError`` with code ``subscription_unexpected_state``.
        """
        self._enter(
            "resume_subscription", subscription_id=subscription_id, idempotency_key=idempotency_key
        )
        check_key(idempotency_key)

        def action() -> GatewaySubscription:
            sub = self._subscription(subscription_id)
            self._refuse_if_ended(sub, "resume")
            if sub.raw["status"] == "paused":
                sub.raw["status"] = "active"
                sub.anchor, sub.period_index = self._now(), 0
                sub.raw["billing_cycle_anchor"] = _ts(sub.anchor)
                self._set_period(sub)
            elif sub.raw["cancel_at_period_end"]:
                self._set_cancel_at_period_end(sub, False)
            else:
                raise GatewayError(
                    f"Subscription {subscription_id} is neither paused nor set to cancel.",
                    code="subscription_unexpected_state",
                    details={"subscription_id": subscription_id, "status": sub.raw["status"]},
                )
            return self._subscription_view(subscription_id)

        return self._idempotent(
            "resume_subscription", idempotency_key, {"subscription_id": subscription_id}, action
        )

    # ----------------------------------------------------------------- machinery

    def _enter(self, operation: str, **kwargs: Any) -> None:
        recorded = {
            name: dict(value) if isinstance(value, Mapping) else value
            for name, value in kwargs.items()
        }
        with self._lock:
            self._calls.append((operation, recorded))
        if self._latency:
            # Outside the lock, so parallel callers wait side by side, as over a network.
            time.sleep(self._latency)

    def _idempotent(
        self, operation: str, key: str, params: dict[str, Any], action: Callable[[], _T]
    ) -> _T:
        # The whole check-act-record runs under the lock, so concurrent calls
        # with one key act once; Stripe would answer the losers 409
        # idempotency_key_in_use, the fake lets them wait and replays.
        with self._lock:
            record = self._idempotency.get(key)
            if record is not None:
                if record.operation != operation or record.params != params:
                    raise IdempotencyConflict(
                        "Keys for idempotent requests can only be used with the same "
                        "parameters and the same operation they were first used with.",
                        details={
                            "idempotency_key": key,
                            "operation": operation,
                            "first_operation": record.operation,
                        },
                    )
                if record.error is not None:
                    raise _clone_error(record.error)
                return cast(_T, record.result)
            try:
                result = action()
            except _AmbiguousTimeout as timeout:
                self._idempotency[key] = _IdempotencyRecord(operation, params, timeout.result, None)
                raise GatewayUnavailable(
                    "The request to the gateway timed out; it may or may not have been "
                    "carried out. Retry with the same idempotency key.",
                    code="gateway_timeout",
                    details={"operation": operation, "idempotency_key": key},
                ) from None
            except (ValidationError, GatewayUnavailable):
                # Never reached the endpoint, so there is nothing to replay (as at Stripe).
                raise
            except PaykitError as error:
                self._idempotency[key] = _IdempotencyRecord(
                    operation, params, None, _clone_error(error)
                )
                raise
            self._idempotency[key] = _IdempotencyRecord(operation, params, result, None)
            return result

    def _confirm(self, payment: GatewayPayment, method_id: str, source: str) -> GatewayPayment:
        if source == _NETWORK_ERROR_METHOD:
            raise self._network_error("confirm_payment", payment.id)
        decline_code = _DECLINES.get(source)
        if decline_code is not None:
            self._payments[payment.id] = replace(
                payment,
                status=PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
                payment_method_id=None,
                decline_code=decline_code,
            )
            raise PaymentDeclined(
                "Your card was declined."
                if decline_code == "generic_decline"
                else f"Your card was declined ({decline_code}).",
                decline_code=decline_code,
                details={"payment_id": payment.id, "payment_method_id": method_id},
            )
        if source in _NEEDS_ACTION:
            pending = replace(
                payment,
                status=PaymentIntentStatus.REQUIRES_ACTION,
                payment_method_id=method_id,
                decline_code=None,
            )
            self._payments[payment.id] = pending
            return pending
        succeeded = replace(
            payment,
            status=PaymentIntentStatus.SUCCEEDED,
            payment_method_id=method_id,
            decline_code=None,
        )
        self._payments[payment.id] = succeeded
        self._charge_ids.append(payment.id)
        if source == _TIMEOUT_METHOD:
            raise _AmbiguousTimeout(succeeded)
        return succeeded

    def _usable_method(self, method_id: str, customer_id: str | None) -> str:
        """The test token whose behaviour ``method_id`` has, if it may pay for ``customer_id``."""
        method = self._methods.get(method_id)
        if method is not None:
            if method.customer_id is None:
                raise GatewayError(
                    f"PaymentMethod {method_id} was detached and may not be used again.",
                    code="payment_method_unexpected_state",
                    details={"payment_method_id": method_id},
                )
            if method.customer_id != customer_id:
                raise GatewayError(
                    f"PaymentMethod {method_id} belongs to another customer.",
                    code="payment_method_unexpected_state",
                    details={"payment_method_id": method_id, "customer_id": customer_id},
                )
            return self._method_source[method_id]
        if _is_test_token(method_id):
            return method_id
        raise self._not_found("payment_method", method_id)

    def _refunded(self, payment_id: str) -> int:
        # Pending refunds count: the money is already on its way back.
        return sum(
            refund.amount_minor
            for refund in self._refunds.values()
            if refund.payment_id == payment_id
            and refund.status in (GatewayRefundStatus.SUCCEEDED, GatewayRefundStatus.PENDING)
        )

    def _now(self) -> datetime:
        # Whole seconds, because Stripe-shaped objects carry Unix timestamps.
        return ensure_utc(self._clock.now()).replace(microsecond=0)

    def _next_id(self, prefix: str) -> str:
        number = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = number
        return f"{prefix}_{self._namespace}_{number:06d}"

    def _add_product(
        self, *, name: str, product_id: str | None = None, description: str | None = None
    ) -> str:
        new_id = product_id or self._next_id("prod")
        if new_id in self._products:
            raise ValidationError(f"product {new_id} already exists")
        now = _ts(self._now())
        self._products[new_id] = {
            "id": new_id,
            "object": "product",
            "active": True,
            "created": now,
            "default_price": None,
            "description": description,
            "images": [],
            "livemode": False,
            "marketing_features": [],
            "metadata": {},
            "name": name,
            "updated": now,
            "url": None,
        }
        return new_id

    def _set_period(self, sub: _Subscription) -> None:
        item = sub.raw["items"]["data"][0]
        if sub.period_index < 0:
            start = datetime.fromtimestamp(sub.raw["trial_start"], tz=UTC)
            end = sub.anchor
        else:
            start = _shift(sub.anchor, sub.interval, sub.interval_count * sub.period_index)
            end = _shift(sub.anchor, sub.interval, sub.interval_count * (sub.period_index + 1))
        item["current_period_start"] = _ts(start)
        item["current_period_end"] = _ts(end)
        if sub.raw["cancel_at_period_end"]:
            sub.raw["cancel_at"] = _ts(end)

    def _set_cancel_at_period_end(self, sub: _Subscription, flag: bool) -> None:
        item = sub.raw["items"]["data"][0]
        sub.raw["cancel_at_period_end"] = flag
        sub.raw["cancel_at"] = item["current_period_end"] if flag else None
        # Stripe sets canceled_at when the cancellation is requested, not when it happens.
        sub.raw["canceled_at"] = _ts(self._now()) if flag else None

    def _roll_forward(self, sub: _Subscription) -> None:
        now = _ts(self._now())
        raw = sub.raw
        if raw["status"] == "incomplete":
            expires = raw["created"] + int(_INCOMPLETE_TTL.total_seconds())
            if now >= expires:
                raw.update(status="incomplete_expired", ended_at=expires)
            return
        item = raw["items"]["data"][0]
        while raw["status"] in _RENEWING and now >= item["current_period_end"]:
            if raw["cancel_at_period_end"]:
                raw.update(status="canceled", ended_at=item["current_period_end"])
                return
            if raw["status"] == "trialing":
                raw["status"] = "active"
                sub.period_index = 0
            else:
                sub.period_index += 1
            self._set_period(sub)

    def _refuse_if_ended(self, sub: _Subscription, verb: str) -> None:
        if sub.raw["status"] in _ENDED:
            raise GatewayError(
                f"Subscription {sub.raw['id']} is {sub.raw['status']} and cannot {verb}.",
                code="subscription_unexpected_state",
                details={"subscription_id": sub.raw["id"], "status": sub.raw["status"]},
            )

    def _subscription(self, subscription_id: str) -> _Subscription:
        sub = self._subscriptions.get(subscription_id)
        if sub is None:
            raise self._not_found("subscription", subscription_id)
        self._roll_forward(sub)
        return sub

    def _subscription_view(self, subscription_id: str) -> GatewaySubscription:
        # The fake keeps Stripe-shaped records; paykit.stripe reads them (loaded on first use).
        from paykit.stripe.billing import subscription_from_stripe

        return subscription_from_stripe(self._subscription(subscription_id).raw)

    def _customer(self, customer_id: str) -> GatewayCustomer:
        customer = self._customers.get(customer_id)
        if customer is None:
            raise self._not_found("customer", customer_id)
        return customer

    def _payment(self, payment_id: str) -> GatewayPayment:
        payment = self._payments.get(payment_id)
        if payment is None:
            raise self._not_found("payment_intent", payment_id)
        return payment

    def _refund(self, refund_id: str) -> GatewayRefund:
        refund = self._refunds.get(refund_id)
        if refund is None:
            raise self._not_found("refund", refund_id)
        return refund

    def _product(self, product_id: str) -> dict[str, Any]:
        product = self._products.get(product_id)
        if product is None:
            raise self._not_found("product", product_id)
        return product

    def _price(self, price_id: str) -> dict[str, Any]:
        price = self._prices.get(price_id)
        if price is None:
            raise self._not_found("price", price_id)
        return price

    def _recurring_price(self, price_id: str) -> dict[str, Any]:
        price = self._price(price_id)
        if price["recurring"] is None:
            raise GatewayInvalidRequest(
                f"Price {price_id} is not recurring; a subscription needs a recurring price.",
                code="price_not_recurring",
                details={"price_id": price_id},
            )
        return price

    def _coupon(self, coupon_id: str) -> dict[str, Any]:
        coupon = self._coupons.get(coupon_id)
        if coupon is None:
            raise self._not_found("coupon", coupon_id)
        return coupon

    @staticmethod
    def _not_found(resource: str, object_id: str) -> NotFound:
        return NotFound(
            f"No such {resource}: '{object_id}'",
            details={"resource": resource, "id": object_id},
        )

    @staticmethod
    def _network_error(operation: str, payment_id: str | None = None) -> GatewayUnavailable:
        details: dict[str, Any] = {"operation": operation}
        if payment_id is not None:
            details["payment_id"] = payment_id
        return GatewayUnavailable(
            "Could not connect to the payment gateway; the request was not carried out.",
            details=details,
        )

    @staticmethod
    def _unexpected_payment_state(payment: GatewayPayment, verb: str) -> GatewayError:
        return GatewayError(
            f"You cannot {verb} this PaymentIntent because it has a status of {payment.status}.",
            code="payment_intent_unexpected_state",
            details={"payment_id": payment.id, "status": str(payment.status)},
        )


def _is_test_token(method_id: str) -> bool:
    return method_id.startswith("pm_card_") or method_id in (_NETWORK_ERROR_METHOD, _TIMEOUT_METHOD)


if TYPE_CHECKING:
    # runtime_checkable only checks that the names exist; this makes mypy
    # check every signature against the Protocol.
    def _conforms(gateway: FakeGateway) -> PaymentGateway:
        return gateway
