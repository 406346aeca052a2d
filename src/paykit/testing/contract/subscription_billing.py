"""The gateway contract: prorated item changes and trial moves (``SubscriptionBillingGateway``).

Skipped for a gateway that does not implement that Protocol (it is optional).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from paykit.errors import GatewayError, IdempotencyConflict, NotFound, ValidationError
from paykit.gateways import (
    GatewayCustomer,
    GatewaySubscription,
    GatewaySubscriptionStatus,
    PaymentGateway,
)
from paykit.gateways.subscription_billing import SubscriptionBillingGateway
from paykit.testing.contract._base import ContractBase, implementing, new_key, refused

__all__ = ["SubscriptionBillingContract"]


class SubscriptionBillingContract(ContractBase):
    """The contract's checks of ``change_subscription_items`` and ``set_trial_end``."""

    @pytest.fixture
    def billing(self, gateway: PaymentGateway) -> SubscriptionBillingGateway:
        """The gateway as a ``SubscriptionBillingGateway``, or the test is skipped."""
        return implementing(gateway, SubscriptionBillingGateway)

    @pytest.fixture
    def prorating_sub_id(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> str:
        """An active subscription to 3 of the price, paid by its own Visa."""
        return self.subscribe(gateway, customer.id, recurring_price_id, method_on_subscription=True)

    @pytest.fixture
    def trialing_sub_id(
        self, gateway: PaymentGateway, customer: GatewayCustomer, recurring_price_id: str
    ) -> str:
        """As ``prorating_sub_id``, in a 7-day trial."""
        return self.subscribe(
            gateway, customer.id, recurring_price_id, trial_days=7, method_on_subscription=True
        )

    @pytest.mark.parametrize("behavior", ["create_prorations", "always_invoice", "none"])
    def test_change_items_with_each_proration_behavior(
        self,
        gateway: PaymentGateway,
        billing: SubscriptionBillingGateway,
        recurring_price_id: str,
        behavior: str,
        prorating_sub_id: str,
    ) -> None:
        key = new_key()

        def change(quantity: int) -> GatewaySubscription:
            """The change to ``quantity``, always under the same idempotency key."""
            return billing.change_subscription_items(
                prorating_sub_id,
                quantity=quantity,
                proration_behavior=behavior,
                idempotency_key=key,
            )

        changed = change(5)
        assert changed.quantity == 5
        assert changed.price_id == recurring_price_id
        assert gateway.retrieve_subscription(prorating_sub_id).quantity == 5
        assert change(5).quantity == 5
        with pytest.raises(IdempotencyConflict):
            change(6)

    def test_change_items_refuses_bad_input_and_ended_subscriptions(
        self, gateway: PaymentGateway, billing: SubscriptionBillingGateway, prorating_sub_id: str
    ) -> None:
        with pytest.raises(ValidationError):
            billing.change_subscription_items(
                prorating_sub_id,
                quantity=2,
                proration_behavior="sometimes",
                idempotency_key=new_key(),
            )
        with pytest.raises(ValidationError):
            billing.change_subscription_items(
                prorating_sub_id, quantity=0, proration_behavior="none", idempotency_key=new_key()
            )
        with pytest.raises(NotFound):
            billing.change_subscription_items(
                "sub_missing", quantity=2, proration_behavior="none", idempotency_key=new_key()
            )
        gateway.cancel_subscription(
            prorating_sub_id, at_period_end=False, idempotency_key=new_key()
        )
        with refused("subscription_unexpected_state"):
            billing.change_subscription_items(
                prorating_sub_id, quantity=2, proration_behavior="none", idempotency_key=new_key()
            )
        assert gateway.retrieve_subscription(prorating_sub_id).quantity == 3

    def test_set_trial_end_extends_and_ends_a_trial(
        self, gateway: PaymentGateway, billing: SubscriptionBillingGateway, trialing_sub_id: str
    ) -> None:
        sub = gateway.retrieve_subscription(trialing_sub_id)
        assert sub.trial_end is not None
        later = sub.trial_end + timedelta(days=7)
        extended = billing.set_trial_end(
            trialing_sub_id, trial_end=later, idempotency_key=new_key()
        )
        assert extended.status is GatewaySubscriptionStatus.TRIALING
        assert extended.trial_end == later
        assert extended.current_period_end == later
        ended = billing.set_trial_end(trialing_sub_id, trial_end=None, idempotency_key=new_key())
        assert ended.status is GatewaySubscriptionStatus.ACTIVE
        assert ended.trial_end is not None
        assert ended.trial_end <= later
        with refused("subscription_unexpected_state"):
            billing.set_trial_end(trialing_sub_id, trial_end=None, idempotency_key=new_key())

    def test_set_trial_end_refuses_a_past_time(
        self, gateway: PaymentGateway, billing: SubscriptionBillingGateway, trialing_sub_id: str
    ) -> None:
        sub = gateway.retrieve_subscription(trialing_sub_id)
        with pytest.raises((ValidationError, GatewayError)):
            billing.set_trial_end(
                trialing_sub_id,
                trial_end=sub.current_period_start - timedelta(days=1),
                idempotency_key=new_key(),
            )
        assert gateway.retrieve_subscription(trialing_sub_id).trial_end == sub.trial_end

    def test_change_items_names_the_item(
        self, gateway: PaymentGateway, billing: SubscriptionBillingGateway, prorating_sub_id: str
    ) -> None:
        first = gateway.retrieve_subscription(prorating_sub_id).items[0].id
        changed = billing.change_subscription_items(
            prorating_sub_id,
            quantity=4,
            proration_behavior="none",
            item_id=first,
            idempotency_key=new_key(),
        )
        assert changed.quantity == 4
        with pytest.raises(NotFound):
            billing.change_subscription_items(
                prorating_sub_id,
                quantity=5,
                proration_behavior="none",
                item_id="si_missing",
                idempotency_key=new_key(),
            )
