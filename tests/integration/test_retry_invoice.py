"""retry_invoice: a failed renewal paid again now, with the dunning state settled
(docs/subscriptions.md, "Dunning"), on both databases and both gateways."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa
from tests import factories as f
from tests.integration.test_billing_methods import World, w  # noqa: F401 (w: a fixture)

import paykit
from paykit import models as m
from paykit.errors import GatewayError, NotFound
from paykit.security import Actor


@pytest.fixture
def world(w: World) -> World:  # noqa: F811 (test_billing_methods' world, both gateways)
    return w


def _declining_card(world: World) -> m.PaymentMethod:
    declining = world.account.attach_payment_method(
        "pm_card_chargeDeclined", customer_id=world.customer_id, idempotency_key="declining"
    )
    world.deliver_all()
    row = world.session.scalar(
        sa.select(m.PaymentMethod).where(m.PaymentMethod.stripe_payment_method_id == declining.id)
    )
    assert row is not None
    return row


def _subscription(world: World, invoice: m.Invoice) -> m.Subscription:
    world.session.expire_all()
    row = world.session.get(m.Subscription, invoice.subscription_id)
    assert row is not None
    return row


def test_a_declined_retry_counts_an_attempt_and_a_paid_one_clears_dunning(world: World) -> None:
    invoice = world.invoice(3000)
    bad = _declining_card(world)
    failed = paykit.retry_invoice(
        world.session,
        invoice_id=invoice.id,
        payment_method_id=bad.id,
        gateway=world.gateway,
        actor=world.actor,
        clock=world.clock,
        idempotency_key="retry-1",
    )
    assert (failed.paid, failed.decline_code) == (False, "generic_decline")
    assert failed.notice is not None
    assert failed.notice.kind == "payment_failed"
    assert failed.notice.amount == Decimal("30.00")
    sub = _subscription(world, invoice)
    assert (sub.status, sub.payment_attempts) == (m.SubscriptionStatus.PAST_DUE, 1)
    assert failed.invoice.status is m.InvoiceStatus.OPEN
    good = world.save_card("pm_card_amex")
    paid = paykit.retry_invoice(
        world.session,
        invoice_id=invoice.id,
        payment_method_id=good.id,
        gateway=world.gateway,
        actor=world.actor,
        clock=world.clock,
        idempotency_key="retry-2",
    )
    assert paid.paid
    assert paid.invoice.status is m.InvoiceStatus.PAID
    assert paid.invoice.amount_paid == Decimal("30.00")
    assert paid.notice is not None
    assert paid.notice.kind == "payment_succeeded"
    sub = _subscription(world, invoice)
    assert (sub.status, sub.payment_attempts, sub.past_due_since) == (
        m.SubscriptionStatus.ACTIVE,
        0,
        None,
    )
    world.deliver_all()  # invoice.paid and the rest, late: nothing counted twice
    sub = _subscription(world, invoice)
    assert (sub.status, sub.payment_attempts) == (m.SubscriptionStatus.ACTIVE, 0)


def test_a_paid_invoice_or_another_customers_is_refused_before_any_write(world: World) -> None:
    invoice = world.invoice(1500)
    stranger = Actor.of(f.user(world.session))
    before = world.session.scalar(sa.select(sa.func.count()).select_from(m.AuditLog))
    with pytest.raises(NotFound):
        paykit.retry_invoice(
            world.session,
            invoice_id=invoice.id,
            gateway=world.gateway,
            actor=stranger,
            clock=world.clock,
        )
    assert world.session.scalar(sa.select(sa.func.count()).select_from(m.AuditLog)) == before
    first = paykit.retry_invoice(
        world.session,
        invoice_id=invoice.id,
        gateway=world.gateway,
        actor=world.actor,
        clock=world.clock,
    )
    assert first.paid
    with pytest.raises(GatewayError) as info:
        paykit.retry_invoice(
            world.session,
            invoice_id=invoice.id,
            gateway=world.gateway,
            actor=world.actor,
            clock=world.clock,
        )
    assert info.value.code == "invoice_unexpected_state"
