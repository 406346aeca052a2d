"""invoice.payment_failed / invoice.paid drive dunning: replayed, late, out-of-order."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from tests.integration.test_webhooks import NOW, Hook, hook, subscription_world  # noqa: F401
from tests.stripe_server import fixture, make_event

from paykit import models as m


def _invoice(sub_id: str, status: str, attempts: int) -> dict[str, Any]:
    invoice = fixture("invoice")
    invoice.update(
        id="in_dunning",
        subscription=sub_id,
        parent=None,
        currency="usd",
        number="INV-D1",
        status=status,
        subtotal=1000,
        total=1000,
        total_taxes=[],
        amount_paid=1000 if status == "paid" else 0,
        amount_due=1000,
        attempt_count=attempts,
        period_start=NOW,
        period_end=NOW,
        status_transitions={"paid_at": NOW + 20 if status == "paid" else None},
    )
    del invoice["lines"]
    return invoice


def _row(h: Hook, sub_id: str) -> m.Subscription:
    row = h.session.scalars(
        sa.select(m.Subscription).where(m.Subscription.stripe_subscription_id == sub_id)
    ).one()
    h.session.refresh(row)
    return row


def test_failed_then_replayed_then_paid(hook: Hook) -> None:  # noqa: F811
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, idempotency_key="s"
    )
    failed = make_event("invoice.payment_failed", _invoice(sub.id, "open", 1), created=NOW)
    assert hook.deliver(failed).body["status"] == "processed"
    row = _row(hook, sub.id)
    assert (row.status, row.payment_attempts) == (m.SubscriptionStatus.PAST_DUE, 1)
    # The same event again (a retry of the delivery) and a new event for the same attempt.
    hook.deliver(failed)
    hook.deliver(make_event("invoice.payment_failed", _invoice(sub.id, "open", 1), created=NOW + 1))
    assert _row(hook, sub.id).payment_attempts == 1
    hook.deliver(make_event("invoice.payment_failed", _invoice(sub.id, "open", 2), created=NOW + 5))
    assert _row(hook, sub.id).payment_attempts == 2
    paid = make_event("invoice.paid", _invoice(sub.id, "paid", 3), created=NOW + 20)
    assert hook.deliver(paid).body["status"] == "processed"
    row = _row(hook, sub.id)
    assert (row.status, row.payment_attempts, row.past_due_since) == (
        m.SubscriptionStatus.ACTIVE,
        0,
        None,
    )
    # A failure delivered late, after the payment: the invoice stays paid, nothing is counted.
    hook.deliver(make_event("invoice.payment_failed", _invoice(sub.id, "open", 2), created=NOW + 6))
    row = _row(hook, sub.id)
    assert (row.status, row.payment_attempts) == (m.SubscriptionStatus.ACTIVE, 0)
