"""The subscription calls of :class:`~paykit.stripe.gateway.StripeGateway`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from paykit.gateways._checks import check_count, check_key
from paykit.gateways.base import GatewaySubscription
from paykit.gateways.renewal_billing import check_trial_end_behavior
from paykit.stripe.billing import subscription_from_stripe
from paykit.stripe.client import StripeApi
from paykit.stripe.statuses import refuse_if_ended, subscription_state_error

__all__ = ["SubscriptionCalls"]


class SubscriptionCalls:
    """The Protocol's subscription methods over ``/v1/subscriptions``."""

    _api: StripeApi

    def retrieve_subscription(self, subscription_id: str) -> GatewaySubscription:
        """The subscription as Stripe has it now."""
        return subscription_from_stripe(self._subscription(subscription_id))

    def _subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._api.get(f"/v1/subscriptions/{subscription_id}", object_id=subscription_id)

    def _post_subscription(
        self, subscription_id: str, params: Mapping[str, Any], key: str, *, action: str = ""
    ) -> GatewaySubscription:
        """``POST /v1/subscriptions/{id}`` (or ``.../{action}``) under ``key``."""
        obj = self._api.post_to(
            "subscriptions", subscription_id, params, idempotency_key=key, action=action
        )
        return subscription_from_stripe(obj)

    def _live_subscription(self, subscription_id: str, verb: str) -> dict[str, Any]:
        """The subscription as Stripe has it; an ended one is refused (``GatewayError``)."""
        current = self._subscription(subscription_id)
        refuse_if_ended(current, verb)
        return current

    @staticmethod
    def _item_change(item_id: str, price_id: str | None, quantity: int | None) -> dict[str, Any]:
        """One entry of ``items``: the item's id and what changes (``None``: unchanged)."""
        item: dict[str, Any] = {"id": item_id}
        if price_id is not None:
            item["price"] = price_id
        if quantity is not None:
            item["quantity"] = quantity
        return item

    def create_subscription(
        self,
        *,
        customer_id: str,
        price_id: str,
        quantity: int = 1,
        trial_days: int | None = None,
        coupon: str | None = None,
        payment_method_id: str | None = None,
        trial_end_behavior: str | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Create a subscription; a declined first charge gives ``incomplete``, not an error.

        ``trial_end_behavior``: Stripe's ``trial_settings.end_behavior.missing_payment_method``.
        """
        check_key(idempotency_key)
        if trial_end_behavior is not None:
            check_trial_end_behavior(trial_end_behavior)
        params: dict[str, Any] = {
            "customer": customer_id,
            "items": [{"price": price_id, "quantity": check_count(quantity, "quantity")}],
            # Stripe's default too, spelled out: a declined first invoice must
            # give an incomplete subscription, never a 402.
            "payment_behavior": "allow_incomplete",
        }
        if trial_days is not None:
            params["trial_period_days"] = check_count(trial_days, "trial_days")
        if coupon is not None:
            params["discounts"] = [{"coupon": coupon}]
        if payment_method_id is not None:
            params["default_payment_method"] = payment_method_id
        if trial_end_behavior is not None:
            params["trial_settings"] = {
                "end_behavior": {"missing_payment_method": trial_end_behavior}
            }
        obj = self._api.post("/v1/subscriptions", params, idempotency_key=idempotency_key)
        return subscription_from_stripe(obj)

    def update_subscription(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        cancel_at_period_end: bool | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Change the price, quantity or end-of-period cancellation; ``None`` keeps a field."""
        check_key(idempotency_key)
        if quantity is not None:
            check_count(quantity, "quantity")
        current = self._live_subscription(subscription_id, "update")
        params: dict[str, Any] = {}
        if price_id is not None or quantity is not None:
            first_id = current["items"]["data"][0]["id"]
            params["items"] = [self._item_change(first_id, price_id, quantity)]
        if cancel_at_period_end is not None:
            params["cancel_at_period_end"] = bool(cancel_at_period_end)
        return self._post_subscription(subscription_id, params, idempotency_key)

    def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> GatewaySubscription:
        """Cancel now (``DELETE``), or set ``cancel_at_period_end``.

        Stripe ignores idempotency keys on ``DELETE``, so an immediate cancel
        retried after a timeout raises ``subscription_unexpected_state``;
        ``paykit.services.subscriptions.cancel_subscription`` treats that as done.
        """
        check_key(idempotency_key)
        self._live_subscription(subscription_id, "cancel")
        if at_period_end:
            return self._post_subscription(
                subscription_id, {"cancel_at_period_end": True}, idempotency_key
            )
        obj = self._api.call(
            "delete",
            f"/v1/subscriptions/{subscription_id}",
            idempotency_key=idempotency_key,
            object_id=subscription_id,
        )
        return subscription_from_stripe(obj)

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> GatewaySubscription:
        """Resume a paused subscription, or undo a pending end-of-period cancellation."""
        check_key(idempotency_key)
        current = self._live_subscription(subscription_id, "resume")
        if current.get("status") == "paused":
            return self._post_subscription(
                subscription_id, {"billing_cycle_anchor": "now"}, idempotency_key, action="/resume"
            )
        if current.get("cancel_at_period_end"):
            return self._post_subscription(
                subscription_id, {"cancel_at_period_end": False}, idempotency_key
            )
        raise subscription_state_error(
            subscription_id,
            current.get("status"),
            f"Subscription {subscription_id} is neither paused nor set to cancel.",
        )
