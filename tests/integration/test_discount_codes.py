"""Discount codes: stored as typed, unique and found whatever the case (docs/pricing.md)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import Conflict
from paykit.gateways import FakeGateway
from paykit.security import Actor
from paykit.services import admin
from paykit.services.subscriptions import ensure_gateway_customer, subscribe

CLOCK = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def _admin(session: Session) -> Actor:
    return Actor.of(f.user(session, role=m.UserRole.ADMIN))


def _create(session: Session, code: str, **kw: object) -> m.Discount:
    data = {"code": code, "name": code, "type": "PERCENTAGE", "value": "20", **kw}
    return admin.create_discount(session, actor=_admin(session), data=data, clock=CLOCK)


def _order(session: Session, gateway: FakeGateway, **kw: object) -> m.Order:
    product = f.product(session, base_price=Decimal("50.00"))
    return paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        gateway=gateway,
        clock=CLOCK,
        **kw,
    ).order


@pytest.mark.parametrize("typed", ["summer20", "Summer20", "SUMMER20", " sUmMeR20 "])
def test_place_order_finds_the_code_in_any_case(session: Session, typed: str) -> None:
    discount = _create(session, "SUMMER20")
    order = _order(session, FakeGateway(clock=CLOCK), discount_code=typed)
    assert order.discount_amount == Decimal("10.00")
    usage = session.scalar(sa.select(m.DiscountUsage).where(m.DiscountUsage.order_id == order.id))
    assert usage is not None
    assert usage.discount_id == discount.id
    assert discount.code == "SUMMER20"  # stored as typed


def test_apply_discount_finds_the_code_in_any_case(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    _create(session, "Summer20")
    order = _order(session, gateway)
    order = paykit.apply_discount(
        session, order_id=order.id, code="SUMMER20", gateway=gateway, clock=CLOCK
    )
    assert order.discount_amount == Decimal("10.00")
    # The same code in another case is the same discount: nothing changes.
    again = paykit.apply_discount(session, order_id=order.id, code="summer20", gateway=gateway)
    assert again.discount_amount == Decimal("10.00")
    uses = session.scalars(sa.select(m.Discount.current_uses)).all()
    assert uses == [1]


def test_subscribe_finds_the_code_and_sends_the_stored_one(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=CLOCK)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    price = f.price(
        session,
        f.product(session, type=m.ProductType.SUBSCRIPTION),
        stripe_price_id=gateway.add_price(unit_amount=1000, currency="usd"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    _create(session, "LAUNCH20")
    gateway.add_coupon(coupon_id="LAUNCH20", percent_off=20.0, duration="forever")
    row = subscribe(
        session,
        user_id=user.id,
        price_id=price.id,
        gateway=gateway,
        discount_code="launch20",
        clock=CLOCK,
    )
    raw = gateway.subscriptions[row.stripe_subscription_id].raw
    assert raw["discounts"][0]["source"]["coupon"] == "LAUNCH20"


def test_codes_differing_only_in_case_cannot_both_exist(session: Session) -> None:
    _create(session, "PROMOX")
    with pytest.raises(Conflict) as caught:
        _create(session, "promox")
    assert caught.value.code == "discount_code_taken"
    assert session.scalars(sa.select(m.Discount.code)).all() == ["PROMOX"]
    # The database says so too, for rows a host writes directly.
    nested = session.begin_nested()
    session.add(m.Discount(code="ProMox", name="x", type="PERCENTAGE", value=Decimal("5")))
    with pytest.raises(sa.exc.IntegrityError):
        session.flush()
    nested.rollback()


def _insert_discounts(engine: Engine, codes: list[str]) -> None:
    with engine.begin() as conn:
        for n, code in enumerate(codes):
            conn.execute(
                sa.text(
                    "INSERT INTO discounts (id, code, name, type, value, current_uses, "
                    "first_time_only, active, created_at, updated_at) VALUES "
                    "(:id, :code, :code, 'PERCENTAGE', :value, 0, :no, :yes, :now, :now)"
                ),
                {
                    "id": f"d{n}",
                    "code": code,
                    # SQLite keeps (10, 4) decimals as integers (see ExactDecimal).
                    "value": 100000 if engine.dialect.name == "sqlite" else 10,
                    "no": False,
                    "yes": True,
                    "now": "2026-01-01T00:00:00+00:00",
                },
            )


def test_migration_refuses_codes_that_differ_only_in_case(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    paykit.migrate(engine, "0005")
    _insert_discounts(engine, ["PROMOX", "promox", "Summer", "SUMMER", "summer", "UNIQUE"])
    with pytest.raises(Conflict) as caught:
        paykit.migrate(engine)
    error = caught.value
    assert error.code == "discount_code_case_collision"
    assert error.details["codes"] == [["PROMOX", "promox"], ["SUMMER", "Summer", "summer"]]
    assert "PROMOX, promox" in str(error)
    assert "SUMMER, Summer, summer" in str(error)
    assert "UNIQUE" not in str(error)
    assert paykit.current_revision(engine) == "0005"
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM discounts")).scalar_one() == 6
        conn.execute(sa.text("UPDATE discounts SET code = 'PROMOX2' WHERE code = 'promox'"))
        conn.execute(sa.text("DELETE FROM discounts WHERE code IN ('Summer', 'summer')"))
    paykit.migrate(engine)
    assert paykit.current_revision(engine) == paykit.head_revision()
    with pytest.raises(sa.exc.IntegrityError):
        _insert_discounts(engine, ["promox2"])
