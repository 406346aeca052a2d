"""The gateway contract: refunds."""

from __future__ import annotations

import pytest

from paykit.errors import (
    IdempotencyConflict,
    NotFound,
    ValidationError,
)
from paykit.gateways import (
    GatewayCustomer,
    GatewayPayment,
    GatewayRefundStatus,
    PaymentGateway,
)

__all__ = ["RefundsContract"]

from paykit.testing.contract._base import ContractBase, new_key, refused


class RefundsContract(ContractBase):
    """The contract's checks of refunds."""

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
        with refused("refund_exceeds_payment") as info:
            gateway.create_refund(
                payment_id=paid.id, amount_minor=301, reason=None, idempotency_key=new_key()
            )
        assert info.value.details["refundable_minor"] == 300
        last = gateway.create_refund(
            payment_id=paid.id, amount_minor=300, reason=None, idempotency_key=new_key()
        )
        assert last.status is GatewayRefundStatus.SUCCEEDED
        with refused("charge_already_refunded"):
            gateway.create_refund(
                payment_id=paid.id, amount_minor=1, reason=None, idempotency_key=new_key()
            )

    def test_refund_above_the_amount_is_refused(
        self, gateway: PaymentGateway, paid: GatewayPayment
    ) -> None:
        with refused("refund_exceeds_payment"):
            gateway.create_refund(
                payment_id=paid.id,
                amount_minor=self.AMOUNT + 1,
                reason=None,
                idempotency_key=new_key(),
            )

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
        with refused("payment_intent_unexpected_state"):
            gateway.create_refund(
                payment_id=payment.id, amount_minor=100, reason=None, idempotency_key=new_key()
            )

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
