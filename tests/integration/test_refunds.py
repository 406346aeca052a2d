"""issue_refund and sync_refund on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


@pytest.fixture
def paid(session: Session) -> tuple[Session, FakeGateway, FrozenClock, m.Order, m.User]:
    clock = FrozenClock(datetime(2025, 4, 1, tzinfo=UTC))
    gateway = FakeGateway(clock=clock)
    product = f.product(session, base_price=Decimal("40.00"), tax_rate=Decimal("0.10"))
    order = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=clock,
    ).order
    order = paykit.pay_order(session, order_id=order.id, gateway=gateway, clock=clock).order
    assert order.total_amount == Decimal("44.00")
    support = f.user(session, role=m.UserRole.SUPPORT)
    return session, gateway, clock, order, support


def refund(paid, **kw):  # type: ignore[no-untyped-def]
    session, gateway, clock, order, support = paid
    kw.setdefault("reason", m.RefundReason.REQUESTED_BY_CUSTOMER)
    kw.setdefault("actor_id", support.id)
    return paykit.issue_refund(session, order_id=order.id, gateway=gateway, clock=clock, **kw)


def test_partial_then_full_refund(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, _, order, support = paid
    first = refund(paid, amount=Decimal("10.00"), notes="scratched")
    assert (first.amount, first.status, first.reason) == (
        Decimal("10.00"),
        m.RefundStatus.SUCCEEDED,
        m.RefundReason.REQUESTED_BY_CUSTOMER,
    )
    assert first.stripe_refund_id.startswith("re_")
    assert first.notes == "scratched"
    session.refresh(order)
    assert order.refunded_amount == Decimal("10.00")
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    rest = refund(paid)  # amount=None: all that is still refundable
    assert rest.amount == Decimal("34.00")
    session.refresh(order)
    assert order.refunded_amount == Decimal("44.00")
    assert (order.status, order.payment_status) == (
        m.OrderStatus.REFUNDED,
        m.PaymentStatus.REFUNDED,
    )
    assert gateway.amount_refunded(order.stripe_payment_intent_id) == 4400
    with pytest.raises(errors.RefundExceedsPaid):
        refund(paid)
    audit = session.scalars(
        sa.select(m.AuditLog).where(m.AuditLog.action == "refund.created")
    ).all()
    assert [a.user_id for a in audit] == [support.id, support.id]


def test_refund_more_than_paid_is_refused(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, *_ = paid
    with pytest.raises(errors.RefundExceedsPaid) as caught:
        refund(paid, amount=Decimal("44.01"))
    assert caught.value.code == "refund_exceeds_paid"
    assert gateway.refunds == []
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Refund)) == 0


@pytest.mark.parametrize("bad", [Decimal("0"), Decimal("-1.00"), Decimal("1.001"), 1.5])
def test_bad_amounts_are_refused(paid, bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.PaykitError):
        refund(paid, amount=bad)
    assert paid[1].refunds == []


@pytest.mark.parametrize("role", [m.UserRole.CUSTOMER, None])
def test_only_support_and_admin_may_refund(paid, role) -> None:  # type: ignore[no-untyped-def]
    session = paid[0]
    actor_id = f.user(session, role=role).id if role else None
    with pytest.raises(errors.PermissionDenied) as caught:
        refund(paid, actor_id=actor_id)
    assert caught.value.code == "permission_denied"
    assert caught.value.http_status == 403


def test_admin_may_refund(paid) -> None:  # type: ignore[no-untyped-def]
    admin = f.user(paid[0], role=m.UserRole.ADMIN)
    assert refund(paid, actor_id=admin.id, amount=Decimal("1.00")).amount == Decimal("1.00")


def test_unpaid_order_cannot_be_refunded(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, clock, _, support = paid
    pending = paykit.place_order(
        session,
        customer_id=f.user(session).id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(session, f.product(session)).id}],
        gateway=gateway,
        clock=clock,
    ).order
    with pytest.raises(errors.InvalidState) as caught:
        paykit.issue_refund(
            session, order_id=pending.id, reason="OTHER", actor_id=support.id, gateway=gateway
        )
    assert caught.value.code == "order_not_paid"


def test_same_key_one_refund_one_gateway_call(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, _, order, _ = paid
    a = refund(paid, amount=Decimal("5.00"), idempotency_key="r-1")
    b = refund(paid, amount=Decimal("5.00"), idempotency_key="r-1")
    assert a.id == b.id
    assert len(gateway.refunds) == 1
    assert [c for c, _ in gateway.calls].count("create_refund") == 1
    session.refresh(order)
    assert order.refunded_amount == Decimal("5.00")
    with pytest.raises(errors.IdempotencyConflict):
        refund(paid, amount=Decimal("6.00"), idempotency_key="r-1")


def test_pending_refund_counts_once_it_succeeds(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, _, order, _ = paid
    gateway.hold_next_refund()
    pending = refund(paid, amount=Decimal("4.00"))
    assert pending.status is m.RefundStatus.PENDING
    session.refresh(order)
    assert order.refunded_amount == Decimal("0.00")
    # What is pending is not refundable again.
    with pytest.raises(errors.RefundExceedsPaid):
        refund(paid, amount=Decimal("40.01"))
    settled = gateway.settle_refund(pending.stripe_refund_id)
    for _ in range(2):  # the webhook arrives twice; it counts once
        paykit.sync_refund(session, gateway_refund=settled)
    session.refresh(order)
    assert order.refunded_amount == Decimal("4.00")


def test_failed_refund_is_recorded_and_not_counted(paid) -> None:  # type: ignore[no-untyped-def]
    session, gateway, _, order, _ = paid
    gateway.fail_next_refund()
    result = refund(paid, amount=Decimal("4.00"))
    assert result.status is m.RefundStatus.FAILED
    session.refresh(order)
    assert order.refunded_amount == Decimal("0.00")
    assert refund(paid).amount == Decimal("44.00")


def test_unknown_reason_is_a_validation_error(paid) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(errors.ValidationError):
        refund(paid, reason="because")
