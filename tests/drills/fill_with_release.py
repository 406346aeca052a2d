"""Fill a database using an OLD paykit release; run by that release's virtualenv.

``python fill_with_release.py <database-url> <out.json>``: migrate with the
installed (old) paykit, write a small shop through its public API, commit,
and write what was made (ids, the gateway's payments and refunds) as JSON
for tests/drills/test_upgrade.py. Only names present since paykit 0.1.0 are
used; if a later release removes one, branch on ``paykit.__version__`` here.
This file is not a test and never imports the paykit of this checkout.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

import paykit
from paykit import errors
from paykit import models as m

ADDRESS = {"line1": "1 Old Road", "city": "Springfield", "country": "US"}
# Since 0.2.0 checkout is two calls: place_order reserves (the order stays PENDING)
# and pay_order charges, after the host committed the first. 0.1.0 charged in one.
TWO_CALL_CHECKOUT = hasattr(paykit, "pay_order")


def main(url: str, out: str) -> None:
    engine = paykit.create_engine(url)
    paykit.migrate(engine)
    clock = paykit.FrozenClock(datetime(2026, 1, 5, 10, 0, tzinfo=UTC))
    gateway = paykit.FakeGateway(clock=clock)
    made: dict[str, object] = {}
    with Session(engine) as session:
        customer = m.User(email="old-customer@example.com", name="Old Customer")
        support = m.User(
            email="old-support@example.com", name="Old Support", role=m.UserRole.SUPPORT
        )
        widget = m.Product(
            name="Widget",
            slug="widget",
            description="A widget sold by the old release.",
            type=m.ProductType.ONE_TIME,
            status=m.ProductStatus.PUBLISHED,
            base_price=Decimal("19.99"),
            tax_rate=Decimal("0.0825"),
            track_inventory=True,
            stock_quantity=100,
        )
        session.add_all([customer, support, widget])
        session.flush()
        price = m.Price(
            product_id=widget.id,
            stripe_price_id="price_old_widget",
            unit_amount=Decimal("19.99"),
            currency="USD",
            type=m.PriceType.ONE_TIME,
        )
        session.add_all(
            [
                price,
                m.Discount(
                    code="OLD10", name="OLD10", type=m.DiscountType.PERCENTAGE, value=Decimal("10")
                ),
            ]
        )
        session.flush()

        def order(key: str, **kw: object) -> m.Order:
            clock.advance(timedelta(minutes=1))
            placed = paykit.place_order(
                session,
                customer_id=customer.id,
                billing_address=ADDRESS,
                gateway=gateway,
                items=[{"price_id": price.id, "quantity": 2}],
                clock=clock,
                idempotency_key=key,
                **kw,
            ).order
            if not (TWO_CALL_CHECKOUT and "payment_method_id" in kw):
                return placed
            session.commit()
            return paykit.pay_order(session, order_id=placed.id, gateway=gateway, clock=clock).order

        orders = {
            "paid": order("old-paid", payment_method_id="pm_card_visa"),
            "discounted": order(
                "old-discounted", payment_method_id="pm_card_visa", discount_code="OLD10"
            ),
            "partly_refunded": order("old-partly", payment_method_id="pm_card_visa"),
            "pending": order("old-pending", discount_code="OLD10"),
        }
        try:
            order("old-declined", payment_method_id="pm_card_chargeDeclined")
        except errors.PaymentDeclined as declined:  # CANCELLED/FAILED in 0.1.0, PENDING since
            orders["declined"] = session.get(m.Order, declined.details["order_id"])
        paykit.issue_refund(
            session,
            order_id=orders["partly_refunded"].id,
            amount=Decimal("5.00"),
            reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
            gateway=gateway,
            actor_id=support.id,
            clock=clock,
        )
        session.commit()
        made["orders"] = {name: row.id for name, row in orders.items()}
        made["statuses"] = {
            name: [row.status.value, row.payment_status.value] for name, row in orders.items()
        }
        made.update(customer_id=customer.id, support_id=support.id, price_id=price.id)
    made["version"] = paykit.__version__
    made["paykit_file"] = paykit.__file__
    made["revision"] = paykit.current_revision(engine)
    made["payments"] = [
        {
            "id": p.id,
            "status": str(p.status),
            "amount_minor": p.amount_minor,
            "currency": p.currency,
            "customer_id": p.customer_id,
            "payment_method_id": p.payment_method_id,
        }
        for p in gateway.payments.values()
    ]
    made["refunds"] = [
        {
            "id": r.id,
            "payment_id": r.payment_id,
            "amount_minor": r.amount_minor,
            "currency": r.currency,
            "status": str(r.status),
            "reason": r.reason,
        }
        for r in gateway.refunds
    ]
    engine.dispose()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(made, handle, indent=2)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
