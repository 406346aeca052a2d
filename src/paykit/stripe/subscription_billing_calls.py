"""``StripeGateway``'s ``SubscriptionBillingGateway`` calls: prorated item changes, trial moves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from paykit.clock import ensure_utc
from paykit.errors import NotFound
from paykit.gateways._checks import check_count, check_key
from paykit.gateways.base import GatewaySubscription
from paykit.gateways.subscription_billing import check_proration_behavior
from paykit.stripe.subscription_calls import SubscriptionCalls

__all__ = ["SubscriptionBillingCalls"]


class SubscriptionBillingCalls(SubscriptionCalls):
    """``POST /v1/subscriptions/{id}`` with ``proration_behavior`` or ``trial_end``."""

    def change_subscription_items(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        proration_behavior: str,
        proration_date: datetime | None = None,
        idempotency_key: str,
        item_id: str | None = None,
    ) -> GatewaySubscription:
        """Change an item's price and/or quantity (``None``: the first), prorated as told."""
        check_key(idempotency_key)
        check_proration_behavior(proration_behavior)
        if quantity is not None:
            check_count(quantity, "quantity")
        current = self._live_subscription(subscription_id, "update")
        ids = [each["id"] for each in current["items"]["data"]]
        if item_id is not None and item_id not in ids:
            raise NotFound(
                f"No such subscription_item: '{item_id}'",
                details={"resource": "subscription_item", "id": item_id},
            )
        item = self._item_change(ids[0] if item_id is None else item_id, price_id, quantity)
        params: dict[str, Any] = {"items": [item], "proration_behavior": proration_behavior}
        if proration_date is not None:
            params["proration_date"] = int(ensure_utc(proration_date).timestamp())
        return self._post_subscription(subscription_id, params, idempotency_key)

    def set_trial_end(
        self, subscription_id: str, *, trial_end: datetime | None, idempotency_key: str
    ) -> GatewaySubscription:
        """Move the trial's end (``trial_end=now`` when ``None``), without prorations."""
        check_key(idempotency_key)
        value: Any = "now" if trial_end is None else int(ensure_utc(trial_end).timestamp())
        return self._post_subscription(
            subscription_id, {"trial_end": value, "proration_behavior": "none"}, idempotency_key
        )
