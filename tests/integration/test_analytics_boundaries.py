"""Day boundaries and multi-item subscriptions, on both databases (docs/analytics.md).

A day is ``[00:00, 24:00)`` UTC for every figure: an MRR change and a payment
stamped exactly at midnight both belong to the day that midnight starts. A
subscription's monthly amount is the sum over all its items, each normalised
by its own price's interval, rounded once per subscription.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways.base import GatewaySubscription, GatewaySubscriptionItem
from paykit.services.subscriptions import sync_subscription

CLOCK = FrozenClock(datetime(2026, 5, 20, 12, 0, tzinfo=UTC))
MAY_1, MAY_2 = date(2026, 5, 1), date(2026, 5, 2)
MIDNIGHT = datetime(2026, 5, 2, tzinfo=UTC)  # ends May 1, starts May 2
TICK = timedelta(microseconds=1)

#: (stripe price id, unit amount, interval, interval_count), all USD
PRICES = (
    ("p_b_month", "30.00", "month", 1),
    ("p_b_year", "0.05", "year", 1),
    ("p_b_week", "0.05", "week", 1),
    ("p_b_quarter", "10.00", "month", 3),
)


def _prices(session: Session) -> None:
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    for stripe_id, amount, interval, count in PRICES:
        f.price(
            session,
            product,
            stripe_price_id=stripe_id,
            currency="USD",
            unit_amount=Decimal(amount),
            type=m.PriceType.RECURRING,
            recurring={"interval": interval, "interval_count": count},
        )
    session.flush()


def _item(price: str, quantity: int = 1, minor: int | None = None) -> GatewaySubscriptionItem:
    return GatewaySubscriptionItem(
        id=f"si_{price}",
        price_id=price,
        product_id=None,
        quantity=quantity,
        unit_amount_minor=minor,
    )


def _sync(
    session: Session,
    sub_id: str,
    customer: str,
    at: datetime,
    items: tuple[GatewaySubscriptionItem, ...],
    status: str = "active",
) -> None:
    items = tuple(
        GatewaySubscriptionItem(
            id=f"si_{sub_id}_{i.price_id}",
            price_id=i.price_id,
            product_id=None,
            quantity=i.quantity,
            unit_amount_minor=i.unit_amount_minor,
        )
        for i in items
    )
    first = items[0]
    snapshot = GatewaySubscription(
        id=sub_id,
        customer_id=customer,
        status=status,  # type: ignore[arg-type]
        price_id=first.price_id,
        product_id=None,
        quantity=first.quantity,
        unit_amount_minor=first.unit_amount_minor,
        currency="USD",
        current_period_start=at,
        current_period_end=at + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=at if status == "canceled" else None,
        items=items,
    )
    sync_subscription(session, snapshot, clock=CLOCK, event_created=at)


def _rollup(session: Session, day: date) -> dict[str, Decimal]:
    analytics.rollup(session, day=day, clock=CLOCK)
    rows = session.execute(
        sa.select(m.Analytics.metric, m.Analytics.value).where(m.Analytics.date == day)
    )
    return {metric: Decimal(value) for metric, value in rows}


def test_an_mrr_change_and_a_payment_at_midnight_belong_to_the_day_it_starts(
    session: Session,
) -> None:
    _prices(session)
    ann = f.user(session, stripe_customer_id="cus_b_ann")
    ben = f.user(session, stripe_customer_id="cus_b_ben")
    _sync(session, "sub_b_ann", "cus_b_ann", MIDNIGHT, (_item("p_b_month"),))
    # The last instant of May 2 is still May 2.
    _sync(
        session,
        "sub_b_ben",
        "cus_b_ben",
        MIDNIGHT + timedelta(days=1) - TICK,
        (_item("p_b_month", 2),),
    )
    f.order(
        session,
        ann,
        status=m.OrderStatus.COMPLETED,
        total_amount=Decimal("12.00"),
        created_at=MIDNIGHT,
    )
    f.order(
        session,
        ben,
        status=m.OrderStatus.COMPLETED,
        total_amount=Decimal("5.00"),
        created_at=MIDNIGHT - TICK,  # the last instant of May 1
    )

    # MRR: at the instant of midnight the change is in force; at the end of May 1 it is not.
    assert paykit.mrr(session, at=MIDNIGHT, currency="USD") == Decimal("30.0000")
    assert paykit.mrr(session, at=MIDNIGHT - TICK, currency="USD") == 0
    may_1 = paykit.mrr_movements(session, start=MAY_1, end=MAY_1, currency="USD")
    may_2 = paykit.mrr_movements(session, start=MAY_2, end=MAY_2, currency="USD")
    assert (may_1.new, may_1.end_mrr) == (0, 0)
    assert (may_2.start_mrr, may_2.new, may_2.end_mrr) == (
        0,
        Decimal("90.0000"),
        Decimal("90.0000"),
    )

    # Revenue: the same rule.
    by_day = {
        r.day: r.gross for r in analytics.revenue(session, start=MAY_1, end=MAY_2, clock=CLOCK)
    }
    assert by_day == {MAY_1: Decimal("5.00"), MAY_2: Decimal("12.00")}
    assert analytics.new_customers(session, start=MAY_1, end=MAY_2, clock=CLOCK) == {
        MAY_1: 1,
        MAY_2: 1,
    }

    # The rollup puts both on May 2, and nothing of Ann on May 1.
    first, second = _rollup(session, MAY_1), _rollup(session, MAY_2)
    # No history row up to the end of May 1 at all: no MRR rows that day (docs: "The rollup").
    assert "mrr:USD" not in first
    assert "mrr_new:USD" not in first
    assert first["gross_revenue:USD"] == Decimal("5.00")
    assert second["mrr:USD"] == Decimal("90.0000")
    assert second["mrr_new:USD"] == Decimal("90.0000")
    assert second["gross_revenue:USD"] == Decimal("12.00")


def test_a_cancellation_at_midnight_churns_on_the_day_it_starts(session: Session) -> None:
    _prices(session)
    f.user(session, stripe_customer_id="cus_b_cy")
    _sync(session, "sub_b_cy", "cus_b_cy", MIDNIGHT - timedelta(days=3), (_item("p_b_month"),))
    _sync(session, "sub_b_cy", "cus_b_cy", MIDNIGHT, (_item("p_b_month"),), status="canceled")
    may_1 = paykit.mrr_movements(session, start=MAY_1, end=MAY_1, currency="USD")
    may_2 = paykit.mrr_movements(session, start=MAY_2, end=MAY_2, currency="USD")
    assert (may_1.churned, may_1.end_mrr) == (0, Decimal("30.0000"))
    assert (may_2.start_mrr, may_2.churned, may_2.end_mrr) == (
        Decimal("30.0000"),
        Decimal("30.0000"),
        0,
    )
    assert paykit.customer_churn_rate(session, start=MAY_1, end=MAY_1, currency="USD") == 0
    assert paykit.customer_churn_rate(session, start=MAY_2, end=MAY_2, currency="USD") == 1


def test_the_monthly_amount_sums_every_item_and_rounds_once(session: Session) -> None:
    _prices(session)
    f.user(session, stripe_customer_id="cus_b_items")
    start = datetime(2026, 5, 5, 9, tzinfo=UTC)
    # Two items of different intervals: yearly 0.05 (0.00416…) + weekly 0.05 (0.21666…)
    # = 0.2208333… → 0.2208 (rounded per item it would be 0.0042 + 0.2167 = 0.2209).
    _sync(session, "sub_b_items", "cus_b_items", start, (_item("p_b_year"), _item("p_b_week")))
    assert paykit.mrr(session, at=start, currency="USD") == Decimal("0.2208")
    # A quarterly item joins, with the gateway's own amount (12.00, not the price's 10.00)
    # and 2 seats: + 24.00 / 3 = 8.00; an item of a price paykit does not know counts 0.
    later = start + timedelta(days=2)
    items = (
        _item("p_b_year"),
        _item("p_b_week"),
        _item("p_b_quarter", 2, 1200),
        _item("p_unknown"),
    )
    _sync(session, "sub_b_items", "cus_b_items", later, items)
    assert paykit.mrr(session, at=later, currency="USD") == Decimal("8.2208")
    moved = paykit.mrr_movements(session, start=start.date(), end=later.date(), currency="USD")
    assert (moved.new, moved.expansion, moved.end_mrr) == (
        Decimal("0.2208"),
        Decimal("8.0000"),
        Decimal("8.2208"),
    )
    row = session.scalars(
        sa.select(m.SubscriptionMrrHistory).where(m.SubscriptionMrrHistory.effective_at == later)
    ).one()
    assert row.monthly_amount == row.mrr == Decimal("8.2208")
    # A late, older event (the first state again, delivered after) is recorded with all its items.
    earlier = start + timedelta(days=1)
    _sync(session, "sub_b_items", "cus_b_items", earlier, (_item("p_b_year", 3), _item("p_b_week")))
    assert paykit.mrr(session, at=earlier, currency="USD") == Decimal("0.2292")  # 0.0125 + 0.21666…
