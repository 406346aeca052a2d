"""Checkout throughput and latency, as ratios against a hand-written reference run side by side.

    python benchmarks/place_order.py [--orders N] [--backend postgresql|sqlite|both]

One checkout is paykit's two-phase flow, two transactions: ``place_order``
(an idempotency key, a 10% discount code, a product that tracks stock, the
card ``pm_card_visa`` attached to an *unconfirmed* gateway payment; stock and
the discount use are taken, the order stays PENDING), committed; then
``pay_order`` (re-reads the payment's amount, confirms it, completes the
order), committed. For each backend it prints:

1. checkouts/s of paykit (one worker, FakeGateway without latency), with the
   p50 and p99 latency of one checkout (both transactions);
2. the same for the same workload hand-written as raw psycopg (or sqlite3)
   statements writing the same rows in the same two transactions, and the
   ratio paykit / raw: the median of 5 interleaved rounds, and each round's;
3. 8 workers sharing one discount code and one product with a FakeGateway
   latency of 20 ms per gateway call, in checkouts/s, p50/p99, and as a
   multiple of one worker at that latency (PostgreSQL; SQLite serializes
   writers by design);
4. RSS growth over 20,000 checkouts (``--rss-orders``). That run uses a gateway
   that keeps nothing, so the figure is paykit's memory, not the fake ledger's.

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server),
for paykit and the reference alike; each run works in a schema of its own and
drops it afterwards.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import math
import os
import secrets
import sqlite3
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.gateways import FakeGateway, GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import new_id

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
NOW = datetime(2025, 6, 1, tzinfo=UTC)
CLOCK = paykit.FrozenClock(NOW)


class Database:
    """A fresh, migrated paykit database with a catalog to sell from."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.schema = f"bench_{uuid.uuid4().hex[:10]}"
        if backend == "postgresql":
            admin = paykit.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"CREATE SCHEMA {self.schema}")
            admin.dispose()
            self.url = PG_URL
            self.engine = paykit.create_engine(
                PG_URL, pool_size=10, connect_args={"options": f"-csearch_path={self.schema}"}
            )
        else:
            self.path = os.path.join(tempfile.mkdtemp(), "bench.db")
            self.engine = paykit.create_engine(f"sqlite:///{self.path}", pool_size=10)
        paykit.migrate(self.engine)
        with Session(self.engine) as session, session.begin():
            product = m.Product(
                name="Widget",
                description="A widget.",
                slug="widget",
                type=m.ProductType.ONE_TIME,
                status=m.ProductStatus.PUBLISHED,
                base_price=Decimal("19.99"),
                tax_rate=Decimal("0.0825"),
                track_inventory=True,
                stock_quantity=10_000_000,
            )
            price = m.Price(
                product=product,
                stripe_price_id="price_bench",
                unit_amount=Decimal("19.99"),
                type=m.PriceType.ONE_TIME,
            )
            customer = m.User(email="buyer@example.com", name="Buyer")
            discount = m.Discount(
                code="HOT10", name="hot", type=m.DiscountType.PERCENTAGE, value=Decimal("10")
            )
            session.add_all([product, price, customer, discount])
            session.flush()
            self.price_id, self.customer_id = price.id, customer.id
            self.product_id, self.discount_id = product.id, discount.id

    def close(self) -> None:
        self.engine.dispose()
        if self.backend == "postgresql":
            admin = paykit.create_engine(PG_URL)
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {self.schema} CASCADE")
            admin.dispose()


def paykit_order(db: Database, gateway: Any, key: str) -> None:
    """One checkout: place_order committed, then pay_order committed."""
    with Session(db.engine) as session, session.begin():
        placed = paykit.place_order(
            session,
            customer_id=db.customer_id,
            items=[{"price_id": db.price_id, "quantity": 1}],
            billing_address=ADDRESS,
            discount_code="HOT10",
            payment_method_id="pm_card_visa",
            gateway=gateway,
            clock=CLOCK,
            idempotency_key=key,
        )
        order_id = placed.order.id
    with Session(db.engine) as session, session.begin():
        paid = paykit.pay_order(session, order_id=order_id, gateway=gateway, clock=CLOCK)
        assert paid.order.status is m.OrderStatus.COMPLETED, paid.order.status


# --- the hand-written reference ------------------------------------------------------

