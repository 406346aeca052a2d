"""FakeGateway's events: delivered twice, in any order, they change nothing paykit already knows.

A full flow (an order paid then refunded, a subscription started, changed to
cancel at period end, then cancelled now) runs through FakeGateway; every event
it emitted is then signed with ``paykit.testing.sign_webhook`` and delivered
through ``paykit.webhooks.handle_webhook`` twice, shuffled. The database must
end as it was without the webhooks (the inbox aside), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.services.subscriptions import ensure_gateway_customer
from paykit.testing import FakeGateway, sign_webhook
from paykit.webhooks import HANDLED_EVENT_TYPES, handle_webhook

SECRET = "whsec_fake_events"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
#: The inbox records each delivery, and a synced row the time of the newest event
#: applied to it (so an older one cannot undo it); everything else must stay as it was.
SKIPPED_TABLES = {"paykit_webhook_events"}
SKIPPED_COLUMNS = {"stripe_event_created_at"}


def _deliver(
    session: Session, gateway: FakeGateway, clock: FrozenClock, events: list[dict[str, Any]]
) -> None:
    for event in events:
        body = json.dumps(event).encode()
        response = handle_webhook(
            session,
            body,
            sign_webhook(body, SECRET, clock.now()),
            secrets=[SECRET],
            gateway=gateway,
            clock=clock,
        )
        assert response.status_code == 200, (event["type"], response)


def _attach(session: Session, gateway: FakeGateway, clock: FrozenClock) -> m.User:
    """A customer with a card: attached at the gateway (as Stripe.js does), learnt by webhook."""
    user = f.user(session)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm")
    return user


def _flow(session: Session, gateway: FakeGateway, clock: FrozenClock, user: m.User) -> None:
    product = f.product(session, base_price=Decimal("40.00"))
    placed = paykit.place_order(
        session,
        customer_id=user.id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=clock,
    )
    order = paykit.pay_order(session, order_id=placed.order.id, gateway=gateway, clock=clock).order
    support = f.user(session, role=m.UserRole.SUPPORT)
    paykit.issue_refund(
        session,
        order_id=order.id,
        amount=Decimal("10.00"),
        reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
        actor_id=support.id,
        gateway=gateway,
        clock=clock,
    )
    stripe_price = gateway.add_price(unit_amount=1000, currency="usd")
    sub_product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    price = f.price(session, sub_product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    sub = paykit.subscribe(
        session, user_id=user.id, price_id=price.id, gateway=gateway, clock=clock
    )
    clock.advance(timedelta(minutes=5))
    paykit.cancel_subscription(
        session, subscription_id=sub.id, gateway=gateway, at_period_end=True, clock=clock
    )
    clock.advance(timedelta(minutes=5))
    paykit.cancel_subscription(
        session, subscription_id=sub.id, gateway=gateway, at_period_end=False, clock=clock
    )
    session.flush()


def _state(session: Session) -> dict[str, list[tuple[Any, ...]]]:
    session.flush()
    session.expire_all()
    state: dict[str, list[tuple[Any, ...]]] = {}
    for table in m.Base.metadata.sorted_tables:
        if table.name in SKIPPED_TABLES:
            continue
        columns = [c for c in table.columns if c.name not in SKIPPED_COLUMNS]
        rows = session.execute(sa.select(*columns)).all()
        state[table.name] = sorted((tuple(map(repr, row)) for row in rows), key=repr)
    return state


def test_the_fake_emits_what_paykit_handles_and_replays_change_nothing(session: Session) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock, namespace="evts")
    user = _attach(session, gateway, clock)
    attached = gateway.drain_events()
    assert [event["type"] for event in attached] == ["payment_method.attached"]
    _deliver(session, gateway, clock, attached)
    _flow(session, gateway, clock, user)
    events = gateway.drain_events()
    types = [event["type"] for event in events]
    assert gateway.events == []
    assert set(types) <= HANDLED_EVENT_TYPES
    assert {
        "payment_intent.succeeded",
        "refund.created",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
    } <= set(types)
    assert types.index("customer.subscription.created") < types.index(
        "customer.subscription.deleted"
    )
    assert len({event["id"] for event in events}) == len(events)

    before = _state(session)
    deliveries = (attached + events) * 2
    random.Random(11).shuffle(deliveries)
    _deliver(session, gateway, clock, deliveries)
    assert _state(session) == before
    inbox = session.scalars(sa.select(m.WebhookEvent.event_id)).all()
    assert sorted(inbox) == sorted(event["id"] for event in attached + events)
