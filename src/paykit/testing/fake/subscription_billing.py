"""``FakeGateway``: prorated item changes and trial moves (``SubscriptionBillingGateway``).

A prorated change adds pending invoice items (or, ``always_invoice``, an
invoice now) through the billing engine (:mod:`.invoicing`);
:attr:`FakeSubscriptionBilling.prorations` also lists each change's behaviour
and date for a test to assert on.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from paykit.clock import ensure_utc
from paykit.errors import ValidationError
from paykit.gateways._checks import check_count
from paykit.gateways.base import GatewaySubscription
from paykit.gateways.subscription_billing import check_proration_behavior
from paykit.stripe.statuses import subscription_state_error
from paykit.testing.fake.invoicing import FakeInvoicing
from paykit.testing.fake.ledger import _Subscription, _ts

__all__ = ["FakeSubscriptionBilling"]


class FakeSubscriptionBilling(FakeInvoicing):
    """``change_subscription_items`` and ``set_trial_end``, as Stripe answers them."""

    @property
    def prorations(self) -> list[dict[str, Any]]:
        """Each prorated change: ``subscription_id``, ``behavior``, ``date`` (a copy)."""
        with self._lock:
            return copy.deepcopy(self.__dict__.setdefault("_prorations", []))

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
        """Change an item's price and/or quantity (``item_id``; ``None``: the first);
        the prorations become pending invoice items."""
        self._begin(
            "change_subscription_items",
            subscription_id=subscription_id,
            price_id=price_id,
            quantity=quantity,
            proration_behavior=proration_behavior,
            proration_date=proration_date,
            idempotency_key=idempotency_key,
            item_id=item_id,
        )
        check_proration_behavior(proration_behavior)
        if quantity is not None:
            check_count(quantity, "quantity")
        when = None if proration_date is None else ensure_utc(proration_date)
        params = {
            "subscription_id": subscription_id,
            "price_id": price_id,
            "quantity": quantity,
            "proration_behavior": proration_behavior,
            "proration_date": None if when is None else _ts(when),
            "item_id": item_id,
        }

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "update")
            item = self._item(sub, item_id)
            self._change_item(
                sub, item, price_id, quantity, behavior=proration_behavior, at=when or self._now()
            )
            self.__dict__.setdefault("_prorations", []).append(
                {
                    "subscription_id": subscription_id,
                    "behavior": proration_behavior,
                    "date": when or self._now(),
                }
            )
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._idempotent("change_subscription_items", idempotency_key, params, action)

    def _item(self, sub: _Subscription, item_id: str | None) -> dict[str, Any]:
        items: list[dict[str, Any]] = sub.raw["items"]["data"]
        if item_id is None:
            return items[0]
        for item in items:
            if item["id"] == item_id:
                return item
        raise self._not_found("subscription_item", item_id)

    def add_subscription_item(
        self, subscription_id: str, *, price_id: str, quantity: int = 1
    ) -> GatewaySubscription:
        """Test helper: a second (third, ...) item, as a dashboard edit would add one.

        Same currency and interval as the subscription; billed from the next
        renewal (no proration). Emits ``customer.subscription.updated``.
        """
        check_count(quantity, "quantity")
        with self._lock:
            sub = self._live_subscription(subscription_id, "update")
            price = self._price_for(sub, price_id)
            first = sub.raw["items"]["data"][0]
            sub.raw["items"]["data"].append(
                {
                    "id": self._next_id("si"),
                    "object": "subscription_item",
                    "created": _ts(self._now()),
                    "metadata": {},
                    "price": copy.deepcopy(price),
                    "quantity": quantity,
                    "subscription": subscription_id,
                    "current_period_start": first["current_period_start"],
                    "current_period_end": first["current_period_end"],
                }
            )
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

    def set_trial_end(
        self, subscription_id: str, *, trial_end: datetime | None, idempotency_key: str
    ) -> GatewaySubscription:
        """Move a trial's end (``None``: now, and the first paid period starts)."""
        self._begin(
            "set_trial_end",
            subscription_id=subscription_id,
            trial_end=trial_end,
            idempotency_key=idempotency_key,
        )
        end = None if trial_end is None else ensure_utc(trial_end).replace(microsecond=0)
        params = {
            "subscription_id": subscription_id,
            "trial_end": None if end is None else _ts(end),
        }

        def action() -> GatewaySubscription:
            sub = self._subscription(subscription_id)
            if sub.raw["status"] != "trialing":
                raise subscription_state_error(
                    subscription_id,
                    sub.raw["status"],
                    f"Subscription {subscription_id} is {sub.raw['status']}, not trialing.",
                )
            now = self._now()
            if end is not None and end <= now:
                raise ValidationError(
                    "trial_end must be in the future",
                    code="invalid_argument",
                    details={"param": "trial_end"},
                )
            self._move_trial(sub, end or now, ended=end is None)
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._idempotent("set_trial_end", idempotency_key, params, action)

    def _move_trial(self, sub: _Subscription, end: datetime, *, ended: bool) -> None:
        sub.anchor = end
        sub.raw["trial_end"] = _ts(end)
        sub.raw["billing_cycle_anchor"] = _ts(end)
        if ended:
            sub.raw["status"] = "active"
            sub.period_index = 0
        self._set_period(sub)
        if ended:  # as at Stripe: the first period is invoiced and charged now
            self._invoice_new_period(sub)
