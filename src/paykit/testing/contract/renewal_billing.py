"""The gateway contract: a subscription's own payment method, trial-end rule and
upcoming invoice (``RenewalBillingGateway``).

Skipped for a gateway that does not implement that Protocol (it is optional).
"""

from __future__ import annotations

import pytest

from paykit.errors import IdempotencyConflict, NotFound, ValidationError
from paykit.gateways import GatewayCustomer, PaymentGateway
from paykit.gateways.renewal_billing import RenewalBillingGateway
from paykit.testing.contract._base import ContractBase, implementing, new_key, refused

__all__ = ["RenewalBillingContract"]


class RenewalBillingContract(ContractBase):
    """The contract's checks of ``set_subscription_default_payment_method``,
    ``set_trial_end_behavior`` and ``upcoming_invoice``."""

    @pytest.fixture
    def renewals(self, gateway: PaymentGateway) -> RenewalBillingGateway:
        """The gateway as a ``RenewalBillingGateway``, or the test is skipped."""
        return implementing(gateway, RenewalBillingGateway)

    @pytest.fixture
    def renewing_sub_id(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> str:
        """An active subscription to 3 of the price, paid by the customer's default Visa."""
        return self.subscribe(gateway, customer.id, recurring_price_id)

    def test_subscription_default_payment_method_is_set_and_cleared(
        self,
        gateway: PaymentGateway,
        renewals: RenewalBillingGateway,
        customer: GatewayCustomer,
        renewing_sub_id: str,
    ) -> None:
        other = self.attach(gateway, customer.id, "pm_card_mastercard")
        key = new_key()
        changed = renewals.set_subscription_default_payment_method(
            renewing_sub_id, payment_method_id=other.id, idempotency_key=key
        )
        assert changed.default_payment_method_id == other.id
        assert gateway.retrieve_subscription(renewing_sub_id).default_payment_method_id == other.id
        again = renewals.set_subscription_default_payment_method(
            renewing_sub_id, payment_method_id=other.id, idempotency_key=key
        )
        assert again.default_payment_method_id == other.id
        with pytest.raises(IdempotencyConflict):
            renewals.set_subscription_default_payment_method(
                renewing_sub_id, payment_method_id=None, idempotency_key=key
            )
        cleared = renewals.set_subscription_default_payment_method(
            renewing_sub_id, payment_method_id=None, idempotency_key=new_key()
        )
        assert cleared.default_payment_method_id is None

    def test_subscription_default_payment_method_refusals(
        self, gateway: PaymentGateway, renewals: RenewalBillingGateway, renewing_sub_id: str
    ) -> None:
        with pytest.raises(NotFound):
            renewals.set_subscription_default_payment_method(
                "sub_missing", payment_method_id=None, idempotency_key=new_key()
            )
        stranger = gateway.create_customer(email="eve@example.com", idempotency_key=new_key())
        theirs = self.attach(gateway, stranger.id)
        with refused("payment_method_unexpected_state"):
            renewals.set_subscription_default_payment_method(
                renewing_sub_id, payment_method_id=theirs.id, idempotency_key=new_key()
            )
        gateway.cancel_subscription(renewing_sub_id, at_period_end=False, idempotency_key=new_key())
        with refused("subscription_unexpected_state"):
            renewals.set_subscription_default_payment_method(
                renewing_sub_id, payment_method_id=None, idempotency_key=new_key()
            )

    @pytest.mark.parametrize("behavior", ["cancel", "pause", "create_invoice"])
    def test_trial_end_behavior_is_accepted(
        self,
        gateway: PaymentGateway,
        renewals: RenewalBillingGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        behavior: str,
    ) -> None:
        sub_id = self.subscribe(gateway, customer.id, recurring_price_id, trial_days=7)
        changed = renewals.set_trial_end_behavior(
            sub_id, trial_end_behavior=behavior, idempotency_key=new_key()
        )
        assert changed.id == sub_id
        assert str(changed.status) == "trialing"

    def test_trial_end_behavior_refuses_unknown_words(
        self, renewals: RenewalBillingGateway
    ) -> None:
        with pytest.raises(ValidationError):
            renewals.set_trial_end_behavior(
                "sub_any", trial_end_behavior="explode", idempotency_key=new_key()
            )

    def test_upcoming_invoice_of_an_unchanged_subscription(
        self,
        gateway: PaymentGateway,
        renewals: RenewalBillingGateway,
        recurring_price_id: str,
        renewing_sub_id: str,
    ) -> None:
        sub = gateway.retrieve_subscription(renewing_sub_id)
        upcoming = renewals.upcoming_invoice(renewing_sub_id)
        assert upcoming.invoice.subscription_id == renewing_sub_id
        assert upcoming.invoice.total_minor == 3 * 2000
        assert upcoming.invoice.amount_due_minor == 3 * 2000
        assert upcoming.invoice.due_date == sub.current_period_end
        assert [(line.price_id, line.quantity, line.amount_minor) for line in upcoming.lines] == [
            (recurring_price_id, 3, 6000)
        ]
        assert upcoming.lines[0].period_start == sub.current_period_end
        # Nothing was created: asking again gives the same invoice.
        assert renewals.upcoming_invoice(renewing_sub_id).invoice.total_minor == 6000

    def test_upcoming_invoice_refusals(
        self, gateway: PaymentGateway, renewals: RenewalBillingGateway, renewing_sub_id: str
    ) -> None:
        with pytest.raises(NotFound):
            renewals.upcoming_invoice("sub_missing")
        gateway.cancel_subscription(renewing_sub_id, at_period_end=False, idempotency_key=new_key())
        with refused("subscription_unexpected_state"):
            renewals.upcoming_invoice(renewing_sub_id)
