"""The gateway contract: customers, payments, idempotency, cancel and update."""

from __future__ import annotations

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
    PaymentGateway,
    PaymentIntentStatus,
)

__all__ = ["PaymentsContract"]

from paykit.testing.contract._base import (
    DECLINING_CARDS,
    SUCCEEDING_CARDS,
    ContractBase,
    new_key,
    refused,
)


class PaymentsContract(ContractBase):
    """The contract's checks of customers, payments, idempotency, cancel and update."""

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
        with refused("idempotency_conflict", IdempotencyConflict):
            gateway.create_customer(email="eve@example.com", idempotency_key=key)

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
        payment = self.unpaid(gateway, customer.id, "pm_card_visa", amount=500)
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
        payment = self.unpaid(gateway, customer.id, "pm_card_mastercard", amount=700)
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
        with refused("payment_intent_unexpected_state"):
            gateway.confirm_payment(payment.id, idempotency_key=new_key())

    def test_confirm_succeeded_payment_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with refused("payment_intent_unexpected_state"):
            gateway.confirm_payment(
                paid.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
            )

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
        with refused("idempotency_conflict", IdempotencyConflict) as info:
            gateway.create_payment(**{**params, **change}, idempotency_key=key)  # type: ignore[arg-type]
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
        with refused("payment_intent_unexpected_state"):
            gateway.cancel_payment(paid.id, idempotency_key=new_key())
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
        with refused("amount_too_small", ValidationError):
            gateway.create_payment(
                amount_minor=amount, currency=currency, customer_id=None, idempotency_key=new_key()
            )
        # One minor unit more than the minimum is fine.
        gateway.create_payment(
            amount_minor=amount + 1, currency=currency, customer_id=None, idempotency_key=new_key()
        )

    def test_update_amount_below_the_minimum_is_refused(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        payment = self.unpaid(gateway, customer.id)
        with refused("amount_too_small", (ValidationError, GatewayError)):
            gateway.update_payment_amount(payment.id, amount_minor=10, idempotency_key=new_key())
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
        with refused("payment_intent_unexpected_state"):
            gateway.update_payment_amount(paid.id, amount_minor=100, idempotency_key=new_key())
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
