"""The behaviour every ``PaymentGateway`` must show, as a reusable pytest base class.

To run it against your own implementation, subclass :class:`GatewayContract`
in one of your ``test_*.py`` modules and provide two fixtures::

    import pytest
    from paykit.gateways import PaymentGateway
    from paykit.testing import GatewayContract

    class TestMyGatewayContract(GatewayContract):
        @pytest.fixture
        def gateway(self) -> PaymentGateway:
            return MyGateway(...)            # a fresh, empty account per test

        @pytest.fixture
        def recurring_price_id(self, gateway) -> str:
            return ...                       # a monthly USD price of 2000 minor units

pytest collects the inherited ``test_*`` methods under your class, so every
check runs against your gateway. The suite only uses the Protocol: paykit runs
it unchanged against ``FakeGateway`` and against ``StripeGateway`` talking to
a local server that answers like Stripe. It pays with Stripe's test
payment-method ids (``pm_card_visa``, ``pm_card_chargeDeclined``, ...; see
:data:`SUCCEEDING_CARDS` and :data:`DECLINING_CARDS`), so a gateway for
another processor maps those ids onto its own test cards.

This module needs pytest (the ``test`` extra: ``pip install 'paykit[test]'``);
the rest of :mod:`paykit.testing` does not. ``docs/testing.md`` has the details.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest

from paykit.errors import (
    GatewayError,
    IdempotencyConflict,
    NotFound,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways import (
    GatewayCustomer,
    GatewayPayment,
    GatewayPrice,
    GatewayProduct,
    GatewayRefundStatus,
    GatewaySubscriptionStatus,
    PaymentGateway,
    PaymentIntentStatus,
)

__all__ = ["DECLINING_CARDS", "SUCCEEDING_CARDS", "GatewayContract", "new_key"]

DECLINING_CARDS = [
    ("pm_card_chargeDeclined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
]
"""Stripe test ids every gateway must decline, with the decline code."""

SUCCEEDING_CARDS = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_visa_debit"]
"""Stripe test ids every gateway must charge successfully."""


def new_key(label: str = "key") -> str:
    """A fresh idempotency key; unique across runs so a shared server never replays."""
    return f"{label}-{uuid.uuid4().hex}"


class GatewayContract:
    """Tests for any ``PaymentGateway``.

    Subclass it in a ``test_*.py`` module under a name pytest collects
    (``Test...``) and provide two fixtures: ``gateway``, a fresh gateway
    (an empty account) per test, and ``recurring_price_id``, the id of a
    monthly USD price of 2000 minor units on that gateway. The helpers below
    (``customer``, ``paid``, ``card``, :meth:`pay`, :meth:`unpaid`) are there
    for your own extra tests in the subclass.
    """

    AMOUNT = 1500

    # ------------------------------------------------------------------ helpers

    @pytest.fixture
    def customer(self, gateway: PaymentGateway) -> GatewayCustomer:
        """A fresh customer on the gateway under test."""
        return gateway.create_customer(
            email="ada@example.com", name="Ada Lovelace", idempotency_key=new_key()
        )

    @pytest.fixture
    def paid(self, gateway: PaymentGateway, customer: GatewayCustomer) -> GatewayPayment:
        """A succeeded payment of ``AMOUNT`` USD minor units."""
        return self.pay(gateway, customer.id, "pm_card_visa")

    def pay(
        self,
        gateway: PaymentGateway,
        customer_id: str | None,
        payment_method_id: str,
        *,
        amount: int = AMOUNT,
        key: str | None = None,
    ) -> GatewayPayment:
        """Create and confirm a USD payment in one call."""
        return gateway.create_payment(
            amount_minor=amount,
            currency="usd",
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            confirm=True,
            idempotency_key=key or new_key(),
        )

    def unpaid(self, gateway: PaymentGateway, customer_id: str | None) -> GatewayPayment:
        """A payment with no payment method yet (``requires_payment_method``)."""
        return gateway.create_payment(
            amount_minor=self.AMOUNT,
            currency="usd",
            customer_id=customer_id,
            idempotency_key=new_key(),
        )

    # ------------------------------------------------------------------ protocol

    def test_satisfies_the_protocol(self, gateway: PaymentGateway) -> None:
        assert isinstance(gateway, PaymentGateway)

    # ------------------------------------------------------------------ customers

    def test_create_customer(self, gateway: PaymentGateway) -> None:
        customer = gateway.create_customer(email="bob@example.com", idempotency_key=new_key())
        assert customer.id
        assert customer.email == "bob@example.com"

    def test_create_customer_replays_same_key(self, gateway: PaymentGateway) -> None:
        key = new_key()
        first = gateway.create_customer(email="bob@example.com", idempotency_key=key)
        again = gateway.create_customer(email="bob@example.com", idempotency_key=key)
        assert again == first

    def test_create_customer_same_key_other_email_conflicts(self, gateway: PaymentGateway) -> None:
        key = new_key()
        gateway.create_customer(email="bob@example.com", idempotency_key=key)
        with pytest.raises(IdempotencyConflict) as info:
            gateway.create_customer(email="eve@example.com", idempotency_key=key)
        assert info.value.code == "idempotency_conflict"

    # ------------------------------------------------------------------ creating payments

    def test_create_without_method_requires_payment_method(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = gateway.create_payment(
            amount_minor=1234,
            currency="eur",
            customer_id=customer.id,
            metadata={"order_id": "ord_1"},
            idempotency_key=new_key(),
        )
        assert payment.status is PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
        assert payment.amount_minor == 1234
        assert payment.currency == "EUR"
        assert payment.customer_id == customer.id
        assert dict(payment.metadata) == {"order_id": "ord_1"}
        assert payment.client_secret
        assert payment.decline_code is None
        assert gateway.retrieve_payment(payment.id) == payment

    def test_create_with_method_unconfirmed_requires_confirmation(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = gateway.create_payment(
            amount_minor=500,
            currency="usd",
            customer_id=customer.id,
            payment_method_id="pm_card_visa",
            idempotency_key=new_key(),
        )
        assert payment.status is PaymentIntentStatus.REQUIRES_CONFIRMATION
        assert payment.payment_method_id == "pm_card_visa"

    def test_payment_without_customer(self, gateway: PaymentGateway) -> None:
        payment = self.pay(gateway, None, "pm_card_visa")
        assert payment.status is PaymentIntentStatus.SUCCEEDED
        assert payment.customer_id is None

    @pytest.mark.parametrize("method", SUCCEEDING_CARDS)
    def test_succeeding_cards(
        self, gateway: PaymentGateway, customer: GatewayCustomer, method: str
    ) -> None:
        payment = self.pay(gateway, customer.id, method)
        assert payment.status is PaymentIntentStatus.SUCCEEDED
        assert payment.amount_minor == self.AMOUNT
        assert payment.payment_method_id == method
        assert gateway.retrieve_payment(payment.id).status is PaymentIntentStatus.SUCCEEDED

    @pytest.mark.parametrize(("method", "decline_code"), DECLINING_CARDS)
    def test_declining_cards_raise_payment_declined(
        self, gateway: PaymentGateway, customer: GatewayCustomer, method: str, decline_code: str
    ) -> None:
        with pytest.raises(PaymentDeclined) as info:
            self.pay(gateway, customer.id, method)
        error = info.value
        assert error.code == "payment_declined"
        assert error.decline_code == decline_code
        assert error.details["decline_code"] == decline_code
        payment = gateway.retrieve_payment(error.details["payment_id"])
        assert payment.status is PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
        assert payment.decline_code == decline_code
        assert payment.payment_method_id is None
        assert payment.amount_minor == self.AMOUNT

    def test_authentication_required_returns_requires_action(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.pay(gateway, customer.id, "pm_card_authenticationRequired")
        assert payment.status is PaymentIntentStatus.REQUIRES_ACTION
        assert payment.client_secret
        assert payment.decline_code is None

    def test_confirm_with_payment_method(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        confirmed = gateway.confirm_payment(
            payment.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
        )
        assert confirmed.id == payment.id
        assert confirmed.status is PaymentIntentStatus.SUCCEEDED
        assert confirmed.payment_method_id == "pm_card_visa"

    def test_confirm_uses_method_already_on_payment(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = gateway.create_payment(
            amount_minor=700,
            currency="usd",
            customer_id=customer.id,
            payment_method_id="pm_card_mastercard",
            idempotency_key=new_key(),
        )
        confirmed = gateway.confirm_payment(payment.id, idempotency_key=new_key())
        assert confirmed.status is PaymentIntentStatus.SUCCEEDED

    def test_confirm_declined_then_new_card_succeeds(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        with pytest.raises(PaymentDeclined) as info:
            gateway.confirm_payment(
                payment.id,
                payment_method_id="pm_card_chargeDeclinedInsufficientFunds",
                idempotency_key=new_key(),
            )
        assert info.value.details["payment_id"] == payment.id
        assert info.value.decline_code == "insufficient_funds"
        retried = gateway.confirm_payment(
            payment.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
        )
        assert retried.status is PaymentIntentStatus.SUCCEEDED
        assert retried.decline_code is None

    def test_confirm_without_any_method_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        with pytest.raises(GatewayError) as info:
            gateway.confirm_payment(payment.id, idempotency_key=new_key())
        assert info.value.code == "payment_intent_unexpected_state"

    def test_confirm_succeeded_payment_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with pytest.raises(GatewayError) as info:
            gateway.confirm_payment(
                paid.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
            )
        assert info.value.code == "payment_intent_unexpected_state"

    def test_currency_is_returned_upper_case(self, gateway: PaymentGateway) -> None:
        payment = gateway.create_payment(
            amount_minor=100, currency="GbP", customer_id=None, idempotency_key=new_key()
        )
        assert payment.currency == "GBP"

    # ------------------------------------------------------------------ lookups and arguments

    def test_retrieve_unknown_payment(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.retrieve_payment("pi_does_not_exist")

    def test_payment_for_unknown_customer(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            self.pay(gateway, "cus_does_not_exist", "pm_card_visa")

    def test_unknown_payment_method(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        with pytest.raises(NotFound):
            self.pay(gateway, customer.id, "pm_does_not_exist")

    @pytest.mark.parametrize("amount", [0, -100, True, 10.5, "100", 100_000_000])
    def test_bad_amount_is_a_validation_error(
        self, gateway: PaymentGateway, amount: object
    ) -> None:
        with pytest.raises(ValidationError):
            gateway.create_payment(
                amount_minor=amount,  # type: ignore[arg-type]
                currency="usd",
                customer_id=None,
                idempotency_key=new_key(),
            )

    @pytest.mark.parametrize("currency", ["", "us", "usdd", "12$"])
    def test_bad_currency_is_a_validation_error(
        self, gateway: PaymentGateway, currency: str
    ) -> None:
        with pytest.raises(ValidationError):
            gateway.create_payment(
                amount_minor=100, currency=currency, customer_id=None, idempotency_key=new_key()
            )

    @pytest.mark.parametrize("key", ["", "   ", "k" * 256])
    def test_bad_idempotency_key_is_a_validation_error(
        self, gateway: PaymentGateway, key: str
    ) -> None:
        with pytest.raises(ValidationError):
            gateway.create_payment(
                amount_minor=100, currency="usd", customer_id=None, idempotency_key=key
            )

    def test_confirm_true_without_method_is_a_validation_error(
        self, gateway: PaymentGateway
    ) -> None:
        with pytest.raises(ValidationError):
            gateway.create_payment(
                amount_minor=100,
                currency="usd",
                customer_id=None,
                confirm=True,
                idempotency_key=new_key(),
            )

    # ------------------------------------------------------------------ idempotency

    def test_same_key_same_params_returns_the_same_payment(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        key = new_key()
        first = self.pay(gateway, customer.id, "pm_card_visa", key=key)
        again = self.pay(gateway, customer.id, "pm_card_visa", key=key)
        assert again == first
        # Only one payment exists: refunding it in full leaves nothing on either "copy".
        gateway.create_refund(
            payment_id=again.id, amount_minor=self.AMOUNT, reason=None, idempotency_key=new_key()
        )
        with pytest.raises(GatewayError):
            gateway.create_refund(
                payment_id=first.id, amount_minor=1, reason=None, idempotency_key=new_key()
            )

    @pytest.mark.parametrize(
        "change",
        [
            {"amount_minor": 1501},
            {"currency": "eur"},
            {"payment_method_id": "pm_card_mastercard"},
            {"metadata": {"order_id": "other"}},
        ],
    )
    def test_same_key_different_params_conflicts(
        self, gateway: PaymentGateway, customer: GatewayCustomer, change: dict[str, object]
    ) -> None:
        key = new_key()
        params: dict[str, object] = {
            "amount_minor": self.AMOUNT,
            "currency": "usd",
            "customer_id": customer.id,
            "payment_method_id": "pm_card_visa",
            "confirm": True,
            "metadata": {"order_id": "ord_1"},
        }
        first = gateway.create_payment(**params, idempotency_key=key)  # type: ignore[arg-type]
        with pytest.raises(IdempotencyConflict) as info:
            gateway.create_payment(**{**params, **change}, idempotency_key=key)  # type: ignore[arg-type]
        assert info.value.code == "idempotency_conflict"
        assert info.value.http_status == 409
        assert gateway.retrieve_payment(first.id) == first

    def test_key_reused_on_another_endpoint_conflicts(
        self, gateway: PaymentGateway, customer: GatewayCustomer, paid: GatewayPayment
    ) -> None:
        key = new_key()
        self.pay(gateway, customer.id, "pm_card_visa", key=key)
        with pytest.raises(IdempotencyConflict):
            gateway.create_customer(email="eve@example.com", idempotency_key=key)
        with pytest.raises(IdempotencyConflict):
            gateway.create_refund(
                payment_id=paid.id, amount_minor=100, reason=None, idempotency_key=key
            )
        with pytest.raises(IdempotencyConflict):
            gateway.cancel_payment(paid.id, idempotency_key=key)

    def test_key_reused_for_another_payment_conflicts(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        first, second = self.unpaid(gateway, customer.id), self.unpaid(gateway, customer.id)
        key = new_key()
        gateway.confirm_payment(first.id, payment_method_id="pm_card_visa", idempotency_key=key)
        with pytest.raises(IdempotencyConflict):
            gateway.confirm_payment(
                second.id, payment_method_id="pm_card_visa", idempotency_key=key
            )
        assert gateway.retrieve_payment(second.id).status is not PaymentIntentStatus.SUCCEEDED

    def test_declined_request_replays_the_decline(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        key = new_key()
        with pytest.raises(PaymentDeclined) as first:
            self.pay(gateway, customer.id, "pm_card_chargeDeclined", key=key)
        with pytest.raises(PaymentDeclined) as again:
            self.pay(gateway, customer.id, "pm_card_chargeDeclined", key=key)
        assert again.value.details["payment_id"] == first.value.details["payment_id"]
        assert again.value.decline_code == first.value.decline_code

    # ------------------------------------------------------------------ cancel and update

    def test_cancel_unpaid_payment(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        canceled = gateway.cancel_payment(payment.id, idempotency_key=new_key())
        assert canceled.status is PaymentIntentStatus.CANCELED
        assert gateway.retrieve_payment(payment.id).status is PaymentIntentStatus.CANCELED

    def test_cancel_succeeded_payment_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with pytest.raises(GatewayError) as info:
            gateway.cancel_payment(paid.id, idempotency_key=new_key())
        assert info.value.code == "payment_intent_unexpected_state"
        assert gateway.retrieve_payment(paid.id).status is PaymentIntentStatus.SUCCEEDED

    def test_canceled_payment_cannot_be_canceled_or_confirmed(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        gateway.cancel_payment(payment.id, idempotency_key=new_key())
        with pytest.raises(GatewayError):
            gateway.cancel_payment(payment.id, idempotency_key=new_key())
        with pytest.raises(GatewayError):
            gateway.confirm_payment(
                payment.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
            )

    @pytest.mark.parametrize(("amount", "currency"), [(49, "usd"), (29, "gbp"), (49, "jpy")])
    def test_amount_below_the_minimum_charge_is_refused(
        self, gateway: PaymentGateway, amount: int, currency: str
    ) -> None:
        with pytest.raises(ValidationError) as refused:
            gateway.create_payment(
                amount_minor=amount, currency=currency, customer_id=None, idempotency_key=new_key()
            )
        assert refused.value.code == "amount_too_small"
        # One minor unit more than the minimum is fine.
        gateway.create_payment(
            amount_minor=amount + 1, currency=currency, customer_id=None, idempotency_key=new_key()
        )

    def test_update_amount_below_the_minimum_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        with pytest.raises((ValidationError, GatewayError)) as refused:
            gateway.update_payment_amount(payment.id, amount_minor=10, idempotency_key=new_key())
        assert refused.value.code == "amount_too_small"
        assert gateway.retrieve_payment(payment.id).amount_minor == self.AMOUNT

    def test_list_payments_finds_new_payments_with_their_metadata(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        marker = new_key()[:30]
        created = gateway.create_payment(
            amount_minor=self.AMOUNT,
            currency="usd",
            customer_id=customer.id,
            metadata={"paykit_reference": marker},
            idempotency_key=new_key(),
        )
        assert created.created is not None
        found = [p for p in gateway.list_payments() if p.id == created.id]
        assert len(found) == 1
        assert found[0].metadata["paykit_reference"] == marker
        later = created.created + timedelta(seconds=1)
        assert created.id in {p.id for p in gateway.list_payments(created_from=created.created)}
        assert created.id not in {p.id for p in gateway.list_payments(created_from=later)}
        assert created.id not in {p.id for p in gateway.list_payments(created_to=created.created)}

    def test_update_amount_before_success(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        updated = gateway.update_payment_amount(
            payment.id, amount_minor=990, idempotency_key=new_key()
        )
        assert updated.amount_minor == 990
        assert updated.status is payment.status
        confirmed = gateway.confirm_payment(
            payment.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
        )
        assert confirmed.amount_minor == 990

    def test_update_amount_after_success_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with pytest.raises(GatewayError) as info:
            gateway.update_payment_amount(paid.id, amount_minor=100, idempotency_key=new_key())
        assert info.value.code == "payment_intent_unexpected_state"
        assert gateway.retrieve_payment(paid.id).amount_minor == self.AMOUNT

    def test_update_amount_after_cancel_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        gateway.cancel_payment(payment.id, idempotency_key=new_key())
        with pytest.raises(GatewayError):
            gateway.update_payment_amount(payment.id, amount_minor=100, idempotency_key=new_key())

    def test_update_amount_of_unknown_payment(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.update_payment_amount("pi_nope", amount_minor=1, idempotency_key=new_key())

    # ------------------------------------------------------------------ refunds

    def test_full_refund(self, gateway: PaymentGateway, paid: GatewayPayment) -> None:
        refund = gateway.create_refund(
            payment_id=paid.id,
            amount_minor=self.AMOUNT,
            reason="requested_by_customer",
            metadata={"order_id": "ord_1"},
            idempotency_key=new_key(),
        )
        assert refund.id
        assert refund.payment_id == paid.id
        assert refund.amount_minor == self.AMOUNT
        assert refund.currency == "USD"
        assert refund.status is GatewayRefundStatus.SUCCEEDED
        assert refund.reason == "requested_by_customer"
        assert gateway.retrieve_refund(refund.id) == refund

    def test_partial_refunds_are_capped_at_the_amount(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        for amount in (500, 700):
            gateway.create_refund(
                payment_id=paid.id, amount_minor=amount, reason=None, idempotency_key=new_key()
            )
        with pytest.raises(GatewayError) as info:
            gateway.create_refund(
                payment_id=paid.id, amount_minor=301, reason=None, idempotency_key=new_key()
            )
        assert info.value.code == "refund_exceeds_payment"
        assert info.value.details["refundable_minor"] == 300
        last = gateway.create_refund(
            payment_id=paid.id, amount_minor=300, reason=None, idempotency_key=new_key()
        )
        assert last.status is GatewayRefundStatus.SUCCEEDED
        with pytest.raises(GatewayError) as info:
            gateway.create_refund(
                payment_id=paid.id, amount_minor=1, reason=None, idempotency_key=new_key()
            )
        assert info.value.code == "charge_already_refunded"

    def test_refund_above_the_amount_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with pytest.raises(GatewayError) as info:
            gateway.create_refund(
                payment_id=paid.id,
                amount_minor=self.AMOUNT + 1,
                reason=None,
                idempotency_key=new_key(),
            )
        assert info.value.code == "refund_exceeds_payment"

    def test_refund_replayed_with_same_key_refunds_once(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        key = new_key()
        first = gateway.create_refund(
            payment_id=paid.id, amount_minor=600, reason="duplicate", idempotency_key=key
        )
        again = gateway.create_refund(
            payment_id=paid.id, amount_minor=600, reason="duplicate", idempotency_key=key
        )
        assert again == first
        # Had the replay refunded again, only 300 would be left.
        rest = gateway.create_refund(
            payment_id=paid.id, amount_minor=900, reason=None, idempotency_key=new_key()
        )
        assert rest.status is GatewayRefundStatus.SUCCEEDED

    def test_refund_same_key_other_amount_conflicts(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        key = new_key()
        gateway.create_refund(
            payment_id=paid.id, amount_minor=600, reason=None, idempotency_key=key
        )
        with pytest.raises(IdempotencyConflict):
            gateway.create_refund(
                payment_id=paid.id, amount_minor=700, reason=None, idempotency_key=key
            )

    def test_refund_of_unpaid_payment_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        with pytest.raises(GatewayError) as info:
            gateway.create_refund(
                payment_id=payment.id, amount_minor=100, reason=None, idempotency_key=new_key()
            )
        assert info.value.code == "payment_intent_unexpected_state"

    def test_refund_of_unknown_payment(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.create_refund(
                payment_id="pi_nope", amount_minor=100, reason=None, idempotency_key=new_key()
            )

    @pytest.mark.parametrize("reason", ["other", "subscription_canceled", "REQUESTED_BY_CUSTOMER"])
    def test_refund_reason_outside_stripes_set_is_a_validation_error(
        self, gateway: PaymentGateway, paid: GatewayPayment, reason: str
    ) -> None:
        with pytest.raises(ValidationError):
            gateway.create_refund(
                payment_id=paid.id, amount_minor=100, reason=reason, idempotency_key=new_key()
            )

    def test_retrieve_unknown_refund(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.retrieve_refund("re_nope")

    # ------------------------------------------------------------------ payment methods

    def test_attach_test_token_creates_a_method(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        method = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=new_key()
        )
        assert method.id.startswith("pm_")
        assert method.id != "pm_card_visa"
        assert method.customer_id == customer.id
        assert method.type == "card"
        assert method.card is not None
        assert method.card["brand"] == "visa"
        assert method.card["last4"] == "4242"

    def test_attach_replays_same_key(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        key = new_key()
        first = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=key
        )
        again = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=key
        )
        assert again == first

    def test_attached_method_pays_like_its_card(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        good = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=new_key()
        )
        bad = gateway.attach_payment_method(
            "pm_card_chargeDeclined", customer_id=customer.id, idempotency_key=new_key()
        )
        assert self.pay(gateway, customer.id, good.id).status is PaymentIntentStatus.SUCCEEDED
        with pytest.raises(PaymentDeclined) as info:
            self.pay(gateway, customer.id, bad.id)
        assert info.value.decline_code == "generic_decline"

    def test_attached_method_cannot_pay_for_another_customer(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        other = gateway.create_customer(email="eve@example.com", idempotency_key=new_key())
        method = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=new_key()
        )
        with pytest.raises(GatewayError):
            self.pay(gateway, other.id, method.id)

    def test_detach(self, gateway: PaymentGateway, customer: GatewayCustomer) -> None:
        method = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=new_key()
        )
        detached = gateway.detach_payment_method(method.id, idempotency_key=new_key())
        assert detached.id == method.id
        assert detached.customer_id is None
        with pytest.raises(GatewayError):
            gateway.detach_payment_method(method.id, idempotency_key=new_key())
        with pytest.raises(GatewayError):
            self.pay(gateway, customer.id, method.id)
        with pytest.raises(GatewayError):
            gateway.attach_payment_method(
                method.id, customer_id=customer.id, idempotency_key=new_key()
            )

    def test_attach_to_unknown_customer(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.attach_payment_method(
                "pm_card_visa", customer_id="cus_nope", idempotency_key=new_key()
            )

    def test_detach_unknown_method(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.detach_payment_method("pm_nope", idempotency_key=new_key())

    # ------------------------------------------------------------------ catalogue

    def test_retrieve_price_and_product(
        self, gateway: PaymentGateway, recurring_price_id: str
    ) -> None:
        price = gateway.retrieve_price(recurring_price_id)
        assert isinstance(price, GatewayPrice)
        assert price.id == recurring_price_id
        assert price.unit_amount_minor == 2000
        assert price.currency == "USD"
        assert price.recurring is not None
        assert price.recurring.interval == "month"
        assert price.active is True
        assert price.product_id is not None
        product = gateway.retrieve_product(price.product_id)
        assert isinstance(product, GatewayProduct)
        assert product.id == price.product_id

    def test_retrieve_unknown_price_and_product(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.retrieve_price("price_nope")
        with pytest.raises(NotFound):
            gateway.retrieve_product("prod_nope")

    # ------------------------------------------------------------------ subscriptions

    @pytest.fixture
    def card(self, gateway: PaymentGateway, customer: GatewayCustomer) -> str:
        """The id of a Visa attached to ``customer`` (and so their default method)."""
        return gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer.id, idempotency_key=new_key()
        ).id

    def test_create_subscription(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id,
            price_id=recurring_price_id,
            quantity=2,
            payment_method_id=card,
            idempotency_key=new_key(),
        )
        assert sub.status is GatewaySubscriptionStatus.ACTIVE
        assert sub.customer_id == customer.id
        assert sub.price_id == recurring_price_id
        assert sub.quantity == 2
        assert sub.unit_amount_minor == 2000
        assert sub.currency == "USD"
        assert sub.cancel_at_period_end is False
        assert sub.canceled_at is None
        assert sub.trial_end is None
        assert timedelta(days=28) <= sub.current_period_end - sub.current_period_start
        assert sub.current_period_end - sub.current_period_start <= timedelta(days=31)
        assert sub.raw["id"] == sub.id
        assert sub.raw["items"]["data"][0]["price"]["id"] == recurring_price_id
        assert gateway.retrieve_subscription(sub.id) == sub

    def test_subscription_uses_the_customers_default_method(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        assert sub.status is GatewaySubscriptionStatus.ACTIVE

    def test_subscription_with_trial(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id,
            price_id=recurring_price_id,
            trial_days=14,
            idempotency_key=new_key(),
        )
        assert sub.status is GatewaySubscriptionStatus.TRIALING
        assert sub.trial_start is not None
        assert sub.trial_end is not None
        assert sub.trial_end - sub.trial_start == timedelta(days=14)
        assert sub.current_period_end == sub.trial_end

    def test_subscription_with_declining_card_is_incomplete(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> None:
        method = gateway.attach_payment_method(
            "pm_card_chargeDeclined", customer_id=customer.id, idempotency_key=new_key()
        )
        sub = gateway.create_subscription(
            customer_id=customer.id,
            price_id=recurring_price_id,
            payment_method_id=method.id,
            idempotency_key=new_key(),
        )
        assert sub.status is GatewaySubscriptionStatus.INCOMPLETE

    def test_subscription_without_any_method_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> None:
        with pytest.raises(GatewayError) as info:
            gateway.create_subscription(
                customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
            )
        assert info.value.code == "missing_payment_method"

    def test_subscription_to_unknown_price_or_customer(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        with pytest.raises(NotFound):
            gateway.create_subscription(
                customer_id=customer.id, price_id="price_nope", idempotency_key=new_key()
            )
        with pytest.raises(NotFound):
            gateway.create_subscription(
                customer_id="cus_nope", price_id=recurring_price_id, idempotency_key=new_key()
            )

    def test_create_subscription_replays_same_key(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        key = new_key()
        first = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=key
        )
        again = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=key
        )
        assert again.id == first.id
        with pytest.raises(IdempotencyConflict):
            gateway.create_subscription(
                customer_id=customer.id,
                price_id=recurring_price_id,
                quantity=5,
                idempotency_key=key,
            )

    def test_update_quantity(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        updated = gateway.update_subscription(sub.id, quantity=3, idempotency_key=new_key())
        assert updated.quantity == 3
        assert updated.price_id == recurring_price_id
        assert updated.current_period_end == sub.current_period_end
        assert gateway.retrieve_subscription(sub.id).quantity == 3

    def test_cancel_at_period_end_then_resume(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        pending = gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key=new_key())
        assert pending.status is GatewaySubscriptionStatus.ACTIVE
        assert pending.cancel_at_period_end is True
        assert pending.raw["cancel_at"] == pending.raw["items"]["data"][0]["current_period_end"]
        resumed = gateway.resume_subscription(sub.id, idempotency_key=new_key())
        assert resumed.status is GatewaySubscriptionStatus.ACTIVE
        assert resumed.cancel_at_period_end is False
        assert resumed.canceled_at is None

    def test_update_can_set_and_clear_cancel_at_period_end(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        flagged = gateway.update_subscription(
            sub.id, cancel_at_period_end=True, idempotency_key=new_key()
        )
        assert flagged.cancel_at_period_end is True
        cleared = gateway.update_subscription(
            sub.id, cancel_at_period_end=False, idempotency_key=new_key()
        )
        assert cleared.cancel_at_period_end is False

    def test_cancel_now(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        canceled = gateway.cancel_subscription(
            sub.id, at_period_end=False, idempotency_key=new_key()
        )
        assert canceled.status is GatewaySubscriptionStatus.CANCELED
        assert canceled.canceled_at is not None
        attempts: list[Callable[[], object]] = [
            lambda: gateway.update_subscription(sub.id, quantity=2, idempotency_key=new_key()),
            lambda: gateway.resume_subscription(sub.id, idempotency_key=new_key()),
            lambda: gateway.cancel_subscription(
                sub.id, at_period_end=False, idempotency_key=new_key()
            ),
        ]
        for attempt in attempts:
            with pytest.raises(GatewayError) as info:
                attempt()
            assert info.value.code == "subscription_unexpected_state"

    def test_resume_without_pending_cancellation_is_refused(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> None:
        sub = gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )
        with pytest.raises(GatewayError) as info:
            gateway.resume_subscription(sub.id, idempotency_key=new_key())
        assert info.value.code == "subscription_unexpected_state"

    def test_retrieve_unknown_subscription(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.retrieve_subscription("sub_nope")
