"""The money path: each way found to take money without an order (issue 9), as a test.

Every test runs on SQLite and PostgreSQL. "Charged" means a succeeded payment
at the gateway that has not been refunded; the rule is that every charge has
an order of the same amount, paid, and no order is paid without its charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
START = datetime(2025, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class Shop:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    customer: m.User
    product: m.Product  # 10.00, stock 5
    price: m.Price

    def place(self, **kw: Any) -> paykit.OrderResult:
        kw.setdefault("customer_id", self.customer.id)
        kw.setdefault("items", [{"price_id": self.price.id, "quantity": 1}])
        kw.setdefault("billing_address", ADDRESS)
        return paykit.place_order(self.session, gateway=self.gateway, clock=self.clock, **kw)

    def pay(
        self, order: m.Order, card: str | None = "pm_card_visa", **kw: Any
    ) -> paykit.OrderResult:
        return paykit.pay_order(
            self.session,
            order_id=order.id,
            gateway=self.gateway,
            payment_method_id=card,
            clock=self.clock,
            **kw,
        )

    def code(self, code: str, **kw: Any) -> m.Discount:
        row = m.Discount(
            code=code,
            name=code,
            type=kw.pop("type", m.DiscountType.PERCENTAGE),
            value=kw.pop("value", Decimal("10")),
            **kw,
        )
        self.session.add(row)
        self.session.flush()
        return row

    def gateway_calls(self) -> list[str]:
        return [name for name, _ in self.gateway.calls]


@pytest.fixture
def shop(session: Session) -> Shop:
    clock = FrozenClock(START)
    product = f.product(
        session, base_price=Decimal("10.00"), track_inventory=True, stock_quantity=5
    )
    return Shop(
        session=session,
        clock=clock,
        gateway=FakeGateway(clock=clock),
        customer=f.user(session),
        product=product,
        price=f.price(session, product),
    )


def _charged(gateway: FakeGateway) -> dict[str, int]:
    """Payment id -> captured minor units not refunded."""
    return {
        p.id: p.amount_minor - gateway.amount_refunded(p.id)
        for p in gateway.charges
        if p.amount_minor - gateway.amount_refunded(p.id) > 0
    }


# --- 1. free orders and minimum charges ----------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        {"type": m.DiscountType.PERCENTAGE, "value": Decimal("100")},
        {"type": m.DiscountType.FIXED_AMOUNT, "value": Decimal("25"), "currency": "USD"},
    ],
)
def test_a_free_order_completes_without_any_gateway_call(shop: Shop, rule: dict[str, Any]) -> None:
    shop.code("FREE", **rule)
    result = shop.place(discount_code="FREE", payment_method_id="pm_card_visa")
    order = result.order
    assert order.total_amount == Decimal("0.00")
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    assert order.stripe_payment_intent_id is None
    assert order.payment_method is None
    assert order.completed_at == START
    assert result.payment.status == "none"
    assert shop.gateway.calls == []
    shop.session.refresh(shop.product)
    assert shop.product.stock_quantity == 4
    assert shop.session.scalar(sa.select(m.Discount.current_uses)) == 1
    with pytest.raises(errors.RefundError) as refused:
        paykit.issue_refund(
            shop.session,
            order_id=order.id,
            reason="OTHER",
            actor_id=f.user(shop.session, role=m.UserRole.SUPPORT).id,
            gateway=shop.gateway,
        )
    assert refused.value.code == "nothing_to_refund"
    # pay_order on a free order is a harmless no-op.
    assert shop.pay(order).replayed


def test_apply_discount_that_makes_an_order_free_completes_it(shop: Shop) -> None:
    shop.code("ALL", value=Decimal("100"))
    order = shop.place().order
    payment_id = order.stripe_payment_intent_id
    assert payment_id is not None
    order = paykit.apply_discount(
        shop.session, order_id=order.id, code="ALL", gateway=shop.gateway, clock=shop.clock
    )
    assert order.total_amount == Decimal("0.00")
    assert order.status is m.OrderStatus.COMPLETED
    # Its payment can never be charged now.
    assert shop.gateway.payments[payment_id].status == "canceled"
    assert _charged(shop.gateway) == {}


def test_an_amount_below_the_minimum_charge_is_refused_before_the_gateway(shop: Shop) -> None:
    cheap = f.price(shop.session, shop.product, unit_amount=Decimal("0.30"))
    with pytest.raises(errors.InvalidAmount) as refused:
        shop.place(items=[{"price_id": cheap.id}])
    assert refused.value.code == "amount_below_minimum"
    assert refused.value.details["minimum"] == "0.50"
    assert shop.gateway.calls == []
    assert shop.session.scalar(sa.select(sa.func.count()).select_from(m.Order)) == 0


def test_apply_discount_below_the_minimum_is_refused(shop: Shop) -> None:
    shop.code("ALMOST", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("9.75"), currency="USD")
    order = shop.place().order
    with pytest.raises(errors.InvalidAmount):
        paykit.apply_discount(
            shop.session, order_id=order.id, code="ALMOST", gateway=shop.gateway, clock=shop.clock
        )
    assert shop.gateway.payments[order.stripe_payment_intent_id].amount_minor == 1000


# --- 2. everything is checked before the gateway --------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        {"billing_address": {**ADDRESS, "line1": "1 Main\x00St"}},
        {"notes": "leave at the door\x00"},
        {"metadata": {"ref": "a\x00b"}},
        {"metadata": {"re\x00f": "ab"}},
    ],
)
def test_nul_characters_are_refused_before_the_gateway(shop: Shop, bad: dict[str, Any]) -> None:
    with pytest.raises(errors.ValidationError):
        shop.place(**bad)
    assert shop.gateway.calls == []


def test_amounts_past_their_column_are_refused_before_the_gateway(shop: Shop) -> None:
    big = f.price(shop.session, shop.product, unit_amount=Decimal("99999999.99"))
    shop.product.track_inventory = False
    shop.code("HUGE", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("999999"), currency="USD")
    with pytest.raises(errors.InvalidAmount) as refused:
        shop.place(items=[{"price_id": big.id, "quantity": 3}], discount_code="HUGE")
    assert refused.value.code == "amount_too_large"
    assert shop.gateway.calls == []


def test_a_database_failure_after_the_gateway_call_leaves_nothing_charged(
    shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    from paykit.services import orders

    def broken(*args: Any, **kw: Any) -> None:
        raise sa.exc.DataError("INSERT", {}, Exception("simulated driver failure"))

    monkeypatch.setattr(orders, "insert_objects", broken)
    with pytest.raises(errors.PaykitError) as failed:
        shop.place(payment_method_id="pm_card_visa")
    assert failed.value.code == "order_not_recorded"
    assert shop.gateway_calls() == ["create_payment", "cancel_payment"]
    assert _charged(shop.gateway) == {}
    # The host's transaction is still usable and holds nothing of the attempt.
    assert shop.session.scalar(sa.select(sa.func.count()).select_from(m.Order)) == 0


# --- 3. rollback, reconcile, retry with the same key -----------------------------------


def test_retry_after_rollback_never_completes_against_a_refunded_payment(
    fresh_engine: Engine,
) -> None:
    clock = FrozenClock(START)
    gateway = FakeGateway(clock=clock)
    with Session(fresh_engine) as s, s.begin():
        product = f.product(s, base_price=Decimal("10.00"))
        price_id = f.price(s, product).id
        customer_id = f.user(s).id

    def checkout() -> paykit.OrderResult:
        placed = paykit.place_order(
            s,
            customer_id=customer_id,
            items=[{"price_id": price_id}],
            billing_address=ADDRESS,
            payment_method_id="pm_card_visa",
            gateway=gateway,
            clock=clock,
            idempotency_key="K",
        )
        return paykit.pay_order(s, order_id=placed.order.id, gateway=gateway, clock=clock)

    # A careless host: place and pay in one transaction, then roll back.
    with Session(fresh_engine) as s:
        s.begin()
        first = checkout()
        first_payment = first.order.stripe_payment_intent_id
        s.rollback()
    assert _charged(gateway) == {first_payment: 1000}  # money without an order...
    clock.advance(hours=1)
    with Session(fresh_engine) as s, s.begin():
        report = paykit.reconcile(s, gateway=gateway, clock=clock)
    assert report.refunded_orphans == [first_payment]  # ...until reconciliation
    assert _charged(gateway) == {}
    with Session(fresh_engine, expire_on_commit=False) as s, s.begin():
        again = checkout()
    assert again.order.status is m.OrderStatus.COMPLETED
    assert again.order.stripe_payment_intent_id != first_payment
    assert _charged(gateway) == {again.order.stripe_payment_intent_id: 1000}
    with Session(fresh_engine) as s, s.begin():
        assert str(paykit.reconcile(s, gateway=gateway, clock=clock)).endswith("nothing to do")


# --- 4. the stock pre-check sums all lines of one product ------------------------------


def test_two_prices_of_one_product_are_checked_together(shop: Shop) -> None:
    other = f.price(shop.session, shop.product, unit_amount=Decimal("9.99"))
    with pytest.raises(errors.InsufficientStock) as refused:
        shop.place(
            items=[
                {"price_id": shop.price.id, "quantity": 3},
                {"price_id": other.id, "quantity": 3},
            ],
            payment_method_id="pm_card_visa",
        )
    assert refused.value.details["requested"] == 6
    assert shop.gateway.calls == []


# --- 5. first-time-only codes and open orders -----------------------------------------


def test_a_first_time_only_code_cannot_sit_on_two_unpaid_orders(shop: Shop) -> None:
    shop.code("HELLO", first_time_only=True)
    first = shop.place(discount_code="HELLO").order
    with pytest.raises(errors.DiscountError) as refused:
        shop.place(discount_code="HELLO")
    assert refused.value.code == "discount_first_time_only"
    # Once the first order is cancelled, the code is free again.
    paykit.cancel_order(shop.session, order_id=first.id, gateway=shop.gateway, clock=shop.clock)
    assert shop.place(discount_code="HELLO").order.discount_amount == Decimal("1.00")


def test_apply_discount_first_time_only_counts_open_orders(shop: Shop) -> None:
    shop.code("HELLO", first_time_only=True)
    shop.place(discount_code="HELLO")
    second = shop.place().order
    with pytest.raises(errors.DiscountError):
        paykit.apply_discount(
            shop.session, order_id=second.id, code="HELLO", gateway=shop.gateway, clock=shop.clock
        )


# --- 6. a declined attempt does not cancel a retryable payment --------------------------


def test_declined_then_succeeded_in_the_browser_completes_the_order(shop: Shop) -> None:
    discount = shop.code("TEN", max_uses=10)
    order = shop.place(discount_code="TEN").order
    payment_id = order.stripe_payment_intent_id
    with pytest.raises(errors.PaymentDeclined):
        shop.gateway.confirm_payment(
            payment_id, payment_method_id="pm_card_chargeDeclined", idempotency_key="browser-1"
        )
    failed = shop.gateway.retrieve_payment(payment_id)
    order = paykit.fail_order_payment(
        shop.session, order_id=order.id, payment=failed, clock=shop.clock
    )
    assert order.status is m.OrderStatus.PENDING
    paid = shop.gateway.confirm_payment(
        payment_id, payment_method_id="pm_card_visa", idempotency_key="browser-2"
    )
    # The failure report arriving late (after the success) changes nothing either.
    order = paykit.fail_order_payment(
        shop.session, order_id=order.id, gateway=shop.gateway, clock=shop.clock
    )
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    paykit.mark_order_paid(shop.session, payment=paid, clock=shop.clock)
    shop.session.refresh(shop.product)
    shop.session.refresh(discount)
    assert shop.product.stock_quantity == 4
    assert discount.current_uses == 1
    assert _charged(shop.gateway) == {payment_id: 900}


def test_fail_order_payment_needs_the_gateways_truth(shop: Shop) -> None:
    order = shop.place().order
    with pytest.raises(errors.ValidationError) as refused:
        paykit.fail_order_payment(shop.session, order_id=order.id)
    assert refused.value.code == "gateway_required"


# --- 7. losers are never charged, so nothing needs a refund ------------------------------


def test_losing_the_last_unit_after_the_precheck_charges_nothing(shop: Shop) -> None:
    class SellsOut(FakeGateway):
        def create_payment(self, **kw: Any):  # type: ignore[no-untyped-def]
            shop.session.execute(
                sa.update(m.Product).where(m.Product.id == shop.product.id).values(stock_quantity=0)
            )
            return super().create_payment(**kw)

    shop.gateway = SellsOut(clock=shop.clock)
    with pytest.raises(errors.InsufficientStock) as refused:
        shop.place(payment_method_id="pm_card_visa")
    order = shop.session.get(m.Order, refused.value.details["order_id"])
    assert (order.status, order.payment_status) == (
        m.OrderStatus.CANCELLED,
        m.PaymentStatus.CANCELLED,
    )
    assert order.refunded_amount == Decimal("0.00")
    assert shop.gateway.charges == []
    assert shop.gateway.refunds == []
    assert shop.gateway.payments[order.stripe_payment_intent_id].status == "canceled"


# --- 8. every amount change gets a gateway key of its own ------------------------------


def test_reapplying_a_code_keeps_the_payment_at_the_order_total(shop: Shop) -> None:
    shop.code("A", value=Decimal("10"))
    shop.code("B", value=Decimal("25"))
    order = shop.place().order
    payment_id = order.stripe_payment_intent_id
    for code in ("A", "B", "A", "B", "A"):
        order = paykit.apply_discount(
            shop.session, order_id=order.id, code=code, gateway=shop.gateway, clock=shop.clock
        )
        assert shop.gateway.payments[payment_id].amount_minor == int(order.total_amount * 100)
    paid = shop.pay(order)
    assert paid.order.status is m.OrderStatus.COMPLETED
    assert _charged(shop.gateway) == {payment_id: 900}


# --- 9. apply_discount: the gateway is required, a cancellation wins --------------------


def test_apply_discount_without_the_gateway_is_refused_when_there_is_a_payment(shop: Shop) -> None:
    shop.code("TEN")
    order = shop.place().order
    with pytest.raises(errors.ValidationError) as refused:
        paykit.apply_discount(shop.session, order_id=order.id, code="TEN", clock=shop.clock)
    assert refused.value.code == "gateway_required"
    shop.session.refresh(order)
    assert order.total_amount == Decimal("10.00")


@pytest.mark.partial_state(
    "writes the cancellation directly, mid-call, as a racing transaction would"
)
def test_apply_discount_racing_a_cancellation_takes_no_use(shop: Shop) -> None:
    discount = shop.code("TEN", max_uses=5)
    order = shop.place().order

    class CancelsMidway(FakeGateway):
        def update_payment_amount(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
            result = super().update_payment_amount(payment_id, **kw)
            if kw["amount_minor"] == 900:
                # The customer cancels while the gateway answers.
                shop.session.execute(
                    sa.update(m.Order)
                    .where(m.Order.id == order.id)
                    .values(
                        status=m.OrderStatus.CANCELLED, payment_status=m.PaymentStatus.CANCELLED
                    )
                )
            return result

    gateway = CancelsMidway(clock=shop.clock)
    gateway._payments = shop.gateway._payments  # the same account
    with pytest.raises(errors.InvalidState):
        paykit.apply_discount(
            shop.session, order_id=order.id, code="TEN", gateway=gateway, clock=shop.clock
        )
    shop.session.refresh(discount)
    assert discount.current_uses == 0
    assert shop.session.scalar(sa.select(sa.func.count()).select_from(m.DiscountUsage)) == 0
    # The payment's amount was put back to the order's.
    assert gateway.payments[order.stripe_payment_intent_id].amount_minor == 1000


# --- hold time ---------------------------------------------------------------------------


def test_release_expired_orders_gives_back_what_unpaid_orders_hold(shop: Shop) -> None:
    discount = shop.code("TEN", max_uses=5)
    stale = shop.place(discount_code="TEN").order
    shop.clock.advance(minutes=20)
    fresh = shop.place().order
    paid_meanwhile = shop.place().order
    shop.gateway.confirm_payment(
        paid_meanwhile.stripe_payment_intent_id,
        payment_method_id="pm_card_visa",
        idempotency_key="browser",
    )
    shop.clock.advance(minutes=15)
    released = paykit.release_expired_orders(
        shop.session, gateway=shop.gateway, clock=shop.clock, hold=timedelta(minutes=30)
    )
    assert [o.id for o in released] == [stale.id]
    shop.session.refresh(stale)
    assert (stale.status, stale.payment_status) == (
        m.OrderStatus.CANCELLED,
        m.PaymentStatus.CANCELLED,
    )
    assert shop.gateway.payments[stale.stripe_payment_intent_id].status == "canceled"
    shop.session.refresh(discount)
    assert discount.current_uses == 0
    shop.clock.advance(minutes=30)
    released = paykit.release_expired_orders(
        shop.session, gateway=shop.gateway, clock=shop.clock, hold=timedelta(minutes=30)
    )
    # The order paid in the browser meanwhile is completed, not cancelled.
    assert {o.id: o.status for o in released} == {
        fresh.id: m.OrderStatus.CANCELLED,
        paid_meanwhile.id: m.OrderStatus.COMPLETED,
    }
    shop.session.refresh(shop.product)
    assert shop.product.stock_quantity == 4
    assert paykit.release_expired_orders(shop.session, gateway=shop.gateway, clock=shop.clock) == []


def test_reconcile_completes_orders_paid_at_the_gateway_and_cancels_orphans(
    fresh_engine: Engine,
) -> None:
    clock = FrozenClock(START)
    gateway = FakeGateway(clock=clock)
    with Session(fresh_engine, expire_on_commit=False) as s, s.begin():
        product = f.product(s, base_price=Decimal("10.00"))
        price_id = f.price(s, product).id
        customer_id = f.user(s).id
        kept = paykit.place_order(
            s,
            customer_id=customer_id,
            items=[{"price_id": price_id}],
            billing_address=ADDRESS,
            gateway=gateway,
            clock=clock,
        ).order
    with Session(fresh_engine) as s:
        s.begin()
        lost = paykit.place_order(
            s,
            customer_id=customer_id,
            items=[{"price_id": price_id}],
            billing_address=ADDRESS,
            gateway=gateway,
            clock=clock,
        ).order.stripe_payment_intent_id
        s.rollback()  # the host crashed: an unconfirmed payment without an order
    gateway.confirm_payment(
        kept.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="b"
    )  # paid in the browser; the webhook never came
    with Session(fresh_engine) as s, s.begin():
        early = paykit.reconcile(s, gateway=gateway, clock=clock)
    assert early.actions == 0  # too young: a transaction may still be in flight
    clock.advance(minutes=20)
    with Session(fresh_engine) as s, s.begin():
        audit_rows = s.scalar(sa.select(sa.func.count()).select_from(m.AuditLog))
        preview = paykit.reconcile(s, gateway=gateway, clock=clock, dry_run=True)
        assert not s.new  # nothing written
        assert not s.dirty
        assert s.scalar(sa.select(sa.func.count()).select_from(m.AuditLog)) == audit_rows
        assert s.get(m.Order, kept.id).status is m.OrderStatus.PENDING
    assert (preview.dry_run, preview.completed, preview.cancelled_orphans) == (
        True,
        [kept.id],
        [lost],
    )
    assert "would be: payment without an order, cancelled" in str(preview)
    assert gateway.payments[lost].status != "canceled"  # no gateway write either
    with Session(fresh_engine) as s, s.begin():
        report = paykit.reconcile(s, gateway=gateway, clock=clock)
    assert report.to_dict() == {**preview.to_dict(), "dry_run": False}
    assert report.completed == [kept.id]
    assert report.cancelled_orphans == [lost]
    assert gateway.payments[lost].status == "canceled"
    with Session(fresh_engine) as s, s.begin():
        assert s.get(m.Order, kept.id).status is m.OrderStatus.COMPLETED
        assert paykit.reconcile(s, gateway=gateway, clock=clock).actions == 0


def test_a_rolled_back_discount_then_a_resync_never_replays_a_stale_amount(shop: Shop) -> None:
    # Found by the money model at the dependency floors: apply_discount rolled
    # back (the gateway kept 16.00), pay_order re-synced the payment to 20.00,
    # and a second apply_discount reused the first one's key, got its old
    # answer replayed and left the payment at 20.00 for a 16.00 order.
    shop.code("FIFTH", value=Decimal("20"))
    shop.product.base_price = Decimal("20.00")
    price = f.price(shop.session, shop.product, unit_amount=Decimal("20.00"))
    order = shop.place(
        items=[{"price_id": price.id}], payment_method_id="pm_card_authenticationRequired"
    ).order
    payment_id = order.stripe_payment_intent_id
    nested = shop.session.begin_nested()
    paykit.apply_discount(
        shop.session, order_id=order.id, code="FIFTH", gateway=shop.gateway, clock=shop.clock
    )
    nested.rollback()
    assert shop.gateway.payments[payment_id].amount_minor == 1600  # the gateway kept it
    paid = shop.pay(order, card=None)
    assert paid.payment.status == "requires_action"
    assert shop.gateway.payments[payment_id].amount_minor == 2000  # re-synced
    order = paykit.apply_discount(
        shop.session, order_id=order.id, code="FIFTH", gateway=shop.gateway, clock=shop.clock
    )
    assert order.total_amount == Decimal("16.00")
    assert shop.gateway.payments[payment_id].amount_minor == 1600
