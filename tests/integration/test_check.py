"""``paykit.check``: clean after real service flows, and each invariant caught on its own.

The world below is built only through the services (place_order with
FakeGateway, apply_discount, cancel_order, fail_order_payment, issue_refund,
sync_refund, subscribe, handle_webhook), so it holds every state the
services produce: pending, processing-free paid, partially and fully
refunded, declined, cancelled, failed, compensated (charged, then refunded at
once after losing the last unit), pending and failed refunds, a refund made
at the gateway and recorded from its webhook, and webhook events processed,
ignored, failed and pending. ``check`` must pass on it; then each test
corrupts one thing with plain SQL and ``check`` must report exactly the
invariant that thing breaks.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import make_event, render_payment, render_refund, sign

import paykit
from paykit import errors
from paykit import models as m
from paykit.checks import INVARIANTS
from paykit.clock import FrozenClock
from paykit.db import create_engine
from paykit.demo import checkout_story
from paykit.gateways import FakeGateway
from paykit.services.orders import cancel_order, fail_order_payment
from paykit.services.subscriptions import ensure_gateway_customer, subscribe
from paykit.webhooks import handle_webhook

pytestmark = pytest.mark.partial_state("corrupts the tables on purpose, to test paykit.check")

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SECRET = "whsec_check"


class StockThief(FakeGateway):
    """A FakeGateway during whose payment call another buyer takes the last units of
    ``victim``: place_order then loses the stock race after charging, and compensates."""

    def __init__(self, *, clock: FrozenClock) -> None:
        super().__init__(clock=clock)
        self.steal: Callable[[], None] | None = None

    def create_payment(self, **kwargs: Any) -> Any:
        payment = super().create_payment(**kwargs)
        if self.steal is not None:
            steal, self.steal = self.steal, None
            steal()
        return payment


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: StockThief
    customer: m.User
    support: m.User
    widget: m.Product
    widget_price: m.Price
    orders: dict[str, m.Order] = field(default_factory=dict)
    refunds: dict[str, m.Refund] = field(default_factory=dict)
    events: dict[str, str] = field(default_factory=dict)  # name -> Stripe event id
    discounts: dict[str, m.Discount] = field(default_factory=dict)

    def order(self, **kw: Any) -> paykit.OrderResult:
        kw.setdefault("customer_id", self.customer.id)
        kw.setdefault("items", [{"price_id": self.widget_price.id, "quantity": 2}])
        kw.setdefault("billing_address", ADDRESS)
        self.clock.advance(timedelta(minutes=1))
        placed = paykit.place_order(self.session, gateway=self.gateway, clock=self.clock, **kw)
        if kw.get("payment_method_id") is None or placed.order.status is not m.OrderStatus.PENDING:
            return placed
        return paykit.pay_order(
            self.session, order_id=placed.order.id, gateway=self.gateway, clock=self.clock
        )

    def refund(self, order: m.Order, **kw: Any) -> m.Refund:
        kw.setdefault("reason", m.RefundReason.REQUESTED_BY_CUSTOMER)
        return paykit.issue_refund(
            self.session,
            order_id=order.id,
            gateway=self.gateway,
            clock=self.clock,
            actor_id=self.support.id,
            **kw,
        )

    def deliver(self, event: dict[str, Any], *, defer: bool = False) -> int:
        payload = json.dumps(event).encode()
        response = handle_webhook(
            self.session,
            payload,
            sign(payload, SECRET, timestamp=int(self.clock.now().timestamp())),
            secrets=SECRET,
            gateway=self.gateway,
            clock=self.clock,
            defer=defer,
        )
        return response.status_code

    def event(self, event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
        return make_event(event_type, obj, created=int(self.clock.now().timestamp()))

    def discount(self, code: str, **kw: Any) -> m.Discount:
        row = m.Discount(
            code=code,
            name=code,
            type=kw.pop("type", m.DiscountType.PERCENTAGE),
            value=kw.pop("value", Decimal("10")),
            **kw,
        )
        self.session.add(row)
        self.session.flush()
        self.discounts[code] = row
        return row


def _orders(w: World) -> None:
    o = w.orders
    o["pending"] = w.order(discount_code="SAVE10").order
    o["paid"] = w.order(discount_code="SAVE10", payment_method_id="pm_card_visa").order
    o["partial"] = w.order(payment_method_id="pm_card_visa").order
    o["full"] = w.order(payment_method_id="pm_card_visa").order
    with pytest.raises(errors.PaymentDeclined) as declined:
        w.order(discount_code="SAVE10", payment_method_id="pm_card_chargeDeclined")
    o["declined"] = w.session.get(m.Order, declined.value.details["order_id"])
    o["cancelled"] = w.order(discount_code="SAVE10").order
    cancel_order(w.session, order_id=o["cancelled"].id, gateway=w.gateway, clock=w.clock)
    o["failed"] = w.order(discount_code="FIVE").order
    w.gateway.cancel_payment(o["failed"].stripe_payment_intent_id, idempotency_key="expired")
    fail_order_payment(w.session, order_id=o["failed"].id, gateway=w.gateway, clock=w.clock)
    o["rediscounted"] = w.order(discount_code="SAVE10").order
    paykit.apply_discount(
        w.session, order_id=o["rediscounted"].id, code="FIVE", gateway=w.gateway, clock=w.clock
    )
    o["webhook_paid"] = w.order(discount_code="FIVE").order
    o["digital"] = w.order(
        items=[
            {"price_id": w.widget_price.id, "quantity": 1},
            {"price_id": _ebook(w), "quantity": 3},
        ],
        payment_method_id="pm_card_visa",
    ).order
    # Lost the race: the last unit goes to someone else before ours is taken (nothing charged).
    gadget = f.product(
        w.session, base_price=Decimal("5.00"), track_inventory=True, stock_quantity=1
    )
    gadget_price = f.price(w.session, gadget)

    def steal() -> None:
        w.session.execute(
            sa.update(m.Product).where(m.Product.id == gadget.id).values(stock_quantity=0)
        )

    w.gateway.steal = steal
    with pytest.raises(errors.InsufficientStock) as lost:
        w.order(
            items=[{"price_id": gadget_price.id, "quantity": 1}],
            discount_code="SAVE10",
            payment_method_id="pm_card_visa",
        )
    o["compensated"] = w.session.get(m.Order, lost.value.details["order_id"])
    w.discount("ALL", value=Decimal("100"))
    o["free"] = w.order(discount_code="ALL", payment_method_id="pm_card_visa").order
    # Paid in the browser for another amount (an apply_discount rolled back): refunded.
    odd = w.order().order
    w.gateway.update_payment_amount(
        odd.stripe_payment_intent_id, amount_minor=999, idempotency_key="x"
    )
    w.gateway.confirm_payment(
        odd.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="y"
    )
    o["refunded_mismatch"] = paykit.sync_order_payment(
        w.session, order_id=odd.id, gateway=w.gateway, clock=w.clock
    )


def _ebook(w: World) -> str:
    ebook = f.product(
        w.session,
        type=m.ProductType.DIGITAL_DOWNLOAD,
        base_price=Decimal("9.00"),
        access_duration=30,
    )
    return f.price(w.session, ebook).id


def _refunds(w: World) -> None:
    o, r = w.orders, w.refunds
    r["partial"] = w.refund(o["partial"], amount=Decimal("5.00"))
    w.gateway.fail_next_refund()
    r["failed"] = w.refund(o["partial"], amount=Decimal("1.00"))
    w.gateway.hold_next_refund()
    r["pending"] = w.refund(o["partial"], amount=Decimal("2.00"))
    w.gateway.hold_next_refund()
    r["settled"] = w.refund(o["paid"], amount=Decimal("3.00"))
    paykit.sync_refund(
        w.session, gateway_refund=w.gateway.settle_refund(r["settled"].stripe_refund_id)
    )
    r["full"] = w.refund(o["full"])


def _webhooks(w: World) -> None:
    o, e = w.orders, w.events
    order = o["webhook_paid"]
    paid = w.gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="wh-pay"
    )
    event = w.event("payment_intent.succeeded", render_payment(paid))
    assert w.deliver(event) == 200
    e["processed"] = event["id"]
    event = w.event("plan.created", {"id": "plan_1", "object": "plan"})
    assert w.deliver(event) == 200
    e["ignored"] = event["id"]
    # A refund made at the gateway (its dashboard), recorded from its webhook.
    dashboard = w.gateway.create_refund(
        payment_id=o["digital"].stripe_payment_intent_id,
        amount_minor=700,
        reason=None,
        metadata={},
        idempotency_key="dashboard-1",
    )
    event = w.event("refund.created", render_refund(dashboard))
    assert w.deliver(event) == 200
    w.refunds["dashboard"] = w.session.scalars(
        sa.select(m.Refund).where(m.Refund.stripe_refund_id == dashboard.id)
    ).one()
    # A payment for another amount than its order's: the handler refuses, the row records it.
    mismatched = w.order().order
    o["mismatched"] = mismatched
    wrong = render_payment(w.gateway.retrieve_payment(mismatched.stripe_payment_intent_id))
    wrong.update(status="succeeded", amount=1, amount_received=1)
    event = w.event("payment_intent.succeeded", wrong)
    assert w.deliver(event) == 500
    e["failed"] = event["id"]
    event = w.event("customer.updated", {"id": "cus_unknown", "object": "customer"})
    assert w.deliver(event, defer=True) == 200
    e["pending"] = event["id"]


def _subscription(w: World) -> None:
    stripe_price = w.gateway.add_price(unit_amount=2000, currency="usd", price_id="price_pro")
    product = f.product(w.session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
    price = f.price(
        w.session,
        product,
        stripe_price_id=stripe_price,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    w.discount("LAUNCH20", value=Decimal("20"))
    w.gateway.add_coupon(coupon_id="LAUNCH20", percent_off=20.0, duration="forever")
    ensure_gateway_customer(w.session, w.customer, w.gateway, clock=w.clock)
    method = w.gateway.attach_payment_method(
        "pm_card_visa", customer_id=w.customer.stripe_customer_id, idempotency_key="pm"
    )
    subscribe(
        w.session,
        user_id=w.customer.id,
        price_id=price.id,
        gateway=w.gateway,
        discount_code="LAUNCH20",
        payment_method_id=method.id,
        clock=w.clock,
    )


@pytest.fixture
def world(session: Session) -> World:
    clock = FrozenClock(T0)
    widget = f.product(
        session,
        base_price=Decimal("19.99"),
        tax_rate=Decimal("0.0825"),
        track_inventory=True,
        stock_quantity=50,
    )
    w = World(
        session=session,
        clock=clock,
        gateway=StockThief(clock=clock),
        customer=f.user(session),
        support=f.user(session, role=m.UserRole.SUPPORT),
        widget=widget,
        widget_price=f.price(session, widget),
    )
    w.discount("SAVE10", max_uses=10)
    w.discount("FIVE", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("5.00"))
    _orders(w)
    _refunds(w)
    _webhooks(w)
    _subscription(w)
    session.flush()
    return w


def _statuses(w: World) -> dict[str, tuple[str, str]]:
    w.session.expire_all()
    return {
        name: (order.status.value, order.payment_status.value) for name, order in w.orders.items()
    }


def test_the_world_holds_every_state_the_services_make(world: World) -> None:
    assert _statuses(world) == {
        "pending": ("PENDING", "PENDING"),
        "paid": ("COMPLETED", "SUCCEEDED"),
        "partial": ("COMPLETED", "SUCCEEDED"),
        "full": ("REFUNDED", "REFUNDED"),
        "declined": ("PENDING", "PENDING"),  # retryable: the customer may try another card
        "cancelled": ("CANCELLED", "CANCELLED"),
        "failed": ("CANCELLED", "CANCELLED"),
        "rediscounted": ("PENDING", "PENDING"),
        "webhook_paid": ("COMPLETED", "SUCCEEDED"),
        "digital": ("COMPLETED", "SUCCEEDED"),
        "compensated": ("CANCELLED", "CANCELLED"),
        "free": ("COMPLETED", "SUCCEEDED"),
        "refunded_mismatch": ("CANCELLED", "REFUNDED"),
        "mismatched": ("PENDING", "PENDING"),
    }
    statuses = {name: refund.status.value for name, refund in world.refunds.items()}
    assert statuses == {
        "partial": "SUCCEEDED",
        "failed": "FAILED",
        "pending": "PENDING",
        "settled": "SUCCEEDED",
        "full": "SUCCEEDED",
        "dashboard": "SUCCEEDED",
    }
    events = dict(
        world.session.execute(sa.select(m.WebhookEvent.event_id, m.WebhookEvent.status)).all()
    )
    assert {name: events[event_id] for name, event_id in world.events.items()} == {
        "processed": "processed",
        "ignored": "ignored",
        "failed": "failed",
        "pending": "pending",
    }
    uses = {code: d.current_uses for code, d in world.discounts.items()}
    # SAVE10: pending, paid and declined (still retryable) keep theirs; the
    # compensated order never kept one, the cancelled order gave it back, the
    # rediscounted one swapped it for FIVE.
    assert uses == {"SAVE10": 3, "FIVE": 2, "LAUNCH20": 1, "ALL": 1}


def test_check_passes_on_the_world(world: World) -> None:
    report = paykit.check(world.session)
    assert report.findings == ()
    assert report.ok
    assert report.checked == tuple(invariant.name for invariant in INVARIANTS)


# --------------------------------------------------------------------- corruptions


def _update(w: World, model: Any, row_id: str, **values: Any) -> str:
    w.session.execute(sa.update(model).where(model.id == row_id).values(**values))
    return row_id


def _order(w: World, name: str) -> m.Order:
    order = w.orders[name]
    w.session.refresh(order)
    return order


def _cent(value: Decimal) -> Decimal:
    return value + Decimal("0.01")


def corrupt_order_total(w: World) -> str:
    o = _order(w, "pending")
    return _update(w, m.Order, o.id, total_amount=_cent(o.total_amount))


def corrupt_order_amounts(w: World) -> str:
    o = _order(w, "mismatched")  # no discount, no refund: only the tax sign is wrong
    tax = Decimal("-0.01")
    return _update(w, m.Order, o.id, tax_amount=tax, total_amount=o.subtotal + tax)


def corrupt_order_subtotal(w: World) -> str:
    o = _order(w, "mismatched")
    return _update(w, m.Order, o.id, subtotal=_cent(o.subtotal), total_amount=_cent(o.total_amount))


def corrupt_order_item_total(w: World) -> str:
    o = _order(w, "mismatched")
    [item] = o.items
    _update(w, m.OrderItem, item.id, total_price=_cent(item.total_price))
    _update(w, m.Order, o.id, subtotal=_cent(o.subtotal), total_amount=_cent(o.total_amount))
    return item.id


def corrupt_order_status(w: World) -> str:
    return _update(w, m.Order, w.orders["pending"].id, payment_status=m.PaymentStatus.SUCCEEDED)


def corrupt_order_timestamps(w: World) -> str:
    return _update(w, m.Order, w.orders["digital"].id, completed_at=None)


def corrupt_order_paid_payment(w: World) -> str:
    return _update(w, m.Order, w.orders["webhook_paid"].id, stripe_payment_intent_id=None)


def corrupt_order_refunded_amount(w: World) -> str:
    o = _order(w, "partial")
    return _update(w, m.Order, o.id, refunded_amount=_cent(o.refunded_amount))


def corrupt_order_refund_bound(w: World) -> str:
    # The failed refund "comes back" as pending: more is held than was paid.
    o = _order(w, "partial")
    _update(
        w, m.Refund, w.refunds["failed"].id, status=m.RefundStatus.PENDING, amount=o.total_amount
    )
    return o.id


def corrupt_order_refund_status(w: World) -> str:
    return _update(
        w,
        m.Order,
        w.orders["full"].id,
        status=m.OrderStatus.COMPLETED,
        payment_status=m.PaymentStatus.SUCCEEDED,
    )


def corrupt_refund_order(w: World) -> str:
    return _update(w, m.Refund, w.refunds["partial"].id, processed_at=None)


def corrupt_discount_uses(w: World) -> str:
    d = w.discounts["FIVE"]
    return _update(w, m.Discount, d.id, current_uses=m.Discount.current_uses + 1)


def corrupt_order_discount_usage(w: World) -> str:
    order_id = w.orders["paid"].id
    w.session.execute(
        sa.update(m.DiscountUsage)
        .where(m.DiscountUsage.order_id == order_id)
        .values(amount_saved=Decimal("0.01"))
    )
    return order_id


def corrupt_product_stock(w: World) -> str:
    return _update(w, m.Product, w.widget.id, stock_quantity=-1)


def corrupt_order_audit(w: World) -> str:
    order_id = w.orders["declined"].id
    w.session.execute(sa.delete(m.AuditLog).where(m.AuditLog.resource_id == order_id))
    return order_id


def corrupt_refund_audit(w: World) -> str:
    refund_id = w.refunds["dashboard"].id
    w.session.execute(sa.delete(m.AuditLog).where(m.AuditLog.resource_id == refund_id))
    return refund_id


def corrupt_webhook_event_state(w: World) -> str:
    event_id = w.events["failed"]
    w.session.execute(
        sa.update(m.WebhookEvent).where(m.WebhookEvent.event_id == event_id).values(last_error=None)
    )
    return str(
        w.session.scalar(sa.select(m.WebhookEvent.id).where(m.WebhookEvent.event_id == event_id))
    )


CORRUPTIONS: dict[str, Callable[[World], str]] = {
    name.removeprefix("corrupt_"): fn
    for name, fn in list(globals().items())
    if name.startswith("corrupt_") and callable(fn)
}


def test_every_invariant_has_a_corruption_test() -> None:
    assert sorted(CORRUPTIONS) == sorted(invariant.name for invariant in INVARIANTS)


@pytest.mark.parametrize("invariant", sorted(CORRUPTIONS))
def test_check_finds_exactly_the_broken_invariant(world: World, invariant: str) -> None:
    assert paykit.check(world.session).ok
    row_id = CORRUPTIONS[invariant](world)
    report = paykit.check(world.session)
    assert not report.ok
    assert [finding.invariant for finding in report.findings] == [invariant]
    [finding] = report.findings
    assert (finding.count, finding.examples) == (1, (row_id,))
    assert report.to_dict()["findings"][0]["examples"] == [row_id]


# --------------------------------------------------------------------- the CLI


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "paykit.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_cli_check_exit_status_and_report(subprocess_env: dict[str, str]) -> None:
    # The demo migrates and seeds; its checkout story (an order with a discount,
    # placed and paid through the services) is committed here, as a host would.
    assert _cli("demo", env=subprocess_env).returncode == 0
    options = subprocess_env.get("PGOPTIONS")
    engine = create_engine(
        subprocess_env["PAYKIT_DATABASE_URL"],
        **({"connect_args": {"options": options}} if options else {}),
    )
    with Session(engine) as session, session.begin():
        checkout_story(session, io.StringIO())
    clean = _cli("check", env=subprocess_env)
    assert (clean.returncode, clean.stderr) == (0, "")
    assert clean.stdout.strip() == f"paykit check: OK ({len(INVARIANTS)} invariants hold)"

    with Session(engine) as session, session.begin():
        order_id = session.scalars(sa.select(m.Order.id)).one()
        session.execute(sa.delete(m.AuditLog).where(m.AuditLog.resource_id == order_id))
        product_ids = sorted(session.scalars(sa.select(m.Product.id)))
        session.execute(sa.update(m.Product).values(stock_quantity=-1))
    engine.dispose()

    broken = _cli("check", env=subprocess_env)
    assert broken.returncode == 3, broken.stderr
    lines = broken.stdout.splitlines()
    assert lines[0] == f"paykit check: 2 of {len(INVARIANTS)} invariants broken"
    assert f"product_stock: {len(product_ids)} products row(s)" in lines
    assert "  rule: stock_quantity >= 0" in lines
    assert f"  e.g.: {', '.join(product_ids)}" in lines
    assert "order_audit: 1 orders row(s)" in lines
    assert f"  e.g.: {order_id}" in lines

    as_json = _cli("check", "--json", "--only", "order_audit", env=subprocess_env)
    assert as_json.returncode == 3
    report = json.loads(as_json.stdout)
    assert (report["ok"], report["checked"]) == (False, ["order_audit"])
    assert report["findings"] == [
        {
            "invariant": "order_audit",
            "table": "orders",
            "description": next(i.description for i in INVARIANTS if i.name == "order_audit"),
            "count": 1,
            "examples": [order_id],
        }
    ]
    unknown = _cli("check", "--only", "no_such_rule", env=subprocess_env)
    assert unknown.returncode == 2
    assert "invalid choice: 'no_such_rule'" in unknown.stderr


def test_check_refuses_an_unknown_invariant(session: Session) -> None:
    with pytest.raises(errors.ValidationError) as info:
        paykit.check(session, invariants=["order_total", "nope"])
    assert info.value.code == "unknown_invariant"
    assert info.value.details["unknown"] == ["nope"]
    assert paykit.check(session, invariants=["order_total"]).checked == ("order_total",)


def test_a_refund_before_its_payment_event_is_flagged_until_the_payment_arrives(
    world: World,
) -> None:
    # Stripe does not order its deliveries: refund.created may come first.
    order = world.order().order
    paid = world.gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="early"
    )
    early = world.gateway.create_refund(
        payment_id=paid.id, amount_minor=100, reason=None, metadata={}, idempotency_key="early-re"
    )
    assert world.deliver(world.event("refund.created", render_refund(early))) == 200
    report = paykit.check(world.session)
    assert {(f.invariant, f.examples) for f in report.findings} == {
        ("order_refund_status", (order.id,)),
        (
            "refund_order",
            (
                str(
                    world.session.scalar(
                        sa.select(m.Refund.id).where(m.Refund.stripe_refund_id == early.id)
                    )
                ),
            ),
        ),
    }
    assert world.deliver(world.event("payment_intent.succeeded", render_payment(paid))) == 200
    assert paykit.check(world.session).ok
