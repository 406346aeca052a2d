"""FakeGateway.events and drain_events(): what a real Stripe account would send."""

from __future__ import annotations

import pytest

from paykit.errors import PaymentDeclined
from paykit.testing import FakeGateway
from paykit.webhooks import HANDLED_EVENT_TYPES


def _types(gateway: FakeGateway) -> list[str]:
    return [event["type"] for event in gateway.drain_events()]


def test_payments_emit_succeeded_failed_and_canceled_once_per_effect() -> None:
    gateway = FakeGateway(namespace="ev")
    paid = gateway.create_payment(
        amount_minor=500,
        currency="usd",
        customer_id=None,
        payment_method_id="pm_card_visa",
        confirm=True,
        idempotency_key="k1",
    )
    # A replay of the same key is answered from the record: no second event.
    gateway.create_payment(
        amount_minor=500,
        currency="usd",
        customer_id=None,
        payment_method_id="pm_card_visa",
        confirm=True,
        idempotency_key="k1",
    )
    events = gateway.events
    assert [e["type"] for e in events] == ["payment_intent.succeeded"]
    obj = events[0]["data"]["object"]
    assert (obj["id"], obj["amount"], obj["currency"], obj["status"]) == (
        paid.id,
        500,
        "usd",
        "succeeded",
    )
    assert events[0]["id"] == "evt_ev_000001"
    assert _types(gateway) == ["payment_intent.succeeded"]
    assert gateway.events == []
    with pytest.raises(PaymentDeclined):
        gateway.create_payment(
            amount_minor=500,
            currency="usd",
            customer_id=None,
            payment_method_id="pm_card_chargeDeclined",
            confirm=True,
            idempotency_key="k2",
        )
    failed = gateway.drain_events()
    assert [e["type"] for e in failed] == ["payment_intent.payment_failed"]
    assert failed[0]["data"]["object"]["last_payment_error"]["decline_code"] == "generic_decline"
    pending = gateway.create_payment(
        amount_minor=700, currency="usd", customer_id=None, idempotency_key="k3"
    )
    gateway.cancel_payment(pending.id, idempotency_key="k4")
    assert _types(gateway) == ["payment_intent.canceled"]


def test_refunds_methods_and_subscriptions_emit_handled_types() -> None:
    gateway = FakeGateway(namespace="ev")
    customer = gateway.create_customer(email="a@example.com", idempotency_key="c")
    method = gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer.id, idempotency_key="a"
    )
    paid = gateway.create_payment(
        amount_minor=500,
        currency="usd",
        customer_id=customer.id,
        payment_method_id=method.id,
        confirm=True,
        idempotency_key="p",
    )
    gateway.hold_next_refund()
    refund = gateway.create_refund(
        payment_id=paid.id, amount_minor=200, reason=None, idempotency_key="r"
    )
    gateway.settle_refund(refund.id, succeeded=False)
    price = gateway.add_price(unit_amount=1000, currency="usd")
    sub = gateway.create_subscription(customer_id=customer.id, price_id=price, idempotency_key="s")
    gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key="s1")
    gateway.cancel_subscription(sub.id, at_period_end=False, idempotency_key="s2")
    gateway.detach_payment_method(method.id, idempotency_key="d")
    events = gateway.drain_events()
    types = [e["type"] for e in events]
    assert types == [
        "payment_method.attached",
        "payment_intent.succeeded",
        "refund.created",
        "refund.failed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "payment_method.detached",
    ]
    assert set(types) <= HANDLED_EVENT_TYPES
    by_type = {e["type"]: e["data"]["object"] for e in events}
    assert by_type["refund.created"]["status"] == "pending"
    assert by_type["refund.failed"]["payment_intent"] == paid.id
    assert by_type["customer.subscription.updated"]["cancel_at_period_end"] is True
    assert by_type["customer.subscription.deleted"]["status"] == "canceled"
    assert by_type["payment_method.detached"]["customer"] is None
