"""The gateway contract: saved cards (SetupIntents), invoices and hosted checkout.

These checks run only against a gateway that implements
:class:`~paykit.gateways.billing.BillingMethodsGateway` (they skip otherwise).
The invoice checks need an open invoice, which no Protocol call creates (the
processor's billing engine does): provide a ``make_open_invoice`` fixture, a
callable ``(customer_id, amount_minor) -> invoice id``; without it they skip.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paykit.errors import NotFound, PaymentDeclined, ValidationError
from paykit.gateways import GatewayCustomer, PaymentGateway
from paykit.gateways.billing import BillingMethodsGateway
from paykit.testing.contract._base import ContractBase, implementing, new_key, refused

__all__ = ["BillingContract"]

MakeInvoice = Callable[[str, int], str]
_OK = "https://shop.example/ok"
_NO = "https://shop.example/no"


def _billing(gateway: PaymentGateway) -> BillingMethodsGateway:
    return implementing(gateway, BillingMethodsGateway)


class BillingContract(ContractBase):
    """The contract's checks of SetupIntents, saved cards, invoices and checkout."""

    @pytest.fixture
    def make_open_invoice(self) -> MakeInvoice:
        """Override: a callable that gives ``customer_id`` an open invoice of ``amount``."""
        pytest.skip("provide a make_open_invoice fixture to run the invoice checks")

    def _saved(self, gateway: PaymentGateway, customer_id: str, token: str = "pm_card_visa") -> str:
        billing = _billing(gateway)
        intent = billing.create_setup_intent(customer_id=customer_id, idempotency_key=new_key())
        done = billing.confirm_setup_intent(
            intent.id, payment_method_id=token, idempotency_key=new_key()
        )
        assert done.payment_method_id is not None
        return done.payment_method_id

    # ------------------------------------------------------------------ setup intents

    def test_setup_intent_starts_with_a_client_secret(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        key = new_key()
        intent = billing.create_setup_intent(customer_id=customer.id, idempotency_key=key)
        assert intent.id.startswith("seti_")
        assert intent.status == "requires_payment_method"
        assert intent.client_secret
        assert intent.client_secret.startswith(intent.id)
        assert intent.customer_id == customer.id
        assert intent.payment_method_id is None
        again = billing.create_setup_intent(customer_id=customer.id, idempotency_key=key)
        assert again.id == intent.id
        assert billing.retrieve_setup_intent(intent.id).id == intent.id

    def test_confirmed_setup_intent_saves_a_card_with_its_expiry(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        method_id = self._saved(gateway, customer.id)
        method = billing.retrieve_payment_method(method_id)
        assert method.customer_id == customer.id
        assert method.card is not None
        assert method.card["last4"] == "4242"
        assert 1 <= int(method.card["exp_month"]) <= 12
        assert int(method.card["exp_year"]) >= 2000
        assert [m.id for m in billing.list_payment_methods(customer.id)] == [method_id]

    def test_a_declined_card_saves_nothing(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        intent = billing.create_setup_intent(customer_id=customer.id, idempotency_key=new_key())
        with pytest.raises(PaymentDeclined):
            billing.confirm_setup_intent(
                intent.id, payment_method_id="pm_card_chargeDeclined", idempotency_key=new_key()
            )
        assert billing.list_payment_methods(customer.id) == []

    def test_a_succeeded_setup_intent_cannot_be_confirmed_again(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        intent = billing.create_setup_intent(customer_id=customer.id, idempotency_key=new_key())
        billing.confirm_setup_intent(
            intent.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
        )
        with refused("setup_intent_unexpected_state"):
            billing.confirm_setup_intent(
                intent.id, payment_method_id="pm_card_visa", idempotency_key=new_key()
            )

    def test_unknown_billing_ids_are_not_found(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        with pytest.raises(NotFound):
            billing.retrieve_setup_intent("seti_missing")
        with pytest.raises(NotFound):
            billing.retrieve_payment_method("pm_missing")
        with pytest.raises(NotFound):
            billing.retrieve_invoice("in_missing")
        with pytest.raises(NotFound):
            billing.retrieve_checkout_session("cs_missing")

    # ------------------------------------------------------------------ default method

    def test_default_method_is_the_customers_own_only(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        other = gateway.create_customer(email="eve@example.com", idempotency_key=new_key())
        mine = self._saved(gateway, customer.id)
        theirs = self._saved(gateway, other.id)
        assert (
            billing.set_default_payment_method(
                customer.id, payment_method_id=mine, idempotency_key=new_key()
            ).id
            == mine
        )
        with refused("payment_method_unexpected_state"):
            billing.set_default_payment_method(
                customer.id, payment_method_id=theirs, idempotency_key=new_key()
            )

    # ------------------------------------------------------------------ invoices

    def test_pay_an_open_invoice_once(
        self, gateway: PaymentGateway, customer: GatewayCustomer, make_open_invoice: MakeInvoice
    ) -> None:
        billing = _billing(gateway)
        method = self._saved(gateway, customer.id)
        invoice_id = make_open_invoice(customer.id, 2500)
        key = new_key()
        paid = billing.pay_invoice(invoice_id, payment_method_id=method, idempotency_key=key)
        assert str(paid.invoice.status) == "paid"
        assert paid.invoice.amount_paid_minor == paid.invoice.total_minor == 2500
        assert (
            billing.pay_invoice(invoice_id, payment_method_id=method, idempotency_key=key) == paid
        )
        with refused("invoice_unexpected_state"):
            billing.pay_invoice(invoice_id, idempotency_key=new_key())
        with refused("invoice_unexpected_state"):
            billing.void_invoice(invoice_id, idempotency_key=new_key())

    def test_a_declined_invoice_payment_leaves_it_open(
        self, gateway: PaymentGateway, customer: GatewayCustomer, make_open_invoice: MakeInvoice
    ) -> None:
        billing = _billing(gateway)
        bad = self.attach(gateway, customer.id, "pm_card_chargeDeclined")
        invoice_id = make_open_invoice(customer.id, 1200)
        with pytest.raises(PaymentDeclined):
            billing.pay_invoice(invoice_id, payment_method_id=bad.id, idempotency_key=new_key())
        assert str(billing.retrieve_invoice(invoice_id).invoice.status) == "open"

    def test_void_an_open_invoice(
        self, gateway: PaymentGateway, customer: GatewayCustomer, make_open_invoice: MakeInvoice
    ) -> None:
        billing = _billing(gateway)
        invoice_id = make_open_invoice(customer.id, 900)
        voided = billing.void_invoice(invoice_id, idempotency_key=new_key())
        assert str(voided.invoice.status) == "void"
        with refused("invoice_unexpected_state"):
            billing.pay_invoice(invoice_id, idempotency_key=new_key())

    def test_an_invoice_carries_its_lines(
        self, gateway: PaymentGateway, customer: GatewayCustomer, make_open_invoice: MakeInvoice
    ) -> None:
        details = _billing(gateway).retrieve_invoice(make_open_invoice(customer.id, 700))
        assert details.customer_id == customer.id
        assert sum(line.amount_minor for line in details.lines) == details.invoice.subtotal_minor

    # ------------------------------------------------------------------ checkout

    def test_checkout_sessions_for_setup_and_subscription(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> None:
        billing = _billing(gateway)
        setup = billing.create_checkout_session(
            customer_id=customer.id,
            mode="setup",
            idempotency_key=new_key(),
            success_url=_OK,
            cancel_url=_NO,
        )
        assert setup.status == "open"
        assert setup.mode == "setup"
        assert setup.url
        sub = billing.create_checkout_session(
            customer_id=customer.id,
            mode="subscription",
            price_id=recurring_price_id,
            quantity=2,
            client_reference_id="user-1",
            idempotency_key=new_key(),
            success_url=_OK,
            cancel_url=_NO,
        )
        assert sub.mode == "subscription"
        assert sub.customer_id == customer.id
        assert sub.client_reference_id == "user-1"
        assert billing.retrieve_checkout_session(sub.id).status == "open"

    def test_checkout_refuses_bad_arguments_before_any_request(
        self, gateway: PaymentGateway, customer: GatewayCustomer
    ) -> None:
        billing = _billing(gateway)
        # "payment" is not one of CHECKOUT_MODES; "subscription" needs a price_id.
        for mode in ("payment", "subscription"):
            with pytest.raises(ValidationError):
                billing.create_checkout_session(
                    customer_id=customer.id,
                    mode=mode,
                    idempotency_key=new_key(),
                    success_url=_OK,
                    cancel_url=_NO,
                )
