"""Fault injection on the money path: a failure at every write after each gateway call.

For each money call (place_order, pay_order, apply_discount, issue_refund,
mark_order_paid) the test makes the Nth SQL statement after the first
successful gateway call of the flow that leads to it fail (the flow's own
set-up included: placing and paying the order a refund needs), for N = 1, 2,
... until the flow completes without reaching N; and, separately, lets the
call succeed and has the host roll back. The host then does what
docs/orders.md tells it (roll back; retry a refund with its key; run
``reconcile``), and the books must agree with the
gateway's ledger: never captured money without a paid order of that amount,
never a paid order without its captured money, refunds booked as at the gateway.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.money import to_minor_units

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
_CONTROL = ("SAVEPOINT", "ROLLBACK", "RELEASE", "BEGIN", "COMMIT")


class InjectedFault(Exception):
    """The failure the test injects (stands in for a driver error or a crash)."""


@dataclass
class Faults:
    """Fails the Nth statement after the gateway's first successful money call."""

    armed: bool = False
    count: int = 0
    fail_at: int | None = None
    fired: bool = False

    def reset(self, fail_at: int | None) -> None:
        self.armed, self.count, self.fail_at, self.fired = False, 0, fail_at, False

    def before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not self.armed or self.fail_at is None or self.fired:
            return
        if statement.lstrip().upper().startswith(_CONTROL):
            return  # savepoint control is how the services recover; let it through
        self.count += 1
        if self.count == self.fail_at:
            self.fired = True
            raise sa.exc.OperationalError(statement, {}, InjectedFault("injected"))


