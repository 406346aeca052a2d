"""Money counters under real parallel connections.

Each worker thread has its own connection and transaction, and commits like a
host would. On PostgreSQL the workers truly run at once (row locks and
conditional updates decide); on SQLite the same tests run with threads and
``BEGIN IMMEDIATE`` serializes the writers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
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
CLOCK = FrozenClock(datetime(2025, 5, 1, tzinfo=UTC))


@dataclass
class World:
    engine: Engine
    gateway: FakeGateway
    product_id: str
    price_id: str
    customers: list[str]
    support_id: str


def assert_consistent(engine: Engine) -> None:
    """What the parallel workers left behind passes ``paykit check``."""
    with Session(engine) as session:
        report = paykit.check(session)
    assert report.ok, report.format()


@pytest.fixture
def world(db_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated(pool_size=24, max_overflow=0)
    with Session(engine) as session, session.begin():
        product = f.product(
            session, base_price=Decimal("10.00"), track_inventory=True, stock_quantity=0
        )
        price = f.price(session, product)
        customers = [f.user(session).id for _ in range(24)]
        support = f.user(session, role=m.UserRole.SUPPORT)
        ids = (product.id, price.id, support.id)
    yield World(engine, FakeGateway(clock=CLOCK, latency=0.005), ids[0], ids[1], customers, ids[2])
    assert_consistent(engine)


def run_parallel(count: int, work: Callable[[int], Any], workers: int = 12) -> list[Any]:
    """Run ``work(i)`` for i in range(count) on parallel threads released at once;
    returns each result or the exception it raised."""
    barrier = threading.Barrier(min(count, workers))

    def guarded(i: int) -> Any:
        if i < min(count, workers):
            barrier.wait(timeout=30)
        try:
            return work(i)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(guarded, range(count)))


def place(world: World, customer: str, **kw: Any) -> paykit.OrderResult:
    """A host's checkout: place_order and commit; then, with a card, pay_order and commit."""
    with Session(world.engine, expire_on_commit=False) as session, session.begin():
        placed = paykit.place_order(
            session,
            customer_id=customer,
            billing_address=ADDRESS,
            gateway=world.gateway,
            clock=CLOCK,
            items=kw.pop("items", [{"price_id": world.price_id, "quantity": 1}]),
            **kw,
        )
    if kw.get("payment_method_id") is None or placed.order.status is not m.OrderStatus.PENDING:
        return placed
    with Session(world.engine, expire_on_commit=False) as session, session.begin():
        return paykit.pay_order(
            session, order_id=placed.order.id, gateway=world.gateway, clock=CLOCK
        )


def outcomes(results: list[Any]) -> Counter[str]:
    return Counter(
        "ok" if isinstance(r, paykit.OrderResult) else getattr(r, "code", repr(r)) for r in results
    )


def scalar(world: World, statement: sa.Executable) -> Any:
    with Session(world.engine) as session:
        return session.scalar(statement)


def set_stock(world: World, stock: int) -> None:
    with Session(world.engine) as session, session.begin():
        session.execute(
            sa.update(m.Product)
            .where(m.Product.id == world.product_id)
            .values(stock_quantity=stock)
        )


def test_discount_max_uses_n_used_exactly_n_times(world: World) -> None:
    n = 5
    set_stock(world, 1000)
    with Session(world.engine) as session, session.begin():
        session.add(
            m.Discount(
                code="HOT",
                name="hot",
                type=m.DiscountType.PERCENTAGE,
                value=Decimal("10"),
                max_uses=n,
            )
        )
    results = run_parallel(
        4 * n,
        lambda i: place(
            world, world.customers[i], discount_code="HOT", payment_method_id="pm_card_visa"
        ),
    )
    assert outcomes(results) == Counter({"ok": n, "discount_exhausted": 3 * n})
    assert scalar(world, sa.select(m.Discount.current_uses)) == n
    assert scalar(world, sa.select(sa.func.count()).select_from(m.DiscountUsage)) == n
    # Orders that lost the race were never charged: the reservation comes first.
    assert len(world.gateway.charges) == n
    assert world.gateway.refunds == []


def test_max_uses_per_customer_holds_in_parallel(world: World) -> None:
    set_stock(world, 1000)
    with Session(world.engine) as session, session.begin():
        session.add(
            m.Discount(
                code="TWICE",
                name="t",
                type=m.DiscountType.FIXED_AMOUNT,
                value=Decimal("1"),
                currency="USD",
                max_uses_per_customer=2,
            )
        )
    one = world.customers[0]
    results = run_parallel(10, lambda i: place(world, one, discount_code="TWICE"))
    assert outcomes(results) == Counter({"ok": 2, "discount_customer_limit": 8})
    assert scalar(world, sa.select(sa.func.count()).select_from(m.DiscountUsage)) == 2


