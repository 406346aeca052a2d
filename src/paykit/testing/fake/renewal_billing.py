"""``FakeGateway``: a subscription's own payment method, trial-end rule, upcoming invoice.

The ``RenewalBillingGateway`` calls, answered from the billing engine
(:mod:`.invoicing`): the upcoming invoice is the invoice the next renewal
would issue if nothing changed before it.
"""

from __future__ import annotations

import copy

from paykit.gateways.base import GatewaySubscription
from paykit.gateways.billing import GatewayInvoiceDetails
from paykit.gateways.renewal_billing import check_trial_end_behavior
from paykit.stripe.billing_methods import invoice_details_from_stripe
from paykit.stripe.statuses import subscription_state_error
from paykit.testing.fake.ledger import _Subscription, _ts
from paykit.testing.fake.subscription_billing import FakeSubscriptionBilling
from paykit.testing.fake.subscriptions import _shift

__all__ = ["FakeRenewalBilling"]


class FakeRenewalBilling(FakeSubscriptionBilling):
    """A subscription's default payment method and trial-end rule; its upcoming invoice."""

    def set_subscription_default_payment_method(
        self, subscription_id: str, *, payment_method_id: str | None, idempotency_key: str
    ) -> GatewaySubscription:
        """Set (``None``: clear) the subscription's ``default_payment_method``."""

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "update")
            if payment_method_id is not None:
                method = self._method(payment_method_id)
                if method.customer_id != sub.raw["customer"]:
                    raise self._payment_method_state(
                        f"PaymentMethod {payment_method_id} is not attached to the "
                        f"subscription's customer {sub.raw['customer']}.",
                        payment_method_id=payment_method_id,
                    )
            sub.raw["default_payment_method"] = payment_method_id
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._once(
            "set_subscription_default_payment_method",
            action,
            subscription_id=subscription_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    def set_trial_end_behavior(
        self, subscription_id: str, *, trial_end_behavior: str, idempotency_key: str
    ) -> GatewaySubscription:
        """Set ``trial_settings.end_behavior.missing_payment_method``."""
        params = self._begin(
            "set_trial_end_behavior",
            subscription_id=subscription_id,
            trial_end_behavior=trial_end_behavior,
            idempotency_key=idempotency_key,
        )
        check_trial_end_behavior(trial_end_behavior)

        def action() -> GatewaySubscription:
            sub = self._live_subscription(subscription_id, "update")
            sub.raw["trial_settings"] = {
                "end_behavior": {"missing_payment_method": trial_end_behavior}
            }
            self._emit_subscription(sub)
            return self._subscription_view(subscription_id)

        return self._idempotent("set_trial_end_behavior", idempotency_key, params, action)

    def upcoming_invoice(self, subscription_id: str) -> GatewayInvoiceDetails:
        """The next renewal's invoice as it stands (id ``upcoming_in_...``); nothing is created."""
        self._enter("upcoming_invoice", subscription_id=subscription_id)
        with self._lock:
            sub = self._subscription(subscription_id)
            if sub.raw["status"] in ("canceled", "incomplete_expired", "paused", "incomplete"):
                raise subscription_state_error(
                    subscription_id,
                    sub.raw["status"],
                    f"Subscription {subscription_id} is {sub.raw['status']}: no upcoming invoice.",
                )
            first = sub.raw["items"]["data"][0]
            attempt = int(first["current_period_end"])
            following = _next_period(sub)
            items = self._period_lines(following) + self._engine.pending.get(subscription_id, [])
            raw = self._invoice_raw(
                sub,
                [dict(item) for item in items],
                "upcoming",
                (int(first["current_period_start"]), attempt),
                _ts(self._now()),
                invoice_id=f"upcoming_{subscription_id}",
                preview=True,
            )
            raw["due_date"] = raw["next_payment_attempt"] = attempt
            return invoice_details_from_stripe(raw)


def _next_period(sub: _Subscription) -> _Subscription:
    """A copy of ``sub`` moved into the period after the current one (nothing else changes)."""
    following = copy.deepcopy(sub)
    index = max(following.period_index + 1, 0)
    steps = following.interval_count
    start = _shift(following.anchor, following.interval, steps * index)
    end = _shift(following.anchor, following.interval, steps * (index + 1))
    for item in following.raw["items"]["data"]:
        item["current_period_start"] = _ts(start)
        item["current_period_end"] = _ts(end)
    return following