CENT = Decimal("0.01")


def pg_conninfo(url: str) -> dict[str, Any]:
    """psycopg.connect() keywords for a SQLAlchemy URL (PAYKIT_BENCH_DATABASE_URL)."""
    parsed = make_url(url)
    given = {
        "host": parsed.host,
        "port": parsed.port,
        "user": parsed.username,
        "password": parsed.password,
        "dbname": parsed.database,
    }
    # Driver options in the query string (sslmode=..., say) pass through.
    given.update({k: v for k, v in parsed.query.items() if isinstance(v, str)})
    return {k: v for k, v in given.items() if v is not None}


class RawReference:
    """The checkout written by hand, the way one would without paykit.

    Same rows, same two transactions. Transaction 1: the idempotency key (with
    a SHA-256 request hash), the reads, an unconfirmed gateway payment with the
    card attached, re-read from the gateway and checked to be fresh and held by
    no other order (a keyed retry may get an earlier attempt's payment
    replayed), the order (PENDING / PENDING), its item and its
    ``order.created`` audit row, then in a savepoint the stock and discount-use
    conditional updates and the discount_usages row. Transaction 2: the order's
    payment, status and total are read, the payment re-read from the gateway
    and its amount compared with the order's total, the gateway confirms it, a
    conditional UPDATE completes the order (WHERE status = 'PENDING'), an
    ``order.paid`` audit row. Each step its own plain statement, on one
    connection kept open. No input validation, audit masking or ORM objects,
    no re-read of the order after writing it.

    The payment re-reads (and the "held by another order" query) are checks
    paykit must make (docs/orders.md, "Idempotency" and "The flow"); the
    reference made them too from 2026-12-01 on, so the ratio compares the same
    work (measured before that, 0.27x was against a reference without them).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = db.backend == "postgresql"
        if self.pg:
            self.conn: Any = psycopg.connect(
                **pg_conninfo(PG_URL), options=f"-csearch_path={db.schema}"
            )
            self.p = "%s"
        else:
            self.conn = sqlite3.connect(db.path, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA busy_timeout = 30000")
            self.p = "?"

    def sql(self, text: str) -> str:
        return text.replace("%s", self.p)

    def money(self, value: Decimal) -> Any:
        # SQLite stores exact integer cents, as paykit's ExactDecimal does.
        return value if self.pg else int(value * 100)

    def _begin(self, cur: Any) -> None:
        if not self.pg:
            cur.execute("BEGIN IMMEDIATE")

    def _commit(self, cur: Any) -> None:
        if self.pg:
            self.conn.commit()
        else:
            cur.execute("COMMIT")

    def order(self, gateway: Any, key: str) -> None:
        """One checkout: place (transaction 1), then pay (transaction 2)."""
        order_id, payment_id = self.place(gateway, key)
        self.pay(gateway, order_id, payment_id)

    def place(self, gateway: Any, key: str) -> tuple[str, str]:
        cur = self.conn.cursor()
        x = lambda q, *a: cur.execute(self.sql(q), a)  # noqa: E731
        self._begin(cur)
        now = NOW if self.pg else NOW.replace(tzinfo=None).isoformat(" ")
        customer_id = self.db.customer_id
        order_id = new_id()
        x(
            "INSERT INTO paykit_idempotency_keys (id, scope, key, user_id, request_hash,"
            " resource_id, created_at) VALUES (%s, 'place_order', %s, %s, %s, %s, %s)"
            " ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            new_id(),
            key,
            customer_id,
            hashlib.sha256(
                json.dumps({"key": key, "price": self.db.price_id}).encode()
            ).hexdigest(),
            order_id,
            now,
        )
        assert cur.fetchone() is not None
        x("SELECT id, status, stripe_customer_id FROM users WHERE id = %s", customer_id)
        _, _, stripe_customer = cur.fetchone()
        x(
            "SELECT p.id, p.unit_amount, p.currency, p.active, pr.id, pr.status, pr.tax_rate,"
            " pr.track_inventory, pr.stock_quantity FROM prices p JOIN products pr ON pr.id = p.product_id"
            " WHERE p.id = %s",
            self.db.price_id,
        )
        _, unit, currency, _, product_id, _, rate, _, stock = cur.fetchone()
        x(
            "SELECT id, type, value, current_uses, max_uses, active FROM discounts WHERE code = %s",
            "HOT10",
        )
        discount_id, _, value, _, _, _ = cur.fetchone()
        x("SELECT product_id FROM product_discounts WHERE discount_id = %s", discount_id)
        cur.fetchall()
        if not self.pg:
            unit, rate, value = Decimal(unit) / 100, Decimal(rate) / 10_000, Decimal(value) / 10_000
        subtotal = Decimal(unit)
        discount = (subtotal * Decimal(value) / 100).quantize(CENT, ROUND_HALF_UP)
        tax = ((subtotal - discount) * Decimal(rate)).quantize(CENT, ROUND_HALF_UP)
        total = subtotal - discount + tax
        assert stock >= 1
        payment = gateway.create_payment(
            amount_minor=int(total * 100),
            currency=currency,
            customer_id=stripe_customer,
            payment_method_id="pm_card_visa",
            confirm=False,
            metadata={"ref": key},
            idempotency_key=f"raw:{key}",
        )
        assert payment.status == PaymentIntentStatus.REQUIRES_CONFIRMATION
        # A keyed retry may get an earlier attempt's payment replayed, as it was
        # then: re-read it, and never build an order on a payment that is no longer
        # fresh or that another order holds (what paykit's place_order checks).
        current = gateway.retrieve_payment(payment.id)
        assert current.status == PaymentIntentStatus.REQUIRES_CONFIRMATION
        x("SELECT id FROM orders WHERE stripe_payment_intent_id = %s", payment.id)
        assert cur.fetchone() is None
        order_number = f"RAW-{secrets.token_hex(4).upper()}-{order_id[-6:]}"
        x(
            "INSERT INTO orders (id, user_id, stripe_payment_intent_id, order_number, status, currency,"
            " subtotal, tax_amount, discount_amount, total_amount, billing_address, payment_status,"
            " payment_method, refunded_amount, metadata, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, 'PENDING', %s, %s, %s, %s, %s, %s, 'PENDING', 'card', %s,"
            " '{}', %s, %s)",
            order_id,
            customer_id,
            payment.id,
            order_number,
            currency,
            self.money(subtotal),
            self.money(tax),
            self.money(discount),
            self.money(total),
            json.dumps(ADDRESS),
            self.money(Decimal(0)),
            now,
            now,
        )
        x(
            "INSERT INTO order_items (id, order_id, product_id, price_id, quantity, unit_price, total_price,"
            " download_count, created_at) VALUES (%s, %s, %s, %s, 1, %s, %s, 0, %s)",
            new_id(),
            order_id,
            product_id,
            self.db.price_id,
            self.money(subtotal),
            self.money(subtotal),
            now,
        )
        x(
            "INSERT INTO audit_logs (id, user_id, action, resource, resource_id, new_values, metadata,"
            " created_at) VALUES (%s, %s, 'order.created', 'orders', %s, %s, '{}', %s)",
            new_id(),
            customer_id,
            order_id,
            json.dumps(
                {
                    "order_number": order_number,
                    "total_amount": str(total),
                    "currency": currency,
                    "discount_code": "HOT10",
                    "status": "PENDING",
                }
            ),
            now,
        )
        x("SAVEPOINT reserve")
        x(
            "UPDATE products SET stock_quantity = stock_quantity - 1, updated_at = %s"
            " WHERE id = %s AND track_inventory AND stock_quantity >= 1",
            now,
            product_id,
        )
        assert cur.rowcount == 1
        x(
            "UPDATE discounts SET current_uses = current_uses + 1, updated_at = %s WHERE id = %s"
            " AND active AND (max_uses IS NULL OR current_uses < max_uses)",
            now,
            discount_id,
        )
        assert cur.rowcount == 1
        x(
            "INSERT INTO discount_usages (id, discount_id, user_id, order_id, amount_saved, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            new_id(),
            discount_id,
            customer_id,
            order_id,
            self.money(discount),
            now,
        )
        x("RELEASE SAVEPOINT reserve")
        self._commit(cur)
        return order_id, payment.id

    def pay(self, gateway: Any, order_id: str, payment_id: str) -> None:
        cur = self.conn.cursor()
        x = lambda q, *a: cur.execute(self.sql(q), a)  # noqa: E731
        now = NOW if self.pg else NOW.replace(tzinfo=None).isoformat(" ")
        # A pay endpoint receives the order id: it reads the order's payment and state.
        x(
            "SELECT stripe_payment_intent_id, status, total_amount, currency FROM orders"
            " WHERE id = %s",
            order_id,
        )
        stored, status, total, currency = cur.fetchone()
        assert stored == payment_id
        assert status == "PENDING"
        if self.pg:
            self.conn.commit()  # the read's implicit transaction ends before the gateway call
        # Charge exactly the order's total: re-read the payment's amount first (what
        # paykit's pay_order checks; an amount change may not have been committed).
        wanted = int(Decimal(total) * 100) if self.pg else int(total)
        current = gateway.retrieve_payment(payment_id)
        assert (current.amount_minor, current.currency) == (wanted, currency)
        payment = gateway.confirm_payment(payment_id, idempotency_key=f"raw:pay:{order_id}")
        assert payment.status == PaymentIntentStatus.SUCCEEDED
        self._begin(cur)
        x(
            "UPDATE orders SET status = 'COMPLETED', payment_status = 'SUCCEEDED',"
            " completed_at = %s, updated_at = %s WHERE id = %s AND status = 'PENDING'",
            now,
            now,
            order_id,
        )
        assert cur.rowcount == 1
        x(
            "INSERT INTO audit_logs (id, user_id, action, resource, resource_id, new_values, metadata,"
            " created_at) VALUES (%s, %s, 'order.paid', 'orders', %s, %s, '{}', %s)",
            new_id(),
            self.db.customer_id,
            order_id,
            json.dumps({"status": "COMPLETED", "payment_status": "SUCCEEDED"}),
            now,
        )
        self._commit(cur)

    def close(self) -> None:
        self.conn.close()


# --- measuring -------------------------------------------------------------------------


def run(count: int, work: Callable[[int], None], workers: int = 1) -> tuple[float, list[float]]:
    """Checkouts per second for ``count`` calls of ``work`` spread over ``workers``
    threads, and each call's latency in seconds."""
    latencies: list[float] = []

    def timed(i: int) -> None:
        start = time.perf_counter()
        work(i)
        latencies.append(time.perf_counter() - start)  # list.append is atomic

    start = time.perf_counter()
    if workers == 1:
        for i in range(count):
            timed(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(timed, range(count)))
    return count / (time.perf_counter() - start), latencies