class ArmingGateway(FakeGateway):
    """Arms the fault injector once a call that moves or promises money returns."""

    def __init__(self, faults: Faults, **kw: Any) -> None:
        super().__init__(**kw)
        self.faults = faults

    def _armed(self, result: Any) -> Any:
        self.faults.armed = True
        return result

    def create_payment(self, **kw: Any):  # type: ignore[no-untyped-def]
        return self._armed(super().create_payment(**kw))

    def confirm_payment(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self._armed(super().confirm_payment(payment_id, **kw))

    def update_payment_amount(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
        return self._armed(super().update_payment_amount(payment_id, **kw))

    def create_refund(self, **kw: Any):  # type: ignore[no-untyped-def]
        return self._armed(super().create_refund(**kw))


@dataclass
class Bench:
    engine: Engine
    faults: Faults
    gateway: ArmingGateway
    clock: FrozenClock
    support_id: str
    made: list[str] = field(default_factory=list)

    def host(self, call: Callable[[Session], Any]) -> Any:
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            return call(session)

    def setup_order(self, *, paid: bool) -> tuple[str, str]:
        """A committed PENDING (or paid) order; returns (order id, customer id)."""

        def make(s: Session) -> tuple[str, str]:
            product = f.product(
                s, base_price=Decimal("20.00"), track_inventory=True, stock_quantity=10
            )
            customer = f.user(s)
            order = paykit.place_order(
                s,
                customer_id=customer.id,
                items=[{"price_id": f.price(s, product).id, "quantity": 2}],
                billing_address=ADDRESS,
                payment_method_id="pm_card_visa",
                gateway=self.gateway,
                clock=self.clock,
            ).order
            return order.id, customer.id

        order_id, customer_id = self.host(make)
        if paid:
            self.host(
                lambda s: paykit.pay_order(
                    s, order_id=order_id, gateway=self.gateway, clock=self.clock
                )
            )
        return order_id, customer_id


@pytest.fixture
def bench(fresh_engine: Engine) -> Bench:
    faults = Faults()
    event.listen(fresh_engine, "before_cursor_execute", faults.before)
    clock = FrozenClock(datetime(2025, 9, 1, tzinfo=UTC))
    with Session(fresh_engine) as s, s.begin():
        support_id = f.user(s, role=m.UserRole.SUPPORT).id
        s.add(m.Discount(code="FIVE", name="5", type=m.DiscountType.PERCENTAGE, value=Decimal("5")))
    return Bench(fresh_engine, faults, ArmingGateway(faults, clock=clock), clock, support_id)


def assert_books_match_the_gateway(bench: Bench) -> None:
    gateway = bench.gateway
    with Session(bench.engine) as s:
        orders = {o.stripe_payment_intent_id: o for o in s.scalars(sa.select(m.Order))}
        for payment in gateway.payments.values():
            if "paykit_reference" not in payment.metadata:
                continue
            captured = payment.amount_minor if payment.status == "succeeded" else 0
            net = captured - gateway.amount_refunded(payment.id)
            order = orders.get(payment.id)
            if net == 0:
                if order is not None and order.payment_status is m.PaymentStatus.SUCCEEDED:
                    assert order.total_amount == order.refunded_amount, (payment, order)
                continue
            assert order is not None, f"captured {net} without an order: {payment}"
            assert order.status in (m.OrderStatus.COMPLETED, m.OrderStatus.REFUNDED), order
            assert to_minor_units(order.total_amount, order.currency) == payment.amount_minor
            assert to_minor_units(order.refunded_amount, order.currency) == (
                gateway.amount_refunded(payment.id)
            )
            booked = s.scalar(
                sa.select(sa.func.coalesce(sa.func.sum(m.Refund.amount), 0)).where(
                    m.Refund.order_id == order.id, m.Refund.status == m.RefundStatus.SUCCEEDED
                )
            )
            assert Decimal(booked) == order.refunded_amount
        for order in orders.values():
            if order.payment_status is m.PaymentStatus.SUCCEEDED and order.total_amount > 0:
                payment = gateway.payments[order.stripe_payment_intent_id]
                assert payment.status == "succeeded", (order, payment)
        report = paykit.check(s)
        assert report.ok, report.format()


def run_with_faults(
    bench: Bench, operation: Callable[[Session], Any], repair: Callable[[], None]
) -> int:
    """Run ``operation`` once per fault position (and once with a host rollback after
    it returns); after each, ``repair`` and reconcile, then check the books.
    Returns how many fault positions were exercised."""
    positions = 0
    for fail_at in range(1, 80):
        bench.faults.reset(fail_at)
        with contextlib.suppress(Exception):  # the host rolls back (the `with` did)
            bench.host(operation)
        fired = bench.faults.fired
        bench.faults.reset(None)
        repair()
        bench.clock.advance(hours=1)
        bench.host(lambda s: paykit.reconcile(s, gateway=bench.gateway, clock=bench.clock))
        assert_books_match_the_gateway(bench)
        if not fired:
            break
        positions += 1
    else:  # pragma: no cover
        pytest.fail("the operation never completed")
    # The host rolls back after the call returned successfully.
    with Session(bench.engine) as s:
        s.begin()
        operation(s)
        s.rollback()
    repair()
    bench.clock.advance(hours=1)
    bench.host(lambda s: paykit.reconcile(s, gateway=bench.gateway, clock=bench.clock))
    assert_books_match_the_gateway(bench)
    return positions


def test_faults_after_place_order(bench: Bench) -> None:
    def operation(s: Session) -> None:
        product = f.product(s, base_price=Decimal("20.00"), track_inventory=True, stock_quantity=3)
        paykit.place_order(
            s,
            customer_id=f.user(s).id,
            items=[{"price_id": f.price(s, product).id}],
            billing_address=ADDRESS,
            discount_code="FIVE",
            payment_method_id="pm_card_visa",
            gateway=bench.gateway,
            clock=bench.clock,
        )

    # PostgreSQL writes the order's rows, its stock and its discount use in one statement.
    assert run_with_faults(bench, operation, lambda: None) >= 1


def test_faults_after_pay_order(bench: Bench) -> None:
    current: dict[str, str] = {}

    def operation(s: Session) -> None:
        if "order" not in current:
            current["order"] = bench.setup_order(paid=False)[0]
        order_id = current.pop("order")
        paykit.pay_order(s, order_id=order_id, gateway=bench.gateway, clock=bench.clock)

    assert run_with_faults(bench, operation, lambda: None) >= 2


def test_faults_after_apply_discount_then_payment(bench: Bench) -> None:
    pending: list[str] = []

    def operation(s: Session) -> None:
        order_id = bench.setup_order(paid=False)[0]
        pending.append(order_id)
        paykit.apply_discount(
            s, order_id=order_id, code="FIVE", gateway=bench.gateway, clock=bench.clock
        )

    def repair() -> None:
        # The host goes on to take the payment, whatever the discount call did.
        while pending:
            order_id = pending.pop()
            bench.host(
                lambda s, o=order_id: paykit.pay_order(
                    s, order_id=o, gateway=bench.gateway, clock=bench.clock
                )
            )

    assert run_with_faults(bench, operation, repair) >= 2


def test_faults_after_issue_refund(bench: Bench) -> None:
    attempts: list[tuple[str, str]] = []

    def refund(s: Session, order_id: str, key: str) -> None:
        paykit.issue_refund(
            s,
            order_id=order_id,
            amount=Decimal("5.00"),
            reason="REQUESTED_BY_CUSTOMER",
            actor_id=bench.support_id,
            gateway=bench.gateway,
            clock=bench.clock,
            idempotency_key=key,
        )

    def operation(s: Session) -> None:
        order_id = bench.setup_order(paid=True)[0]
        key = f"refund-{order_id}"
        attempts.append((order_id, key))
        refund(s, order_id, key)

    def repair() -> None:
        # docs/orders.md: a refund call that failed is retried with its key.
        while attempts:
            order_id, key = attempts.pop()
            bench.host(lambda s, o=order_id, k=key: refund(s, o, k))

    assert run_with_faults(bench, operation, repair) >= 2


def test_faults_after_mark_order_paid(bench: Bench) -> None:
    def operation(s: Session) -> None:
        order_id = bench.setup_order(paid=False)[0]
        order = s.get(m.Order, order_id)
        assert order is not None
        assert order.stripe_payment_intent_id is not None
        # Paid in the browser; the webhook's handler records it.
        payment = bench.gateway.confirm_payment(
            order.stripe_payment_intent_id, idempotency_key=f"browser-{order_id}"
        )
        paykit.mark_order_paid(s, payment=payment, clock=bench.clock)

    assert run_with_faults(bench, operation, lambda: None) >= 2


def test_the_fault_injector_can_break_the_books(bench: Bench) -> None:
    # The checks above are only as good as assert_books_match_the_gateway: show
    # that a captured charge whose order vanished is caught.
    order_id, _ = bench.setup_order(paid=True)
    bench.host(lambda s: s.execute(sa.delete(m.Order).where(m.Order.id == order_id)))
    with pytest.raises(AssertionError, match="without an order"):
        assert_books_match_the_gateway(bench)


def test_reconcile_window_leaves_young_payments_alone(bench: Bench) -> None:
    with Session(bench.engine) as s:
        s.begin()
        paykit.place_order(
            s,
            customer_id=f.user(s).id,
            items=[{"price_id": f.price(s, f.product(s)).id}],
            billing_address=ADDRESS,
            gateway=bench.gateway,
            clock=bench.clock,
        )
        s.rollback()
    report = bench.host(lambda s: paykit.reconcile(s, gateway=bench.gateway, clock=bench.clock))
    assert report.cancelled_orphans == []
    bench.clock.advance(timedelta(minutes=16))
    report = bench.host(lambda s: paykit.reconcile(s, gateway=bench.gateway, clock=bench.clock))
    assert len(report.cancelled_orphans) == 1
