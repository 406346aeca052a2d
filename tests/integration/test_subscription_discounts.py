"""subscribe() enforces every rule of a discount code, as place_order does (issue 11).

Before the shared discount module, subscribe() had its own partial copy of the
rules: a code limited to plan A, once per customer, first order only, was
applied twice to plan B for the same customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import ensure_gateway_customer, subscribe

T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    user: m.User
    plan_a: m.Price
    plan_b: m.Price


def _plan(session: Session, gateway: FakeGateway, cents: int) -> m.Price:
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal(cents) / 100)
    return f.price(
        session,
        product,
        stripe_price_id=gateway.add_price(unit_amount=cents, currency="usd"),
        unit_amount=Decimal(cents) / 100,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )


@pytest.fixture
def world(session: Session) -> World:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=clock)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm-1")
    return World(
        session, clock, gateway, user, _plan(session, gateway, 2000), _plan(session, gateway, 3000)
    )


def _code(w: World, code: str, **kw: Any) -> m.Discount:
    only = kw.pop("only", None)
    discount = m.Discount(
        code=code, name=code, type=m.DiscountType.PERCENTAGE, value=Decimal("20"), **kw
    )
    w.session.add(discount)
    w.session.flush()
    if only is not None:
        w.session.add(m.ProductDiscount(product_id=only.product_id, discount_id=discount.id))
        w.session.flush()
    w.gateway.add_coupon(coupon_id=code, percent_off=20.0, duration="forever")
    return discount


def _subscribe(w: World, price: m.Price, code: str) -> m.Subscription:
    return subscribe(
        w.session,
        user_id=w.user.id,
        price_id=price.id,
        gateway=w.gateway,
        discount_code=code,
        clock=w.clock,
    )


def _refused(w: World, price: m.Price, code: str) -> str:
    before = len(w.gateway.subscriptions)
    with pytest.raises(errors.DiscountError) as caught:
        _subscribe(w, price, code)
    assert len(w.gateway.subscriptions) - before in (0, 1)
    return caught.value.code


def test_a_code_for_plan_a_does_not_apply_to_plan_b(world: World) -> None:
    _code(world, "PLANA", only=world.plan_a)
    before = len(world.gateway.subscriptions)
    assert _refused(world, world.plan_b, "PLANA") == "discount_not_applicable"
    assert len(world.gateway.subscriptions) == before  # refused before the gateway
    assert _subscribe(world, world.plan_a, "PLANA").status is not None


def test_once_per_customer_is_once(world: World) -> None:
    discount = _code(world, "ONCE", max_uses_per_customer=1)
    _subscribe(world, world.plan_a, "ONCE")
    assert _refused(world, world.plan_b, "ONCE") == "discount_customer_limit"
    world.session.refresh(discount)
    assert discount.current_uses == 1


def test_first_time_only_refuses_a_customer_with_an_earlier_order(world: World) -> None:
    _code(world, "FIRST", first_time_only=True)
    f.order(
        world.session,
        world.user,
        status=m.OrderStatus.COMPLETED,
        payment_status=m.PaymentStatus.SUCCEEDED,
    )
    assert _refused(world, world.plan_a, "FIRST") == "discount_first_time_only"


def test_the_minimum_amount_counts(world: World) -> None:
    _code(world, "BIG", minimum_amount=Decimal("25.00"))
    assert _refused(world, world.plan_a, "BIG") == "discount_minimum_not_met"
    assert _subscribe(world, world.plan_b, "BIG").id


def test_the_issue_scenario_plan_a_once_first_order_only(world: World) -> None:
    """The code of the report: limited to plan A, once per customer, first order only."""
    _code(world, "LAUNCH", only=world.plan_a, max_uses_per_customer=1, first_time_only=True)
    assert _refused(world, world.plan_b, "LAUNCH") == "discount_not_applicable"
    assert _refused(world, world.plan_b, "LAUNCH") == "discount_not_applicable"
    _subscribe(world, world.plan_a, "LAUNCH")
    assert _refused(world, world.plan_a, "LAUNCH") == "discount_customer_limit"
