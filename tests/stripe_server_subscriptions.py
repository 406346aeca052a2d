"""The Stripe test server's subscription billing answers (hooked from tests/stripe_server.py).

``POST /v1/subscriptions/{id}`` with ``proration_behavior`` (a prorated item
change) or ``trial_end`` (a trial moved or ended) is answered by the fake
account's ``SubscriptionBillingGateway`` calls, with ``default_payment_method``
or ``trial_settings`` by its ``RenewalBillingGateway`` calls, as Stripe would.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from paykit.testing.fake import FakeGateway


def billing_update(
    fake: FakeGateway, subscription_id: str, form: dict[str, Any], key: str
) -> dict[str, Any] | None:
    """The answer to a billing update, or ``None`` when the form is a plain update."""
    if "default_payment_method" in form:
        method = form["default_payment_method"] or None
        return dict(
            fake.set_subscription_default_payment_method(
                subscription_id, payment_method_id=method, idempotency_key=key
            ).raw
        )
    behavior = ((form.get("trial_settings") or {}).get("end_behavior") or {}).get(
        "missing_payment_method"
    )
    if behavior is not None:
        return dict(
            fake.set_trial_end_behavior(
                subscription_id, trial_end_behavior=behavior, idempotency_key=key
            ).raw
        )
    if "trial_end" in form:
        value = form["trial_end"]
        end = None if value == "now" else datetime.fromtimestamp(int(value), tz=UTC)
        return dict(fake.set_trial_end(subscription_id, trial_end=end, idempotency_key=key).raw)
    if "proration_behavior" not in form:
        return None
    item = (form.get("items") or [{}])[0]
    quantity = item.get("quantity")
    date = form.get("proration_date")
    return dict(
        fake.change_subscription_items(
            subscription_id,
            price_id=item.get("price"),
            quantity=None if quantity is None else int(quantity),
            proration_behavior=form["proration_behavior"],
            proration_date=None if date is None else datetime.fromtimestamp(int(date), tz=UTC),
            idempotency_key=key,
            item_id=item.get("id"),
        ).raw
    )
