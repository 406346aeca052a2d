"""apply_payment with an order this session read before the row changed: the
payment is applied to the row as it is now, never to the stale read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway, GatewayPayment

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
CLOCK = FrozenClock(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))


def _paid_at_gateway(session: Session, gateway: FakeGateway) -> tuple[m.Order, GatewayPayment]:
    """A PENDING order, and its payment succeeded at the gateway for its total."""
    product = f.product(session, base_price=Decimal("20.00"))
    order = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        billing_address=ADDRESS,
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=CLOCK,
    ).order
    assert order.stripe_payment_intent_id is not None
    payment = gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id=None, idempotency_key="confirm"
    )
    assert payment.status == "succeeded"
    return order, payment


def _change_row_behind_the_session(session: Session, order: m.Order, **values: object) -> None:
    # Core, past the identity map: the session's Order object keeps its old values,
    # as it would when another transaction committed the change.
    session.connection().execute(sa.update(m.Order).where(m.Order.id == order.id).values(**values))


def _row(session: Session, order: m.Order) -> tuple[m.OrderStatus, Decimal]:
    row = session.connection().execute(
        sa.select(m.Order.status, m.Order.total_amount).where(m.Order.id == order.id)
    )
    status, total = row.one()
    return status, total


@pytest.mark.partial_state("writes the order directly, as a concurrent transaction would, mid-call")
@pytest.mark.parametrize("with_gateway", [False, True])
def test_a_total_changed_since_the_read_is_not_completed(
    session: Session, with_gateway: bool
) -> None:
    gateway = FakeGateway(clock=CLOCK)
    order, payment = _paid_at_gateway(session, gateway)
    _change_row_behind_the_session(session, order, total_amount=Decimal("15.00"))
    assert order.total_amount == Decimal("20.00")  # the stale read matches the payment
    with pytest.raises(errors.InvalidState) as refused:
        paykit.apply_payment(
            session,
            order=order,
            payment=payment,
            gateway=gateway if with_gateway else None,
            clock=CLOCK,
        )
    assert refused.value.code == "payment_amount_mismatch"
    assert _row(session, order) == (m.OrderStatus.PENDING, Decimal("15.00"))


@pytest.mark.partial_state("writes the order directly, as a concurrent transaction would, mid-call")
def test_an_order_cancelled_since_the_read_is_not_revived(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    order, payment = _paid_at_gateway(session, gateway)
    _change_row_behind_the_session(
        session,
        order,
        status=m.OrderStatus.CANCELLED,
        payment_status=m.PaymentStatus.CANCELLED,
    )
    with pytest.raises(errors.InvalidState) as refused:
        paykit.apply_payment(session, order=order, payment=payment, clock=CLOCK)
    assert refused.value.code == "order_cancelled"
    assert _row(session, order)[0] is m.OrderStatus.CANCELLED


def test_a_matching_payment_completes_the_order_once(session: Session) -> None:
    gateway = FakeGateway(clock=CLOCK)
    order, payment = _paid_at_gateway(session, gateway)
    done = paykit.apply_payment(session, order=order, payment=payment, clock=CLOCK)
    assert done is order
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    assert order.completed_at == CLOCK.now()
    again = paykit.apply_payment(session, order=order, payment=payment, clock=CLOCK)
    assert again.status is m.OrderStatus.COMPLETED
    paid = session.scalar(
        sa.select(sa.func.count())
        .select_from(m.AuditLog)
        .where(m.AuditLog.resource_id == order.id, m.AuditLog.action == "order.paid")
    )
    assert paid == 1


@pytest.mark.partial_state("writes the order's currency directly, behind paykit's back")
def test_reconcile_previews_a_payment_in_another_currency_as_it_then_treats_it(
    session: Session,
) -> None:
    # The same minor units in another currency are not the order's money: the
    # dry run must say what the real run does (refund it, cancel the order).
    gateway = FakeGateway(clock=CLOCK)
    order, _ = _paid_at_gateway(session, gateway)
    _change_row_behind_the_session(session, order, currency="EUR")
    session.expire_all()
    later = FrozenClock(CLOCK.now() + timedelta(minutes=20))
    preview = paykit.reconcile(session, gateway=gateway, clock=later, dry_run=True)
    report = paykit.reconcile(session, gateway=gateway, clock=later)
    assert report.cancelled == [order.id]
    assert preview.to_dict() == {**report.to_dict(), "dry_run": True}
