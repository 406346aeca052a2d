"""Webhook findings of issue 10, on both databases: failed refunds, stored errors, invoice periods.

Refunds: Stripe can fail a refund after it succeeded (the card was closed, the bank
returned the money): ``refund.failed``, or ``refund.updated`` with
``status: failed``/``canceled``. The money was never returned, so the order's
``refunded_amount``, its status and its payment status go back, once, whatever
the order and the number of deliveries.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from tests import factories as f
from tests.integration.test_webhooks import (
    NOW,
    Hook,
    count,
    hook,
    paid_order,
    pending_order,
    subscription_world,
)
from tests.stripe_server import fixture, make_event, render_payment, render_refund

import paykit
from paykit import models as m
from paykit.gateways.base import GatewayRefund, GatewayRefundStatus
from paykit.services.refunds import sync_refund

__all__ = ["hook"]  # the fixture, shared with test_webhooks


def refund_of(hook: Hook, order: m.Order, amount: str | None = None) -> m.Refund:
    support = f.user(hook.session, role=m.UserRole.SUPPORT)
    return paykit.issue_refund(
        hook.session,
        order_id=order.id,
        amount=amount,
        reason="REQUESTED_BY_CUSTOMER",
        gateway=hook.gateway,
        actor_id=support.id,
        clock=hook.clock,
    )


def gateway_refund(hook: Hook, refund: m.Refund) -> GatewayRefund:
    return next(r for r in hook.gateway.refunds if r.id == refund.stripe_refund_id)


def as_failed(refund: GatewayRefund, status: str = "failed") -> dict[str, Any]:
    return render_refund(
        replace(
            refund,
            status=GatewayRefundStatus(status),
            failure_reason="expired_or_canceled_card" if status == "failed" else None,
        )
    )


def state(hook: Hook, order: m.Order, refund: m.Refund | None = None) -> tuple[Any, ...]:
    hook.session.refresh(order)
    if refund is not None:
        hook.session.refresh(refund)
    return (
        order.refunded_amount,
        order.status,
        order.payment_status,
        None if refund is None else refund.status,
    )


def audit_rows(hook: Hook, action: str) -> list[m.AuditLog]:
    hook.session.expire_all()
    return list(hook.session.scalars(sa.select(m.AuditLog).where(m.AuditLog.action == action)))


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated"])
def test_a_full_refund_that_fails_after_succeeding_is_undone(hook: Hook, event_type: str) -> None:
    order = paid_order(hook)
    refund = refund_of(hook, order)
    assert state(hook, order, refund) == (
        Decimal("30.00"),
        m.OrderStatus.REFUNDED,
        m.PaymentStatus.REFUNDED,
        m.RefundStatus.SUCCEEDED,
    )
    succeeded = render_refund(gateway_refund(hook, refund))
    failed_event = make_event(event_type, as_failed(gateway_refund(hook, refund)), created=NOW + 60)
    assert hook.deliver(failed_event).body["status"] == "processed"
    undone = (
        Decimal("0.00"),
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
        m.RefundStatus.FAILED,
    )
    assert state(hook, order, refund) == undone
    [audit] = audit_rows(hook, "refund.failed")
    assert audit.resource_id == refund.id
    assert audit.old_values["status"] == "SUCCEEDED"
    assert audit.old_values["order_refunded_amount"] == "30.00"
    assert audit.new_values["status"] == "FAILED"
    assert audit.new_values["failure_reason"] == "expired_or_canceled_card"
    assert audit.new_values["order_refunded_amount"] == "0.00"
    assert audit.new_values["order_status"] == "COMPLETED"

    # Replayed, sent again under another event id, or overtaken by an older
    # "succeeded": the refund stays failed and is reversed once.
    assert hook.deliver(failed_event).body["status"] == "duplicate"
    hook.deliver(make_event("refund.updated", failed_event["data"]["object"], created=NOW + 61))
    hook.deliver(make_event("refund.updated", succeeded, created=NOW))
    assert state(hook, order, refund) == undone
    assert len(audit_rows(hook, "refund.failed")) == 1


def test_one_of_two_partial_refunds_failing_leaves_the_other_counted(hook: Hook) -> None:
    order = paid_order(hook)
    first = refund_of(hook, order, "10.00")
    second = refund_of(hook, order, "20.00")
    assert state(hook, order)[:2] == (Decimal("30.00"), m.OrderStatus.REFUNDED)
    event = make_event(
        "refund.updated", as_failed(gateway_refund(hook, first), "canceled"), created=NOW
    )
    assert hook.deliver(event).body["status"] == "processed"
    assert state(hook, order, first) == (
        Decimal("20.00"),
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
        m.RefundStatus.CANCELED,
    )
    hook.session.refresh(second)
    assert second.status is m.RefundStatus.SUCCEEDED
    [audit] = audit_rows(hook, "refund.canceled")
    assert audit.new_values["order_refunded_amount"] == "20.00"


def test_a_partial_refund_failing_keeps_the_order_completed(hook: Hook) -> None:
    order = paid_order(hook)
    refund = refund_of(hook, order, "12.50")
    event = make_event("refund.failed", as_failed(gateway_refund(hook, refund)), created=NOW)
    hook.deliver(event)
    assert state(hook, order, refund) == (
        Decimal("0.00"),
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
        m.RefundStatus.FAILED,
    )


@pytest.mark.parametrize("failed_first", [False, True], ids=["in-order", "out-of-order"])
def test_a_pending_refund_that_fails_is_never_counted(hook: Hook, failed_first: bool) -> None:
    order = paid_order(hook)
    hook.gateway.hold_next_refund()
    refund = refund_of(hook, order)
    assert refund.status is m.RefundStatus.PENDING
    pending = render_refund(gateway_refund(hook, refund))
    settled = hook.gateway.settle_refund(
        refund.stripe_refund_id, succeeded=False, failure_reason="lost_or_stolen_card"
    )
    events = [
        make_event("refund.updated", pending, created=NOW),
        make_event("refund.failed", render_refund(settled), created=NOW + 5),
    ]
    for event in reversed(events) if failed_first else events:
        assert hook.deliver(event).status_code == 200
    assert state(hook, order, refund) == (
        Decimal("0.00"),
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
        m.RefundStatus.FAILED,
    )
    [audit] = audit_rows(hook, "refund.failed")
    assert audit.old_values["status"] == "PENDING"
    assert audit.new_values["failure_reason"] == "lost_or_stolen_card"
    # The amount held by the pending refund is free again.
    assert refund_of(hook, order).amount == Decimal("30.00")


def test_a_dashboard_refund_whose_failure_arrives_first_is_never_counted(hook: Hook) -> None:
    order = paid_order(hook)
    assert order.stripe_payment_intent_id is not None
    made = hook.gateway.create_refund(
        payment_id=order.stripe_payment_intent_id,
        amount_minor=3000,
        reason=None,
        idempotency_key="dash",
    )
    hook.deliver(make_event("refund.failed", as_failed(made), created=NOW + 9))
    hook.deliver(make_event("refund.created", render_refund(made), created=NOW))
    [row] = hook.session.scalars(sa.select(m.Refund).where(m.Refund.order_id == order.id))
    assert state(hook, order, row) == (
        Decimal("0.00"),
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
        m.RefundStatus.FAILED,
    )


def test_sync_refund_reverses_once_when_called_twice(hook: Hook) -> None:
    order = paid_order(hook)
    refund = refund_of(hook, order)
    failed = replace(gateway_refund(hook, refund), status=GatewayRefundStatus.FAILED)
    sync_refund(hook.session, gateway_refund=failed, clock=hook.clock)
    sync_refund(hook.session, gateway_refund=failed, clock=hook.clock)
    assert state(hook, order, refund)[0] == Decimal("0.00")
    assert count(hook.session, m.AuditLog, m.AuditLog.action == "refund.failed") == 1


# --------------------------------------------------------------------- a rejected event's error


def test_a_rejected_event_stores_its_error_code_and_the_amount_in_major_units(hook: Hook) -> None:
    order = pending_order(hook)
    assert order.stripe_payment_intent_id is not None
    paid = hook.gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="c"
    )
    obj = render_payment(paid)
    assert hook.deliver(make_event("payment_intent.succeeded", obj, created=NOW)).status_code == 200
    # The paid order's payment, said again for another amount: 1000.00 USD for 15.00.
    obj.update(amount=100000, amount_received=100000)
    response = hook.deliver(make_event("payment_intent.succeeded", obj, created=NOW + 1))
    assert response.status_code == 500
    row = hook.inbox(response.body["error"]["event_id"])
    assert row.status == "failed"
    assert row.last_error is not None
    assert row.last_error.startswith("InvalidState [payment_amount_mismatch]: "), row.last_error
    assert "is for 1000.00 USD" in row.last_error
    assert "totals 15.00 USD" in row.last_error
    assert "100000" not in row.last_error


# --------------------------------------------------------------------- invoice periods


def subscription_line(sub_id: str, start: int, end: int) -> dict[str, Any]:
    """A line of the subscription, shaped as Stripe's since API 2025-03-31 (``parent``)."""
    line = fixture("invoice")["lines"]["data"][0]
    line.update(
        id="il_sub",
        amount=1000,
        description="1 x Pro (at $10.00 / month)",
        period={"start": start, "end": end},
        parent={
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
                "subscription_item": "si_test",
            },
        },
    )
    return line


