"""place_order throughput, as ratios against a hand-written reference run side by side.

    python benchmarks/place_order.py [--orders N] [--backend postgresql|sqlite|both]

For each backend it prints:

1. orders/s of ``paykit.place_order`` (one worker, FakeGateway without latency,
   one transaction per order: an idempotency key, a 10% discount code, a
   product that tracks stock, a card confirmed at once);
2. orders/s of the same workload hand-written as raw psycopg (or sqlite3)
   statements writing the same rows, one transaction per order, and the
   ratio paykit / raw;
3. 8 workers sharing one discount code and one product with a FakeGateway
   latency of 20 ms, in orders/s and as a multiple of one worker at that
   latency (PostgreSQL; SQLite serializes writers by design);
4. RSS growth over 20,000 orders (``--rss-orders``). That run uses a gateway
   that keeps nothing, so the figure is paykit's memory, not the fake ledger's.

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
each run works in a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
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
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.gateways import FakeGateway, GatewayPayment, PaymentIntentStatus
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
    with Session(db.engine) as session, session.begin():
        paykit.place_order(
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


# --- the hand-written reference ------------------------------------------------------

CENT = Decimal("0.01")


class RawReference:
    """place_order's workload written by hand, the way one would without paykit.

    Same rows (idempotency key with a SHA-256 request hash, order, item, audit
    row, stock, discount use and its record), same guards (conditional updates
    in a savepoint), one transaction per order; each step its own plain
    statement (16 round trips with the commit on PostgreSQL, where paykit
    merges them into 6). No input validation, audit masking or ORM objects.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.pg = db.backend == "postgresql"
        if self.pg:
            self.conn: Any = psycopg.connect(
                "host=127.0.0.1 port=5432 user=postgres dbname=test",
                options=f"-csearch_path={db.schema}",
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

    def order(self, gateway: Any, key: str) -> None:
        c = self.conn
        cur = c.cursor()
        x = lambda q, *a: cur.execute(self.sql(q), a)  # noqa: E731
        if not self.pg:
            cur.execute("BEGIN IMMEDIATE")
        now = NOW if self.pg else NOW.replace(tzinfo=None).isoformat(" ")
        order_id = new_id()
        x(
            "INSERT INTO paykit_idempotency_keys (id, scope, key, request_hash, resource_id, created_at)"
            " VALUES (%s, 'place_order', %s, %s, %s, %s) ON CONFLICT (scope, key) DO NOTHING RETURNING id",
            new_id(),
            key,
            hashlib.sha256(
                json.dumps({"key": key, "price": self.db.price_id}).encode()
            ).hexdigest(),
            order_id,
            now,
        )
        cur.fetchone()
        x("SELECT id, status, stripe_customer_id FROM users WHERE id = %s", self.db.customer_id)
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
            confirm=True,
            metadata={"ref": key},
            idempotency_key=f"raw:{key}",
        )
        x(
            "INSERT INTO orders (id, user_id, stripe_payment_intent_id, order_number, status, currency,"
            " subtotal, tax_amount, discount_amount, total_amount, billing_address, payment_status,"
            " payment_method, refunded_amount, metadata, created_at, updated_at, completed_at)"
            " VALUES (%s, %s, %s, %s, 'COMPLETED', %s, %s, %s, %s, %s, %s, 'SUCCEEDED', 'card', %s,"
            " '{}', %s, %s, %s)",
            order_id,
            self.db.customer_id,
            payment.id,
            f"RAW-{secrets.token_hex(4).upper()}-{order_id[-6:]}",
            currency,
            self.money(subtotal),
            self.money(tax),
            self.money(discount),
            self.money(total),
            json.dumps(ADDRESS),
            self.money(Decimal(0)),
            now,
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
            self.db.customer_id,
            order_id,
            json.dumps({"total_amount": str(total)}),
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
            self.db.customer_id,
            order_id,
            self.money(discount),
            now,
        )
        x("RELEASE SAVEPOINT reserve")
        if self.pg:
            c.commit()
        else:
            cur.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


# --- measuring -------------------------------------------------------------------------


def rate(count: int, work: Callable[[int], None], workers: int = 1) -> float:
    """Orders per second for ``count`` calls of ``work`` spread over ``workers`` threads."""
    start = time.perf_counter()
    if workers == 1:
        for i in range(count):
            work(i)
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(work, range(count)))
    return count / (time.perf_counter() - start)


class KeepNothingGateway:
    """Succeeds every payment and keeps no ledger (for the memory measurement)."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def create_payment(self, *, amount_minor: int, currency: str, **_: Any) -> GatewayPayment:
        with self._lock:
            self._n += 1
            n = self._n
        return GatewayPayment(
            id=f"pi_mem_{n}",
            status=PaymentIntentStatus.SUCCEEDED,
            amount_minor=amount_minor,
            currency=currency,
        )


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
        for r in range(5):  # interleave so both see the same machine state
            gw_p = FakeGateway(clock=CLOCK, namespace=f"p{r}")
            gw_r = FakeGateway(clock=CLOCK, namespace=f"r{r}")
            p = rate(orders, lambda i, r=r, g=gw_p: paykit_order(db, g, f"p{r}-{i}"))
            q = rate(orders, lambda i, r=r, g=gw_r: raw.order(g, f"r{r}-{i}"))
            rounds.append((p, q))
        # Each round times both paths back to back; the median round's ratio is
        # the figure, since a busy moment on the machine hits one round, not all.
        ratios = sorted(p / q for p, q in rounds)
        median = ratios[len(ratios) // 2]
        print(
            f"place_order, 1 worker:           {statistics.median(p for p, _ in rounds):8.1f} orders/s (median of {len(rounds)})"
        )
        print(
            f"raw {'psycopg' if backend == 'postgresql' else 'sqlite3'} reference, 1 worker: {statistics.median(q for _, q in rounds):8.1f} orders/s"
        )
        print(
            f"ratio paykit / raw:              {median:8.2f}x"
            f"   (per round: {', '.join(f'{p / q:.2f}' for p, q in rounds)})"
        )
        raw.close()

        if backend == "postgresql":
            slow = FakeGateway(clock=CLOCK, latency=0.020, namespace="slow")
            one = rate(parallel_orders // 4, lambda i: paykit_order(db, slow, f"s1-{i}"))
            eight = rate(parallel_orders, lambda i: paykit_order(db, slow, f"s8-{i}"), workers=8)
            print(f"20 ms gateway, 1 worker:          {one:8.1f} orders/s")
            print(
                f"20 ms gateway, 8 workers (1 hot code, 1 product): {eight:8.1f} orders/s"
                f" = {eight / one:.2f}x one worker"
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
                f"RSS over {rss_orders} orders:        {before:.1f} MB -> {after:.1f} MB"
                f" (growth {after - before:+.1f} MB)"
            )
        with db.engine.connect() as conn:
            count = conn.execute(sa.select(sa.func.count()).select_from(m.Order)).scalar_one()
            stock = conn.execute(sa.select(m.Product.stock_quantity)).scalar_one()
        print(f"check: {count} orders written, stock {10_000_000 - stock} taken")
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
