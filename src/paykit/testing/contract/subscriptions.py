"""The gateway contract: subscriptions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from paykit.errors import (
    IdempotencyConflict,
    NotFound,
)
from paykit.gateways import (
    GatewayCustomer,
    GatewaySubscription,
    GatewaySubscriptionStatus,
    PaymentGateway,
)

__all__ = ["SubscriptionsContract"]

from paykit.testing.contract._base import ContractBase, new_key, refused


class SubscriptionsContract(ContractBase):
    """The contract's checks of subscriptions."""

    # ------------------------------------------------------------------ subscriptions

    @pytest.fixture
    def card(self, gateway: PaymentGateway, customer: GatewayCustomer) -> str:
        """The id of a Visa attached to ``customer`` (and so their default method)."""
        return self.attach(gateway, customer.id).id

    @pytest.fixture
    def subscription(
        self,
        gateway: PaymentGateway,
        customer: GatewayCustomer,
        recurring_price_id: str,
        card: str,
    ) -> GatewaySubscription:
        """An active subscription of ``customer`` to the price, paid by ``card`` (their default)."""
        return gateway.create_subscription(
            customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
        )

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
        self, subscription: GatewaySubscription
    ) -> None:
        assert subscription.status is GatewaySubscriptionStatus.ACTIVE

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
        method = self.attach(gateway, customer.id, "pm_card_chargeDeclined")
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
        with refused("missing_payment_method"):
            gateway.create_subscription(
                customer_id=customer.id, price_id=recurring_price_id, idempotency_key=new_key()
            )

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
        self, gateway: PaymentGateway, recurring_price_id: str, subscription: GatewaySubscription
    ) -> None:
        updated = gateway.update_subscription(
            subscription.id, quantity=3, idempotency_key=new_key()
        )
        assert updated.quantity == 3
        assert updated.price_id == recurring_price_id
        assert updated.current_period_end == subscription.current_period_end
        assert gateway.retrieve_subscription(subscription.id).quantity == 3

    def test_cancel_at_period_end_then_resume(
        self, gateway: PaymentGateway, subscription: GatewaySubscription
    ) -> None:
        pending = gateway.cancel_subscription(
            subscription.id, at_period_end=True, idempotency_key=new_key()
        )
        assert pending.status is GatewaySubscriptionStatus.ACTIVE
        assert pending.cancel_at_period_end is True
        assert pending.raw["cancel_at"] == pending.raw["items"]["data"][0]["current_period_end"]
        resumed = gateway.resume_subscription(subscription.id, idempotency_key=new_key())
        assert resumed.status is GatewaySubscriptionStatus.ACTIVE
        assert resumed.cancel_at_period_end is False
        assert resumed.canceled_at is None

    def test_update_can_set_and_clear_cancel_at_period_end(
        self, gateway: PaymentGateway, subscription: GatewaySubscription
    ) -> None:
        flagged = gateway.update_subscription(
            subscription.id, cancel_at_period_end=True, idempotency_key=new_key()
        )
        assert flagged.cancel_at_period_end is True
        cleared = gateway.update_subscription(
            subscription.id, cancel_at_period_end=False, idempotency_key=new_key()
        )
        assert cleared.cancel_at_period_end is False

    def test_cancel_now(self, gateway: PaymentGateway, subscription: GatewaySubscription) -> None:
        canceled = gateway.cancel_subscription(
            subscription.id, at_period_end=False, idempotency_key=new_key()
        )
        assert canceled.status is GatewaySubscriptionStatus.CANCELED
        assert canceled.canceled_at is not None
        attempts: list[Callable[[], object]] = [
            lambda: gateway.update_subscription(
                subscription.id, quantity=2, idempotency_key=new_key()
            ),
            lambda: gateway.resume_subscription(subscription.id, idempotency_key=new_key()),
            lambda: gateway.cancel_subscription(
                subscription.id, at_period_end=False, idempotency_key=new_key()
            ),
        ]
        for attempt in attempts:
            with refused("subscription_unexpected_state"):
                attempt()

    def test_resume_without_pending_cancellation_is_refused(
        self, gateway: PaymentGateway, subscription: GatewaySubscription
    ) -> None:
        with refused("subscription_unexpected_state"):
            gateway.resume_subscription(subscription.id, idempotency_key=new_key())

    def test_retrieve_unknown_subscription(self, gateway: PaymentGateway) -> None:
        with pytest.raises(NotFound):
            gateway.retrieve_subscription("sub_nope")
