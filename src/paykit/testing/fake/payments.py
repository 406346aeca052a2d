"""``FakeGateway``: PaymentIntents: create, confirm, cancel, authenticate, list."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Final

from paykit.clock import ensure_utc
from paykit.errors import PaymentDeclined
from paykit.gateways._checks import (
    check_amount,
    check_confirm_method,
    check_currency,
    check_metadata,
    check_minimum,
)
from paykit.gateways.base import (
    GatewayPayment,
    PaymentIntentStatus,
)
from paykit.testing.fake.cards import (
    _DECLINES,
    _NEEDS_ACTION,
    _NETWORK_ERROR_METHOD,
    _TIMEOUT_METHOD,
    FakeCards,
)
from paykit.testing.fake.ledger import _AmbiguousTimeout

_CONFIRMABLE: Final = frozenset(
    {
        PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
        PaymentIntentStatus.REQUIRES_CONFIRMATION,
        PaymentIntentStatus.REQUIRES_ACTION,
    }
)
_CANCELABLE: Final = _CONFIRMABLE | {PaymentIntentStatus.REQUIRES_CAPTURE}
_AMOUNT_UPDATABLE: Final = _CONFIRMABLE
_AUTHENTICABLE: Final = frozenset({PaymentIntentStatus.REQUIRES_ACTION})


class FakePayments(FakeCards):
    """PaymentIntents: create, confirm, cancel, authenticate, list."""

    def authenticate(self, payment_id: str, *, succeed: bool = True) -> GatewayPayment:
        """Finish (or fail) the customer's 3-D Secure step of a ``requires_action`` payment.

        Success charges the payment; failure puts it back in
        ``requires_payment_method`` with ``decline_code`` set to Stripe's
        ``payment_intent_authentication_failure``.
        """
        with self._lock:
            payment = self._payment_in(payment_id, _AUTHENTICABLE, "authenticate")
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
            self._emit_payment(
                "payment_intent.succeeded" if succeed else "payment_intent.payment_failed", done
            )
            return done

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
        self._begin(
            "create_payment",
            amount_minor=amount_minor,
            currency=currency,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            confirm=confirm,
            metadata=metadata,
            idempotency_key=idempotency_key,
        )
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
        check_confirm_method(confirm, payment_method_id)

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

        def action() -> GatewayPayment:
            payment = self._payment_in(payment_id, _CONFIRMABLE, "confirm")
            method_id = payment_method_id or payment.payment_method_id
            if method_id is None:
                raise self._payment_state(
                    payment,
                    "You cannot confirm this PaymentIntent because it's missing a payment method.",
                )
            source = self._usable_method(method_id, payment.customer_id)
            return self._confirm(payment, method_id, source)

        return self._once(
            "confirm_payment",
            action,
            payment_id=payment_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> GatewayPayment:
        """Cancel a payment that has not succeeded; a succeeded one raises ``GatewayError``."""

        def action() -> GatewayPayment:
            payment = self._payment_in(payment_id, _CANCELABLE, "cancel")
            canceled = replace(payment, status=PaymentIntentStatus.CANCELED)
            self._payments[payment_id] = canceled
            self._emit_payment("payment_intent.canceled", canceled)
            return canceled

        return self._once(
            "cancel_payment", action, payment_id=payment_id, idempotency_key=idempotency_key
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
        params = self._begin(
            "update_payment_amount",
            payment_id=payment_id,
            amount_minor=amount_minor,
            idempotency_key=idempotency_key,
        )
        check_amount(amount_minor)

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

    def _set_state(
        self,
        payment: GatewayPayment,
        status: PaymentIntentStatus,
        method_id: str | None,
        decline_code: str | None,
    ) -> GatewayPayment:
        """Store ``payment`` with the status, method and decline code an attempt left."""
        changed = replace(
            payment, status=status, payment_method_id=method_id, decline_code=decline_code
        )
        self._payments[payment.id] = changed
        return changed

    def _confirm(self, payment: GatewayPayment, method_id: str, source: str) -> GatewayPayment:
        if source == _NETWORK_ERROR_METHOD:
            raise self._network_error("confirm_payment", payment.id)
        decline_code = _DECLINES.get(source)
        if decline_code is not None:
            declined = self._set_state(
                payment, PaymentIntentStatus.REQUIRES_PAYMENT_METHOD, None, decline_code
            )
            self._emit_payment("payment_intent.payment_failed", declined)
            raise PaymentDeclined(
                "Your card was declined."
                if decline_code == "generic_decline"
                else f"Your card was declined ({decline_code}).",
                decline_code=decline_code,
                details={"payment_id": payment.id, "payment_method_id": method_id},
            )
        if source in _NEEDS_ACTION:
            return self._set_state(payment, PaymentIntentStatus.REQUIRES_ACTION, method_id, None)
        succeeded = self._set_state(payment, PaymentIntentStatus.SUCCEEDED, method_id, None)
        self._charge_ids.append(payment.id)
        self._emit_payment("payment_intent.succeeded", succeeded)
        if source == _TIMEOUT_METHOD:
            raise _AmbiguousTimeout(succeeded)
        return succeeded
