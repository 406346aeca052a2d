"""A whole checkout on SQLite with the in-memory FakeGateway: no network, no real money.

A customer, a product with stock, a discount code, an order placed and paid by
card, and a partial refund by a support agent, printing each step's amounts.

    python examples/checkout.py [path/to/database.db]
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

import paykit
from paykit.models import (
    Discount,
    DiscountType,
    Price,
    PriceType,
    Product,
    ProductStatus,
    ProductType,
    User,
    UserRole,
)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "checkout.db"
    engine = paykit.create_engine(f"sqlite:///{path}")
    paykit.migrate(engine)
    clock = paykit.FrozenClock(datetime(2025, 11, 25, 9, 30, tzinfo=UTC))
    gateway = paykit.FakeGateway(clock=clock)  # in production: paykit.gateways.StripeGateway
    run = uuid.uuid4().hex[:6]  # this run's rows: run the example again on the same file

    # The host owns each transaction: set up the shop and commit it. (Objects stay
    # readable after the commit because expire_on_commit is off.)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        customer = User(email=f"ada-{run}@example.com", name="Ada Lovelace")
        agent = User(email=f"grace-{run}@example.com", name="Grace Hopper", role=UserRole.SUPPORT)
        mug = Product(
            name="Paykit Mug",
            description="Holds coffee; survives deploys.",
            slug=f"paykit-mug-{run}",
            type=ProductType.ONE_TIME,
            status=ProductStatus.PUBLISHED,
            base_price=Decimal("12.50"),
            tax_rate=Decimal("0.0825"),
            track_inventory=True,
            stock_quantity=25,
        )
        mug_price = Price(
            product=mug,
            stripe_price_id=f"price_mug_{run}",
            unit_amount=Decimal("12.50"),
            type=PriceType.ONE_TIME,
        )
        launch = Discount(
            code=f"LAUNCH20-{run.upper()}",
            name="Launch week",
            type=DiscountType.PERCENTAGE,
            value=Decimal("20"),
            max_uses=100,
        )
        session.add_all([customer, agent, mug, mug_price, launch])
    print(
        f"customer {customer.email}; product {mug.name} at {mug_price.unit_amount} USD, "
        f"{mug.stock_quantity} in stock; code {launch.code} ({launch.value:.0f}% off)"
    )

    with Session(engine, expire_on_commit=False) as session, session.begin():
        result = paykit.place_order(
            session,
            customer_id=customer.id,
            items=[{"price_id": mug_price.id, "quantity": 3}],
            billing_address={"line1": "1 Analytical Way", "city": "London", "country": "GB"},
            discount_code=f"LAUNCH20-{run.upper()}",
            payment_method_id="pm_card_visa",  # Stripe's test card: succeeds
            gateway=gateway,
            clock=clock,
            idempotency_key=f"checkout-{run}",  # a retry with this key cannot charge twice
        )
        order = result.order
        print(
            f"order {order.order_number}: subtotal {order.subtotal} - discount "
            f"{order.discount_amount} + tax {order.tax_amount} = {order.total_amount} "
            f"{order.currency}; stock and code reserved, nothing charged yet"
        )

    # The reservation is committed: now the card is charged (no lock is held).
    with Session(engine, expire_on_commit=False) as session, session.begin():
        result = paykit.pay_order(session, order_id=order.id, gateway=gateway, clock=clock)
        order = result.order
        print(
            f"paid: payment {result.payment.id} is {result.payment.status}; order is "
            f"{order.status.value}"
        )

    with Session(engine) as session:
        print(
            f"stock left: {session.get(Product, mug.id).stock_quantity}; "
            f"{launch.code} used {session.get(Discount, launch.id).current_uses} time(s)"
        )

    clock.advance(days=2)
    with Session(engine) as session, session.begin():
        refund = paykit.issue_refund(
            session,
            order_id=order.id,
            amount=Decimal("10.00"),
            reason="REQUESTED_BY_CUSTOMER",
            notes="one mug arrived chipped",
            actor_id=agent.id,  # only SUPPORT and ADMIN users may refund
            gateway=gateway,
            clock=clock,
        )
        refreshed = session.get(paykit.models.Order, order.id)
        print(
            f"refund {refund.stripe_refund_id}: {refund.amount} {refund.currency} "
            f"{refund.status.value}; refunded {refreshed.refunded_amount} of "
            f"{refreshed.total_amount}, still refundable "
            f"{refreshed.total_amount - refreshed.refunded_amount}"
        )
    engine.dispose()


if __name__ == "__main__":
    main()
