"""``FakeGateway``: Subscriptions, their periods, trials and cancellations."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from paykit.errors import (
    GatewayCurrencyMismatch,
    GatewayError,
)
from paykit.gateways._checks import check_count
from paykit.gateways.base import (
    GatewaySubscription,
    GatewaySubscriptionStatus,
)
from paykit.gateways.renewal_billing import check_trial_end_behavior
from paykit.pricing.proration import next_period_end
from paykit.stripe.statuses import (
    SUBSCRIPTION_STATUSES,
    refuse_if_ended,
    subscription_state_error,
)
from paykit.testing.fake.cards import _DECLINES, _NEEDS_ACTION, FakeCards
from paykit.testing.fake.catalog import FakeCatalog
from paykit.testing.fake.ledger import _Subscription, _ts

# Stripe's status words, read through paykit.stripe.statuses (one mapping for both).
_RENEWING: Final = frozenset(
    word
    for word, status in SUBSCRIPTION_STATUSES.items()
    if status
    in {
        GatewaySubscriptionStatus.TRIALING,
        GatewaySubscriptionStatus.ACTIVE,
        GatewaySubscriptionStatus.PAST_DUE,
    }
)
# Stripe expires an incomplete subscription whose first payment never succeeds.
_INCOMPLETE_TTL: Final = timedelta(hours=23)


def _shift(anchor: datetime, interval: str, steps: int) -> datetime:
    """``steps`` intervals after ``anchor``, by the calendar rule of :func:`next_period_end`.

    Always computed from the anchor, never from the previous period end, so
    a 31st-of-the-month anchor comes back to the 31st after a short month.
    """
    if steps == 0:
        return anchor
    return next_period_end(period_start=anchor, interval=interval, interval_count=steps)


class FakeSubscriptions(FakeCatalog, FakeCards):
    """Subscriptions, their periods, trials and cancellations."""

    @property
    def subscriptions(self) -> dict[str, GatewaySubscription]:
        """Every subscription by id, brought up to the clock's now (a snapshot)."""
        with self._lock:
            return {sub_id: self._subscription_view(sub_id) for sub_id in self._subscriptions}

    def set_subscription_status(
        self, subscription_id: str, status: GatewaySubscriptionStatus | str
    ) -> GatewaySubscription:
        """Force a subscription's status, e.g. ``past_due`` or ``paused``, to test sync code.

        Renewals are billed as at Stripe (``invoicing``): a failed renewal charge
        already gives ``past_due``; this forces any status directly.
        """
        new_status = GatewaySubscriptionStatus(status)
        with self._lock:
            sub = self._subscription(subscription_id)
            sub.raw["status"] = str(new_status)
            if new_status is GatewaySubscriptionStatus.CANCELED:
                now = _ts(self._now())
                sub.raw["canceled_at"] = sub.raw["canceled_at"] or now
                sub.raw["ended_at"] = now
            self._emit_subscription(sub, new_status is GatewaySubscriptionStatus.CANCELED)
            return self._subscription_view(subscription_id)

    def retrieve_subscription(self, subscription_id: str) -> GatewaySubscription:
        """The subscription, brought up to the clock's now.

        Periods that ended have renewed and were invoiced and charged (see
        :meth:`advance_clock`), a trial that ended is ``active`` (or
        ``past_due``, ``paused``, ``canceled``), a pending end-of-period cancellation
        has taken effect, an ``incomplete`` one older than 23 hours has expired.
        """
        self._enter("retrieve_subscription", subscription_id=subscription_id)
        with self._lock:
            return self._subscription_view(subscription_id)

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
        """Subscribe a customer (``sub_fake_...``); see ``PaymentGateway.create_subscription``.

        Without ``payment_method_id`` the customer's default method is charged;
        with it, it becomes the subscription's ``default_payment_method``
        (renewals charge it first). A card that declines or needs 3-D Secure
        gives an ``incomplete`` subscription. The first charge is not a
        ``charges`` entry. ``trial_end_behavior`` is Stripe's
        ``trial_settings.end_behavior.missing_payment_method`` (``create_invoice``,
        the default, ``pause`` or ``cancel``).
        """
        params = self._begin(
            "create_subscription",
            customer_id=customer_id,
            price_id=price_id,
            quantity=quantity,
            trial_days=trial_days,
            coupon=coupon,
            payment_method_id=payment_method_id,
            trial_end_behavior=trial_end_behavior,
            idempotency_key=idempotency_key,
        )
        check_count(quantity, "quantity")
        if trial_days is not None:
            check_count(trial_days, "trial_days")
        if trial_end_behavior is not None:
            check_trial_end_behavior(trial_end_behavior)

        def action() -> GatewaySubscription:
            return self._create(params)

        return self._idempotent("create_subscription", idempotency_key, params, action)

    def _create(self, params: dict[str, Any]) -> GatewaySubscription:
        customer_id, price_id = params["customer_id"], params["price_id"]
        quantity, trial_days = params["quantity"], params["trial_days"]
        coupon, payment_method_id = params["coupon"], params["payment_method_id"]
        trial_end_behavior = params["trial_end_behavior"]
        self._customer(customer_id)
        price = self._recurring_price(price_id)
        coupon_obj = self._coupon(coupon) if coupon is not None else None
        method_id = payment_method_id or self._default_method.get(customer_id)
        source = None
        if method_id is not None:
            source = self._usable_method(method_id, customer_id)
        now = self._now()
        recurring = price["recurring"]
        status, anchor, index = _start(now, trial_days, source, customer_id)
        sub_id = self._next_id("sub")
        raw = self._new_subscription(
            sub_id,
            customer_id,
            price,
            quantity,
            payment_method_id,
            status,
            now,
            anchor,
            trial_days,
        )
        raw["trial_settings"] = {
            "end_behavior": {"missing_payment_method": trial_end_behavior or "create_invoice"}
        }
        if coupon_obj is not None:
            coupon_obj["times_redeemed"] += 1
            raw["discounts"] = [
                _new_discount(self._next_id("di"), sub_id, customer_id, coupon_obj, now)
            ]
        sub = _Subscription(
            raw=raw,
            anchor=anchor,
            interval=recurring["interval"],
            interval_count=recurring["interval_count"],
            period_index=index,
        )
        self._set_period(sub)
        self._subscriptions[sub_id] = sub
        self._emit("customer.subscription.created", sub.raw)
        return self._subscription_view(sub_id)

    def update_subscription(
        self,
        subscription_id: str,
        *,
        price_id: str | None = None,
        quantity: int | None = None,
        cancel_at_period_end: bool | None = None,
        idempotency_key: str,
    ) -> GatewaySubscription:
        """Change price, quantity or end-of-period cancellation; ``None`` keeps a field.

        A price with a different interval restarts the billing period now, as
        at Stripe (unless the subscription is still in its trial).
        """
        params = self._begin(
            "update_subscription",
            subscription_id=subscription_id,
            price_id=price_id,
            quantity=quantity,
            cancel_at_period_end=cancel_at_period_end,
            idempotency_key=idempotency_key,
        )
        if quantity is not None:
            check_count(quantity, "quantity")

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "update")
            item = sub.raw["items"]["data"][0]
            changed = self._change_item(
                sub, item, price_id, quantity, behavior="create_prorations", at=self._now()
            )
            if changed:
                recurring = item["price"]["recurring"]
                interval = (recurring["interval"], recurring["interval_count"])
                if interval != (sub.interval, sub.interval_count):
                    sub.interval, sub.interval_count = interval
                    if sub.raw["status"] != "trialing":
                        sub.anchor, sub.period_index = self._now(), 0
                        sub.raw["billing_cycle_anchor"] = _ts(sub.anchor)
                        self._set_period(sub)
            if cancel_at_period_end is not None:
                self._set_cancel_at_period_end(sub, cancel_at_period_end)
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._idempotent("update_subscription", idempotency_key, params, action)

    def cancel_subscription(
        self, subscription_id: str, *, at_period_end: bool, idempotency_key: str
    ) -> GatewaySubscription:
        """Cancel now (``canceled``), or flag ``cancel_at_period_end`` and keep it running."""
        self._begin(
            "cancel_subscription",
            subscription_id=subscription_id,
            at_period_end=at_period_end,
            idempotency_key=idempotency_key,
        )
        params = {"subscription_id": subscription_id, "at_period_end": bool(at_period_end)}

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "cancel")
            if at_period_end:
                self._set_cancel_at_period_end(sub, True)
            else:
                now = _ts(self._now())
                sub.raw.update(
                    status="canceled",
                    canceled_at=now,
                    ended_at=now,
                    cancel_at=None,
                    cancel_at_period_end=False,
                )
            self._emit_subscription(sub, not at_period_end)
            return self._subscription_view(subscription_id)

        return self._idempotent("cancel_subscription", idempotency_key, params, action)

    def resume_subscription(
        self, subscription_id: str, *, idempotency_key: str
    ) -> GatewaySubscription:
        """Undo ``cancel_at_period_end``, or resume a ``paused`` one with a period starting now.

        Anything else (active without a pending cancellation, canceled) raises
        ``GatewayError`` with code ``subscription_unexpected_state``.
        """

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "resume")
            if sub.raw["status"] == "paused":
                sub.raw["status"] = "active"
                sub.anchor, sub.period_index = self._now(), 0
                sub.raw["billing_cycle_anchor"] = _ts(sub.anchor)
                self._set_period(sub)
                self._invoice_new_period(sub)
            elif sub.raw["cancel_at_period_end"]:
                self._set_cancel_at_period_end(sub, False)
            else:
                raise subscription_state_error(
                    subscription_id,
                    sub.raw["status"],
                    f"Subscription {subscription_id} is neither paused nor set to cancel.",
                )
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._once(
            "resume_subscription",
            action,
            subscription_id=subscription_id,
            idempotency_key=idempotency_key,
        )

    def announce_renewal(self, subscription_id: str) -> dict[str, Any]:
        """Emit Stripe's ``invoice.upcoming`` for the subscription's next renewal.

        Stripe sends it on its own some days before a renewal; the fake's clock
        moves only when a test moves it, so the test asks for it. Returns the
        upcoming invoice (an id-less preview, as Stripe's is).
        """
        with self._lock:
            sub = self._live_subscription(subscription_id, "renew")
            item = sub.raw["items"]["data"][0]
            amount = int(item["price"]["unit_amount"]) * int(item["quantity"])
            end = item["current_period_end"]
            invoice: dict[str, Any] = {
                "id": None,
                "object": "invoice",
                "billing_reason": "upcoming",
                "customer": sub.raw["customer"],
                "currency": sub.raw["currency"],
                "amount_due": amount,
                "subtotal": amount,
                "total": amount,
                "status": "draft",
                "next_payment_attempt": end,
                "period_start": item["current_period_start"],
                "period_end": end,
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {"subscription": subscription_id},
                },
                "created": _ts(self._now()),
            }
            self._emit("invoice.upcoming", invoice)
            return copy.deepcopy(invoice)

    def _emit_subscription(self, sub: _Subscription, deleted: bool = False) -> None:
        event_type = "deleted" if deleted else "updated"
        self._emit(f"customer.subscription.{event_type}", sub.raw)

    def _price_for(self, sub: _Subscription, price_id: str) -> dict[str, Any]:
        """The recurring price ``price_id``, refused unless in the subscription's currency."""
        price = self._recurring_price(price_id)
        if price["currency"] != sub.raw["currency"]:
            raise GatewayCurrencyMismatch(
                "The price's currency differs from the subscription's.",
                details={"subscription_id": sub.raw["id"], "price_id": price_id},
            )
        return price

    def _change_item(
        self,
        sub: _Subscription,
        item: dict[str, Any],
        price_id: str | None,
        quantity: int | None,
        *,
        behavior: str,
        at: datetime,
    ) -> bool:
        """Prorate, then move ``item`` to ``price_id`` and ``quantity`` (``None`` keeps one).

        True when the item's price changed.
        """
        new_price = item["price"]
        if price_id is not None and price_id != item["price"]["id"]:
            new_price = self._price_for(sub, price_id)
        new_quantity = item["quantity"] if quantity is None else quantity
        self._prorate(sub, item, new_price, new_quantity, behavior=behavior, at=at)
        changed = new_price is not item["price"]
        if changed:
            item["price"] = copy.deepcopy(new_price)
        if quantity is not None:
            item["quantity"] = quantity
        return changed

    def _prorate(
        self,
        sub: _Subscription,
        item: dict[str, Any],
        new_price: dict[str, Any],
        new_quantity: int,
        *,
        behavior: str,
        at: datetime,
    ) -> None:
        """Hook: the billing engine (``invoicing``) records the change's prorations."""

    def _invoice_new_period(self, sub: _Subscription) -> None:
        """Hook: the billing engine invoices a period that starts now."""

    def _set_period(self, sub: _Subscription) -> None:
        if sub.period_index < 0:
            start = datetime.fromtimestamp(sub.raw["trial_start"], tz=UTC)
            end = sub.anchor
        else:
            start = _shift(sub.anchor, sub.interval, sub.interval_count * sub.period_index)
            end = _shift(sub.anchor, sub.interval, sub.interval_count * (sub.period_index + 1))
        for item in sub.raw["items"]["data"]:
            item["current_period_start"] = _ts(start)
            item["current_period_end"] = _ts(end)
        if sub.raw["cancel_at_period_end"]:
            sub.raw["cancel_at"] = _ts(end)

    def _set_cancel_at_period_end(self, sub: _Subscription, flag: bool) -> None:
        item = sub.raw["items"]["data"][0]
        sub.raw["cancel_at_period_end"] = flag
        sub.raw["cancel_at"] = item["current_period_end"] if flag else None
        # Stripe sets canceled_at when the cancellation is requested, not when it happens.
        sub.raw["canceled_at"] = _ts(self._now()) if flag else None

    def _roll_forward(self, sub: _Subscription) -> None:
        now = _ts(self._now())
        raw = sub.raw
        if raw["status"] == "incomplete":
            expires = raw["created"] + int(_INCOMPLETE_TTL.total_seconds())
            if now >= expires:
                raw.update(status="incomplete_expired", ended_at=expires)
            return
        item = raw["items"]["data"][0]
        while raw["status"] in _RENEWING and now >= item["current_period_end"]:
            if raw["cancel_at_period_end"]:
                raw.update(status="canceled", ended_at=item["current_period_end"])
                return
            if raw["status"] == "trialing":
                raw["status"] = "active"
                sub.period_index = 0
            else:
                sub.period_index += 1
            self._set_period(sub)

    def _live_subscription(self, subscription_id: str, verb: str) -> _Subscription:
        """The subscription, refused (``GatewayError``) if it has ended and so cannot ``verb``."""
        sub = self._subscription(subscription_id)
        refuse_if_ended(sub.raw, verb)
        return sub

    def _subscription(self, subscription_id: str) -> _Subscription:
        sub = self._find(self._subscriptions, "subscription", subscription_id)
        self._roll_forward(sub)
        return sub

    def _subscription_view(self, subscription_id: str) -> GatewaySubscription:
        # The fake keeps Stripe-shaped records; paykit.stripe reads them (loaded on first use).
        from paykit.stripe.billing import subscription_from_stripe

        return subscription_from_stripe(self._subscription(subscription_id).raw)

    def _new_subscription(
        self,
        sub_id: str,
        customer_id: str,
        price: dict[str, Any],
        quantity: int,
        method_id: str | None,
        status: str,
        now: datetime,
        anchor: datetime,
        trial_days: int | None,
    ) -> dict[str, Any]:
        """A new Stripe-shaped subscription record (its period is set by the caller)."""
        raw: dict[str, Any] = {
            "id": sub_id,
            "object": "subscription",
            "billing_cycle_anchor": _ts(anchor),
            "cancel_at": None,
            "cancel_at_period_end": False,
            "canceled_at": None,
            "collection_method": "charge_automatically",
            "created": _ts(now),
            "currency": price["currency"],
            "customer": customer_id,
            "default_payment_method": method_id,
            "discounts": [],
            "ended_at": None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": self._next_id("si"),
                        "object": "subscription_item",
                        "created": _ts(now),
                        "metadata": {},
                        "price": copy.deepcopy(price),
                        "quantity": quantity,
                        "subscription": sub_id,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "latest_invoice": None,
            "livemode": False,
            "metadata": {},
            "pause_collection": None,
            "start_date": _ts(now),
            "status": status,
            "trial_end": _ts(anchor) if trial_days is not None else None,
            "trial_start": _ts(now) if trial_days is not None else None,
        }
        return raw


def _new_discount(
    discount_id: str, sub_id: str, customer_id: str, coupon_obj: dict[str, Any], now: datetime
) -> dict[str, Any]:
    return {
        "id": discount_id,
        "object": "discount",
        "customer": customer_id,
        "end": None,
        "source": {"coupon": coupon_obj["id"], "type": "coupon"},
        "start": _ts(now),
        "subscription": sub_id,
    }


def _start(
    now: datetime, trial_days: int | None, source: str | None, customer_id: str
) -> tuple[str, datetime, int]:
    """A new subscription's status, billing anchor and period index."""
    if trial_days is not None:
        status = "trialing"
        anchor = now + timedelta(days=trial_days)
        index = -1
    else:
        if source is None:
            raise GatewayError(
                f"Customer {customer_id} has no attached payment source or default payment method.",
                code="missing_payment_method",
                details={"customer_id": customer_id},
            )
        paid = source not in _DECLINES and source not in _NEEDS_ACTION
        status = "active" if paid else "incomplete"
        anchor, index = now, 0
    return status, anchor, index
