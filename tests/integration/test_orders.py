"""place_order, payment completion, cancellation and apply_discount, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
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
from paykit.gateways import FakeGateway
from paykit.services.orders import (
    apply_discount,
    cancel_order,
    fail_order_payment,
    mark_order_paid,
    sync_order_payment,
)

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "us", "postal_code": "12345"}
START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Shop:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    customer: m.User
    widget: m.Product  # tracks inventory, taxed
    widget_price: m.Price
    ebook: m.Product  # digital, 30 days of access
    ebook_price: m.Price

    def order(self, **kw: object) -> paykit.OrderResult:
        kw.setdefault("customer_id", self.customer.id)
        kw.setdefault("items", [{"price_id": self.widget_price.id, "quantity": 2}])
        kw.setdefault("billing_address", ADDRESS)
        return paykit.place_order(self.session, gateway=self.gateway, clock=self.clock, **kw)

    def checkout(self, **kw: object) -> paykit.OrderResult:
        """place_order, then pay_order with its card (a host commits in between)."""
        placed = self.order(**kw)
        if placed.order.status is not m.OrderStatus.PENDING:
            return placed
        return paykit.pay_order(
            self.session, order_id=placed.order.id, gateway=self.gateway, clock=self.clock
        )

    def discount(self, code: str = "SAVE10", **kw: object) -> m.Discount:
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

    def reload(self, row: object) -> None:
        self.session.refresh(row)


@pytest.fixture
def shop(session: Session) -> Shop:
    clock = FrozenClock(START)
    widget = f.product(
        session,
        base_price=Decimal("19.99"),
        tax_rate=Decimal("0.0825"),
        track_inventory=True,
        stock_quantity=5,
    )
    ebook = f.product(
        session,
        type=m.ProductType.DIGITAL_DOWNLOAD,
        base_price=Decimal("9.00"),
        access_duration=30,
    )
    return Shop(
        session=session,
        clock=clock,
        gateway=FakeGateway(clock=clock),
        customer=f.user(session),
        widget=widget,
        widget_price=f.price(session, widget),
        ebook=ebook,
        ebook_price=f.price(session, ebook),
    )


def _count(session: Session, model: type[m.Base], *where: object) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)))


# --- place_order ---------------------------------------------------------------------


def test_place_order_without_payment_method_leaves_it_pending(shop: Shop) -> None:
    result = shop.order()
    order = result.order
    assert order.status is m.OrderStatus.PENDING
    assert order.payment_status is m.PaymentStatus.PENDING
    assert (order.subtotal, order.discount_amount, order.tax_amount, order.total_amount) == (
        Decimal("39.98"),
        Decimal("0.00"),
        Decimal("3.30"),
        Decimal("43.28"),
    )
    assert result.payment.client_secret
    assert result.payment.status == "requires_payment_method"
    assert order.stripe_payment_intent_id == result.payment.id
    assert order.order_number.startswith("PK-250301-")
    assert order.billing_address["country"] == "US"
    [item] = order.items
    assert (item.quantity, item.unit_price, item.total_price) == (
        2,
        Decimal("19.99"),
        Decimal("39.98"),
    )
    # The gateway got the total in minor units, with the order in its metadata.
    payment = shop.gateway.payments[result.payment.id]
    assert payment.amount_minor == 4328
    assert payment.metadata["paykit_customer_id"] == shop.customer.id
    shop.reload(shop.widget)
    assert shop.widget.stock_quantity == 3
    audit = shop.session.scalar(sa.select(m.AuditLog).where(m.AuditLog.resource_id == order.id))
    assert audit.action == "order.created"
    assert audit.user_id == shop.customer.id
    assert audit.new_values["total_amount"] == "43.28"
    assert audit.created_at == START


def test_place_order_with_card_charges_nothing_until_pay_order(shop: Shop) -> None:
    placed = shop.order(
        items=[{"price_id": shop.ebook_price.id, "quantity": 1}], payment_method_id="pm_card_visa"
    )
    assert placed.order.status is m.OrderStatus.PENDING
    assert placed.payment.status == "requires_confirmation"
    assert shop.gateway.charges == []
    result = paykit.pay_order(
        shop.session, order_id=placed.order.id, gateway=shop.gateway, clock=shop.clock
    )
    order = result.order
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    assert order.completed_at == START
    assert order.items[0].access_expires_at == START + timedelta(days=30)
    assert len(shop.gateway.charges) == 1


@pytest.mark.parametrize(
    ("card", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
    ],
)
def test_declined_card_leaves_the_order_pending_and_retryable(
    shop: Shop, card: str, decline_code: str
) -> None:
    discount = shop.discount(max_uses=5)
    with pytest.raises(errors.PaymentDeclined) as caught:
        shop.checkout(payment_method_id=card, discount_code="SAVE10")
    assert caught.value.decline_code == decline_code
    order = shop.session.get(m.Order, caught.value.details["order_id"])
    # The payment is retryable: the order keeps its reservation for another card.
    assert (order.status, order.payment_status) == (m.OrderStatus.PENDING, m.PaymentStatus.PENDING)
    assert shop.gateway.charges == []
    paid = paykit.pay_order(
        shop.session,
        order_id=order.id,
        gateway=shop.gateway,
        payment_method_id="pm_card_visa",
        clock=shop.clock,
    )
    assert paid.order.status is m.OrderStatus.COMPLETED
    assert len(shop.gateway.charges) == 1
    cancelled = shop.order(payment_method_id=card, discount_code="SAVE10").order
    with pytest.raises(errors.PaymentDeclined):
        paykit.pay_order(shop.session, order_id=cancelled.id, gateway=shop.gateway)
    cancel_order(shop.session, order_id=cancelled.id, gateway=shop.gateway, clock=shop.clock)
    shop.reload(shop.widget)
    shop.reload(discount)
    assert shop.widget.stock_quantity == 3  # the paid order's 2; the cancelled one gave back
    assert discount.current_uses == 1
    assert _count(shop.session, m.DiscountUsage) == 1


def test_authentication_required_stays_pending(shop: Shop) -> None:
    result = shop.checkout(payment_method_id="pm_card_authenticationRequired")
    assert result.payment.status == "requires_action"
    assert result.order.status is m.OrderStatus.PENDING
    assert result.payment.client_secret


def test_discount_is_recorded(shop: Shop) -> None:
    discount = shop.discount(code="QUARTER", value=Decimal("25"))
    result = shop.order(
        items=[{"price_id": shop.widget_price.id, "quantity": 1}], discount_code="QUARTER"
    )
    order = result.order
    # 19.99 at 25% off: 4.9975 rounds half-up to 5.00; tax on 14.99.
    assert order.discount_amount == Decimal("5.00")
    assert order.tax_amount == Decimal("1.24")
    assert order.total_amount == Decimal("16.23")
    before = (discount.id, discount.code, discount.created_at)
    shop.session.expire_all()
    discount = shop.session.get(m.Discount, before[0])
    assert discount is not None
    assert (discount.id, discount.code, discount.created_at) == before  # only the counter moved
    assert discount.current_uses == 1
    usage = shop.session.scalar(sa.select(m.DiscountUsage))
    assert (usage.order_id, usage.user_id, usage.amount_saved) == (
        order.id,
        shop.customer.id,
        Decimal("5.00"),
    )


@pytest.mark.partial_state("current_uses set directly, to reach the limit quickly")
@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"active": False}, "discount_inactive"),
        ({"valid_from": START + timedelta(seconds=1)}, "discount_not_yet_valid"),
        ({"valid_until": START}, "discount_expired"),
        ({"max_uses": 1, "current_uses": 1}, "discount_exhausted"),
        ({"minimum_amount": Decimal("100.00")}, "discount_minimum_not_met"),
    ],
)
def test_discount_refusals(shop: Shop, kw: dict[str, object], code: str) -> None:
    shop.discount(**kw)
    with pytest.raises(errors.DiscountError) as caught:
        shop.order(discount_code="SAVE10")
    assert caught.value.code == code
    assert _count(shop.session, m.Order) == 0


def test_unknown_discount_code(shop: Shop) -> None:
    with pytest.raises(errors.DiscountError) as caught:
        shop.order(discount_code="NOPE")
    assert caught.value.code == "discount_not_found"


def test_first_time_only_and_per_customer_limit(shop: Shop) -> None:
    shop.discount(code="FIRST", first_time_only=True)
    shop.discount(code="ONCE", max_uses_per_customer=1)
    shop.checkout(
        payment_method_id="pm_card_visa",
        items=[{"price_id": shop.ebook_price.id}],
        discount_code="ONCE",
    )
    with pytest.raises(errors.DiscountError) as caught:
        shop.order(discount_code="FIRST")
    assert caught.value.code == "discount_first_time_only"
    with pytest.raises(errors.DiscountError) as caught:
        shop.order(discount_code="ONCE")
    assert caught.value.code == "discount_customer_limit"


def test_product_restricted_discount(shop: Shop) -> None:
    discount = shop.discount(code="EBOOKS", value=Decimal("50"))
    shop.session.add(m.ProductDiscount(product_id=shop.ebook.id, discount_id=discount.id))
    shop.session.flush()
    order = shop.order(
        items=[
            {"price_id": shop.widget_price.id, "quantity": 1},
            {"price_id": shop.ebook_price.id},
        ],
        discount_code="EBOOKS",
    ).order
    assert order.discount_amount == Decimal("4.50")
    with pytest.raises(errors.DiscountError) as caught:
        shop.order(items=[{"price_id": shop.widget_price.id}], discount_code="EBOOKS")
    assert caught.value.code == "discount_not_applicable"


def test_insufficient_stock_is_refused_before_charging(shop: Shop) -> None:
    with pytest.raises(errors.InsufficientStock) as caught:
        shop.order(
            items=[{"price_id": shop.widget_price.id, "quantity": 6}],
            payment_method_id="pm_card_visa",
        )
    assert caught.value.code == "insufficient_stock"
    assert shop.gateway.charges == []
    shop.reload(shop.widget)
    assert shop.widget.stock_quantity == 5


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"items": []}, "validation_error"),
        ({"items": [{"price_id": "x", "quantity": 0}]}, "validation_error"),
        ({"items": [{"price_id": "x", "quantity": 1.5}]}, "validation_error"),
        ({"billing_address": {"city": "x"}}, "validation_error"),
        ({"items": [{"price_id": "missing", "quantity": 1}]}, "not_found"),
        ({"customer_id": "nobody"}, "not_found"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    shop: Shop, change: dict[str, object], code: str
) -> None:
    with pytest.raises(errors.PaykitError) as caught:
        shop.order(**change)
    assert caught.value.code == code
    assert _count(shop.session, m.Order) == 0
    assert shop.gateway.calls == []


def test_unpublished_inactive_and_recurring_prices_are_refused(shop: Shop) -> None:
    draft = f.product(shop.session, status=m.ProductStatus.DRAFT)
    inactive = f.price(shop.session, shop.widget, active=False)
    recurring = f.price(shop.session, shop.widget, type=m.PriceType.RECURRING)
    for price, code in [
        (f.price(shop.session, draft), "product_not_available"),
        (inactive, "price_inactive"),
        (recurring, "recurring_price"),
    ]:
        with pytest.raises(errors.ValidationError) as caught:
            shop.order(items=[{"price_id": price.id}])
        assert caught.value.code == code


def test_mixed_currencies_are_refused(shop: Shop) -> None:
    euro = f.product(shop.session, currency="EUR")
    with pytest.raises(errors.CurrencyMismatch):
        shop.order(
            items=[{"price_id": shop.widget_price.id}, {"price_id": f.price(shop.session, euro).id}]
        )


def test_suspended_customer_cannot_order(shop: Shop) -> None:
    shop.customer.status = m.UserStatus.SUSPENDED
    with pytest.raises(errors.InvalidState) as caught:
        shop.order()
    assert caught.value.code == "customer_not_active"


def test_jpy_order_in_whole_yen(shop: Shop) -> None:
    yen = f.product(
        shop.session, currency="JPY", base_price=Decimal("1500"), tax_rate=Decimal("0.10")
    )
    result = shop.order(items=[{"price_id": f.price(shop.session, yen).id, "quantity": 3}])
    assert result.order.total_amount == Decimal("4950")
    assert shop.gateway.payments[result.payment.id].amount_minor == 4950


# --- idempotency -------------------------------------------------------------------


def test_same_key_returns_same_order_and_one_payment(shop: Shop) -> None:
    first = shop.checkout(idempotency_key="checkout-1", payment_method_id="pm_card_visa")
    second = shop.checkout(idempotency_key="checkout-1", payment_method_id="pm_card_visa")
    assert second.order.id == first.order.id
    assert second.replayed is True
    assert len(shop.gateway.charges) == 1
    assert _count(shop.session, m.Order) == 1
    shop.reload(shop.widget)
    assert shop.widget.stock_quantity == 3


def test_same_key_different_items_conflicts(shop: Shop) -> None:
    shop.order(idempotency_key="checkout-2")
    with pytest.raises(errors.IdempotencyConflict) as caught:
        shop.order(
            idempotency_key="checkout-2", items=[{"price_id": shop.widget_price.id, "quantity": 1}]
        )
    assert caught.value.code == "idempotency_conflict"


def test_declined_key_replays_the_decline(shop: Shop) -> None:
    with pytest.raises(errors.PaymentDeclined) as first:
        shop.checkout(idempotency_key="k-decline", payment_method_id="pm_card_chargeDeclined")
    with pytest.raises(errors.PaymentDeclined) as second:
        shop.checkout(idempotency_key="k-decline", payment_method_id="pm_card_chargeDeclined")
    assert second.value.details["order_id"] == first.value.details["order_id"]
    assert _count(shop.session, m.Order) == 1


def test_rollback_and_retry_with_same_key_never_reuses_a_charged_payment(
    engine: sa.Engine, shop: Shop
) -> None:
    # A host that charges inside the transaction it then rolls back (a savepoint
    # stands in for it): the retry with the same key must not build its order
    # on the first payment, which reconciliation will refund as an orphan.
    nested = shop.session.begin_nested()
    first = shop.checkout(idempotency_key="k-retry", payment_method_id="pm_card_visa")
    nested.rollback()
    assert _count(shop.session, m.Order) == 0
    second = shop.checkout(idempotency_key="k-retry", payment_method_id="pm_card_visa")
    assert second.payment.id != first.payment.id
    assert second.order.stripe_payment_intent_id == second.payment.id
    shop.clock.advance(hours=1)
    report = paykit.reconcile(shop.session, gateway=shop.gateway, clock=shop.clock)
    assert report.refunded_orphans == [first.payment.id]
    kept = [p.id for p in shop.gateway.charges if shop.gateway.amount_refunded(p.id) == 0]
    assert kept == [second.payment.id]


def test_rollback_of_place_order_and_retry_reuses_the_unconfirmed_payment(shop: Shop) -> None:
    nested = shop.session.begin_nested()
    first = shop.order(idempotency_key="k-place", payment_method_id="pm_card_visa")
    nested.rollback()
    second = shop.checkout(idempotency_key="k-place", payment_method_id="pm_card_visa")
    assert second.payment.id == first.payment.id  # nothing was charged the first time
    assert len(shop.gateway.charges) == 1


# --- completion, failure, cancellation ------------------------------------------------


def test_pay_order_sets_access_on_the_items_already_loaded(shop: Shop) -> None:
    # place_order leaves the items in the session; paying gives them their expiry
    # there too (no reload needed), digital ones only.
    placed = shop.order(
        items=[{"price_id": shop.ebook_price.id}, {"price_id": shop.widget_price.id}],
        payment_method_id="pm_card_visa",
    )
    items = {item.product_id: item for item in placed.order.items}
    paykit.pay_order(shop.session, order_id=placed.order.id, gateway=shop.gateway, clock=shop.clock)
    shop.session.expunge_all()  # what the host reads now comes from memory only
    assert items[shop.ebook.id].access_expires_at == START + timedelta(days=30)
    assert items[shop.widget.id].access_expires_at is None


def test_mark_paid_from_the_gateway_payment(shop: Shop) -> None:
    result = shop.order(items=[{"price_id": shop.ebook_price.id}])
    payment = shop.gateway.confirm_payment(
        result.payment.id, payment_method_id="pm_card_visa", idempotency_key="confirm-1"
    )
    shop.clock.advance(minutes=5)
    order = mark_order_paid(shop.session, payment=payment, clock=shop.clock)
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    assert order.completed_at == START + timedelta(minutes=5)
    assert order.items[0].access_expires_at == START + timedelta(minutes=5, days=30)
    shop.clock.advance(minutes=5)
    again = mark_order_paid(shop.session, payment=payment, clock=shop.clock)
    assert again.completed_at == START + timedelta(minutes=5)  # idempotent


def test_lifetime_access_has_no_expiry(shop: Shop) -> None:
    shop.ebook.access_duration = None
    order = shop.checkout(
        items=[{"price_id": shop.ebook_price.id}], payment_method_id="pm_card_visa"
    ).order
    assert order.items[0].access_expires_at is None


def test_mark_paid_refuses_a_wrong_amount(shop: Shop) -> None:
    result = shop.order()
    shop.gateway.update_payment_amount(result.payment.id, amount_minor=99, idempotency_key="tamper")
    payment = shop.gateway.confirm_payment(
        result.payment.id, payment_method_id="pm_card_visa", idempotency_key="c"
    )
    with pytest.raises(errors.InvalidState) as caught:
        mark_order_paid(shop.session, payment=payment, clock=shop.clock)
    assert caught.value.code == "payment_amount_mismatch"


def test_sync_order_payment_polls_the_gateway(shop: Shop) -> None:
    result = shop.order()
    assert (
        sync_order_payment(shop.session, order_id=result.order.id, gateway=shop.gateway).status
        is m.OrderStatus.PENDING
    )
    shop.gateway.confirm_payment(
        result.payment.id, payment_method_id="pm_card_visa", idempotency_key="c2"
    )
    order = sync_order_payment(
        shop.session, order_id=result.order.id, gateway=shop.gateway, clock=shop.clock
    )
    assert order.status is m.OrderStatus.COMPLETED


@pytest.mark.parametrize("how", ["cancel", "fail"])
def test_cancel_or_failure_releases_stock_and_discount_exactly_once(shop: Shop, how: str) -> None:
    discount = shop.discount(max_uses=3)
    order = shop.order(discount_code="SAVE10").order
    shop.reload(shop.widget)
    assert shop.widget.stock_quantity == 3
    for _ in range(3):
        if how == "cancel":
            order = cancel_order(
                shop.session, order_id=order.id, gateway=shop.gateway, clock=shop.clock
            )
        else:
            # The gateway cancelled the payment (it expired, or the dashboard):
            # the failure report then cancels the order.
            if order.status is m.OrderStatus.PENDING:
                shop.gateway.cancel_payment(order.stripe_payment_intent_id, idempotency_key="x")
            order = fail_order_payment(
                shop.session,
                payment_id=order.stripe_payment_intent_id,
                gateway=shop.gateway,
                clock=shop.clock,
            )
    expected = m.PaymentStatus.CANCELLED
    assert (order.status, order.payment_status) == (m.OrderStatus.CANCELLED, expected)
    shop.reload(shop.widget)
    shop.reload(discount)
    assert shop.widget.stock_quantity == 5
    assert discount.current_uses == 0
    assert _count(shop.session, m.DiscountUsage) == 0
    if how == "cancel":
        assert shop.gateway.payments[order.stripe_payment_intent_id].status == "canceled"


def test_paid_order_cannot_be_cancelled(shop: Shop) -> None:
    order = shop.checkout(payment_method_id="pm_card_visa").order
    with pytest.raises(errors.InvalidState):
        cancel_order(shop.session, order_id=order.id, gateway=shop.gateway)
    failed = fail_order_payment(shop.session, order_id=order.id, gateway=shop.gateway)
    assert failed.status is m.OrderStatus.COMPLETED


def test_payment_after_cancellation_is_refused(shop: Shop) -> None:
    order = shop.order().order
    with pytest.raises(errors.ValidationError) as refused:
        cancel_order(shop.session, order_id=order.id, gateway=None, clock=shop.clock)
    assert refused.value.code == "gateway_required"
    cancel_order(shop.session, order_id=order.id, gateway=shop.gateway, clock=shop.clock)
    # cancel_order cancelled the payment first: it can no longer be charged.
    with pytest.raises(errors.GatewayError):
        shop.gateway.confirm_payment(
            order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="late"
        )
    with pytest.raises(errors.InvalidState) as caught:
        paykit.pay_order(shop.session, order_id=order.id, gateway=shop.gateway)
    assert caught.value.code == "order_cancelled"


# --- apply_discount ------------------------------------------------------------------


def test_apply_discount_reprices_and_updates_the_gateway(shop: Shop) -> None:
    shop.discount(code="TEN", value=Decimal("10"))
    order = shop.order().order
    order = apply_discount(
        shop.session, order_id=order.id, code="TEN", gateway=shop.gateway, clock=shop.clock
    )
    assert order.discount_amount == Decimal("4.00")
    assert order.tax_amount == Decimal("2.97")
    assert order.total_amount == Decimal("38.95")
    assert shop.gateway.payments[order.stripe_payment_intent_id].amount_minor == 3895


def test_apply_discount_replaces_an_earlier_code(shop: Shop) -> None:
    ten = shop.discount(code="TEN", value=Decimal("10"))
    fixed = shop.discount(
        code="FIVE", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("5"), currency="USD"
    )
    order = shop.order(discount_code="TEN").order
    order = apply_discount(
        shop.session, order_id=order.id, code="FIVE", gateway=shop.gateway, clock=shop.clock
    )
    assert order.discount_amount == Decimal("5.00")
    shop.reload(ten)
    shop.reload(fixed)
    assert (ten.current_uses, fixed.current_uses) == (0, 1)
    usages = shop.session.scalars(sa.select(m.DiscountUsage)).all()
    assert [u.discount_id for u in usages] == [fixed.id]
    # The same code again is a no-op.
    assert apply_discount(
        shop.session, order_id=order.id, code="FIVE", gateway=shop.gateway
    ).discount_amount == Decimal("5.00")
    shop.reload(fixed)
    assert fixed.current_uses == 1


def test_apply_discount_refusal_changes_nothing(shop: Shop) -> None:
    shop.discount(code="OLD", valid_until=START - timedelta(days=1))
    order = shop.order().order
    with pytest.raises(errors.DiscountError) as caught:
        apply_discount(
            shop.session, order_id=order.id, code="OLD", gateway=shop.gateway, clock=shop.clock
        )
    assert caught.value.code == "discount_expired"
    shop.reload(order)
    assert order.total_amount == Decimal("43.28")
    assert shop.gateway.payments[order.stripe_payment_intent_id].amount_minor == 4328


def test_apply_discount_needs_a_pending_unpaid_order(shop: Shop) -> None:
    shop.discount(code="TEN")
    order = shop.checkout(payment_method_id="pm_card_visa").order
    with pytest.raises(errors.InvalidState):
        apply_discount(shop.session, order_id=order.id, code="TEN", gateway=shop.gateway)


def test_key_with_unknown_price_fails_the_same_way_twice(shop: Shop) -> None:
    # The key is claimed in the same statement as the (empty) catalog read on
    # PostgreSQL; a repeat must still end in the same NotFound, not a replay.
    bad = [{"price_id": "nope", "quantity": 1}]
    for _ in range(2):
        with pytest.raises(errors.NotFound):
            shop.order(items=bad, idempotency_key="k-unknown-price")
    assert _count(shop.session, m.Order) == 0
    assert shop.gateway.calls == []
