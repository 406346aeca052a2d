"""sync_subscription, sync_invoice and the subscription lifecycle, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import fixture, make_event

from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway, GatewaySubscription
from paykit.services.subscriptions import (
    SUBSCRIPTION_STATUSES,
    cancel_subscription,
    change_subscription,
    ensure_gateway_customer,
    resume_subscription,
    subscribe,
    sync_invoice,
    sync_subscription,
)

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    user: m.User
    customer_id: str
    price: m.Price
    stripe_price_id: str


@pytest.fixture
def world(session: Session) -> World:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
    stripe_price_id = gateway.add_price(unit_amount=2000, currency="usd", price_id="price_pro")
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_price_id,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm-1")
    return World(session, clock, gateway, user, customer_id, price, stripe_price_id)


def new_sub(w: World, **kw: Any) -> GatewaySubscription:
    return w.gateway.create_subscription(
        customer_id=w.customer_id, price_id=w.stripe_price_id, idempotency_key=f"s-{id(kw)}", **kw
    )


def audit_count(session: Session, action: str) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count()).select_from(m.AuditLog).where(m.AuditLog.action == action)
        )
        or 0
    )


def row_state(row: m.Subscription) -> tuple[Any, ...]:
    return (
        row.status,
        row.quantity,
        row.cancel_at_period_end,
        row.canceled_at,
        row.current_period_start,
        row.current_period_end,
        row.price_id,
        row.unit_amount,
    )


# --------------------------------------------------------------------- ensure_gateway_customer


def test_ensure_gateway_customer_creates_once(world: World) -> None:
    w = world
    assert w.user.stripe_customer_id == w.customer_id
    assert ensure_gateway_customer(w.session, w.user, w.gateway, clock=w.clock) == w.customer_id
    assert [c for c, _ in w.gateway.calls].count("create_customer") == 1
    assert audit_count(w.session, "user.gateway_customer_created") == 1


def test_ensure_gateway_customer_key_makes_retries_safe(world: World) -> None:
    # A host that rolled back after the gateway call asks again: the same customer comes back.
    other = f.user(world.session)
    first = ensure_gateway_customer(world.session, other, world.gateway)
    other.stripe_customer_id = None
    world.session.flush()
    assert ensure_gateway_customer(world.session, other, world.gateway) == first
    assert len(world.gateway.customers) == 2


# --------------------------------------------------------------------- sync_subscription


def test_sync_creates_the_row_from_a_gateway_subscription(world: World) -> None:
    w = world
    sub = new_sub(w, quantity=2)
    row = sync_subscription(w.session, sub, clock=w.clock)
    assert row.stripe_subscription_id == sub.id
    assert (row.user_id, row.price_id, row.product_id) == (
        w.user.id,
        w.price.id,
        w.price.product_id,
    )
    assert row.status is m.SubscriptionStatus.ACTIVE
    assert row.quantity == 2
    assert row.unit_amount == Decimal("20.00")
    assert row.currency == "USD"
    assert row.current_period_start == T0
    assert row.current_period_end == datetime(2026, 4, 1, tzinfo=UTC)
    assert row.stripe_event_created_at is None
    assert audit_count(w.session, "subscription.synced") == 1


def test_sync_accepts_a_plain_dict_and_a_stripe_object(world: World) -> None:
    import stripe

    sub = new_sub(world)
    row = sync_subscription(world.session, dict(sub.raw), clock=world.clock)
    obj = stripe.StripeObject.construct_from(dict(sub.raw), "sk_test")
    assert sync_subscription(world.session, obj, clock=world.clock).id == row.id


@pytest.mark.parametrize(("stripe_status", "expected"), sorted(SUBSCRIPTION_STATUSES.items()))
def test_every_stripe_status_is_mapped(
    world: World, stripe_status: str, expected: m.SubscriptionStatus
) -> None:
    raw = dict(new_sub(world).raw)
    raw["status"] = stripe_status
    assert sync_subscription(world.session, raw, clock=world.clock).status is expected


def test_canceled_is_spelled_cancelled_in_the_database(world: World) -> None:
    raw = dict(new_sub(world).raw)
    raw["status"] = "canceled"
    assert sync_subscription(world.session, raw).status.value == "CANCELLED"


def test_unknown_status_is_refused(world: World) -> None:
    raw = dict(new_sub(world).raw)
    raw["status"] = "zombie"
    with pytest.raises(ValueError, match="zombie"):
        sync_subscription(world.session, raw)


def test_period_is_read_from_the_item_first_then_the_top_level(world: World) -> None:
    raw = copy.deepcopy(dict(new_sub(world).raw))
    item = raw["items"]["data"][0]
    raw["current_period_start"] = int(T0.timestamp()) - 999
    raw["current_period_end"] = int(T0.timestamp()) + 999
    row = sync_subscription(world.session, raw)
    assert row.current_period_start == datetime.fromtimestamp(item["current_period_start"], UTC)
    # An older API version: only the top level has the period.
    del item["current_period_start"], item["current_period_end"]
    raw["status"] = "past_due"
    row = sync_subscription(world.session, raw)
    assert row.current_period_start == T0 - timedelta(seconds=999)
    assert row.current_period_end == T0 + timedelta(seconds=999)


def test_trial_cancel_and_quantity_fields(world: World) -> None:
    w = world
    sub = new_sub(w, trial_days=14, quantity=3)
    row = sync_subscription(w.session, sub)
    assert row.status is m.SubscriptionStatus.TRIALING
    assert (row.trial_start, row.trial_end) == (T0, T0 + timedelta(days=14))
    assert row.quantity == 3
    pending = w.gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key="c1")
    row = sync_subscription(w.session, pending)
    assert row.cancel_at_period_end is True
    assert row.canceled_at == T0


def test_cancel_at_equal_to_period_end_counts_as_cancel_at_period_end(world: World) -> None:
    raw = copy.deepcopy(dict(new_sub(world).raw))
    raw["cancel_at"] = raw["items"]["data"][0]["current_period_end"]
    raw["cancel_at_period_end"] = False
    assert sync_subscription(world.session, raw).cancel_at_period_end is True


def test_unknown_customer_is_a_clear_error(world: World) -> None:
    raw = copy.deepcopy(dict(new_sub(world).raw))
    raw["customer"] = "cus_nobody"
    with pytest.raises(errors.NotFound) as info:
        sync_subscription(world.session, raw)
    assert info.value.code == "unknown_customer"


def test_unknown_price_is_imported_through_the_gateway(world: World) -> None:
    w = world
    product_id = w.gateway.add_product(name="Team plan", description="For teams")
    team = w.gateway.add_price(
        unit_amount=4900, currency="usd", interval="year", product_id=product_id
    )
    sub = w.gateway.create_subscription(
        customer_id=w.customer_id, price_id=team, idempotency_key="team"
    )
    with pytest.raises(errors.NotFound) as info:
        sync_subscription(w.session, sub)
    assert info.value.code == "unknown_price"
    row = sync_subscription(w.session, sub, gateway=w.gateway, clock=w.clock)
    price = w.session.get(m.Price, row.price_id)
    assert price is not None
    assert (price.stripe_price_id, price.unit_amount, price.type) == (
        team,
        Decimal("49.00"),
        m.PriceType.RECURRING,
    )
    assert price.recurring == {"interval": "year", "interval_count": 1}
    product = w.session.get(m.Product, price.product_id)
    assert product is not None
    assert (product.name, product.slug, product.type) == (
        "Team plan",
        f"stripe-{product_id}",
        m.ProductType.SUBSCRIPTION,
    )
    assert audit_count(w.session, "price.imported") == 1
    # A second price of the same product reuses the product.
    other = w.gateway.add_price(unit_amount=500, currency="usd", product_id=product_id)
    sub2 = w.gateway.create_subscription(
        customer_id=w.customer_id, price_id=other, idempotency_key="team2"
    )
    row2 = sync_subscription(w.session, sub2, gateway=w.gateway)
    assert row2.product_id == product.id


# --------------------------------------------------------------------- ordering


@dataclass
class Sequence:
    sub_id: str
    events: list[dict[str, Any]]


def lifecycle(w: World, *, tie: bool = False) -> Sequence:
    """created → quantity 2 → cancel at period end (→ same second: quantity 5)."""
    sub = new_sub(w)
    base = int(T0.timestamp())
    events = [make_event("customer.subscription.created", sub.raw, created=base)]
    w.clock.advance(seconds=10)
    updated = w.gateway.update_subscription(sub.id, quantity=2, idempotency_key="u1")
    events.append(make_event("customer.subscription.updated", updated.raw, created=base + 10))
    w.clock.advance(seconds=10)
    pending = w.gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key="u2")
    events.append(make_event("customer.subscription.updated", pending.raw, created=base + 20))
    if tie:
        last = w.gateway.update_subscription(sub.id, quantity=5, idempotency_key="u3")
        events.append(make_event("customer.subscription.updated", last.raw, created=base + 20))
    return Sequence(sub.id, events)


def apply(w: World, events: list[dict[str, Any]]) -> m.Subscription:
    row = None
    for event in events:
        row = sync_subscription(w.session, event, clock=w.clock, gateway=w.gateway)
    assert row is not None
    w.session.expire_all()
    final = w.session.scalars(
        sa.select(m.Subscription).where(
            m.Subscription.stripe_subscription_id == row.stripe_subscription_id
        )
    ).one()
    return final


def expected_final(w: World, sub_id: str) -> tuple[Any, ...]:
    truth = w.gateway.retrieve_subscription(sub_id)
    return (
        m.SubscriptionStatus.ACTIVE,
        truth.quantity,
        truth.cancel_at_period_end,
        truth.canceled_at,
        truth.current_period_start,
        truth.current_period_end,
    )


def short(row: m.Subscription) -> tuple[Any, ...]:
    return row_state(row)[:6]


@pytest.mark.parametrize("order", ["in_order", "reversed", "shuffled", "duplicated"])
def test_events_in_any_order_give_the_newest_state(world: World, order: str) -> None:
    seq = lifecycle(world)
    events = list(seq.events)
    if order == "reversed":
        events.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(events)
    elif order == "duplicated":
        events = [events[0], events[1], events[0], events[2], events[1], events[2], events[2]]
    row = apply(world, events)
    assert short(row) == expected_final(world, seq.sub_id)
    assert row.quantity == 2
    assert row.cancel_at_period_end is True
    assert row.stripe_event_created_at == T0 + timedelta(seconds=20)


def test_an_older_event_changes_nothing_and_writes_no_audit(world: World) -> None:
    seq = lifecycle(world)
    apply(world, [seq.events[2]])
    before = audit_count(world.session, "subscription.synced")
    row = apply(world, [seq.events[0], seq.events[1]])
    assert row.quantity == 2
    assert row.cancel_at_period_end is True
    assert audit_count(world.session, "subscription.synced") == before


def test_the_same_event_twice_changes_nothing(world: World) -> None:
    seq = lifecycle(world)
    row = apply(world, seq.events)
    updated_at = row.updated_at
    calls = len(world.gateway.calls)
    world.clock.advance(seconds=5)
    row = apply(world, [seq.events[-1]])
    assert row.updated_at == updated_at
    assert len(world.gateway.calls) == calls  # no tie-break fetch for an identical state


def test_two_events_in_one_second_are_settled_by_the_gateway(world: World) -> None:
    seq = lifecycle(world, tie=True)
    # Deliver the tie's newer event first, then the older one of the same second.
    events = [seq.events[0], seq.events[3], seq.events[2], seq.events[1]]
    row = apply(world, events)
    assert row.quantity == 5
    assert ("retrieve_subscription", {"subscription_id": seq.sub_id}) in world.gateway.calls


def test_a_tie_settled_by_the_gateway_may_bring_another_price(world: World) -> None:
    w = world
    seq = lifecycle(w)
    other = w.gateway.add_price(unit_amount=5000, currency="usd", price_id="price_team")
    other_price = f.price(
        w.session,
        w.price.product,
        stripe_price_id=other,
        unit_amount=Decimal("50.00"),
        type=m.PriceType.RECURRING,
    )
    moved = w.gateway.update_subscription(seq.sub_id, price_id=other, idempotency_key="u4")
    stale = make_event("customer.subscription.updated", seq.events[2]["data"]["object"], created=0)
    stale["created"] = seq.events[2]["created"]
    # Says something else in the same second: only the gateway knows the last state.
    stale["data"]["object"]["items"]["data"][0]["quantity"] = 7
    row = apply(w, [*seq.events, stale])
    assert moved.price_id == other
    assert (row.price_id, row.unit_amount) == (other_price.id, Decimal("50.00"))


def test_audit_rows_of_a_sync_keep_the_old_and_the_new_values(world: World) -> None:
    w = world
    seq = lifecycle(w)
    apply(w, seq.events[:2])
    rows = w.session.scalars(
        sa.select(m.AuditLog)
        .where(m.AuditLog.action == "subscription.synced")
        .order_by(m.AuditLog.created_at, m.AuditLog.id)
    ).all()
    assert len(rows) == 2
    assert rows[1].old_values == {"quantity": 1}
    assert rows[1].new_values == {"quantity": 2}


def test_deleted_event_cancels(world: World) -> None:
    w = world
    seq = lifecycle(w)
    w.clock.advance(seconds=10)
    gone = w.gateway.cancel_subscription(seq.sub_id, at_period_end=False, idempotency_key="x")
    deleted = make_event(
        "customer.subscription.deleted", gone.raw, created=int(T0.timestamp()) + 30
    )
    row = apply(w, [deleted, *seq.events])
    assert row.status is m.SubscriptionStatus.CANCELLED
    assert row.canceled_at == T0 + timedelta(seconds=30)


def test_event_payload_of_another_object_is_refused(world: World) -> None:
    event = make_event("invoice.paid", fixture("invoice"), created=1)
    with pytest.raises(errors.ValidationError):
        sync_subscription(world.session, event)


# --------------------------------------------------------------------- invoices


def invoice_obj(w: World, sub_id: str, **overrides: Any) -> dict[str, Any]:
    obj = fixture("invoice")
    start, end = int(T0.timestamp()), int((T0 + timedelta(days=31)).timestamp())
    obj.update(
        id="in_test_1",
        customer=w.customer_id,
        subscription=None,
        parent={
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
        },
        currency="usd",
        number=None,
        status="draft",
        subtotal=2000,
        total=2200,
        total_taxes=[{"amount": 200}],
        amount_paid=0,
        amount_due=2200,
        due_date=None,
        period_start=start,
        period_end=start,
        status_transitions={"paid_at": None, "finalized_at": None},
    )
    obj["lines"]["data"][0]["period"] = {"start": start, "end": end}
    obj.update(overrides)
    return obj


def test_invoice_draft_gets_a_placeholder_number_until_finalized(world: World) -> None:
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub)
    base = int(T0.timestamp())
    draft = make_event("invoice.created", invoice_obj(w, sub.id), created=base)
    row = sync_invoice(w.session, draft, clock=w.clock)
    assert row is not None
    assert (row.number, row.status) == ("in_test_1", m.InvoiceStatus.DRAFT)
    assert (row.subtotal, row.tax, row.total, row.amount_due) == (
        Decimal("20.00"),
        Decimal("2.00"),
        Decimal("22.00"),
        Decimal("22.00"),
    )
    assert (row.period_start, row.period_end) == (T0, T0 + timedelta(days=31))
    finalized = invoice_obj(w, sub.id, number="ABC-0001", status="open", due_date=base + 86400)
    row = sync_invoice(
        w.session, make_event("invoice.finalized", finalized, created=base + 60), clock=w.clock
    )
    assert row is not None
    assert (row.number, row.status) == ("ABC-0001", m.InvoiceStatus.OPEN)
    assert row.due_date == T0 + timedelta(days=1)


def test_invoice_audit_rows_keep_the_old_and_the_new_values(world: World) -> None:
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub)
    base = int(T0.timestamp())
    sync_invoice(w.session, make_event("invoice.created", invoice_obj(w, sub.id), created=base))
    opened = invoice_obj(w, sub.id, number="N-2", status="open")
    sync_invoice(w.session, make_event("invoice.finalized", opened, created=base + 1))
    last = w.session.scalars(
        sa.select(m.AuditLog)
        .where(m.AuditLog.action == "invoice.synced")
        .order_by(m.AuditLog.created_at.desc(), m.AuditLog.id.desc())
        .limit(1)
    ).one()
    assert last.old_values == {"number": "in_test_1", "status": "DRAFT"}
    assert last.new_values == {"number": "N-2", "status": "OPEN"}


def test_invoice_finalized_and_paid_in_one_second_end_paid_in_any_order(world: World) -> None:
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub)
    base = int(T0.timestamp())
    opened = invoice_obj(w, sub.id, number="N-1", status="open")
    paid = invoice_obj(
        w,
        sub.id,
        number="N-1",
        status="paid",
        amount_paid=2200,
        amount_due=2200,
        status_transitions={"paid_at": base + 5, "finalized_at": base + 5},
    )
    events = [
        make_event("invoice.paid", paid, created=base + 5),
        make_event("invoice.finalized", opened, created=base + 5),
        make_event("invoice.created", invoice_obj(w, sub.id), created=base),
    ]
    row = None
    for event in events:
        row = sync_invoice(w.session, event, clock=w.clock)
    assert row is not None
    w.session.refresh(row)
    assert row.status is m.InvoiceStatus.PAID
    assert row.amount_paid == Decimal("22.00")
    assert row.paid_at == T0 + timedelta(seconds=5)


def test_invoice_of_an_unknown_subscription_is_synced_through_the_gateway(world: World) -> None:
    w = world
    sub = new_sub(w)
    event = make_event("invoice.created", invoice_obj(w, sub.id), created=1)
    with pytest.raises(errors.NotFound) as info:
        sync_invoice(w.session, event)
    assert info.value.code == "unknown_subscription"
    row = sync_invoice(w.session, event, gateway=w.gateway)
    assert row is not None
    assert row.subscription.stripe_subscription_id == sub.id


def test_invoice_without_a_subscription_is_skipped(world: World) -> None:
    obj = invoice_obj(world, "x", parent=None)
    assert sync_invoice(world.session, obj) is None


def test_invoice_old_api_shape_and_legacy_tax_field(world: World) -> None:
    w = world
    sub = new_sub(w)
    sync_subscription(w.session, sub)
    obj = invoice_obj(w, "ignored", parent=None, subscription=sub.id, tax=150, total_taxes=None)
    row = sync_invoice(w.session, obj)
    assert row is not None
    assert row.tax == Decimal("1.50")


# --------------------------------------------------------------------- lifecycle


def test_subscribe_with_product_trial_and_discount_coupon(world: World) -> None:
    w = world
    product = w.session.get(m.Product, w.price.product_id)
    assert product is not None
    product.trial_days = 7
    discount = m.Discount(
        code="LAUNCH20",
        name="Launch",
        type=m.DiscountType.PERCENTAGE,
        value=Decimal("20"),
        max_uses=1,
    )
    w.session.add(discount)
    w.session.flush()
    w.gateway.add_coupon(coupon_id="LAUNCH20", percent_off=20.0, duration="forever")
    row = subscribe(
        w.session,
        user_id=w.user.id,
        price_id=w.price.id,
        gateway=w.gateway,
        discount_code="LAUNCH20",
        clock=w.clock,
        idempotency_key="signup-1",
    )
    assert row.status is m.SubscriptionStatus.TRIALING
    assert row.trial_end == T0 + timedelta(days=7)
    raw = w.gateway.subscriptions[row.stripe_subscription_id].raw
    assert raw["discounts"][0]["source"]["coupon"] == "LAUNCH20"
    w.session.refresh(discount)
    assert discount.current_uses == 1
    assert audit_count(w.session, "subscription.created") == 1
    again = subscribe(
        w.session,
        user_id=w.user.id,
        price_id=w.price.id,
        gateway=w.gateway,
        discount_code="LAUNCH20",
        clock=w.clock,
        idempotency_key="signup-1",
    )
    assert again.id == row.id
    assert len(w.gateway.subscriptions) == 1
    with pytest.raises(errors.DiscountError) as info:
        subscribe(
            w.session,
            user_id=w.user.id,
            price_id=w.price.id,
            gateway=w.gateway,
            discount_code="LAUNCH20",
            clock=w.clock,
        )
    assert info.value.code == "discount_exhausted"


def test_subscribe_refuses_a_one_time_price(world: World) -> None:
    one_time = f.price(world.session, f.product(world.session))
    with pytest.raises(errors.ValidationError):
        subscribe(world.session, user_id=world.user.id, price_id=one_time.id, gateway=world.gateway)


def test_change_cancel_resume_and_cancel_now(world: World) -> None:
    w = world
    row = subscribe(w.session, user_id=w.user.id, price_id=w.price.id, gateway=w.gateway)
    assert row.status is m.SubscriptionStatus.ACTIVE
    row = change_subscription(
        w.session, subscription_id=row.id, quantity=4, gateway=w.gateway, clock=w.clock
    )
    assert row.quantity == 4
    yearly_id = w.gateway.add_price(unit_amount=20000, currency="usd", interval="year")
    yearly = f.price(
        w.session,
        w.session.get(m.Product, w.price.product_id),
        stripe_price_id=yearly_id,
        type=m.PriceType.RECURRING,
        unit_amount=Decimal("200.00"),
    )
    row = change_subscription(
        w.session, subscription_id=row.id, price_id=yearly.id, gateway=w.gateway
    )
    assert (row.price_id, row.unit_amount) == (yearly.id, Decimal("200.00"))
    row = cancel_subscription(w.session, subscription_id=row.id, gateway=w.gateway)
    assert (row.status, row.cancel_at_period_end) == (m.SubscriptionStatus.ACTIVE, True)
    row = resume_subscription(w.session, subscription_id=row.id, gateway=w.gateway)
    assert row.cancel_at_period_end is False
    row = cancel_subscription(
        w.session, subscription_id=row.id, gateway=w.gateway, at_period_end=False
    )
    assert row.status is m.SubscriptionStatus.CANCELLED
    # Cancelling again (a retry) syncs and returns it instead of failing.
    again = cancel_subscription(
        w.session, subscription_id=row.id, gateway=w.gateway, at_period_end=False
    )
    assert again.status is m.SubscriptionStatus.CANCELLED
    for action in (
        "subscription.changed",
        "subscription.cancel_scheduled",
        "subscription.resumed",
        "subscription.cancelled",
    ):
        assert audit_count(w.session, action) >= 1
