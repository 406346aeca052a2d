"""Fill a database using an OLD paykit release; run by that release's virtualenv.

``python fill_with_release.py <database-url> <out.json>``: migrate with the
installed (old) paykit, write a small shop through its public API (orders,
a refund, and an active subscription with one paid invoice), commit, and
write what was made (ids, key fields of the subscription rows, the gateway's
customers, payments, refunds and subscription) as JSON for
tests/drills/test_upgrade.py. Only names present since paykit 0.1.0 are
used; if a later release removes one, branch on ``paykit.__version__`` here.
This file is not a test and never imports the paykit of this checkout.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

import paykit
from paykit import errors
from paykit import models as m

ADDRESS = {"line1": "1 Old Road", "city": "Springfield", "country": "US"}
# Since 0.2.0 checkout is two calls: place_order reserves (the order stays PENDING)
# and pay_order charges, after the host committed the first. 0.1.0 charged in one.
TWO_CALL_CHECKOUT = hasattr(paykit, "pay_order")
# Compared by tests/drills/test_upgrade.py after the upgrade, as text (str() of the value).
SUBSCRIPTION_FIELDS = (
    "user_id",
    "product_id",
    "price_id",
    "stripe_subscription_id",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "currency",
    "unit_amount",
    "quantity",
)
INVOICE_FIELDS = (
    "subscription_id",
    "stripe_invoice_id",
    "number",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "amount_paid",
    "amount_due",
    "period_start",
    "period_end",
    "paid_at",
)


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
        made["subscription"] = subscribe(session, gateway, clock, customer)
        session.commit()
        made["orders"] = {name: row.id for name, row in orders.items()}
        made["statuses"] = {
            name: [row.status.value, row.payment_status.value] for name, row in orders.items()
        }
        made.update(customer_id=customer.id, support_id=support.id, price_id=price.id)
    with Session(engine) as session:
        made["rows"] = subscription_rows(session)
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
    made["customers"] = [
        {"id": c.id, "email": c.email, "name": c.name} for c in gateway.customers.values()
    ]
    made["gateway_subscriptions"] = [
        dict(s.raw)
        for s in gateway.subscriptions.values()  # Stripe-shaped
    ]
    engine.dispose()
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(made, handle, indent=2)


def subscribe(
    session: Session, gateway: paykit.FakeGateway, clock: paykit.FrozenClock, customer: m.User
) -> dict[str, object]:
    """An active monthly subscription of ``customer`` and its first invoice, paid.

    ``subscribe`` (since 0.1.0) charges the card through the gateway; the paid
    invoice arrives as Stripe sends it (``invoice.paid``) and is stored with
    ``sync_invoice``, which reads a Stripe invoice payload in every release.
    """
    clock.advance(timedelta(minutes=1))
    stripe_price = gateway.add_price(
        unit_amount=1500, currency="usd", interval="month", price_id="price_old_pro"
    )
    pro = m.Product(
        name="Pro",
        slug="pro",
        description="A monthly plan sold by the old release.",
        type=m.ProductType.SUBSCRIPTION,
        status=m.ProductStatus.PUBLISHED,
        base_price=Decimal("15.00"),
    )
    session.add(pro)
    session.flush()
    monthly = m.Price(
        product_id=pro.id,
        stripe_price_id=stripe_price,
        unit_amount=Decimal("15.00"),
        currency="USD",
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    session.add(monthly)
    session.flush()
    sub = paykit.subscribe(
        session,
        user_id=customer.id,
        price_id=monthly.id,
        gateway=gateway,
        payment_method_id="pm_card_visa",
        clock=clock,
        idempotency_key="old-subscribe",
    )
    start, end = (int(t.timestamp()) for t in (sub.current_period_start, sub.current_period_end))
    paid_at = int(clock.now().timestamp())
    invoice = {
        "id": "in_old_000001",
        "object": "invoice",
        "subscription": sub.stripe_subscription_id,
        "customer": customer.stripe_customer_id,
        "number": "OLD-0001",
        "status": "paid",
        "currency": "usd",
        "subtotal": 1500,
        "tax": 0,
        "total": 1500,
        "amount_paid": 1500,
        "amount_due": 1500,
        "amount_remaining": 0,
        "created": paid_at,
        "period_start": start,
        "period_end": start,
        "due_date": None,
        "status_transitions": {"finalized_at": paid_at, "paid_at": paid_at},
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": "il_old_000001",
                    "object": "line_item",
                    "amount": 1500,
                    "currency": "usd",
                    "quantity": 1,
                    "period": {"start": start, "end": end},
                }
            ],
            "has_more": False,
        },
    }
    row = paykit.sync_invoice(session, invoice, clock=clock, gateway=gateway)
    assert row is not None, invoice
    assert row.status is m.InvoiceStatus.PAID, row.status
    return {"id": sub.id, "price_id": monthly.id, "invoice_id": row.id, "clock": paid_at}


def subscription_rows(session: Session) -> dict[str, object]:
    """The key fields of every subscription and invoice row, as text, by id."""

    def fields(row: object, names: tuple[str, ...]) -> dict[str, str]:
        return {name: str(getattr(row, name)) for name in names}

    return {
        "subscriptions": {
            row.id: fields(row, SUBSCRIPTION_FIELDS)
            for row in session.scalars(select(m.Subscription))
        },
        "invoices": {
            row.id: fields(row, INVOICE_FIELDS) for row in session.scalars(select(m.Invoice))
        },
    }


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
