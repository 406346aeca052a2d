"""Services sync neutral gateway snapshots that carry nothing Stripe-shaped (no ``raw``).

What a second gateway (not Stripe) would hand paykit: the services must not
need Stripe's JSON to store a subscription, an invoice or an imported price.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from tests.integration.test_subscriptions import T0, World, new_sub, world

from paykit import models as m
from paykit.errors import Conflict
from paykit.gateways import (
    FakeGateway,
    GatewayInvoice,
    GatewayInvoiceStatus,
    GatewayPrice,
    GatewayProduct,
    GatewaySubscription,
    GatewaySubscriptionStatus,
)
from paykit.services.subscriptions import sync_invoice, sync_subscription

__all__ = ["world"]  # the fixture, shared with test_subscriptions


class _NoRawGateway(FakeGateway):
    """FakeGateway whose catalogue answers carry no Stripe-shaped ``raw``."""

    def retrieve_price(self, price_id: str) -> GatewayPrice:
        return dataclasses.replace(super().retrieve_price(price_id), raw={})

    def retrieve_product(self, product_id: str) -> GatewayProduct:
        return dataclasses.replace(super().retrieve_product(product_id), raw={})


def _bare(sub: GatewaySubscription, **changes: object) -> GatewaySubscription:
    return dataclasses.replace(sub, raw={}, **changes)  # type: ignore[arg-type]


def test_a_subscription_without_raw_is_synced(world: World) -> None:
    w = world
    sub = _bare(
        new_sub(w, quantity=2),
        cancel_at=T0 + timedelta(days=31),
        metadata={"plan": "pro"},
        status=GatewaySubscriptionStatus.PAST_DUE,
    )
    row = sync_subscription(w.session, sub, clock=w.clock)
    assert row.stripe_subscription_id == sub.id
    assert row.status is m.SubscriptionStatus.PAST_DUE
    assert row.quantity == 2
    assert row.metadata_ == {"plan": "pro"}
    # cancel_at equal to the period end means "cancel at period end".
    assert sub.cancel_at == sub.current_period_end
    assert sub.cancel_at_period_end is False
    assert row.cancel_at_period_end is True


def test_an_unknown_price_is_imported_from_neutral_answers(world: World) -> None:
    w = world
    gateway = _NoRawGateway(clock=w.clock)
    customer = gateway.create_customer(email="n@example.com", idempotency_key="c")
    product_id = gateway.add_product(name="Team plan", description="For teams")
    price_id = gateway.add_price(
        unit_amount=4500, currency="eur", product_id=product_id, interval="year"
    )
    gateway.attach_payment_method("pm_card_visa", customer_id=customer.id, idempotency_key="p")
    sub = _bare(
        gateway.create_subscription(customer_id=customer.id, price_id=price_id, idempotency_key="s")
    )
    w.user.stripe_customer_id = customer.id
    w.session.flush()
    row = sync_subscription(w.session, sub, gateway=gateway, clock=w.clock)
    price = w.session.get(m.Price, row.price_id)
    assert price is not None
    assert (price.stripe_price_id, price.unit_amount, price.currency) == (
        price_id,
        Decimal("45.00"),
        "EUR",
    )
    assert price.recurring == {"interval": "year", "interval_count": 1}
    product = w.session.get(m.Product, price.product_id)
    assert product is not None
    assert (product.name, product.billing_interval) == ("Team plan", "year")


def test_an_invoice_snapshot_is_synced_and_one_of_no_subscription_skipped(world: World) -> None:
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub, clock=w.clock)
    invoice = GatewayInvoice(
        id="in_neutral_1",
        subscription_id=sub.id,
        status=GatewayInvoiceStatus.OPEN,
        currency="usd",
        number=None,
        subtotal_minor=2000,
        tax_minor=200,
        total_minor=2200,
        amount_paid_minor=0,
        amount_due_minor=2200,
        period_start=T0,
        period_end=T0 + timedelta(days=31),
    )
    row = sync_invoice(w.session, invoice, clock=w.clock, event_created=T0)
    assert row is not None
    assert (row.number, row.status, row.total) == (
        "in_neutral_1",
        m.InvoiceStatus.OPEN,
        Decimal("22.00"),
    )
    assert sync_invoice(w.session, dataclasses.replace(invoice, subscription_id=None)) is None


def test_two_invoices_with_one_number_are_a_conflict_not_a_driver_error(world: World) -> None:
    # Invoice numbers are unique in paykit's table; a second gateway invoice carrying
    # a number another one holds (two accounts or gateways writing into one database)
    # is refused with a stable code, inserted or updated, and nothing is written.
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub, clock=w.clock)
    first = GatewayInvoice(
        id="in_number_1",
        subscription_id=sub.id,
        status=GatewayInvoiceStatus.OPEN,
        currency="usd",
        number="INV-0001",
        subtotal_minor=2000,
        tax_minor=0,
        total_minor=2000,
        amount_paid_minor=0,
        amount_due_minor=2000,
        period_start=T0,
        period_end=T0 + timedelta(days=31),
    )
    assert sync_invoice(w.session, first, clock=w.clock, event_created=T0) is not None
    second = dataclasses.replace(first, id="in_number_2")
    with pytest.raises(Conflict) as raised:
        sync_invoice(w.session, second, clock=w.clock, event_created=T0)
    assert raised.value.code == "invoice_number_taken"
    draft = dataclasses.replace(first, id="in_number_3", number=None)
    assert sync_invoice(w.session, draft, clock=w.clock, event_created=T0) is not None
    finalized = dataclasses.replace(draft, number="INV-0001")
    with pytest.raises(Conflict) as raised:
        sync_invoice(w.session, finalized, clock=w.clock, event_created=T0 + timedelta(seconds=1))
    assert raised.value.code == "invoice_number_taken"
    numbers = w.session.scalars(sa.select(m.Invoice.number).order_by(m.Invoice.number)).all()
    assert numbers == ["INV-0001", "in_number_3"]