def test_stock_sells_exactly_once_and_ends_at_zero(world: World) -> None:
    stock = 7
    set_stock(world, stock)
    results = run_parallel(
        20, lambda i: place(world, world.customers[i], payment_method_id="pm_card_visa")
    )
    counts = outcomes(results)
    assert counts == Counter({"ok": stock, "insufficient_stock": 20 - stock})
    assert scalar(world, sa.select(m.Product.stock_quantity)) == 0
    sold = scalar(world, sa.select(sa.func.sum(m.OrderItem.quantity)))
    assert sold == stock


def test_parallel_refunds_never_exceed_what_was_paid(world: World) -> None:
    set_stock(world, 10)
    order = place(
        world,
        world.customers[0],
        payment_method_id="pm_card_visa",
        items=[{"price_id": world.price_id, "quantity": 3}],
    ).order
    assert order.total_amount == Decimal("30.00")

    def refund(_: int) -> m.Refund:
        with Session(world.engine, expire_on_commit=False) as session, session.begin():
            return paykit.issue_refund(
                session,
                order_id=order.id,
                amount=Decimal("7.00"),
                reason="REQUESTED_BY_CUSTOMER",
                actor_id=world.support_id,
                gateway=world.gateway,
                clock=CLOCK,
            )

    results = run_parallel(10, refund)
    done = [r for r in results if isinstance(r, m.Refund)]
    refused = [r for r in results if not isinstance(r, m.Refund)]
    assert len(done) == 4  # 4 x 7.00 = 28.00 <= 30.00 < 5 x 7.00
    assert {getattr(r, "code", None) for r in refused} == {"refund_exceeds_paid"}, refused
    refunded = scalar(world, sa.select(m.Order.refunded_amount).where(m.Order.id == order.id))
    assert refunded == Decimal("28.00")
    assert world.gateway.amount_refunded(order.stripe_payment_intent_id) == 2800


def test_one_idempotency_key_in_parallel_makes_one_order(world: World) -> None:
    set_stock(world, 100)
    results = run_parallel(
        8,
        lambda i: place(
            world, world.customers[0], idempotency_key="same-key", payment_method_id="pm_card_visa"
        ),
    )
    assert outcomes(results) == Counter({"ok": 8})
    assert len({r.order.id for r in results}) == 1
    assert scalar(world, sa.select(sa.func.count()).select_from(m.Order)) == 1
    assert len(world.gateway.charges) == 1
    assert scalar(world, sa.select(m.Product.stock_quantity)) == 99


