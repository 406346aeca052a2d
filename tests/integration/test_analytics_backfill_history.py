"""``backfill_mrr_history`` and ``paykit analytics backfill-history``, on both databases.

Subscriptions synced before revision 0011 have no MRR history; the backfill
records each one's current state as of its last known change, once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.integration.test_analytics_cli import _engine, run

import paykit
from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways.base import GatewaySubscription, GatewaySubscriptionItem
from paykit.services.subscriptions import sync_subscription

T0 = datetime(2026, 2, 3, 8, 0, tzinfo=UTC)
H = m.SubscriptionMrrHistory


def _catalog(session: Session) -> None:
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    for stripe_id, amount, interval in (("p_h_m", "30.00", "month"), ("p_h_y", "120.00", "year")):
        f.price(
            session,
            product,
            stripe_price_id=stripe_id,
            currency="USD",
            unit_amount=Decimal(amount),
            type=m.PriceType.RECURRING,
            recurring={"interval": interval, "interval_count": 1},
        )


def _sync(
    session: Session,
    name: str,
    at: datetime,
    *,
    status: str = "active",
    prices: tuple[str, ...] = ("p_h_m",),
    event_time: bool = True,
) -> m.Subscription:
    if at == T0:
        f.user(session, stripe_customer_id=f"cus_h_{name}")
    items = tuple(
        GatewaySubscriptionItem(
            id=f"si_h_{name}_{price}",
            price_id=price,
            product_id=None,
            quantity=2,
            unit_amount_minor=None,
        )
        for price in prices
    )
    snapshot = GatewaySubscription(
        id=f"sub_h_{name}",
        customer_id=f"cus_h_{name}",
        status=status,  # type: ignore[arg-type]
        price_id=prices[0],
        product_id=None,
        quantity=2,
        unit_amount_minor=None,
        currency="USD",
        current_period_start=at,
        current_period_end=at + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=at if status == "canceled" else None,
        items=items,
    )
    clock = FrozenClock(at + timedelta(minutes=5))
    return sync_subscription(
        session, snapshot, clock=clock, event_created=at if event_time else None
    )


def _forget(session: Session, *subs: m.Subscription) -> None:
    """What a subscription synced before revision 0011 looks like: no history row."""
    session.execute(sa.delete(H).where(H.subscription_id.in_([s.id for s in subs])))


def _world(session: Session) -> dict[str, m.Subscription]:
    _catalog(session)
    subs = {
        "two_items": _sync(session, "two_items", T0, prices=("p_h_m", "p_h_y")),
        "cancelled": _sync(session, "cancelled", T0),
        "kept": _sync(session, "kept", T0),
        "no_event": _sync(session, "no_event", T0, event_time=False),
    }
    later = T0 + timedelta(days=9)
    _sync(session, "two_items", later, prices=("p_h_m", "p_h_y"))  # the last known change
    _sync(session, "cancelled", later, status="canceled")
    _forget(session, subs["two_items"], subs["cancelled"], subs["no_event"])
    session.flush()
    for sub in subs.values():
        session.refresh(sub)
    return subs


def test_the_backfill_records_the_current_state_once(session: Session) -> None:
    subs = _world(session)
    kept = session.scalars(sa.select(H).where(H.subscription_id == subs["kept"].id)).all()
    assert paykit.mrr(session, at=T0 + timedelta(days=20), currency="USD") == Decimal("60.0000")

    assert analytics.backfill_mrr_history(session, clock=FrozenClock(T0 + timedelta(days=30))) == 3
    rows = {
        row.subscription_id: row
        for row in session.scalars(sa.select(H).where(H.subscription_id != subs["kept"].id))
    }
    two = rows[subs["two_items"].id]
    # 2 x 30.00 a month + 2 x 120.00 a year = 60 + 20, as of the newest event applied.
    assert (two.effective_at, two.status, two.mrr) == (
        T0 + timedelta(days=9),
        "ACTIVE",
        Decimal("80.0000"),
    )
    gone = rows[subs["cancelled"].id]
    assert (gone.effective_at, gone.status, gone.mrr) == (
        T0 + timedelta(days=9),
        "CANCELLED",
        Decimal("0.0000"),
    )
    assert gone.monthly_amount == Decimal("60.0000")
    # No event time: as of the row's updated_at (the clock of its last sync).
    plain = rows[subs["no_event"].id]
    assert plain.effective_at == subs["no_event"].updated_at
    assert plain.mrr == Decimal("60.0000")
    # The subscription that had history is untouched.
    assert session.scalars(sa.select(H).where(H.subscription_id == subs["kept"].id)).all() == kept
    assert paykit.mrr(session, at=T0 + timedelta(days=20), currency="USD") == Decimal("200.0000")

    # Idempotent: nothing left to do, in batches of any size.
    before = session.scalar(sa.select(sa.func.count()).select_from(H))
    assert analytics.backfill_mrr_history(session, batch_size=1) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(H)) == before


def test_the_backfill_goes_through_batches(session: Session) -> None:
    subs = _world(session)
    assert analytics.backfill_mrr_history(session, batch_size=1) == 3
    assert session.scalar(sa.select(sa.func.count(sa.distinct(H.subscription_id)))) == len(subs)


def test_the_command_line(subprocess_env: dict[str, str]) -> None:
    engine = _engine(subprocess_env)
    paykit.migrate(engine)
    with Session(engine) as session, session.begin():
        _world(session)
    first = run("analytics", "backfill-history", env=subprocess_env)
    assert first.returncode == 0, first.stderr
    assert "recorded the current state of 3 subscription(s)" in first.stdout
    again = run("analytics", "backfill-history", env=subprocess_env)
    assert again.returncode == 0, again.stderr
    assert "of 0 subscription(s)" in again.stdout
    engine.dispose()
