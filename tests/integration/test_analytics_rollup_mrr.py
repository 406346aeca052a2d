"""The rollup's MRR metrics, from histories written by paykit's own services, on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import analytics
from paykit import models as m
from paykit.analytics.definitions import day_end
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import (
    cancel_subscription,
    change_subscription,
    ensure_gateway_customer,
    subscribe,
)

T0 = datetime(2026, 4, 10, 9, 30, tzinfo=UTC)
NAMES = ("new", "expansion", "contraction", "churned", "reactivation")


def _price(session: Session, gateway: FakeGateway, currency: str, interval: str) -> m.Price:
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("120.00"))
    stripe_price = gateway.add_price(
        unit_amount=12000,
        currency=currency.lower(),
        price_id=f"price_{currency}_{interval}",
        interval=interval,
    )
    return f.price(
        session,
        product,
        stripe_price_id=stripe_price,
        currency=currency,
        unit_amount=Decimal("120.00"),
        type=m.PriceType.RECURRING,
        recurring={"interval": interval, "interval_count": 1},
    )


def _customer(session: Session, gateway: FakeGateway, clock: FrozenClock) -> m.User:
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=clock)
    gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer, idempotency_key=f"pm-{user.id}"
    )
    return user


def _stored(session: Session, day: date) -> dict[str, Decimal]:
    rows = session.execute(
        sa.select(m.Analytics.metric, m.Analytics.value).where(
            m.Analytics.date == day, m.Analytics.metric.like("mrr%")
        )
    ).all()
    return {metric: Decimal(value) for metric, value in rows}


def _expected(session: Session, day: date, currency: str) -> dict[str, Decimal]:
    moved = paykit.mrr_movements(session, start=day, end=day, currency=currency)
    figures = {f"mrr:{currency}": paykit.mrr(session, at=day_end(day), currency=currency)}
    figures.update({f"mrr_{n}:{currency}": getattr(moved, n) for n in NAMES})
    return figures


def test_rollup_writes_mrr_and_its_movements_per_day(session: Session) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    eur = _price(session, gateway, "EUR", "year")
    usd = _price(session, gateway, "USD", "month")
    alice, bob = _customer(session, gateway, clock), _customer(session, gateway, clock)
    a = subscribe(session, user_id=alice.id, price_id=eur.id, gateway=gateway, clock=clock)
    b = subscribe(session, user_id=bob.id, price_id=usd.id, gateway=gateway, clock=clock)
    clock.advance(days=2)
    change_subscription(session, subscription_id=a.id, quantity=3, gateway=gateway, clock=clock)
    clock.advance(days=1)
    change_subscription(session, subscription_id=b.id, quantity=2, gateway=gateway, clock=clock)
    clock.advance(days=1)
    change_subscription(session, subscription_id=a.id, quantity=2, gateway=gateway, clock=clock)
    clock.advance(days=1)
    cancel_subscription(
        session, subscription_id=a.id, at_period_end=False, gateway=gateway, clock=clock
    )
    first, last = T0.date() - timedelta(days=1), T0.date() + timedelta(days=6)
    clock.advance(days=3)
    analytics.backfill(session, start=first, end=last, clock=clock)
    day = first
    seen: set[str] = set()
    while day <= last:
        stored = _stored(session, day)
        expected = _expected(session, day, "EUR") | _expected(session, day, "USD")
        assert stored == expected, day
        seen.update(k for k, v in stored.items() if v)
        day += timedelta(days=1)
    assert {"mrr_new:EUR", "mrr_expansion:EUR", "mrr_contraction:EUR", "mrr_churned:EUR"} <= seen
    assert {"mrr:USD", "mrr_new:USD", "mrr_expansion:USD"} <= seen
    one = analytics.rollup(session, day=T0.date(), clock=clock)
    assert _stored(session, T0.date()) == _expected(session, T0.date(), "EUR") | _expected(
        session, T0.date(), "USD"
    )
    assert one.rows > 12


def test_a_rerun_replaces_the_days_mrr_rows(session: Session) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    price = _price(session, gateway, "EUR", "month")
    user = _customer(session, gateway, clock)
    sub = subscribe(session, user_id=user.id, price_id=price.id, gateway=gateway, clock=clock)
    session.add(m.Analytics(date=T0.date(), metric="mrr_custom", value=Decimal(7), metadata_={}))
    session.flush()
    analytics.rollup(session, day=T0.date(), clock=clock)
    assert _stored(session, T0.date())["mrr:EUR"] == Decimal("120.0000")
    clock.advance(hours=3)  # the same day
    change_subscription(session, subscription_id=sub.id, quantity=2, gateway=gateway, clock=clock)
    analytics.rollup(session, day=T0.date(), clock=clock)
    stored = _stored(session, T0.date())
    assert stored == _expected(session, T0.date(), "EUR") | {"mrr_custom": Decimal(7)}
    assert stored["mrr:EUR"] == stored["mrr_new:EUR"] == Decimal("240.0000")
    count = session.scalar(
        sa.select(sa.func.count()).where(
            m.Analytics.date == T0.date(), m.Analytics.metric == "mrr:EUR"
        )
    )
    assert count == 1
