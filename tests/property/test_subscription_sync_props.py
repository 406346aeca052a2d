"""Property: however subscription events are ordered or repeated, the final row is the same."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import make_event

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import ensure_gateway_customer, sync_subscription

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def _story(session: Session) -> tuple[FakeGateway, FrozenClock, str, list[dict[str, Any]]]:
    """created → qty 2 and (own card A) qty 3 in one second → (own card B) cancel at
    period end → deleted."""
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=clock)
    stripe_price = gateway.add_price(unit_amount=1500, currency="usd")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("15.00"))
    f.price(session, product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    cards = [
        gateway.attach_payment_method(token, customer_id=customer, idempotency_key=token).id
        for token in ("pm_card_mastercard", "pm_card_visa_debit")
    ]
    sub = gateway.create_subscription(
        customer_id=customer, price_id=stripe_price, idempotency_key="s"
    )
    t = int(T0.timestamp())
    events = [make_event("customer.subscription.created", sub.raw, created=t)]
    clock.advance(seconds=10)
    for n, quantity in enumerate((2, 3)):
        if n == 1:
            gateway.set_subscription_default_payment_method(
                sub.id, payment_method_id=cards[0], idempotency_key="own-a"
            )
        state = gateway.update_subscription(sub.id, quantity=quantity, idempotency_key=f"q{n}")
        events.append(make_event("customer.subscription.updated", state.raw, created=t + 10))
    clock.advance(seconds=10)
    gateway.set_subscription_default_payment_method(
        sub.id, payment_method_id=cards[1], idempotency_key="own-b"
    )
    state = gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key="c")
    events.append(make_event("customer.subscription.updated", state.raw, created=t + 20))
    clock.advance(seconds=10)
    state = gateway.cancel_subscription(sub.id, at_period_end=False, idempotency_key="d")
    events.append(make_event("customer.subscription.deleted", state.raw, created=t + 30))
    session.flush()
    return gateway, clock, sub.id, events


def _final(session: Session, sub_id: str) -> tuple[Any, ...]:
    session.expire_all()
    row = session.scalars(
        sa.select(m.Subscription).where(m.Subscription.stripe_subscription_id == sub_id)
    ).one()
    return (
        row.status,
        row.quantity,
        row.cancel_at_period_end,
        row.canceled_at,
        row.current_period_end,
        row.stripe_event_created_at,
        row.default_payment_method_id,
    )


# Every event at least once, in any order, some of them again.
orders = st.permutations(range(5)).flatmap(
    lambda perm: st.lists(st.sampled_from(range(5)), max_size=5).flatmap(
        lambda extra: st.permutations(list(perm) + extra)
    )
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=orders)
def test_final_row_does_not_depend_on_delivery_order(session: Session, order: list[int]) -> None:
    story = getattr(session, "_story", None)
    if story is None:
        story = _story(session)
        gateway, clock, sub_id, events = story
        with session.begin_nested() as reference:
            for event in events:
                sync_subscription(session, event, clock=clock, gateway=gateway)
            expected = _final(session, sub_id)
            reference.rollback()
        session._story = (*story, expected)  # type: ignore[attr-defined]
        story = session._story  # type: ignore[attr-defined]
    gateway, clock, sub_id, events, expected = story
    assert expected[0] is m.SubscriptionStatus.CANCELLED
    with session.begin_nested() as attempt:
        for index in order:
            sync_subscription(session, events[index], clock=clock, gateway=gateway)
        assert _final(session, sub_id) == expected
        attempt.rollback()


@pytest.mark.parametrize("order", [[4, 3, 2, 1, 0], [0, 2, 1, 3, 4], [2, 0, 4, 1, 3, 2, 4]])
def test_known_awkward_orders(session: Session, order: list[int]) -> None:
    gateway, clock, sub_id, events = _story(session)
    for index in order:
        sync_subscription(session, events[index], clock=clock, gateway=gateway)
    status, quantity, pending, _, _, stamp, method = _final(session, sub_id)
    assert (status, quantity, pending) == (m.SubscriptionStatus.CANCELLED, 3, False)
    assert method == events[4]["data"]["object"]["default_payment_method"] is not None
    assert method != events[2]["data"]["object"]["default_payment_method"] is not None
    assert stamp == datetime.fromtimestamp(events[4]["created"], UTC)