class ProbingGateway(FakeGateway):
    """A FakeGateway that, during every money call, checks from another connection
    that no hot row (products, discounts, orders) is locked against the update
    another buyer would make. (``FOR NO KEY UPDATE`` is the lock such an UPDATE
    takes; the KEY SHARE locks that foreign-key inserts take do not block it.)"""

    def __init__(self, engine: Engine, **kw: Any) -> None:
        super().__init__(**kw)
        self.engine = engine
        self.locked: list[str] = []
        self.probes = 0
        self.sell_out: str | None = None  # a product another buyer empties mid-call

    def _probe(self) -> None:
        with self.engine.connect() as conn:
            for table in ("products", "discounts", "orders"):
                try:
                    conn.exec_driver_sql(f"SELECT id FROM {table} FOR NO KEY UPDATE NOWAIT").all()
                except sa.exc.OperationalError:
                    self.locked.append(table)
                conn.rollback()
        self.probes += 1

    def create_payment(self, **kw: Any):  # type: ignore[no-untyped-def]
        self._probe()
        if self.sell_out is not None:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.update(m.Product)
                    .where(m.Product.id == self.sell_out)
                    .values(stock_quantity=0)
                )
        return super().create_payment(**kw)

    def create_refund(self, **kw: Any):  # type: ignore[no-untyped-def]
        self._probe()
        return super().create_refund(**kw)

    def confirm_payment(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
        self._probe()
        return super().confirm_payment(payment_id, **kw)

    def cancel_payment(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
        self._probe()
        return super().cancel_payment(payment_id, **kw)

    def update_payment_amount(self, payment_id: str, **kw: Any):  # type: ignore[no-untyped-def]
        self._probe()
        return super().update_payment_amount(payment_id, **kw)


def test_no_row_lock_is_held_across_a_gateway_call(pg_world: World) -> None:
    world = pg_world
    gateway = ProbingGateway(world.engine, clock=CLOCK)
    set_stock(world, 1)
    with Session(world.engine) as session, session.begin():
        session.add(
            m.Discount(
                code="P", name="p", type=m.DiscountType.PERCENTAGE, value=Decimal("5"), max_uses=10
            )
        )
        session.add(
            m.Discount(code="Q", name="q", type=m.DiscountType.PERCENTAGE, value=Decimal("6"))
        )

    def host(call: Callable[[Session], Any]) -> Any:
        with Session(world.engine, expire_on_commit=False) as session, session.begin():
            return call(session)

    def order(session: Session, **kw: Any) -> paykit.OrderResult:
        return paykit.place_order(
            session,
            customer_id=world.customers[0],
            billing_address=ADDRESS,
            items=[{"price_id": world.price_id}],
            gateway=gateway,
            clock=CLOCK,
            **kw,
        )

    placed = host(lambda s: order(s, discount_code="P", payment_method_id="pm_card_visa")).order
    paid = host(
        lambda s: paykit.pay_order(s, order_id=placed.id, gateway=gateway, clock=CLOCK)
    ).order
    set_stock(world, 1)
    pending = host(lambda s: order(s)).order
    host(
        lambda s: paykit.apply_discount(
            s, order_id=pending.id, code="Q", gateway=gateway, clock=CLOCK
        )
    )
    host(lambda s: paykit.cancel_order(s, order_id=pending.id, gateway=gateway, clock=CLOCK))
    host(
        lambda s: paykit.issue_refund(
            s,
            order_id=paid.id,
            reason="OTHER",
            actor_id=world.support_id,
            gateway=gateway,
            clock=CLOCK,
        )
    )
    # Stock runs out while the payment is created: the loser's unconfirmed
    # payment is cancelled (nobody charged), after the savepoint gave the locks back.
    gateway.sell_out = world.product_id
    with pytest.raises(errors.InsufficientStock):
        host(lambda s: order(s, payment_method_id="pm_card_visa"))
    assert [name for name, _ in gateway.calls][-2:] == ["create_payment", "cancel_payment"]
    assert gateway.probes == 8
    assert gateway.locked == []


@pytest.fixture
def pg_world(pg_engine: Engine, _factories) -> Iterator[World]:  # type: ignore[no-untyped-def]
    factory = _factories["postgresql"]
    engine = factory.migrated(pool_size=8)
    with Session(engine) as session, session.begin():
        product = f.product(
            session, base_price=Decimal("10.00"), track_inventory=True, stock_quantity=1
        )
        price = f.price(session, product)
        customer = f.user(session)
        support = f.user(session, role=m.UserRole.SUPPORT)
        ids = (product.id, price.id, customer.id, support.id)
    yield World(engine, FakeGateway(clock=CLOCK), ids[0], ids[1], [ids[2]], ids[3])
    assert_consistent(engine)


def test_the_probe_sees_a_held_lock(pg_world: World) -> None:
    # The no-lock test above is only as good as its probe: show it can fail.
    gateway = ProbingGateway(pg_world.engine, clock=CLOCK)
    with Session(pg_world.engine) as session, session.begin():
        session.execute(sa.update(m.Product).values(stock_quantity=m.Product.stock_quantity + 1))
        gateway._probe()
    assert gateway.locked == ["products"]


def test_stock_and_discount_together_take_nothing_for_the_losers(world: World) -> None:
    # One product and one code: on PostgreSQL both counters move in one
    # statement. Buyers who lose the stock race must not consume a use.
    stock = 5
    set_stock(world, stock)
    with Session(world.engine) as session, session.begin():
        session.add(
            m.Discount(
                code="BOTH",
                name="b",
                type=m.DiscountType.PERCENTAGE,
                value=Decimal("10"),
                max_uses=100,
            )
        )
    results = run_parallel(
        16,
        lambda i: place(
            world, world.customers[i], discount_code="BOTH", payment_method_id="pm_card_visa"
        ),
    )
    assert outcomes(results) == Counter({"ok": stock, "insufficient_stock": 16 - stock})
    assert scalar(world, sa.select(m.Product.stock_quantity)) == 0
    assert scalar(world, sa.select(m.Discount.current_uses)) == stock
    assert scalar(world, sa.select(sa.func.count()).select_from(m.DiscountUsage)) == stock


def test_twelve_buyers_for_five_units_none_charged_then_refunded(world: World) -> None:
    set_stock(world, 5)
    results = run_parallel(
        12, lambda i: place(world, world.customers[i], payment_method_id="pm_card_visa")
    )
    assert outcomes(results) == Counter({"ok": 5, "insufficient_stock": 7})
    assert len(world.gateway.charges) == 5
    assert world.gateway.refunds == []
    paid = {r.order.stripe_payment_intent_id for r in results if isinstance(r, paykit.OrderResult)}
    assert paid == {p.id for p in world.gateway.charges}


def test_two_prices_of_one_product_race_without_refunds(world: World) -> None:
    set_stock(world, 5)
    with Session(world.engine) as session, session.begin():
        product = session.get(m.Product, world.product_id)
        assert product is not None
        other = f.price(session, product, unit_amount=Decimal("9.00")).id
    items = [{"price_id": world.price_id, "quantity": 1}, {"price_id": other, "quantity": 1}]
    results = run_parallel(
        12,
        lambda i: place(
            world, world.customers[i], items=list(items), payment_method_id="pm_card_visa"
        ),
    )
    # Each buyer wants 2 of the 5 units: two can have them.
    assert outcomes(results) == Counter({"ok": 2, "insufficient_stock": 10})
    assert scalar(world, sa.select(m.Product.stock_quantity)) == 1
    assert len(world.gateway.charges) == 2
    assert world.gateway.refunds == []
