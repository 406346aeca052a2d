"""The context the documentation's code blocks take for granted, built for real.

The invisible blocks of README.md and docs/*.md (``<!-- invisible-code-block:
python -->``) call these, so a visible block runs as printed against a
migrated SQLite database with a customer, staff, a product with a one-time
price, a plan with two monthly prices, a discount code and the in-memory
``FakeGateway``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway


@dataclass
class DocShop:
    """Ids of the rows a doc block uses, and the engine, clock and gateway."""

    engine: Engine
    clock: FrozenClock
    gateway: FakeGateway
    customer_id: str
    admin_id: str
    support_id: str
    price_id: str
    monthly_price_id: str
    better_price_id: str


def doc_shop(engine: Engine | None = None, *, url: str = "sqlite:///docs-shop.db") -> DocShop:
    """Migrate ``engine`` (else a new SQLite file in the current folder) and fill it."""
    engine = engine or paykit.create_engine(url)
    paykit.migrate(engine)
    clock = FrozenClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    gateway = FakeGateway(clock=clock)
    with Session(engine) as session, session.begin():
        customer = factories.user(session, email="ada@example.com")
        admin = factories.user(session, email="root@example.com", role=m.UserRole.ADMIN)
        support = factories.user(session, email="grace@example.com", role=m.UserRole.SUPPORT)
        mug = factories.product(
            session, name="Mug", slug="docs-mug", track_inventory=True, stock_quantity=50
        )
        mug_price = factories.price(session, mug, unit_amount=Decimal("12.50"))
        plan = factories.product(
            session, name="Team plan", slug="docs-team", type=m.ProductType.SUBSCRIPTION
        )
        stripe_price = gateway.add_price(unit_amount=2000, currency="usd", interval="month")
        monthly = factories.price(
            session,
            plan,
            unit_amount=Decimal("20.00"),
            type=m.PriceType.RECURRING,
            stripe_price_id=stripe_price,
            recurring={"interval": "month", "interval_count": 1},
        )
        better = factories.price(
            session,
            plan,
            unit_amount=Decimal("30.00"),
            type=m.PriceType.RECURRING,
            stripe_price_id=gateway.add_price(unit_amount=3000, currency="usd", interval="month"),
            recurring={"interval": "month", "interval_count": 1},
        )
        session.add(
            m.Discount(
                code="LAUNCH20",
                name="Launch week",
                type=m.DiscountType.PERCENTAGE,
                value=Decimal("20"),
                max_uses=100,
            )
        )
        gateway.add_coupon(coupon_id="LAUNCH20", percent_off=20.0, duration="forever")
        session.flush()
        return DocShop(
            engine,
            clock,
            gateway,
            customer.id,
            admin.id,
            support.id,
            mug_price.id,
            monthly.id,
            better.id,
        )


def deliver_events(shop: DocShop, secret: str = "whsec_docs") -> int:
    """Send the events the fake gateway recorded to ``handle_webhook``, as Stripe would.

    One transaction per event, each answered 200; returns how many were sent.
    """
    from paykit.testing import signed_webhook
    from paykit.webhooks import handle_webhook

    events = shop.gateway.drain_events()
    for event in events:
        body, header = signed_webhook(event, secret, shop.clock.now())
        with Session(shop.engine) as session, session.begin():
            answer = handle_webhook(
                session, body, header, secrets=[secret], gateway=shop.gateway, clock=shop.clock
            )
        assert answer.status_code == 200, answer.body
    return len(events)
