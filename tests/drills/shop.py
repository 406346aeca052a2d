"""A small shop written only through paykit's public services, for the drills.

:func:`open_shop` makes the catalogue, the users, two discounts and a
subscription; each :func:`trade` then places, pays, cancels and refunds
orders and delivers webhooks, so a backup holds every kind of row paykit
writes (orders, items, payments, refunds, discount usages, audit rows,
webhook events, a subscription). The gateway is one :class:`FakeGateway`
kept across batches, so a later batch can refund an earlier batch's orders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import make_event, render_payment, render_refund, sign

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.webhooks import handle_webhook

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
SECRET = "whsec_drill"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class Shop:
    """Ids of what :func:`open_shop` made, and the gateway and clock every batch shares."""

    clock: FrozenClock
    gateway: FakeGateway
    customer_id: str = ""
    support_id: str = ""
    admin_id: str = ""
    widget_price_id: str = ""
    ebook_price_id: str = ""
    paid_orders: list[str] = field(default_factory=list)  # paid and not fully refunded


@dataclass
class Batch:
    """What one :func:`trade` wrote."""

    orders: list[str] = field(default_factory=list)
    refunds: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)


def open_shop(session: Session) -> Shop:
    """Catalogue, customer, support and admin users, discounts and a subscription."""
    clock = FrozenClock(T0)
    shop = Shop(clock=clock, gateway=FakeGateway(clock=clock))
    customer = f.user(session)
    shop.customer_id = customer.id
    shop.support_id = f.user(session, role=m.UserRole.SUPPORT).id
    shop.admin_id = f.user(session, role=m.UserRole.ADMIN).id
    widget = f.product(
        session,
        base_price=Decimal("19.99"),
        tax_rate=Decimal("0.0825"),
        track_inventory=True,
        stock_quantity=500,
    )
    shop.widget_price_id = f.price(session, widget).id
    ebook = f.product(
        session,
        type=m.ProductType.DIGITAL_DOWNLOAD,
        base_price=Decimal("9.00"),
        access_duration=30,
    )
    shop.ebook_price_id = f.price(session, ebook).id
    for code, kind, value in (
        ("SAVE10", m.DiscountType.PERCENTAGE, Decimal("10")),
        ("FIVE", m.DiscountType.FIXED_AMOUNT, Decimal("5.00")),
    ):
        session.add(m.Discount(code=code, name=code, type=kind, value=value))
    session.flush()
    _subscribe(session, shop, customer)
    return shop


def _subscribe(session: Session, shop: Shop, customer: m.User) -> None:
    gateway = shop.gateway
    stripe_price = gateway.add_price(unit_amount=2000, currency="usd", price_id="price_pro")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_price,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    paykit.ensure_gateway_customer(session, customer, gateway, clock=shop.clock)
    method = gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer.stripe_customer_id, idempotency_key="drill-pm"
    )
    paykit.subscribe(
        session,
        user_id=customer.id,
        price_id=price.id,
        gateway=gateway,
        payment_method_id=method.id,
        clock=shop.clock,
    )


def _place(shop: Shop, session: Session, *, pay: bool, **kw: Any) -> m.Order:
    shop.clock.advance(timedelta(minutes=1))
    kw.setdefault("items", [{"price_id": shop.widget_price_id, "quantity": 2}])
    placed = paykit.place_order(
        session,
        customer_id=shop.customer_id,
        billing_address=ADDRESS,
        gateway=shop.gateway,
        clock=shop.clock,
        **kw,
    )
    if not pay:
        return placed.order
    return paykit.pay_order(
        session,
        order_id=placed.order.id,
        gateway=shop.gateway,
        clock=shop.clock,
        payment_method_id="pm_card_visa",
    ).order


def _deliver(shop: Shop, session: Session, event_type: str, obj: dict[str, Any]) -> str:
    now = int(shop.clock.now().timestamp())
    event = make_event(event_type, obj, created=now)
    payload = json.dumps(event).encode()
    response = handle_webhook(
        session,
        payload,
        sign(payload, SECRET, timestamp=now),
        secrets=SECRET,
        gateway=shop.gateway,
        clock=shop.clock,
    )
    assert response.status_code == 200, response
    return str(event["id"])


def refund(shop: Shop, session: Session, order_id: str, amount: Decimal | None = None) -> str:
    """Refund ``order_id`` (in full when ``amount`` is None) as the support user."""
    shop.clock.advance(timedelta(minutes=1))
    row = paykit.issue_refund(
        session,
        order_id=order_id,
        amount=amount,
        reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
        gateway=shop.gateway,
        clock=shop.clock,
        actor_id=shop.support_id,
    )
    if amount is None:
        shop.paid_orders.remove(order_id)
    return row.id


def trade(shop: Shop, session: Session) -> Batch:
    """One batch of business: 6 orders (paid, discounted, digital, pending, cancelled,
    paid by webhook), a partial and a full refund, a refund recorded from a webhook."""
    batch = Batch()
    paid = _place(shop, session, pay=True)
    discounted = _place(shop, session, pay=True, discount_code="SAVE10")
    digital = _place(
        shop,
        session,
        pay=True,
        items=[
            {"price_id": shop.widget_price_id, "quantity": 1},
            {"price_id": shop.ebook_price_id, "quantity": 2},
        ],
    )
    pending = _place(shop, session, pay=False, discount_code="FIVE")
    cancelled = _place(shop, session, pay=False, discount_code="SAVE10")
    paykit.cancel_order(session, order_id=cancelled.id, gateway=shop.gateway, clock=shop.clock)
    by_webhook = _place(shop, session, pay=False)
    confirmed = shop.gateway.confirm_payment(
        by_webhook.stripe_payment_intent_id,
        payment_method_id="pm_card_visa",
        idempotency_key=f"browser-{by_webhook.id}",
    )
    batch.events.append(
        _deliver(shop, session, "payment_intent.succeeded", render_payment(confirmed))
    )
    batch.orders += [o.id for o in (paid, discounted, digital, pending, cancelled, by_webhook)]
    shop.paid_orders += [paid.id, discounted.id, digital.id, by_webhook.id]
    batch.refunds.append(refund(shop, session, paid.id, Decimal("5.00")))
    batch.refunds.append(refund(shop, session, discounted.id))
    # A refund made in the gateway's dashboard, recorded from its webhook.
    dashboard = shop.gateway.create_refund(
        payment_id=digital.stripe_payment_intent_id,
        amount_minor=700,
        reason=None,
        metadata={},
        idempotency_key=f"dashboard-{digital.id}",
    )
    batch.events.append(_deliver(shop, session, "refund.created", render_refund(dashboard)))
    batch.refunds.append(
        session.scalars(
            sa.select(m.Refund.id).where(m.Refund.stripe_refund_id == dashboard.id)
        ).one()
    )
    session.flush()
    return batch


def table_fingerprints(engine: Engine) -> dict[str, tuple[int, str]]:
    """Every table's row count and an md5 of all its rows (in text form, sorted).

    Two databases with equal fingerprints hold the same rows, byte for byte as
    PostgreSQL prints them.
    """
    names = sorted(sa.inspect(engine).get_table_names())
    result: dict[str, tuple[int, str]] = {}
    with engine.connect() as conn:
        for name in names:
            rows = "coalesce(string_agg(t::text, chr(10) ORDER BY t::text), '')"
            count, digest = conn.exec_driver_sql(
                f'SELECT count(*), md5({rows}) FROM "{name}" t'
            ).one()
            result[name] = (count, digest)
    return result


def assert_check_passes(engine: Engine) -> paykit.Report:
    """``paykit.check`` in one snapshot, as the CLI runs it; it must find nothing.

    PostgreSQL: a REPEATABLE READ transaction. SQLite: paykit's engine begins
    every transaction IMMEDIATE, which is a snapshot by construction.
    """
    options = {"isolation_level": "REPEATABLE READ"} if engine.dialect.name == "postgresql" else {}
    with engine.connect().execution_options(**options) as conn, Session(bind=conn) as session:
        report = paykit.check(session)
    assert report.ok, report.format()
    assert len(report.checked) >= 17
    return report
