"""A stateful model of the money path, checked against the gateway's ledger after every step.

Hypothesis drives random sequences of: placing orders (with and without a card
and a code, committed or rolled back), paying with pay_order, paying in the
browser (success, decline, 3-D Secure) with webhooks delivered, duplicated,
stale or lost, polling, apply_discount, cancellation, refunds the gateway
completes, leaves pending or fails (and later settles), host rollbacks, the
hold-time release and reconciliation. After every step:

* no captured money without an order that is not cancelled, of that amount
  once the order is settled (a PENDING order may still wait for its webhook);
* every paid order has its succeeded payment of the same amount;
* refunds booked (succeeded, and succeeded + pending) equal refunds at the gateway;
* a discount's uses equal its usage rows, all on live orders; stock equals the
  starting stock minus what live orders hold.

At the end, after reconciliation, every captured charge belongs to a paid order.
Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.money import to_minor_units

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
STOCK = 6
# Each machine runs 10 days before the previous one, so the hold-time release
# and reconciliation (which scan the whole database) never see another
# machine's orders as old enough to touch: every run is independent.
_BASE = datetime(2040, 1, 1, tzinfo=UTC)
_machines = itertools.count()
CARDS = ["pm_card_visa", "pm_card_chargeDeclined", "pm_card_authenticationRequired"]


def money_model(engine: Engine) -> type[RuleBasedStateMachine]:
    class MoneyModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(_machines)
            self.clock = FrozenClock(_BASE - timedelta(days=10 * n))
            self.gateway = FakeGateway(clock=self.clock, namespace=f"model{n}")
            with Session(engine) as s, s.begin():
                product = f.product(
                    s, base_price=Decimal("20.00"), track_inventory=True, stock_quantity=STOCK
                )
                self.product_id = product.id
                self.price_id = f.price(s, product).id
                self.customers = [f.user(s).id for _ in range(3)]
                self.support_id = f.user(s, role=m.UserRole.SUPPORT).id
                code = f"M{n}"
                discount = m.Discount(
                    code=code,
                    name=code,
                    type=m.DiscountType.PERCENTAGE,
                    value=Decimal("20"),
                    max_uses=3,
                )
                s.add(discount)
                s.flush()
                self.code, self.discount_id = code, discount.id
            self.orders: list[str] = []
            self.refunds: list[str] = []  # gateway refund ids left pending
            self.keys = (f"m{n}-{i}" for i in itertools.count())  # keys are per database

        # --- the host --------------------------------------------------------------

        def host(self, call: Callable[[Session], Any], *, rollback: bool = False) -> Any:
            with Session(engine, expire_on_commit=False) as s:
                s.begin()
                try:
                    result = call(s)
                except errors.PaykitError as exc:
                    # docs/orders.md: commit to keep a refusal's record, or roll back.
                    s.commit() if not rollback else s.rollback()
                    return exc
                s.rollback() if rollback else s.commit()
                return result

        def order(self, data: st.DataObject) -> m.Order:
            order_id = data.draw(st.sampled_from(self.orders))
            with Session(engine) as s:
                order = s.get(m.Order, order_id)
                assert order is not None
                s.expunge(order)
                return order

        # --- rules -----------------------------------------------------------------

        @rule(
            customer=st.integers(0, 2),
            quantity=st.integers(1, 3),
            use_code=st.booleans(),
            card=st.sampled_from([None, *CARDS]),
            keyed=st.booleans(),
            rollback=st.booleans(),
        )
        def place(
            self,
            customer: int,
            quantity: int,
            use_code: bool,
            card: str | None,
            keyed: bool,
            rollback: bool,
        ) -> None:
            result = self.host(
                lambda s: paykit.place_order(
                    s,
                    customer_id=self.customers[customer],
                    items=[{"price_id": self.price_id, "quantity": quantity}],
                    billing_address=ADDRESS,
                    discount_code=self.code if use_code else None,
                    payment_method_id=card,
                    gateway=self.gateway,
                    clock=self.clock,
                    idempotency_key=next(self.keys) if keyed else None,
                ),
                rollback=rollback,
            )
            if isinstance(result, paykit.OrderResult) and not rollback:
                self.orders.append(result.order.id)

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), card=st.sampled_from([None, *CARDS]), rollback=st.booleans())
        def pay(self, data: st.DataObject, card: str | None, rollback: bool) -> None:
            order = self.order(data)
            self.host(
                lambda s: paykit.pay_order(
                    s,
                    order_id=order.id,
                    gateway=self.gateway,
                    payment_method_id=card,
                    clock=self.clock,
                ),
                rollback=rollback,
            )

        @precondition(lambda self: self.orders)
        @rule(
            data=st.data(),
            card=st.sampled_from(CARDS),
            deliveries=st.integers(0, 2),
        )
        def pay_in_the_browser(self, data: st.DataObject, card: str, deliveries: int) -> None:
            order = self.order(data)
            if order.stripe_payment_intent_id is None:
                return
            with contextlib.suppress(errors.PaymentDeclined, errors.GatewayError):
                self.gateway.confirm_payment(
                    order.stripe_payment_intent_id,
                    payment_method_id=card,
                    idempotency_key=next(self.keys),
                )
            for _ in range(deliveries):  # 0: the webhook is lost; 2: delivered twice
                self.webhook(order.stripe_payment_intent_id)

        def webhook(self, payment_id: str) -> None:
            """What paykit's payment_intent.* handlers do for the payment's event."""
            payment = self.gateway.retrieve_payment(payment_id)
            if payment.status == "succeeded":
                self.host(lambda s: paykit.mark_order_paid(s, payment=payment, clock=self.clock))
            else:
                self.host(
                    lambda s: paykit.fail_order_payment(
                        s, payment_id=payment_id, gateway=self.gateway, clock=self.clock
                    )
                )

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), succeed=st.booleans(), deliver=st.booleans())
        def authenticate(self, data: st.DataObject, succeed: bool, deliver: bool) -> None:
            order = self.order(data)
            payment_id = order.stripe_payment_intent_id
            if payment_id is None or self.gateway.payments[payment_id].status != "requires_action":
                return
            self.gateway.authenticate(payment_id, succeed=succeed)
            if deliver:
                self.webhook(payment_id)

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def stale_failure_event(self, data: st.DataObject) -> None:
            order = self.order(data)
            if order.stripe_payment_intent_id is not None:
                self.webhook_failed_stale(order.stripe_payment_intent_id)

        def webhook_failed_stale(self, payment_id: str) -> None:
            self.host(
                lambda s: paykit.fail_order_payment(
                    s, payment_id=payment_id, gateway=self.gateway, clock=self.clock
                )
            )

        @precondition(lambda self: self.orders)
        @rule(data=st.data())
        def poll(self, data: st.DataObject) -> None:
            order = self.order(data)
            self.host(
                lambda s: paykit.sync_order_payment(
                    s, order_id=order.id, gateway=self.gateway, clock=self.clock
                )
            )

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), rollback=st.booleans())
        def apply_code(self, data: st.DataObject, rollback: bool) -> None:
            order = self.order(data)
            self.host(
                lambda s: paykit.apply_discount(
                    s, order_id=order.id, code=self.code, gateway=self.gateway, clock=self.clock
                ),
                rollback=rollback,
            )

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), rollback=st.booleans())
        def cancel(self, data: st.DataObject, rollback: bool) -> None:
            order = self.order(data)
            self.host(
                lambda s: paykit.cancel_order(
                    s, order_id=order.id, gateway=self.gateway, clock=self.clock
                ),
                rollback=rollback,
            )

        @precondition(lambda self: self.orders)
        @rule(
            data=st.data(),
            amount=st.sampled_from([None, Decimal("1.00"), Decimal("5.50")]),
            outcome=st.sampled_from(["succeeded", "pending", "failed"]),
            rollback=st.booleans(),
        )
        def refund(
            self, data: st.DataObject, amount: Decimal | None, outcome: str, rollback: bool
        ) -> None:
            order = self.order(data)
            if outcome == "pending":
                self.gateway.hold_next_refund()
            elif outcome == "failed":
                self.gateway.fail_next_refund()
            key = next(self.keys)

            def issue(s: Session) -> Any:
                return paykit.issue_refund(
                    s,
                    order_id=order.id,
                    amount=amount,
                    reason="REQUESTED_BY_CUSTOMER",
                    actor_id=self.support_id,
                    gateway=self.gateway,
                    clock=self.clock,
                    idempotency_key=key,
                )

            result = self.host(issue, rollback=rollback)
            if rollback:
                result = self.host(issue)  # docs/orders.md: retry a refund with its key
            if isinstance(result, m.Refund) and result.status is m.RefundStatus.PENDING:
                assert result.stripe_refund_id is not None
                self.refunds.append(result.stripe_refund_id)
            self.gateway._refund_plan.clear()  # a refused call leaves no plan behind

        @precondition(lambda self: self.refunds)
        @rule(data=st.data(), succeed=st.booleans())
        def settle_refund(self, data: st.DataObject, succeed: bool) -> None:
            refund_id = data.draw(st.sampled_from(self.refunds))
            self.refunds.remove(refund_id)
            settled = self.gateway.settle_refund(refund_id, succeeded=succeed)
            self.host(lambda s: paykit.sync_refund(s, gateway_refund=settled, clock=self.clock))

        @rule(minutes=st.sampled_from([1, 20, 45]))
        def time_passes(self, minutes: int) -> None:
            self.clock.advance(minutes=minutes)

        @rule()
        def release_expired(self) -> None:
            self.host(
                lambda s: paykit.release_expired_orders(s, gateway=self.gateway, clock=self.clock)
            )

        @rule()
        def reconcile(self) -> None:
            self.host(lambda s: paykit.reconcile(s, gateway=self.gateway, clock=self.clock))

        # --- the books -------------------------------------------------------------

        def mine(self, s: Session) -> list[m.Order]:
            return list(s.scalars(sa.select(m.Order).where(m.Order.user_id.in_(self.customers))))

        @invariant()
        def books_match_the_gateway(self) -> None:
            with Session(engine) as s:
                orders = self.mine(s)
                by_payment = {o.stripe_payment_intent_id: o for o in orders}
                for payment in self.gateway.payments.values():
                    captured = payment.amount_minor if payment.status == "succeeded" else 0
                    net = captured - self.gateway.amount_refunded(payment.id)
                    if net <= 0:
                        continue
                    order = by_payment.get(payment.id)
                    assert order is not None, f"captured without an order: {payment}"
                    assert order.status is not m.OrderStatus.CANCELLED, (order, payment)
                    if order.status is not m.OrderStatus.PENDING:
                        # A PENDING order may wait for a lost webhook (or, after an
                        # apply_discount the host rolled back, a compensating
                        # refund): the next webhook, poll or reconcile settles it.
                        assert to_minor_units(order.total_amount, "USD") == payment.amount_minor
                for order in orders:
                    refunds = list(
                        s.scalars(sa.select(m.Refund).where(m.Refund.order_id == order.id))
                    )
                    succeeded = sum(
                        (r.amount for r in refunds if r.status is m.RefundStatus.SUCCEEDED),
                        Decimal(0),
                    )
                    assert order.refunded_amount == succeeded, order
                    if order.status in (m.OrderStatus.COMPLETED, m.OrderStatus.REFUNDED):
                        if order.total_amount == 0:
                            continue
                        payment = self.gateway.payments[order.stripe_payment_intent_id]
                        assert payment.status == "succeeded", (order, payment)
                        assert payment.amount_minor == to_minor_units(order.total_amount, "USD")
                        live = sum(
                            (
                                r.amount
                                for r in refunds
                                if r.status in (m.RefundStatus.SUCCEEDED, m.RefundStatus.PENDING)
                            ),
                            Decimal(0),
                        )
                        assert to_minor_units(live, "USD") == self.gateway.amount_refunded(
                            payment.id
                        ), order

        @invariant()
        def counters_match_live_orders(self) -> None:
            with Session(engine) as s:
                orders = {o.id: o for o in self.mine(s)}
                discount = s.get(m.Discount, self.discount_id)
                assert discount is not None
                usages = list(
                    s.scalars(
                        sa.select(m.DiscountUsage).where(
                            m.DiscountUsage.discount_id == self.discount_id
                        )
                    )
                )
                assert discount.current_uses == len(usages)
                assert discount.current_uses <= 3
                for usage in usages:
                    assert orders[usage.order_id].status is not m.OrderStatus.CANCELLED
                held = sum(
                    item.quantity
                    for order in orders.values()
                    if order.status is not m.OrderStatus.CANCELLED
                    for item in order.items
                )
                product = s.get(m.Product, self.product_id)
                assert product is not None
                assert product.stock_quantity == STOCK - held
                assert product.stock_quantity >= 0

        def teardown(self) -> None:
            # Reconciliation repairs what webhooks lost: then every captured
            # charge belongs to a paid order.
            self.clock.advance(hours=2)
            self.host(lambda s: paykit.reconcile(s, gateway=self.gateway, clock=self.clock))
            with Session(engine) as s:
                by_payment = {o.stripe_payment_intent_id: o for o in self.mine(s)}
                for payment in self.gateway.payments.values():
                    net = (
                        payment.amount_minor if payment.status == "succeeded" else 0
                    ) - self.gateway.amount_refunded(payment.id)
                    if net > 0:
                        order = by_payment[payment.id]
                        assert order.status in (m.OrderStatus.COMPLETED, m.OrderStatus.REFUNDED)
                        assert to_minor_units(order.total_amount, "USD") == payment.amount_minor
                report = paykit.check(s)
                assert report.ok, report.format()

    return MoneyModel


def test_the_money_model(db_factory: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    # A database of its own: release and reconcile scan every order in it.
    engine = db_factory.migrated()
    ci = bool(os.environ.get("CI"))
    run_state_machine_as_test(
        money_model(engine),
        settings=settings(max_examples=150 if ci else 25, stateful_step_count=30, deadline=None),
    )
