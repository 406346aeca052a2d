"""paykit.testing against the real services, on SQLite and PostgreSQL.

The events ``stripe_event`` builds and ``signed_webhook`` signs go through
``handle_webhook`` unchanged; ``FAST_PASSWORD_HASHER`` works with the user services.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.services.subscriptions import ensure_gateway_customer
from paykit.testing import (
    FAST_PASSWORD_HASHER,
    STRIPE_EVENT_OBJECTS,
    FakeGateway,
    FrozenClock,
    signed_webhook,
    stripe_event,
)
from paykit.webhooks import handle_webhook

SECRET = "whsec_test_tools"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def deliver(
    session: Session, event: dict[str, object], clock: FrozenClock, gateway: FakeGateway
) -> paykit.webhooks.WebhookResponse:
    body, header = signed_webhook(event, SECRET, clock.now())
    return handle_webhook(session, body, header, secrets=SECRET, gateway=gateway, clock=clock)


@pytest.mark.parametrize("event_type", sorted(STRIPE_EVENT_OBJECTS))
def test_every_built_event_is_applied(session: Session, event_type: str) -> None:
    # A customer with a subscription; each event is built from Stripe's example
    # object and linked to them only by ids, the way docs/testing.md shows.
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    customer_id = ensure_gateway_customer(session, f.user(session), gateway, clock=clock)
    stripe_price = gateway.add_price(unit_amount=1000, currency="usd", interval="month")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    f.price(session, product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    method = gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer_id, idempotency_key="a"
    )
    sub = gateway.create_subscription(
        customer_id=customer_id, price_id=stripe_price, idempotency_key="s"
    )
    links: dict[str, dict[str, object]] = {
        "customer": {"id": customer_id},
        "invoice": {"customer": customer_id, "subscription": sub.id},
        "payment_method": {"customer": customer_id} if event_type.endswith("attached") else {},
        "setup_intent": {"customer": customer_id, "payment_method": method.id},
        "checkout.session": {
            "customer": customer_id,
            "mode": "subscription",
            "subscription": sub.id,
        },
    }
    if event_type.endswith("updated") and event_type.startswith("payment_method."):
        links["payment_method"] = {"id": method.id, "customer": customer_id}
    resource = STRIPE_EVENT_OBJECTS[event_type]
    if resource == "subscription":
        event = stripe_event(event_type, object=sub.raw, created=T0)
    else:
        event = stripe_event(event_type, links.get(resource, {}), created=T0)
    response = deliver(session, event, clock, gateway)
    assert response.status_code == 200, response.body
    # Payments and refunds of no order are ignored, as paykit's handlers document.
    expected = "ignored" if resource in {"payment_intent", "refund", "charge"} else "processed"
    assert response.body["status"] == expected


def test_a_built_payment_event_pays_the_order(session: Session) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, base_price=Decimal("15.00"))
    order = paykit.place_order(
        session,
        customer_id=user.id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        gateway=gateway,
        clock=clock,
    ).order
    assert order.stripe_payment_intent_id is not None
    paid = gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="pay"
    )
    event = stripe_event(
        "payment_intent.succeeded",
        {
            "id": paid.id,
            "amount": paid.amount_minor,
            "currency": paid.currency.lower(),
            "customer": paid.customer_id,
            "metadata": dict(paid.metadata),
        },
        created=clock.now(),
    )
    response = deliver(session, event, clock, gateway)
    assert response.body["status"] == "processed"
    session.refresh(order)
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )


def test_fast_hasher_registers_and_logs_in(session: Session) -> None:
    clock = FrozenClock(T0)
    user = paykit.register_user(
        session,
        {"email": "fast@example.com", "password": "correct horse battery", "name": "Fast"},
        hasher=FAST_PASSWORD_HASHER,
        clock=clock,
    )
    stored = session.scalar(sa.select(m.User.password).where(m.User.id == user.id))
    assert stored is not None
    assert "$2b$04$" in stored
    result = paykit.login(
        session,
        email="fast@example.com",
        password="correct horse battery",
        hasher=FAST_PASSWORD_HASHER,
        clock=clock,
    )
    assert result.user.id == user.id
