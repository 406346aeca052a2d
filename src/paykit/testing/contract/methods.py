"""The gateway contract: payment methods and the catalogue."""

from __future__ import annotations

import pytest

from paykit.errors import (
    GatewayError,
    NotFound,
    PaymentDeclined,
)
from paykit.gateways import (
    GatewayCustomer,
    GatewayPrice,
    GatewayProduct,
    PaymentGateway,
    PaymentIntentStatus,
)

__all__ = ["MethodsContract"]

from paykit.testing.contract._base import ContractBase, new_key


class MethodsContract(ContractBase):
    """The contract's checks of payment methods and the catalogue."""

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
        good = self.attach(gateway, customer.id)
        bad = self.attach(gateway, customer.id, "pm_card_chargeDeclined")
        assert self.pay(gateway, customer.id, good.id).status is PaymentIntentStatus.SUCCEEDED
        with pytest.raises(PaymentDeclined) as info:
            self.pay(gateway, customer.id, bad.id)
        assert info.value.decline_code == "generic_decline"

    def test_attached_method_cannot_pay_for_another_customer(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        other = gateway.create_customer(email="eve@example.com", idempotency_key=new_key())
        method = self.attach(gateway, customer.id)
        with pytest.raises(GatewayError):
            self.pay(gateway, other.id, method.id)

    def test_detach(self, gateway: PaymentGateway, customer: GatewayCustomer) -> None:
        method = self.attach(gateway, customer.id)
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
