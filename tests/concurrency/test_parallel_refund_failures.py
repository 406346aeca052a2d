"""Two deliveries of a refund's failure at once reverse it once.

The first transaction moves the refund SUCCEEDED -> FAILED and takes its amount
out of the order, and keeps its transaction open; the second, started
meanwhile, waits on the refund row (PostgreSQL) or on BEGIN IMMEDIATE (SQLite),
then finds the refund no longer SUCCEEDED and changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.concurrency.test_parallel_webhooks import race

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.gateways.base import GatewayRefundStatus
from paykit.services.refunds import sync_refund

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def test_parallel_failures_of_one_refund_reverse_it_once(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated()
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        customer = f.user(session)
        support = f.user(session, role=m.UserRole.SUPPORT)
        product = f.product(session, base_price=Decimal("30.00"))
        placed = paykit.place_order(
            session,
            customer_id=customer.id,
            billing_address=ADDRESS,
            items=[{"price_id": f.price(session, product).id, "quantity": 1}],
            payment_method_id="pm_card_visa",
            gateway=gateway,
            clock=clock,
        ).order
        order = paykit.pay_order(session, order_id=placed.id, gateway=gateway, clock=clock).order
        refund = paykit.issue_refund(
            session,
            order_id=order.id,
            reason="REQUESTED_BY_CUSTOMER",
            gateway=gateway,
            actor_id=support.id,
            clock=clock,
        )
    [made] = gateway.refunds
    failed = replace(made, status=GatewayRefundStatus.FAILED, failure_reason="declined")
    race(
        engine,
        lambda s: sync_refund(s, gateway_refund=failed, clock=clock),
        lambda s: sync_refund(s, gateway_refund=failed, clock=clock),
    )
    with Session(engine) as session:
        row = session.get(m.Order, order.id)
        assert row is not None
        assert (row.refunded_amount, row.status, row.payment_status) == (
            Decimal("0.00"),
            m.OrderStatus.COMPLETED,
            m.PaymentStatus.SUCCEEDED,
        )
        assert session.get(m.Refund, refund.id).status is m.RefundStatus.FAILED  # type: ignore[union-attr]
        audits = session.scalar(
            sa.select(sa.func.count())
            .select_from(m.AuditLog)
            .where(m.AuditLog.action == "refund.failed")
        )
        assert audits == 1
