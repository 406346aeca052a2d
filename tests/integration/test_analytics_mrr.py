"""MRR through paykit's own lifecycle services (subscribe, change, cancel), on both databases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import PaykitError, UnsupportedCurrency, ValidationError
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import (
    cancel_subscription,
    change_subscription,
    ensure_gateway_customer,
    subscribe,
    sync_subscription,
)

T0 = datetime(2026, 4, 10, 9, 30, tzinfo=UTC)


def _setup(session: Session) -> tuple[FrozenClock, FakeGateway, m.User, m.Price]:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("120.00"))
    stripe_price = gateway.add_price(
        unit_amount=12000, currency="eur", price_id="price_year", interval="year"
    )
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_price,
        currency="EUR",
        unit_amount=Decimal("120.00"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "year", "interval_count": 1},
    )
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    return clock, gateway, user, price


def test_lifecycle_calls_write_the_history(session: Session) -> None:
    clock, gateway, user, price = _setup(session)
    sub = subscribe(session, user_id=user.id, price_id=price.id, gateway=gateway, clock=clock)
    assert paykit.mrr(session, at=T0, currency="EUR") == Decimal("10.0000")  # 120 / 12
    clock.advance(days=2)
    change_subscription(session, subscription_id=sub.id, quantity=3, gateway=gateway, clock=clock)
    clock.advance(days=3)
    cancel_subscription(
        session, subscription_id=sub.id, at_period_end=False, gateway=gateway, clock=clock
    )
    assert paykit.mrr(session, at=T0 - timedelta(seconds=1), currency="EUR") == 0
    assert paykit.mrr(session, at=T0 + timedelta(days=2), currency="EUR") == Decimal("30.0000")
    assert paykit.mrr(session, at=clock.now(), currency="EUR") == 0
    assert paykit.mrr(session, at=clock.now(), currency="USD") == 0
    moved = paykit.mrr_movements(
        session, start=T0.date(), end=T0.date() + timedelta(days=6), currency="EUR"
    )
    assert (moved.start_mrr, moved.new, moved.expansion, moved.churned, moved.end_mrr) == (
        0,
        Decimal("10.0000"),
        Decimal("20.0000"),
        Decimal("30.0000"),
        0,
    )
    assert moved.balanced
    rows = session.scalars(
        sa.select(m.SubscriptionMrrHistory).order_by(m.SubscriptionMrrHistory.effective_at)
    ).all()
    assert [r.status for r in rows][-1] == "CANCELLED"
    assert all(r.user_id == user.id for r in rows)


def test_a_late_older_event_is_history_and_a_duplicate_adds_nothing(session: Session) -> None:
    clock, gateway, user, _ = _setup(session)
    first = gateway.create_subscription(
        customer_id=user.stripe_customer_id or "", price_id="price_year", idempotency_key="s"
    )
    later = gateway.update_subscription(first.id, quantity=2, idempotency_key="q")
    sync_subscription(session, later, clock=clock, event_created=T0 + timedelta(hours=5))
    sync_subscription(session, first, clock=clock, event_created=T0)  # late
    sync_subscription(session, first, clock=clock, event_created=T0)  # and again
    count = session.scalar(sa.select(sa.func.count()).select_from(m.SubscriptionMrrHistory))
    assert count == 2
    assert paykit.mrr(session, at=T0 + timedelta(hours=1), currency="EUR") == Decimal("10.0000")
    assert paykit.mrr(session, at=T0 + timedelta(hours=5), currency="EUR") == Decimal("20.0000")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"start": date(2026, 5, 2), "end": date(2026, 5, 1), "currency": "USD"}, ValidationError),
        (
            {"start": date(2026, 5, 1), "end": date(2026, 5, 1), "currency": "XXQ"},
            UnsupportedCurrency,
        ),
        ({"start": date.min, "end": date(2026, 5, 1), "currency": "USD"}, ValidationError),
    ],
)
def test_bad_ranges_are_refused(session: Session, kwargs: dict[str, object], error: type) -> None:
    with pytest.raises(error) as caught:
        paykit.mrr_movements(session, **kwargs)  # type: ignore[arg-type]
    assert isinstance(caught.value, PaykitError)


def test_reads_run_in_a_read_only_transaction(engine: sa.Engine, backend: str) -> None:
    """What a PostgreSQL replica allows: mrr and mrr_movements never write."""
    if backend != "postgresql":
        pytest.skip("READ ONLY transactions are PostgreSQL's")
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        session = Session(bind=conn)
        assert paykit.mrr(session, at=T0, currency="USD") >= 0
        assert paykit.mrr_movements(
            session, start=T0.date(), end=T0.date() + timedelta(days=31), currency="USD"
        ).balanced
        conn.rollback()