@pytest.mark.parametrize("legacy", [False, True], ids=["parent", "type"])
def test_an_invoice_takes_its_period_from_the_subscription_line(hook: Hook, legacy: bool) -> None:
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, idempotency_key="s"
    )
    start, end = NOW, NOW + 30 * 86400
    one_off = fixture("invoice")["lines"]["data"][0]  # Stripe's example: an invoice item
    one_off["period"] = {"start": NOW - 7 * 86400, "end": NOW - 7 * 86400}
    recurring = subscription_line(sub.id, start, end)
    if legacy:  # API versions before 2025-03-31 say it with ``type``
        one_off.update(type="invoiceitem", parent=None)
        recurring.update(type="subscription", parent=None)
    invoice = fixture("invoice")
    invoice.update(
        id="in_periods",
        subscription=sub.id,
        parent={"type": "subscription_details", "subscription_details": {"subscription": sub.id}},
        currency="usd",
        number="INV-P",
        status="paid",
        subtotal=2000,
        total=2000,
        total_taxes=[],
        amount_paid=2000,
        amount_due=0,
        period_start=NOW - 30 * 86400,
        period_end=NOW,
        status_transitions={"paid_at": NOW},
        lines={"object": "list", "data": [one_off, recurring], "has_more": False},
    )
    response = hook.deliver(make_event("invoice.paid", invoice, created=NOW))
    assert response.body["status"] == "processed", response.body
    row = hook.session.scalars(
        sa.select(m.Invoice).where(m.Invoice.stripe_invoice_id == "in_periods")
    ).one()
    hook.session.refresh(row)
    assert (row.period_start.timestamp(), row.period_end.timestamp()) == (start, end)


def test_a_refund_that_requires_action_is_pending_until_it_succeeds(hook: Hook) -> None:
    order = paid_order(hook)
    assert order.stripe_payment_intent_id is not None
    made = hook.gateway.create_refund(
        payment_id=order.stripe_payment_intent_id,
        amount_minor=1000,
        reason=None,
        idempotency_key="dash",
    )
    waiting = render_refund(made)
    waiting["status"] = "requires_action"  # e.g. bank details needed for the payment method
    response = hook.deliver(make_event("refund.created", waiting, created=NOW))
    assert response.body["status"] == "processed", response.body
    [row] = hook.session.scalars(sa.select(m.Refund).where(m.Refund.order_id == order.id))
    assert state(hook, order, row)[::3] == (Decimal("0.00"), m.RefundStatus.PENDING)
    hook.deliver(make_event("refund.updated", render_refund(made), created=NOW + 5))
    assert state(hook, order, row)[::3] == (Decimal("10.00"), m.RefundStatus.SUCCEEDED)