def percentile(samples: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0 < q <= 1)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def p50_p99(samples: list[float]) -> str:
    return f"p50 {percentile(samples, 0.50) * 1000:6.2f} ms  p99 {percentile(samples, 0.99) * 1000:6.2f} ms"


class KeepNothingGateway:
    """Creates, re-reads and confirms payments, and keeps no ledger (for the memory
    measurement): a payment's amount and currency travel in its id."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    @staticmethod
    def _payment(payment_id: str, status: PaymentIntentStatus) -> GatewayPayment:
        _, _, _, amount, currency = payment_id.split("_")
        return GatewayPayment(
            id=payment_id,
            status=status,
            amount_minor=int(amount),
            currency=currency,
            payment_method_id="pm_card_visa",
        )

    def create_payment(self, *, amount_minor: int, currency: str, **_: Any) -> GatewayPayment:
        with self._lock:
            self._n += 1
            n = self._n
        return self._payment(
            f"pi_mem_{n}_{amount_minor}_{currency.upper()}",
            PaymentIntentStatus.REQUIRES_CONFIRMATION,
        )

    def retrieve_payment(self, payment_id: str) -> GatewayPayment:
        return self._payment(payment_id, PaymentIntentStatus.REQUIRES_CONFIRMATION)

    def confirm_payment(self, payment_id: str, **_: Any) -> GatewayPayment:
        return self._payment(payment_id, PaymentIntentStatus.SUCCEEDED)


def _not_used(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"KeepNothingGateway.{name} is not part of the benchmark")

    return method


# The rest of the PaymentGateway protocol, so paykit's argument checks accept it.
for _name, _member in vars(PaymentGateway).items():
    if callable(_member) and not _name.startswith("_") and not hasattr(KeepNothingGateway, _name):
        setattr(KeepNothingGateway, _name, _not_used(_name))


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench(backend: str, orders: int, parallel_orders: int, rss_orders: int) -> None:
    print(f"== {backend} ==")
    db = Database(backend)
    try:
        raw = RawReference(db)
        # Warm both paths (imports, prepared statements, pools) before timing.
        warm = FakeGateway(clock=CLOCK, namespace="warm")
        for i in range(50):
            paykit_order(db, warm, f"warm-p{i}")
            raw.order(warm, f"warm-r{i}")
        rounds = []
        paykit_lat: list[float] = []
        raw_lat: list[float] = []
        for r in range(5):  # interleave so both see the same machine state
            gw_p = FakeGateway(clock=CLOCK, namespace=f"p{r}")
            gw_r = FakeGateway(clock=CLOCK, namespace=f"r{r}")
            p, lat_p = run(orders, lambda i, r=r, g=gw_p: paykit_order(db, g, f"p{r}-{i}"))
            q, lat_q = run(orders, lambda i, r=r, g=gw_r: raw.order(g, f"r{r}-{i}"))
            rounds.append((p, q))
            paykit_lat += lat_p
            raw_lat += lat_q
        # Each round times both paths back to back; the median round's ratio is
        # the figure, since a busy moment on the machine hits one round, not all.
        ratios = sorted(p / q for p, q in rounds)
        median = ratios[len(ratios) // 2]
        driver = "psycopg" if backend == "postgresql" else "sqlite3"
        print(f"1 worker, no gateway latency; latency per checkout over all {len(rounds)} rounds")
        print(
            f"{'paykit place_order + pay_order:':<32}"
            f"{statistics.median(p for p, _ in rounds):8.1f} checkouts/s  {p50_p99(paykit_lat)}"
            f"  (median of {len(rounds)})"
        )
        print(
            f"{f'raw {driver} reference:':<32}"
            f"{statistics.median(q for _, q in rounds):8.1f} checkouts/s  {p50_p99(raw_lat)}"
        )
        print(
            f"{'ratio paykit / raw:':<32}{median:8.2f}x"
            f"   (per round: {', '.join(f'{p / q:.2f}' for p, q in rounds)})"
        )
        raw.close()

        if backend == "postgresql":
            slow = FakeGateway(clock=CLOCK, latency=0.020, namespace="slow")
            one, lat_one = run(parallel_orders // 4, lambda i: paykit_order(db, slow, f"s1-{i}"))
            eight, lat_eight = run(
                parallel_orders, lambda i: paykit_order(db, slow, f"s8-{i}"), workers=8
            )
            print(f"{'20 ms gateway, 1 worker:':<32}{one:8.1f} checkouts/s  {p50_p99(lat_one)}")
            print(
                f"{'20 ms gateway, 8 workers:':<32}{eight:8.1f} checkouts/s  {p50_p99(lat_eight)}"
                f"  (1 hot code, 1 product) = {eight / one:.2f}x one worker"
            )

        if rss_orders:
            gateway = KeepNothingGateway()
            for i in range(500):
                paykit_order(db, gateway, f"m-warm-{i}")
            gc.collect()
            before = rss_mb()
            for i in range(rss_orders):
                paykit_order(db, gateway, f"m-{i}")
            gc.collect()
            after = rss_mb()
            print(
                f"RSS over {rss_orders} checkouts: {before:.1f} MB -> {after:.1f} MB"
                f" (growth {after - before:+.1f} MB)"
            )
        with db.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(m.Order)).scalar_one()
            completed = conn.execute(
                sa.select(sa.func.count())
                .select_from(m.Order)
                .where(m.Order.status == m.OrderStatus.COMPLETED)
            ).scalar_one()
            stock = conn.execute(sa.select(m.Product.stock_quantity)).scalar_one()
            uses = conn.execute(sa.select(m.Discount.current_uses)).scalar_one()
        print(
            f"check: {count} orders written, {completed} completed,"
            f" stock {10_000_000 - stock} taken, {uses} discount uses"
        )
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--parallel-orders", type=int, default=400)
    parser.add_argument("--rss-orders", type=int, default=20_000)
    args = parser.parse_args()
    backends = ["postgresql", "sqlite"] if args.backend == "both" else [args.backend]
    for backend in backends:
        bench(backend, args.orders, args.parallel_orders, args.rss_orders)


if __name__ == "__main__":
    main()
